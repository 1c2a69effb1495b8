package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/batch"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/dsecore/dsecore/report"
	"github.com/google/go-dap"
)

// forkProfileYAML is the profile a person writes for the fork fixture.
const forkProfileYAML = `base: ceph-dse
name: ceph-dse-fork
running: curTask_
task_count: nTasks_
hook_type: co::LinkedQueueHook
queues: {runnableQueue_: runnable, blockQueue_: block, newQueue_: new, gcQueue_: done}
waiter_rutex: waitingOn_
rutex_waiters: sleepers_.head_
sync_types: {"libgo::Mutex": co_mutex, "libgo::RWMutexImpl": co_rwmutex, "libgo::ConditionVariable": co_condvar, "libgo::ChannelImplWithSignal": co_chan}
`

// forkAdaptedLines: what the built-in profile adapts on the fork (which
// renames its co runtime's members and libgo's routine_sync's).
var forkAdaptedLines = []string{
	"hook_type: co::LinkedQueueHook",
	"queues: {blockQueue_: block, gcQueue_: done, newQueue_: new, runnableQueue_: runnable}",
	"task_count: nTasks_",
	"running: curTask_",
	"waiter_rutex: waitingOn_",
	"rutex_waiters: sleepers_.head_",
	`sync_types: {"libgo::ChannelImplWithSignal": co_chan, "libgo::ConditionVariable": co_condvar, "libgo::Mutex": co_mutex, "libgo::RWMutexImpl": co_rwmutex}`,
}

func writeForkProfile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fork.yaml")
	if err := os.WriteFile(path, []byte(forkProfileYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// truthSet is the program's tasks as "id state Processer [running]".
func truthSet(sc *fixture.Scenario) []string {
	var out []string
	for _, x := range sc.Expected["tasks"].([]any) {
		m := x.(map[string]any)
		s := fmt.Sprintf("%v %v P%v", m["id"], m["state"], m["processer"])
		if m["running"].(bool) {
			s += " running"
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func taskSet(ts []report.Task) []string {
	var out []string
	for _, t := range ts {
		s := fmt.Sprintf("%d %s P%d", t.ID, t.State, t.Processer)
		if t.Running {
			s += " running"
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func sameSet(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s: tasks\n  %s\nthe program had\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// runErr runs dsecore and returns stdout, stderr and the exit error.
func runErr(args ...string) (string, string, error) {
	cmd := exec.Command(dsecoreBin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// TestForkTasks: `tasks` on the fork fixture. With the default profile the
// renamed members are adapted (and said so: warnings, and the lines that
// make the adaptation explicit); with the hand-written profile nothing is;
// both give the program's task set and name the profile used.
func TestForkTasks(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.Fork)
	want := truthSet(sc)
	var def struct {
		Coroutines report.Coroutines `json:"coroutines"`
		Tasks      []report.Task     `json:"tasks"`
	}
	runJSON(t, &def, "tasks", sc.Core, "--exe", sc.Exe)
	sameSet(t, "default profile", taskSet(def.Tasks), want)
	c := def.Coroutines
	if c.Profile != "ceph-dse" || c.ProfileSource != "built-in" || strings.Join(c.ProfileLines, "\n") != strings.Join(forkAdaptedLines, "\n") || c.TaskCount != int64(len(want)) {
		t.Errorf("coroutines: profile %q (%s), lines %q, count %d", c.Profile, c.ProfileSource, c.ProfileLines, c.TaskCount)
	}
	for _, task := range def.Tasks {
		if task.State == "block" && (task.FoundBy != "profile+scan" || !strings.Contains(task.Top, "sleeper_body") && !strings.Contains(task.Top, "release_wait")) {
			t.Errorf("blocked task %d: found by %s, at %s", task.ID, task.FoundBy, task.Top)
		}
	}
	adapted := 0
	for _, w := range c.Warnings {
		if strings.HasPrefix(w, "PROFILE ADAPTED (ceph-dse): ") {
			adapted++
		}
	}
	if adapted != len(forkAdaptedLines) {
		t.Errorf("%d PROFILE ADAPTED warnings: %q", adapted, c.Warnings)
	}
	out, stderr, err := runErr("tasks", sc.Core, "--exe", sc.Exe)
	if err != nil || !strings.Contains(out, fmt.Sprintf("%d tasks (profile ceph-dse (built-in); the scheduler counts %d)", len(want), len(want))) ||
		!strings.Contains(out, "(the profile was adapted to this build; to say so in it: "+strings.Join(forkAdaptedLines, "; ")+")") ||
		strings.Count(stderr, "warning: PROFILE ADAPTED") != len(forkAdaptedLines) {
		t.Errorf("tasks text (%v):\n%s\nstderr:\n%s", err, out, stderr)
	}

	prof := writeForkProfile(t)
	var hand struct {
		Coroutines report.Coroutines `json:"coroutines"`
		Tasks      []report.Task     `json:"tasks"`
	}
	runJSON(t, &hand, "tasks", sc.Core, "--exe", sc.Exe, "--profile", prof)
	sameSet(t, "hand-written profile", taskSet(hand.Tasks), want)
	if hc := hand.Coroutines; hc.Profile != "ceph-dse-fork" || hc.ProfileSource != prof || len(hc.ProfileLines) != 0 || len(hc.Warnings) != 0 {
		t.Errorf("hand-written profile: %q (%s), lines %q, warnings %q", hc.Profile, hc.ProfileSource, hc.ProfileLines, hc.Warnings)
	}
	// The same file through the environment and through dsecore.yaml.
	cmd := exec.Command(dsecoreBin, "tasks", sc.Core, "--exe", sc.Exe, "--json")
	cmd.Env = append(os.Environ(), "DSECORE_PROFILE="+prof)
	cmd.Dir = t.TempDir()
	b, err := cmd.Output()
	var env struct {
		Coroutines report.Coroutines `json:"coroutines"`
	}
	if err != nil || json.Unmarshal(b, &env) != nil || env.Coroutines.ProfileSource != prof {
		t.Errorf("DSECORE_PROFILE: %v, %s", err, b)
	}
	cfgDir := t.TempDir()
	os.WriteFile(filepath.Join(cfgDir, "dsecore.yaml"), []byte("profile: "+prof+"\n"), 0o644)
	cmd = exec.Command(dsecoreBin, "tasks", sc.Core, "--exe", sc.Exe, "--json")
	cmd.Dir = cfgDir
	b, err = cmd.Output()
	if err != nil || json.Unmarshal(b, &env) != nil || env.Coroutines.ProfileSource != prof {
		t.Errorf("dsecore.yaml profile: %v, %s", err, b)
	}
}

// TestForkProfileCommands: `profile check` names each renamed field, what it
// resolved to and where; a profile that does not fit fails the check;
// `profile init`'s output, used unchanged, gives the program's task set.
func TestForkProfileCommands(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.Fork)
	out, _, err := runErr("profile", "check", sc.Core, "--exe", sc.Exe)
	if err != nil {
		t.Fatalf("profile check: %v\n%s", err, out)
	}
	lines := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			if _, dup := lines[f[0]]; !dup {
				lines[f[0]] = strings.Join(f, " ")
			}
		}
	}
	for key, want := range map[string]string{
		"running":           "running runningTask_ ADAPTED curTask_ co::Task * 0x10 co::Processer",
		"queues.waitQueue_": "queues.waitQueue_ waitQueue_: block ADAPTED blockQueue_ co::LinkedQueue<co::Task, true> 0x58 co::Processer",
		"task_count":        "task_count taskCount_ ADAPTED nTasks_ std::atomic<unsigned int> 0x50 co::Scheduler",
		"hook_type":         "hook_type co::TSQueueHook ADAPTED co::LinkedQueueHook base class 0x10 co::Task",
		"task_sp":           "task_sp ctx_.ctx_ ok ctx_.ctx_ boost::context::detail::fcontext_t 0x50 co::Task",
	} {
		if lines[key] != want {
			t.Errorf("profile check: %q\nwant %q", lines[key], want)
		}
	}
	for _, want := range append([]string{fmt.Sprintf("%d adapted, 0 failed", len(forkAdaptedLines)), fmt.Sprintf("In this core: 8 Processers, %d tasks (the scheduler counts %d)", len(truthSet(sc)), len(truthSet(sc))),
		"To make the adaptations explicit, a profile for this build (base: ceph-dse):"}, forkAdaptedLines...) {
		if !strings.Contains(out, want) {
			t.Errorf("profile check does not say %q:\n%s", want, out)
		}
	}
	var doc struct {
		Keys []struct {
			Key, Status, Resolved string
			Offset                int64
		} `json:"keys"`
		Tasks int `json:"tasks"`
	}
	runJSON(t, &doc, "profile", "check", sc.Core, "--exe", sc.Exe)
	if len(doc.Keys) < 30 || doc.Tasks != len(truthSet(sc)) {
		t.Errorf("profile check --json: %d keys, %d tasks", len(doc.Keys), doc.Tasks)
	}
	// A profile that does not fit: exit status 1, the key and what is there.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("base: ceph-dse\ntask_sp: ctx_.sp_\n"), 0o644)
	out, _, err = runErr("profile", "check", sc.Core, "--exe", sc.Exe, "--profile", bad)
	if err == nil || !strings.Contains(out, "FAILED") || !strings.Contains(out, "co::Context has no member sp_; members that are a pointer: ctx_.ctx_, ctx_.fn_, ctx_.vp_, ctx_.stack_ (task_stack); no unambiguous match") {
		t.Errorf("a profile that does not fit: %v\n%s", err, out)
	}

	gen := filepath.Join(t.TempDir(), "gen.yaml")
	_, stderr, err := runErr("profile", "init", sc.Core, "--exe", sc.Exe, "--base", "libgo-v3", "--out", gen)
	if err != nil || !strings.Contains(stderr, fmt.Sprintf("finds 8 Processers and %d tasks", len(truthSet(sc)))) || strings.Contains(stderr, "still needs adapting") {
		t.Fatalf("profile init: %v\n%s", err, stderr)
	}
	var used struct {
		Coroutines report.Coroutines `json:"coroutines"`
		Tasks      []report.Task     `json:"tasks"`
	}
	runJSON(t, &used, "tasks", sc.Core, "--exe", sc.Exe, "--profile", gen)
	sameSet(t, "profile init's profile", taskSet(used.Tasks), truthSet(sc))
	if len(used.Coroutines.Warnings) != 0 || len(used.Coroutines.ProfileLines) != 0 || !strings.HasPrefix(used.Coroutines.Profile, "ceph-dse-") {
		t.Errorf("profile init's profile: %q, warnings %q", used.Coroutines.Profile, used.Coroutines.Warnings)
	}
	// stdout without --out is the same file.
	y, _, err := runErr("profile", "init", sc.Core, "--exe", sc.Exe, "--base", "libgo-v3")
	if b, _ := os.ReadFile(gen); err != nil || y != string(b) {
		t.Errorf("profile init to stdout differs from --out (%v)", err)
	}
}

// TestForkFaces: the same profile file reaches inspect, bt, summarize and
// the DAP launch attribute; each says which profile it used and finds the
// program's tasks.
func TestForkFaces(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.Fork)
	prof := writeForkProfile(t)
	want := truthSet(sc)
	crashTask := intField(t, sc.Expected, "crash_task_id")

	var in report.Inspect
	runJSON(t, &in, "inspect", sc.Core, "--exe", sc.Exe, "--profile", prof)
	if in.Coroutines == nil || in.Coroutines.ProfileSource != prof || in.Coroutines.Profile != "ceph-dse-fork" {
		t.Errorf("inspect: coroutines %+v", in.Coroutines)
	} else {
		sameSet(t, "inspect", taskSet(in.Tasks), want)
	}
	text := string(run(t, "inspect", sc.Core, "--exe", sc.Exe, "--profile", prof))
	if !strings.Contains(text, "Coroutines (profile ceph-dse-fork ("+prof+")): 8 Processers") || !strings.Contains(text, "runnable 2, block 0, new 3, done 0") {
		t.Errorf("inspect text:\n%s", text)
	}

	var bt report.Backtrace
	runJSON(t, &bt, "bt", sc.Core, "--exe", sc.Exe, "--profile", prof, "--task", fmt.Sprint(crashTask))
	if len(bt.Tasks) != 1 || !bt.Tasks[0].Running || bt.Coroutines.ProfileSource != prof {
		t.Errorf("bt --task %d: %+v, profile %+v", crashTask, bt.Tasks, bt.Coroutines)
	}
	if out := string(run(t, "bt", sc.Core, "--exe", sc.Exe, "--profile", prof, "--task", fmt.Sprint(crashTask))); !strings.Contains(out, "(coroutine profile ceph-dse-fork ("+prof+"))") ||
		!strings.Contains(out, "dm_hash_node_t::clear") {
		t.Errorf("bt --task text:\n%s", out)
	}

	var sum batch.Summary
	cmd := exec.Command(dsecoreBin, "summarize", sc.Core, "--format", "json", "--progress", "never", "--solib-search-path", filepath.Dir(sc.Exe),
		"--profile", prof, "--cache-dir", t.TempDir())
	b, err := cmd.Output()
	if err != nil || json.Unmarshal(b, &sum) != nil || len(sum.Cores) != 1 {
		t.Fatalf("summarize: %v\n%s", err, b)
	}
	if sum.CoroutineProfile != "ceph-dse-fork ("+prof+")" || sum.Cores[0].Task != int64(crashTask) {
		t.Errorf("summarize: profile %q, crashing task %d (want %d)", sum.CoroutineProfile, sum.Cores[0].Task, crashTask)
	}

	// DAP: the launch attribute, and the default profile adapted.
	for _, profile := range []string{prof, ""} {
		c := startDAP(t)
		c.ok("initialize", map[string]any{"adapterID": "dsecore"})
		args := map[string]any{"coreFile": sc.Core, "program": sc.Exe}
		if profile != "" {
			args["profile"] = profile
		}
		c.ok("launch", args)
		c.waitEvent("initialized")
		c.ok("configurationDone", nil)
		c.waitEvent("stopped")
		th := c.ok("threads", nil).(*dap.ThreadsResponse)
		var got []string
		for _, x := range th.Body.Threads {
			var id int
			var state string
			if n, _ := fmt.Sscanf(x.Name, "task %d [%s", &id, &state); n == 2 {
				got = append(got, fmt.Sprint(id))
			}
		}
		sort.Strings(got)
		var ids []string
		for _, w := range want {
			ids = append(ids, strings.Fields(w)[0])
		}
		sort.Strings(ids)
		sameSet(t, "DAP threads (profile "+profile+")", got, ids)
		var outputs []string
		for _, e := range c.events {
			if o, ok := e.(*dap.OutputEvent); ok {
				outputs = append(outputs, o.Body.Output)
			}
		}
		all := strings.Join(outputs, "")
		wantUsed := fmt.Sprintf("dsecore: coroutine profile ceph-dse-fork (%s): %d tasks on 8 Processers (the scheduler counts %d)", prof, len(want), len(want))
		if profile == "" {
			wantUsed = fmt.Sprintf("dsecore: coroutine profile ceph-dse (built-in): %d tasks on 8 Processers", len(want))
			if strings.Count(all, "PROFILE ADAPTED (ceph-dse)") != len(forkAdaptedLines) {
				t.Errorf("DAP, default profile: outputs\n%s", all)
			}
		}
		if !strings.Contains(all, wantUsed) {
			t.Errorf("DAP outputs do not say %q:\n%s", wantUsed, all)
		}
	}
}
