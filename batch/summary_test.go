package batch_test

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dsecore/dsecore/analysis/signature"
	"github.com/dsecore/dsecore/batch"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/dsecore/dsecore/session"
)

func open(t *testing.T, sc *fixture.Scenario) *session.Session {
	t.Helper()
	s, err := session.Open(session.Options{Core: sc.Core, Exe: sc.Exe})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// buildID is readelf's build-id of a file: the oracle of Build.
func buildID(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("readelf", "-n", path).Output()
	if err != nil {
		t.Fatalf("readelf -n %s: %v", path, err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if _, id, ok := strings.Cut(l, "Build ID: "); ok {
			return strings.TrimSpace(id)
		}
	}
	t.Fatalf("%s has no build-id", path)
	return ""
}

// runningTask is the task expected.json says was running on the crashed
// thread's Processer.
func runningTask(t *testing.T, sc *fixture.Scenario) int64 {
	t.Helper()
	proc := any(nil)
	for _, x := range sc.Expected["threads"].([]any) {
		if m := x.(map[string]any); m["lwp"] == sc.Expected["crash_lwp"] {
			proc = m["processer_id"]
		}
	}
	for _, x := range sc.Expected["tasks"].([]any) {
		if m := x.(map[string]any); m["running"] == true && m["processer"] == proc {
			return int64(m["id"].(float64))
		}
	}
	t.Fatalf("no running task on the crashed thread's Processer %v", proc)
	return 0
}

// TestSummarizeFieldCrash: one core's line of facts, each from what the
// program knew (expected.json), readelf (build-ids) and the fixture's
// source (the frames).
func TestSummarizeFieldCrash(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	ex := sc.Expected
	in := batch.Core{Path: "/somewhere/core.1", Size: 42, Node: "node7", Time: time.Unix(1700000000, 0)}
	c := batch.Summarize(open(t, sc), in, batch.Options{})
	if c.Path != in.Path || c.Size != 42 || c.Node != "node7" || !c.Time.Equal(in.Time) {
		t.Errorf("the input's facts: %+v", c)
	}
	if c.Error != "" || c.PID != int(ex["pid"].(float64)) || c.Process != ex["process_name"] || c.Exe != sc.Exe || c.Platform != "x86_64" {
		t.Errorf("process: error %q pid %d %q exe %q platform %q", c.Error, c.PID, c.Process, c.Exe, c.Platform)
	}
	// The kernel's psinfo keeps the first 79 bytes of the command line.
	cmdline, err := os.ReadFile(filepath.Join(sc.Dir, "cmdline"))
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimSpace(string(cmdline)); c.Args != want[:min(len(want), 79)] {
		t.Errorf("args %q, the program's %q", c.Args, want)
	}
	if c.Signal != "SIGSEGV (SEGV_MAPERR) at 0x0" || c.SignalName != "SIGSEGV" || c.ReRaised != ex["handler"].(bool) {
		t.Errorf("signal %q %q reraised %v", c.Signal, c.SignalName, c.ReRaised)
	}
	if c.LWP != int(ex["crash_lwp"].(float64)) || c.ThreadName != ex["crash_thread_name"] || c.Task != runningTask(t, sc) {
		t.Errorf("crashing thread LWP %d %q task %d", c.LWP, c.ThreadName, c.Task)
	}
	// The innermost inline frame's line is the build's: list_node.hpp has
	// two get_next overloads with the same body, and which one the line
	// table names differs from build to build (63 or 66 here): addr2line
	// on the library at the fault's offset says.
	a2l, err := exec.Command("addr2line", "-i", "-e", sc.Lib, fmt.Sprint(ex["fault_ip_lib_offset"])).Output()
	if err != nil {
		t.Fatalf("addr2line: %v", err)
	}
	inner := filepath.Base(strings.SplitN(strings.TrimSpace(string(a2l)), "\n", 2)[0])
	wantTop := []string{"boost::intrusive::list_node_traits<void*>::get_next (" + inner + ") [inlined]",
		"boost::intrusive::list_impl<", "dm_hash_node_t::clear (dm.cc:42)", "lsm_release_all_csdobj (lsm.cc:", "lsm_destroy (lsm.cc:"}
	if len(c.TopFrames) != 5 {
		t.Fatalf("top frames %q", c.TopFrames)
	}
	for i, w := range wantTop {
		if !strings.HasPrefix(c.TopFrames[i], w) {
			t.Errorf("top frame %d: %q, want %q…", i, c.TopFrames[i], w)
		}
	}
	// The backtrace: every frame numbered, the handler's above the signal
	// frame, the top frames right below it.
	sig := -1
	for i, l := range c.Backtrace {
		if !strings.HasPrefix(l, fmt.Sprintf("#%d ", i)) {
			t.Errorf("backtrace line %d: %q", i, l)
		}
		if strings.Contains(l, "<signal handler called>") {
			sig = i
		}
	}
	if sig < 1 || len(c.Backtrace) < sig+6 || c.Backtrace[sig+1] != fmt.Sprintf("#%d %s", sig+1, c.TopFrames[0]) {
		t.Errorf("backtrace (signal frame at %d):\n%s", sig, strings.Join(c.Backtrace, "\n"))
	}
	if c.Signature == nil || len(c.Signature.Frames) != signature.DefaultFrames || c.Signature.Frames[0] != "boost::intrusive::list_node_traits::get_next" ||
		c.Signature.Frames[2] != "dm_hash_node_t::clear" || c.Signature.Degraded {
		t.Errorf("signature %+v", c.Signature)
	}
	if c.VerdictRule != "verdict-concurrent-release" || c.Confidence != "high" || !strings.Contains(c.Verdict, "Likely concurrent destruction") {
		t.Errorf("verdict (%s, %s) %q", c.VerdictRule, c.Confidence, c.Verdict)
	}
	rules := map[string]bool{}
	for _, e := range c.Evidence {
		rule, text, ok := strings.Cut(strings.TrimPrefix(e, "["), "] ")
		if !strings.HasPrefix(e, "[") || !ok || text == "" {
			t.Errorf("evidence %q", e)
		}
		rules[rule] = true
	}
	for _, r := range []string{"null-pointer", "shared-object", "verdict-concurrent-release"} {
		if !rules[r] {
			t.Errorf("no %s evidence: %q", r, c.Evidence)
		}
	}
	if c.Build[filepath.Base(sc.Exe)] != buildID(t, sc.Exe) || c.Build["libdcache.so"] != buildID(t, sc.Lib) || len(c.Build) != 2 {
		t.Errorf("builds %v", c.Build)
	}
	if len(c.Missing) != 0 || c.Assertion != nil || c.Ceph == nil || c.Seconds <= 0 || c.Cached {
		t.Errorf("missing %v assertion %+v ceph %v seconds %v cached %v", c.Missing, c.Assertion, c.Ceph != nil, c.Seconds, c.Cached)
	}
	// Fewer frames: a shorter signature (another hash), fewer top frames.
	short := batch.Summarize(open(t, sc), in, batch.Options{Frames: 3, Top: 2})
	if short.Signature == nil || len(short.Signature.Frames) != 3 || short.Signature.Hash == c.Signature.Hash ||
		strings.Join(short.Signature.Frames, ",") != strings.Join(c.Signature.Frames[:3], ",") || len(short.TopFrames) != 2 {
		t.Errorf("3 frames, top 2: %+v %q", short.Signature, short.TopFrames)
	}
}

// TestSummarizeAbort: the assertion read from the core, at the line of the
// fixture's source that holds it; no task-less crash has a task.
func TestSummarizeAbort(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.Abort)
	c := batch.Summarize(open(t, sc), batch.Core{}, batch.Options{})
	line := sourceLine(t, "dcache/lsm.cc", "ceph_assert(entries >= 0")
	if a := c.Assertion; a == nil || !strings.Contains(a.Text, "entries >= 0") || a.Function != "journal_replay" || filepath.Base(a.File) != "lsm.cc" || a.Line != line {
		t.Errorf("assertion %+v, want journal_replay at lsm.cc:%d", c.Assertion, line)
	}
	if c.SignalName != "SIGABRT" || c.Signature == nil || c.Signature.Frames[0] != "journal_replay" || c.Task != int64(sc.Expected["crash_task_id"].(float64)) {
		t.Errorf("signal %q signature %+v task %d", c.SignalName, c.Signature, c.Task)
	}
}

// TestSummarizeMissingLibrary: a library the machine lacks is named with
// the core's build-id; the signature falls back to module offsets.
func TestSummarizeMissingLibrary(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, "missing-lib")
	s, err := session.Open(session.Options{Core: sc.Core})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := batch.Summarize(s, batch.Core{}, batch.Options{})
	if len(c.Missing) != 1 || !strings.Contains(c.Missing[0], "bin-gone/libdcache.so (build-id ") || len(c.Build["libdcache.so"]) != 40 {
		t.Errorf("missing %q builds %v", c.Missing, c.Build)
	}
	if id, _ := hex.DecodeString(c.Build["libdcache.so"]); !strings.Contains(c.Missing[0], hex.EncodeToString(id)) {
		t.Errorf("the missing library's build-id %s is not its core's %s", c.Missing[0], c.Build["libdcache.so"])
	}
	if c.Signature == nil || !c.Signature.Degraded || !strings.HasPrefix(c.Signature.Frames[0], "libdcache.so+0x") {
		t.Errorf("signature %+v", c.Signature)
	}
}

// TestFailed: a core that could not be opened has its error and no task.
func TestFailed(t *testing.T) {
	c := batch.Failed(batch.Core{Path: "/x/core", Task: 7}, errors.New("core: not an ELF file"))
	if c.Path != "/x/core" || c.Task != -1 || c.Error != "core: not an ELF file" {
		t.Errorf("%+v", c)
	}
}

func sig(frames ...string) *signature.Signature {
	s := signature.Signature{Version: "v1", Frames: frames, Raw: frames}
	s.Hash = strings.Join(frames, "|")
	return &s
}

// TestGroupCores: cores of one signature are one group (counted, first
// and last time, nodes and builds once each, sorted; the most common
// verdict with addresses and numbers made generic, then the others;
// template spellings counted); failed cores and cores without a signature
// are in none; groups by size; families by their first three frames, each
// group's distance from its family's head.
func TestGroupCores(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	a := sig("f", "g", "h", "i", "j")
	a2 := sig("f", "g", "h", "i", "j")
	a2.Raw = []string{"f<int>", "g", "h", "i", "j"}
	b := sig("f", "g", "h", "x", "y") // the same family as a, distance 2
	c := sig("k", "l")
	cores := []batch.Core{
		{Path: "1", Time: t0.Add(2 * time.Hour), Node: "n2", Signature: a, Build: map[string]string{"libdcache.so": "bb"}, Verdict: "double release of 0x5555aaaa by task 15"},
		{Path: "2", Time: t0, Node: "n1", Signature: a2, Build: map[string]string{"libdcache.so": "aa", "ceph-dse": "ee"}, Verdict: "double release of 0x5555bbbb by task 16"},
		{Path: "3", Time: t0.Add(time.Hour), Node: "n2", Signature: a, Build: map[string]string{"ceph-dse": "cc"}, Verdict: "use after free at 0x1234abcd"},
		{Path: "4", Time: t0, Signature: b, Verdict: "x"},
		{Path: "5", Time: t0, Signature: c},
		{Path: "6", Time: t0, Signature: c, Node: "n3"},
		{Path: "7", Signature: a, Error: "truncated"},
		{Path: "8"},
	}
	groups, fams := batch.GroupCores(cores)
	if len(groups) != 3 {
		t.Fatalf("%d groups: %+v", len(groups), groups)
	}
	g := groups[0]
	if g.Signature != a.ID() || g.Count != 3 || strings.Join(g.Cores, ",") != "1,2,3" || !g.First.Equal(t0) || !g.Last.Equal(t0.Add(2*time.Hour)) ||
		strings.Join(g.Nodes, ",") != "n1,n2" || strings.Join(g.Builds, ",") != "aa,bb,cc" || g.Example != "1" || g.Variants != 2 {
		t.Errorf("group a: %+v", g)
	}
	if g.Verdict != "double release of 0x… by task N" || strings.Join(g.Verdicts, "|") != "double release of 0x… by task N|use after free at 0x…" {
		t.Errorf("group a's verdicts %q %q", g.Verdict, g.Verdicts)
	}
	// c (2 cores) before b (1 core).
	if groups[1].Signature != c.ID() || groups[1].Count != 2 || groups[2].Signature != b.ID() || groups[2].Count != 1 {
		t.Errorf("order: %s %d, %s %d", groups[1].Signature, groups[1].Count, groups[2].Signature, groups[2].Count)
	}
	if groups[0].Family != a.ID() || groups[0].Distance != 0 || groups[2].Family != a.ID() || groups[2].Distance != 2 || groups[1].Family != c.ID() {
		t.Errorf("families of the groups: %+v", groups)
	}
	if len(fams) != 2 || fams[0].Head != a.ID() || fams[0].Count != 4 || strings.Join(fams[0].Groups, ",") != a.ID()+","+b.ID() ||
		strings.Join(fams[0].Top, ",") != "f,g,h" || fams[1].Head != c.ID() || strings.Join(fams[1].Top, ",") != "k,l" {
		t.Errorf("families %+v", fams)
	}
	// Verdicts of equal count: alphabetical.
	tie, _ := batch.GroupCores([]batch.Core{{Path: "1", Signature: c, Verdict: "b at 0x12345"}, {Path: "2", Signature: c, Verdict: "a by task 3"}})
	if len(tie) != 1 || strings.Join(tie[0].Verdicts, "|") != "a by task N|b at 0x…" || tie[0].Verdict != "a by task N" {
		t.Errorf("verdicts of equal count: %q", tie[0].Verdicts)
	}
	// Equal counts: by signature.
	eq, _ := batch.GroupCores([]batch.Core{{Path: "1", Signature: c}, {Path: "2", Signature: a}})
	if len(eq) != 2 || eq[0].Signature > eq[1].Signature {
		t.Errorf("equal counts not by signature: %s, %s", eq[0].Signature, eq[1].Signature)
	}
	batch.MarkNew(groups, []batch.Group{{Signature: c.ID()}})
	if !groups[0].New || groups[1].New || !groups[2].New {
		t.Errorf("new: %v %v %v", groups[0].New, groups[1].New, groups[2].New)
	}
}

// TestGenericVerdict: addresses and the numbers of tasks, threads,
// Processers and processes go; other numbers stay.
func TestGenericVerdict(t *testing.T) {
	for in, want := range map[string]string{
		"task 15 (Processer 6, block) holds 0x5555b1b5a170 on thread LWP 14829 (Processer_5) of pid 42": "task N (Processer N, block) holds 0x… on thread LWP N (Processer_N) of pid N",
		"size_ underflowed to -1 at 0x0 and 0x123":                                                      "size_ underflowed to -1 at 0x0 and 0x123",
		"": "",
	} {
		if got := batch.GenericVerdict(in); got != want {
			t.Errorf("GenericVerdict(%q) = %q, want %q", in, got, want)
		}
	}
}

// sourceLine is the line of the fixture source that contains text.
func sourceLine(t *testing.T, rel, text string) int {
	t.Helper()
	f, err := os.Open(filepath.Join(fixture.RepoRoot(), "fixtures", rel))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for n := 1; s.Scan(); n++ {
		if strings.Contains(s.Text(), text) {
			return n
		}
	}
	t.Fatalf("%s has no %q", rel, text)
	return 0
}
