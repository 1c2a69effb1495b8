package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/dsecore/dsecore/report"
	"github.com/dsecore/dsecore/session"
)

// The real-daemon corpus: cores of Debian's ceph-mon (stripped, Ceph's own
// fatal-signal handler, installed without SA_SIGINFO) crashed (or hung and killed) in seven ways
// by fixtures/ceph/corpus.sh on a one-monitor cluster on loopback, each
// with what Ceph itself wrote about the crash (its crash directory's meta)
// and what the script did (truth.json). DSECORE_CEPH_CORPUS names a corpus
// made before (corpus.sh OUTDIR) to reuse; else it is made here.
var cephScenarios = []string{"kill-segv", "null-load", "wild-pc", "assert", "abort", "second-fault", "hang"}

type cephTruth struct {
	Scenario      string `json:"scenario"`
	PID           int    `json:"pid"`
	LWP           int    `json:"lwp"`
	ReturnAddress string `json:"return_address"`
	Caller        string `json:"caller"`
	HandlerLWP    int    `json:"handler_lwp"`
	// hang: the thread gdb made take the mutex, the mutex, the thread that
	// was about to lock it, every thread asleep on it before the kill.
	HolderLWP int    `json:"holder_lwp"`
	Mutex     string `json:"mutex"`
	VictimLWP int    `json:"victim_lwp"`
	Waiters   []int  `json:"waiters"`
}

// TestCephCorpus asserts, per real-daemon core: every frame of every
// thread equal to gdb's; the real fault (from the sigcontext: Ceph's handler
// has no siginfo) as the script made it; the nested fault and the thread in
// the handler; `summarize --format ceph-crash` field by field against
// Ceph's own meta; and both metas posted to the cluster's mgr (`ceph crash
// post`), read back with `ceph crash info`: the same stack_sig.
func TestCephCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the real-daemon corpus starts Ceph daemons")
	}
	for _, tool := range []string{"ceph-mon", "ceph-mgr", "ceph", "monmaptool", "gdb"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (scripts/setup.sh installs ceph-mon, ceph-mgr, ceph-common, gdb)", tool)
		}
	}
	root := fixture.RepoRoot()
	corpus := cephCorpus(t)
	conf := startCephCluster(t, root)

	for _, name := range cephScenarios {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(corpus, name)
			core := filepath.Join(dir, "core")
			var truth cephTruth
			readJSONFile(t, filepath.Join(dir, "truth.json"), &truth)

			t.Run("frames", func(t *testing.T) { compareWithGdb(t, "/usr/bin/ceph-mon", core) })
			t.Run("fault", func(t *testing.T) { checkCephFault(t, core, truth) })
			t.Run("ceph-crash", func(t *testing.T) { checkCephCrash(t, conf, dir, truth) })
			t.Run("no-runtime", func(t *testing.T) { checkNoRuntime(t, core) })
			if name == "hang" {
				t.Run("waits", func(t *testing.T) { checkCephHang(t, core, truth) })
			}
		})
	}
}

var (
	cephCorpusOnce sync.Once
	cephCorpusDir  string
	cephCorpusErr  error
)

// cephCorpus is the real-daemon corpus: $DSECORE_CEPH_CORPUS, else made
// once per test process by corpus.sh (into a directory removed when the
// process exits).
func cephCorpus(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"ceph-mon", "monmaptool", "ceph", "gdb"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (scripts/setup.sh installs ceph-mon, ceph-common, gdb)", tool)
		}
	}
	cephCorpusOnce.Do(func() {
		if d := os.Getenv("DSECORE_CEPH_CORPUS"); d != "" {
			cephCorpusDir = d
			return
		}
		dir, err := os.MkdirTemp("", "dsecore-ceph-corpus.")
		if err != nil {
			cephCorpusErr = err
			return
		}
		cephCorpusDirs = append(cephCorpusDirs, dir)
		cmd := exec.Command("bash", filepath.Join(fixture.RepoRoot(), "fixtures/ceph/corpus.sh"), dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			cephCorpusErr = fmt.Errorf("corpus.sh: %v\n%s", err, out)
			return
		}
		cephCorpusDir = dir
	})
	if cephCorpusErr != nil {
		t.Fatal(cephCorpusErr)
	}
	return cephCorpusDir
}

// cephCorpusDirs are the corpora made here, removed by TestMain's cleanup.
var cephCorpusDirs []string

func readJSONFile(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// startCephCluster runs fixtures/ceph/cluster.sh serve: a mon and a mgr on
// loopback in a temporary directory, until the test ends (closing its
// stdin stops the daemons by pid and removes the directory). It returns
// the cluster's ceph.conf.
func startCephCluster(t *testing.T, root string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "dsecore-ceph-cluster.")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", filepath.Join(root, "fixtures/ceph/cluster.sh"), "serve", dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	t.Cleanup(func() {
		stdin.Close()
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(90 * time.Second):
			// cluster.sh stops its daemons on TERM too.
			cmd.Process.Signal(os.Interrupt)
			<-done
		}
		os.RemoveAll(dir)
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if c, ok := strings.CutPrefix(sc.Text(), "ready "); ok {
				ready <- c
				break
			}
		}
		io.Copy(io.Discard, stdout)
		close(ready)
	}()
	select {
	case c, ok := <-ready:
		if !ok {
			t.Fatalf("cluster.sh ended before the cluster was ready:\n%s", stderr.String())
		}
		return c
	case <-time.After(4 * time.Minute):
		t.Fatalf("cluster.sh: no ready cluster after 4 minutes:\n%s", stderr.String())
	}
	return ""
}

// inspectDoc runs `dsecore inspect --json`.
func inspectDoc(t *testing.T, core string) report.Inspect {
	t.Helper()
	out, err := exec.Command(dsecoreBin, "inspect", core, "--json").Output()
	if err != nil {
		t.Fatalf("inspect %s: %v", core, err)
	}
	var doc report.Inspect
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

const noSigInfo = "the handler was installed without SA_SIGINFO: no siginfo in the frame"

func checkCephFault(t *testing.T, core string, truth cephTruth) {
	doc := inspectDoc(t, core)
	f := doc.Fault
	if f == nil || f.Signal == nil {
		t.Fatalf("no fault in inspect's document")
	}
	t.Logf("real fault: %s, LWP %d, pc %s in %s; exception: %v", f.Signal.Text, f.LWP, f.PC, f.Function, f.Exception)
	// Ceph installs its handler with sa_handler: no frame has a siginfo.
	if f.SigFrame != "" && (f.SigInfoValid || !strings.HasPrefix(f.SigInfoNote, noSigInfo)) {
		t.Errorf("siginfo valid %v, note %q: want %q", f.SigInfoValid, f.SigInfoNote, noSigInfo)
	}
	a := doc.Analysis
	if a == nil {
		t.Fatalf("no analysis in inspect's document")
	}
	switch truth.Scenario {
	case "kill-segv":
		if f.Signal.Signo != 11 || !f.Signal.Sent || f.Exception != nil || !f.ReRaised {
			t.Errorf("kill -SEGV: signal %+v, exception %+v, re-raised %v: want a sent SIGSEGV, no exception", f.Signal, f.Exception, f.ReRaised)
		}
	case "null-load", "second-fault":
		e := f.Exception
		if f.LWP != truth.LWP || f.Signal.Signo != 11 || f.Signal.Sent || f.Signal.Addr != "0x0" || f.Function != "__strlen_sse2" ||
			e == nil || e.Trapno != 14 || e.CR2 != "0x0" {
			t.Errorf("strlen(NULL) on LWP %d: fault on LWP %d, signal %+v in %s, exception %+v", truth.LWP, f.LWP, f.Signal, f.Function, e)
		}
		if truth.Scenario == "null-load" && (e == nil || e.Access != "read" || e.Err != "0x4") {
			t.Errorf("null-load: exception %+v: want a user-mode read, err 0x4 (from the sigcontext)", e)
		}
		if truth.Scenario == "second-fault" {
			found := false
			for _, h := range a.Handling {
				if h.LWP == truth.HandlerLWP && h.Role == "first-fault" && h.InHandler && strings.HasPrefix(h.Signal, "SIGSEGV (SEGV_MAPERR) at 0x0") {
					found = true
				}
			}
			if !found {
				t.Errorf("LWP %d was in the handler for its own fault; handling: %+v", truth.HandlerLWP, a.Handling)
			}
		}
	case "wild-pc":
		w := f.Wild
		if f.PC != "0xdeadbeef" || w == nil || !w.Recovered || w.ReturnAddr != truth.ReturnAddress {
			t.Errorf("wild pc: pc %s, wild %+v: want 0xdeadbeef, caller recovered from %s", f.PC, w, truth.ReturnAddress)
		}
		if e := f.Exception; e == nil || e.Access != "instruction fetch" || e.CR2 != "0xdeadbeef" {
			t.Errorf("wild pc: exception %+v: want an instruction fetch at 0xdeadbeef", e)
		}
		if !strings.HasPrefix(a.Verdict, "Jump/call/return to a wild address") {
			t.Errorf("verdict %q", a.Verdict)
		}
		if n := a.Nested; n == nil || !n.ReadsWildPC || len(n.Frames) < 3 || !strings.HasPrefix(n.Frames[1], "_Unwind_Backtrace") {
			t.Errorf("the handler's second fault (in backtrace(), reading the code at the wild pc): %+v", n)
		}
		if f.Nested == nil {
			t.Errorf("fault: no nested signal")
		}
		// A wild jump names no object: neither the heap nor the holders
		// are asked, and the text says so instead of empty sections.
		if m := a.Memory; m == nil || len(m.Heap) != 0 || len(m.Holders) != 0 || m.Stats.Stacks != 0 {
			t.Errorf("wild pc: memory %+v: want nothing looked for", m)
		}
		if out := string(run(t, "inspect", core)); !strings.Contains(out, "\nHeap and holders: no object of the fault to look for\n") || strings.Contains(out, "Heap (glibc malloc):") {
			t.Errorf("wild pc: inspect's memory section:\n%s", out)
		}
	case "assert", "abort", "hang":
		if f.Signal.Signo != 6 || !f.Signal.Sent || f.Exception != nil {
			t.Errorf("%s: signal %+v, exception %+v: want a sent SIGABRT", truth.Scenario, f.Signal, f.Exception)
		}
		if truth.Scenario == "assert" && (a.Assertion == nil || !strings.Contains(a.Assertion.Text, "FAILED ceph_assert")) {
			t.Errorf("assert: assertion %+v", a.Assertion)
		}
	}
}

// checkCephCrash: `summarize --format ceph-crash --out DIR`, its meta
// against Ceph's own field by field, both posted to the mgr and read back.
func checkCephCrash(t *testing.T, conf, dir string, truth cephTruth) {
	out := t.TempDir()
	args := []string{"summarize", filepath.Join(dir, "core"), "--format", "ceph-crash", "--out", out, "--no-cache"}
	if _, err := os.Stat(filepath.Join(dir, "crash")); err == nil {
		args = append(args, "--ceph-crash-dir", filepath.Join(dir, "crash"))
	}
	if b, err := exec.Command(dsecoreBin, args...).CombinedOutput(); err != nil {
		t.Fatalf("dsecore %v: %v\n%s", args, err, b)
	}
	metas, _ := filepath.Glob(filepath.Join(out, "*", "meta"))
	if len(metas) != 1 {
		t.Fatalf("%d meta files in %s", len(metas), out)
	}
	var ours map[string]any
	readJSONFile(t, metas[0], &ours)
	if _, err := os.Stat(filepath.Join(filepath.Dir(metas[0]), "done")); err != nil {
		t.Errorf("no done file beside the meta: ceph-crash would not post it")
	}
	for _, k := range []string{"crash_id", "timestamp", "process_name", "entity_name", "ceph_version", "backtrace", "utsname_machine"} {
		if ours[k] == nil {
			t.Errorf("meta: no %s", k)
		}
	}
	if ours["process_name"] != "ceph-mon" || ours["entity_name"] != "mon.a" {
		t.Errorf("process_name %v, entity_name %v", ours["process_name"], ours["entity_name"])
	}

	var theirs map[string]any
	ownMeta := filepath.Join(dir, "meta")
	if _, err := os.Stat(ownMeta); err == nil {
		readJSONFile(t, ownMeta, &theirs)
		for k, v := range theirs {
			switch k {
			case "crash_id", "timestamp":
				// The handler's clock, not in the core: ours is the core's time.
				continue
			}
			if g, _ := json.Marshal(ours[k]); string(g) != mustJSON(v) {
				t.Errorf("meta %s:\n  ours: %s\n  Ceph: %s", k, g, mustJSON(v))
			}
		}
		ts, _ := time.Parse("2006-01-02T15:04:05.000000Z", theirs["timestamp"].(string))
		to, _ := time.Parse("2006-01-02T15:04:05.000000Z", ours["timestamp"].(string))
		if d := to.Sub(ts); d < -5*time.Second || d > 5*time.Second {
			t.Errorf("timestamp %v, Ceph's %v", to, ts)
		}
	} else {
		t.Logf("Ceph's handler wrote no meta (it died in the handler): ours only")
	}

	// Post ours (and Ceph's own) to the mgr; the crash module computes
	// stack_sig.
	info := func(meta string, id string) map[string]any {
		t.Helper()
		if b, err := exec.Command("ceph", "-c", conf, "--connect-timeout", "30", "crash", "post", "-i", meta).CombinedOutput(); err != nil {
			t.Fatalf("ceph crash post -i %s: %v\n%s", meta, err, b)
		}
		b, err := exec.Command("ceph", "-c", conf, "--connect-timeout", "30", "crash", "info", id).Output()
		if err != nil {
			t.Fatalf("ceph crash info %s: %v", id, err)
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("ceph crash info: %v\n%s", err, b)
		}
		return doc
	}
	mine := info(metas[0], ours["crash_id"].(string))
	sig, _ := mine["stack_sig"].(string)
	if sig == "" || sig != ours["dsecore_stack_sig"] {
		t.Errorf("the mgr's stack_sig of our meta %q, ours %v", sig, ours["dsecore_stack_sig"])
	}
	if g, w := mustJSON(mine["backtrace"]), mustJSON(ours["backtrace"]); g != w {
		t.Errorf("ceph crash info backtrace %s, posted %s", g, w)
	}
	if theirs != nil {
		own := info(ownMeta, theirs["crash_id"].(string))
		t.Logf("stack_sig: ours %s, Ceph's own meta %s", sig, own["stack_sig"])
		if own["stack_sig"] != sig {
			t.Errorf("stack_sig: ours %s, Ceph's own meta's %v", sig, own["stack_sig"])
		}
	} else {
		t.Logf("stack_sig: ours %s (no meta of Ceph's)", sig)
	}
	ls, err := exec.Command("ceph", "-c", conf, "--connect-timeout", "30", "crash", "ls").Output()
	if err != nil || !strings.Contains(string(ls), ours["crash_id"].(string)) {
		t.Errorf("ceph crash ls does not list %v: %v\n%s", ours["crash_id"], err, ls)
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// TestCephCrashMatchesFixtureHandler: the fixture's handler is Ceph's
// design and writes its crash directory as Ceph does; our meta from the
// core has every field of the handler's own, equal (crash_id and
// timestamp: the handler's clock, ours the core's, within a second), and
// the stack_sig the mgr will compute is the same.
func TestCephCrashMatchesFixtureHandler(t *testing.T) {
	set := fixture.Get(t)
	for _, name := range []string{fixture.FieldCrash, fixture.Abort, fixture.UseAfterFree} {
		t.Run(name, func(t *testing.T) {
			sc := set.Scenario(t, name)
			owns, _ := filepath.Glob(filepath.Join(sc.Dir, "crash", "*", "meta"))
			if len(owns) != 1 {
				t.Fatalf("%d metas in the handler's crash directory", len(owns))
			}
			out := t.TempDir()
			run(t, "summarize", sc.Core, "--format", "ceph-crash", "--out", out, "--no-cache", "--progress", "never",
				"--ceph-crash-dir", filepath.Join(sc.Dir, "crash"))
			metas, _ := filepath.Glob(filepath.Join(out, "*", "meta"))
			if len(metas) != 1 {
				t.Fatalf("%d metas", len(metas))
			}
			var ours, theirs map[string]any
			readJSONFile(t, metas[0], &ours)
			readJSONFile(t, owns[0], &theirs)
			for k, v := range theirs {
				if k == "crash_id" || k == "timestamp" {
					continue
				}
				if g := mustJSON(ours[k]); g != mustJSON(v) {
					t.Errorf("%s:\n  ours:    %s\n  handler: %s", k, g, mustJSON(v))
				}
			}
			ts, _ := time.Parse("2006-01-02T15:04:05.000000Z", fmt.Sprint(theirs["timestamp"]))
			to, _ := time.Parse("2006-01-02T15:04:05.000000Z", fmt.Sprint(ours["timestamp"]))
			if d := to.Sub(ts); d < -time.Second || d > time.Second {
				t.Errorf("timestamp %v, the handler's %v", to, ts)
			}
			if ours["dsecore_stack_sig"] == nil || ours["dsecore_stack_sig"] != ours["dsecore_own_stack_sig"] {
				t.Errorf("stack_sig %v, the handler's report's %v", ours["dsecore_stack_sig"], ours["dsecore_own_stack_sig"])
			}
		})
	}
}

// checkNoRuntime: ceph-mon has no coroutine runtime; asking for tasks
// says so without discovery (coroutines.Absent), and the full discovery
// the answer skipped agrees: no task, nothing to explain.
func checkNoRuntime(t *testing.T, core string) {
	var doc report.Backtrace
	runJSON(t, &doc, "bt", core, "--all-tasks")
	if doc.Coroutines == nil || !strings.HasPrefix(doc.Coroutines.NoRuntime, "no module defines or calls a context switch routine") || len(doc.Tasks) != 0 {
		t.Errorf("bt --all-tasks: %d tasks, coroutines %+v", len(doc.Tasks), doc.Coroutines)
	}
	s, err := session.Open(session.Options{Core: core})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if rt := s.RuntimeWith(s.CoroutineProfile()); len(rt.Tasks) != 0 || len(rt.Processers) != 0 || rt.NoTasks != "" {
		t.Errorf("full discovery: %d tasks, %d Processers, NoTasks %q", len(rt.Tasks), len(rt.Processers), rt.NoTasks)
	}
}

// checkCephHang: the real daemon's leaked lock. The mutex's owner is the
// thread gdb made take it, with no frame of it holding the lock (a leaked
// lock); every thread asleep on it before the kill waits for it; the
// verdict is the hang's, in the CLI's text and JSON.
func checkCephHang(t *testing.T, core string, truth cephTruth) {
	var doc struct {
		Waits struct {
			Hang    bool `json:"hang"`
			Objects []struct {
				Address  string   `json:"address"`
				Kind     string   `json:"kind"`
				Owner    string   `json:"owner"`
				OwnerLWP int      `json:"owner_lwp"`
				Leaked   bool     `json:"leaked"`
				Waiters  []string `json:"waiters"`
				Mode     string   `json:"mode"`
			} `json:"objects"`
			Chains []struct {
				End string `json:"end"`
			} `json:"chains"`
			Summary string `json:"summary"`
		} `json:"waits"`
	}
	runJSON(t, &doc, "waits", core)
	w := doc.Waits
	found := false
	for _, o := range w.Objects {
		if o.Address != truth.Mutex {
			continue
		}
		found = true
		if o.Kind != "mutex" || o.Owner != fmt.Sprintf("lwp:%d", truth.HolderLWP) || o.OwnerLWP != truth.HolderLWP || !o.Leaked || o.Mode != "normal" {
			t.Errorf("mutex %s: %+v, want owner LWP %d, leaked, normal", truth.Mutex, o, truth.HolderLWP)
		}
		for _, lwp := range append([]int{truth.VictimLWP}, truth.Waiters...) {
			if !slices.Contains(o.Waiters, fmt.Sprintf("lwp:%d", lwp)) {
				t.Errorf("mutex %s: waiters %v lack LWP %d", truth.Mutex, o.Waiters, lwp)
			}
		}
	}
	if !found || !w.Hang || len(w.Chains) == 0 || w.Chains[0].End != fmt.Sprintf("lwp:%d", truth.HolderLWP) {
		t.Fatalf("no chain to the holder LWP %d on %s: %+v", truth.HolderLWP, truth.Mutex, w)
	}
	var an struct {
		Analysis struct {
			Verdict string   `json:"verdict"`
			Rules   []string `json:"rules"`
		} `json:"analysis"`
	}
	runJSON(t, &an, "inspect", core)
	v := an.Analysis.Verdict
	want := fmt.Sprintf("held by thread LWP %d", truth.HolderLWP)
	// "thread LWP N (its function) holds 0x…": the holder named, with the lock.
	holds := regexp.MustCompile(fmt.Sprintf(`thread LWP %d( \([^;]*\))? holds %s`, truth.HolderLWP, regexp.QuoteMeta(truth.Mutex)))
	if !strings.Contains(v, "Hang: ") || !holds.MatchString(w.Summary) ||
		!strings.Contains(v, "a leaked lock") || !slices.Contains(an.Analysis.Rules, "leaked-lock") || strings.Contains(v, "no assertion message") {
		t.Errorf("verdict %q (rules %v), waits %q: want the hang, %s, leaked", v, an.Analysis.Rules, w.Summary, want)
	}
	text := string(run(t, "inspect", core))
	if !strings.Contains(text, "\nWaits: ") || !strings.Contains(text, "no frame of it holds the lock: a leaked lock, or taken by code that has returned") {
		t.Errorf("inspect's Waits section:\n%s", text)
	}
}
