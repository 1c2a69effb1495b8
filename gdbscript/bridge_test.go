// Package gdbscript_test runs the gdb bridge (the loader dsecore.py and its
// package dsecore_gdb) in real gdb on the fixture cores and checks what a
// gdb user sees.
package gdbscript_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/dsecore/dsecore/internal/testsupport/gdboracle"
)

var dsecoreBin string

func TestMain(m *testing.M) { fixture.RunWithDsecore(m, &dsecoreBin) }

func script(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("dsecore.py")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// gdb runs gdb in batch mode with the bridge sourced first, then the
// commands, on the scenario's executable and core, and returns its output.
func gdb(t *testing.T, sc *fixture.Scenario, env []string, cmds ...string) string {
	t.Helper()
	if _, err := exec.LookPath("gdb"); err != nil {
		t.Fatal("gdb is not installed (scripts/setup.sh installs it)")
	}
	args := []string{"-nx", "-batch", "-x", script(t)}
	for _, c := range cmds {
		args = append(args, "-ex", c)
	}
	args = append(args, sc.Exe, sc.Core)
	return runGDB(t, env, args...)
}

func runGDB(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("gdb", args...)
	cmd.Env = append(append(os.Environ(), "DSECORE="+dsecoreBin), env...)
	cmd.Stdin = nil
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("gdb %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if strings.Contains(string(out), "Python Exception") || strings.Contains(string(out), "Traceback") {
		t.Errorf("the bridge raised:\n%s", out)
	}
	return string(out)
}

// after is the output after the marker command's echo.
func after(out, marker string) string {
	if i := strings.Index(out, marker); i >= 0 {
		return out[i+len(marker):]
	}
	return ""
}

func mustContain(t *testing.T, what, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("%s: no %q in:\n%s", what, w, out)
		}
	}
}

func field(sc *fixture.Scenario, k string) string { return fmt.Sprint(sc.Expected[k]) }

// logLines counts the lines of a scenario's ceph-dse logs.
func logLines(t *testing.T, dir string) int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.log*"))
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n += strings.Count(string(b), "\n")
	}
	return n
}

// srcLine is the line of fixtures/REL holding text, the first after the
// line holding from.
func srcLine(t *testing.T, rel, from, text string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixture.RepoRoot(), "fixtures", rel))
	if err != nil {
		t.Fatal(err)
	}
	seen := false
	for i, l := range strings.Split(string(b), "\n") {
		seen = seen || strings.Contains(l, from)
		if seen && strings.Contains(l, text) {
			return i + 1
		}
	}
	t.Fatalf("fixtures/%s has no %q after %q", rel, text, from)
	return 0
}

func TestAnalyze(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	out := gdb(t, sc, nil, "dse logs "+sc.Dir, "echo ==analyze==\\n", "dse analyze --evidence")
	a := after(out, "==analyze==")
	node := field(sc, "node")
	mustContain(t, "dse analyze", a,
		"Crash: SIGSEGV (SEGV_MAPERR) at 0x0 on LWP "+field(sc, "crash_lwp"),
		"Verdict (confidence high): NULL pointer read in boost::intrusive::list_node_traits<void*>::get_next",
		"Likely concurrent destruction (double release) of the objects of dm_hash_node_t "+node,
		"Faulting instruction: "+field(sc, "fault_ip")+": mov    (%rbx),%rbx",
		"Bad register: %rbx = 0x0",
		"Object (owner): dm_hash_node_t at "+node,
		"List walk: dm_hash_node_t::objs (boost::intrusive::list of dm_obj_t, hook at +0x130)",
		"the list's size_ is -1 (underflowed)",
		"task 15 (Processer 6, block): register %rbx holds "+node,
		fmt.Sprintf("Logs: %d lines from 3 files", logLines(t, sc.Dir)),
		"Caught signal (Segmentation fault)",
		"[reraised-by-handler]",
	)
}

func TestTasks(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	n := len(sc.Expected["tasks"].([]any))
	out := gdb(t, sc, nil, "echo ==all==\\n", "dse tasks", "echo ==filtered==\\n", "dse tasks --state block --processer 6")
	all := after(out, "==all==")
	all = all[:strings.Index(all, "==filtered==")]
	mustContain(t, "dse tasks", all, fmt.Sprintf("%d tasks (profile ceph-dse (built-in); the scheduler counts %d)", n, n))
	rows := regexp.MustCompile(`(?m)^[ *] (\d+)\s+(\w+)\s+(\S+)\s+(\S+)\s+(.*)$`).FindAllStringSubmatch(all, -1)
	if len(rows) != n {
		t.Fatalf("dse tasks: %d rows, want %d:\n%s", len(rows), n, all)
	}
	for _, want := range sc.Expected["tasks"].([]any) {
		w := want.(map[string]any)
		found := false
		for _, r := range rows {
			if r[1] == fmt.Sprint(w["id"]) {
				found = true
				st := fmt.Sprint(w["state"])
				if w["running"] == true {
					st = "running"
				}
				if r[2] != st || r[3] != fmt.Sprint(w["processer"]) {
					t.Errorf("task %v: row %q, want state %s processer %v", w["id"], r[0], st, w["processer"])
				}
			}
		}
		if !found {
			t.Errorf("task %v missing", w["id"])
		}
	}
	f := after(out, "==filtered==")
	if rows := regexp.MustCompile(`(?m)^[ *] (\d+)\s+block\s+6\s`).FindAllStringSubmatch(f, -1); len(rows) != 1 || rows[0][1] != "15" {
		t.Errorf("dse tasks --state block --processer 6:\n%s", f)
	}
	mustContain(t, "filtered", f, "(1 shown)", fmt.Sprintf("release_wait at ceph-dse.cc:%d", srcLine(t, "ceph-dse.cc", "void release_wait(", "never.Wait();")))
}

// taskFrames is a gdb Python snippet that prints the selected thread's
// frames from the shown task's innermost one, as JSON.
const taskFrames = `python
import json
f = gdb.selected_frame()
out = []
while f is not None and len(out) < 200:
    out.append({"name": f.name() or "", "type": int(f.type()), "pc": f.pc()})
    f = f.older()
print("FRAMES=" + json.dumps(out))
end
`

// TestTaskUnwind: gdb, through the bridge's unwinder, walks task 15's stack
// from its saved context; its frames are dsecore's (gdb builds no tail-call
// frames there), down to the entry trampoline.
func TestTaskUnwind(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	py := filepath.Join(t.TempDir(), "frames.gdb")
	os.WriteFile(py, []byte(taskFrames), 0o644)
	out := gdb(t, sc, nil, "dse task 15", "source "+py)
	mustContain(t, "dse task 15", out, "[Showing task 15 (block) on thread", "(LWP "+fmt.Sprint(procLWP(t, sc, 6))+")]")
	m := regexp.MustCompile(`FRAMES=(.*)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no frames:\n%s", out)
	}
	var got []struct {
		Name string `json:"name"`
		Type int    `json:"type"`
		PC   uint64 `json:"pc"`
	}
	if err := json.Unmarshal([]byte(m[1]), &got); err != nil {
		t.Fatal(err)
	}
	// dsecore's own frames of the task.
	cmd := exec.Command(dsecoreBin, "bt", sc.Core, "--exe", sc.Exe, "--task", "15", "--json")
	b, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tasks []struct {
			Frames []struct {
				Function string `json:"function"`
				Tailcall bool   `json:"tailcall"`
			} `json:"frames"`
		} `json:"tasks"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || len(doc.Tasks) != 1 {
		t.Fatalf("dsecore bt --task 15: %v", err)
	}
	var want []string
	for _, f := range doc.Tasks[0].Frames {
		if !f.Tailcall {
			want = append(want, gdboracle.NormalizeFunction(f.Function))
		}
	}
	var names []string
	for _, f := range got {
		names = append(names, gdboracle.NormalizeFunction(f.Name))
	}
	if len(names) < len(want) || strings.Join(names[:len(want)], " | ") != strings.Join(want, " | ") {
		t.Errorf("task 15 in gdb:\n  %s\ndsecore (tail-call frames aside):\n  %s", strings.Join(names, " | "), strings.Join(want, " | "))
	}
	if len(want) < 8 || want[0] != "co::Processer::SwapOut" || want[len(want)-1] != "make_fcontext" {
		t.Errorf("dsecore's task 15 frames: %v", want)
	}
}

func procLWP(t *testing.T, sc *fixture.Scenario, id int) int {
	t.Helper()
	for _, th := range sc.Expected["threads"].([]any) {
		m := th.(map[string]any)
		if int(m["processer_id"].(float64)) == id {
			return int(m["lwp"].(float64))
		}
	}
	t.Fatalf("no thread for Processer %d", id)
	return 0
}

// TestTaskFrame: a task's frame inspected with gdb's own commands.
func TestTaskFrame(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	node := field(sc, "node")
	out := gdb(t, sc, nil, "dse task 15", "echo ==bt==\\n", "bt", "echo ==frame==\\n",
		"frame function lsm_release_all_csdobj", "info args", "up", "info locals", "down", "down", "info args",
		"p *node", "p node->objs", "echo ==off==\\n", "dse task off", "bt 1")
	bt := after(out, "==bt==")
	mustContain(t, "bt", bt[:strings.Index(bt, "==frame==")],
		"task 15's saved context follows>",
		"in co::Processer::SwapOut",
		"(anonymous namespace)::release_wait (node="+node+")",
		"lsm_release_all_csdobj(lsm_t*) (lsm=",
		"lsm_destroy(lsm_t*)",
		"co::Task::StaticRun",
		"make_fcontext",
	)
	fr := after(out, "==frame==")
	mustContain(t, "frames", fr,
		"lsm_release_all_csdobj (lsm=", // frame function …
		"lsm = ",                       // info args
		"lsm_destroy",                  // up
		"node = "+node,                 // info args in release_wait
		"refcount = 2",                 // p *node
		"objs = boost::intrusive::list of dm_obj_t, 0 elements (size_ says -1)",
		"$2 = boost::intrusive::list of dm_obj_t, 0 elements (size_ says -1) [header prev_ = ",
	)
	off := after(out, "==off==")
	mustContain(t, "dse task off", off, "back to the threads' own stacks", "#0  ")
	if strings.Contains(off, "saved context") {
		t.Errorf("after dse task off the task is still shown:\n%s", off)
	}
}

// TestBtAndThreads: dse bt ID leaves the selected thread alone; dse threads
// names every LWP.
func TestBtAndThreads(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	out := gdb(t, sc, nil, "echo ==complete==\\n", "complete dse bt 1", "echo ==bt==\\n", "dse bt 1", "echo ==after==\\n", "bt 1", "echo ==threads==\\n", "dse threads")
	comp := after(out, "==complete==")
	comp = comp[:strings.Index(comp, "==bt==")]
	if strings.Fields(comp)[0] != "dse" || strings.Count(comp, "dse bt 1") != 11 || !strings.Contains(comp, "dse bt 19\n") {
		t.Errorf("complete dse bt 1 (tasks 1, 10-19):\n%s", comp)
	}
	bt := after(out, "==bt==")
	mustContain(t, "dse bt 1", bt[:strings.Index(bt, "==after==")], "Task 1 (block):", "in co::Processer::SwapOut", "(anonymous namespace)::sleeper_body", "co::Task::StaticRun")
	// One placeholder for the thread's own frame (and the inline frames
	// sharing its pc), not one per frame.
	if n := strings.Count(bt[:strings.Index(bt, "==after==")], "saved context follows>"); n != 1 {
		t.Errorf("dse bt 1: %d placeholder frames:\n%s", n, bt)
	}
	a := after(out, "==after==")
	mustContain(t, "after dse bt", a[:strings.Index(a, "==threads==")], "#0  __pthread_kill_implementation")
	th := after(out, "==threads==")
	for _, x := range sc.Expected["threads"].([]any) {
		m := x.(map[string]any)
		row := regexp.MustCompile(fmt.Sprintf(`(?m)^[ *] \d+\s+%d\s+%s\s+%s\s`, int(m["lwp"].(float64)), regexp.QuoteMeta(m["name"].(string)), m["pthread"]))
		if !row.MatchString(th) {
			t.Errorf("dse threads: no row for LWP %v %v %v:\n%s", m["lwp"], m["name"], m["pthread"], th)
		}
	}
	mustContain(t, "dse threads", th, "5 (task 16)", "[crashed]")
}

// TestPrinters: the pretty printers on a list with elements (the abort
// scenario keeps its node intact), a task and a Processer.
func TestPrinters(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.Abort)
	var task6 string
	for _, x := range sc.Expected["tasks"].([]any) {
		if m := x.(map[string]any); m["id"].(float64) == 6 {
			task6 = m["address"].(string)
		}
	}
	if task6 == "" {
		t.Fatal("no task 6 in the abort scenario's expected.json")
	}
	// The crashing frame is in libc (language C): casts need C++.
	out := gdb(t, sc, nil, "set language c++", "p '(anonymous namespace)::the_node'->objs",
		"p *(co::Task *)"+task6, "p *((co::Task *)"+task6+")->proc_")
	mustContain(t, "printers", out,
		"$1 = boost::intrusive::list of dm_obj_t, 6 elements = {{obj_id = 1000, csd_id = 7",
		"engine_id = 4}, {obj_id = 1001",
		"$2 = co::Task 6 [block] on Processer 0, saved sp 0x",
		"created in wait_for_peer (",
		"$3 = co::Processer 0 (LWP ",
		"waitQueue 3",
	)
	if n := strings.Count(after(out, "$1 = "), "obj_id = "); n < 6 {
		t.Errorf("list printer shows %d elements:\n%s", n, out)
	}
}

// TestLoadedAfterSourcing: the bridge sourced first (-ix, as from
// ~/.gdbinit), the core loaded afterwards.
func TestLoadedAfterSourcing(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	out := runGDB(t, nil, "-nx", "-batch", "-ix", script(t), "-ex", "dse tasks --state block --processer 6",
		"-ex", "file "+sc.Exe, "-ex", "core-file "+sc.Core, "-ex", "echo ==loaded==\\n", "-ex", "dse tasks --state block --processer 6", "-ex", "dse bt 15")
	mustContain(t, "before the core", out, "no core file is loaded")
	mustContain(t, "after core-file", after(out, "==loaded=="), "(1 shown)", "(anonymous namespace)::release_wait (node="+field(sc, "node")+")")
}

// TestMissingDsecore: the bridge copied elsewhere without the binary says
// how to get it; the loader copied without its package says so.
func TestMissingDsecore(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	dir := t.TempDir()
	copyBridge(t, dir)
	cmd := exec.Command("gdb", "-nx", "-batch", "-x", filepath.Join(dir, "dsecore.py"), "-ex", "dse analyze", sc.Exe, sc.Core)
	cmd.Env = append(os.Environ(), "PATH=/usr/bin:/bin", "DSECORE=")
	out, _ := cmd.CombinedOutput()
	mustContain(t, "no dsecore", string(out), "the dsecore binary was not found", "make build")
	if strings.Contains(string(out), "Traceback") {
		t.Errorf("a traceback instead of a message:\n%s", out)
	}

	lone := filepath.Join(t.TempDir(), "dsecore.py")
	b, _ := os.ReadFile(script(t))
	os.WriteFile(lone, b, 0o644)
	out, _ = exec.Command("gdb", "-nx", "-batch", "-x", lone, "-ex", "dse analyze", sc.Exe, sc.Core).CombinedOutput()
	mustContain(t, "the loader alone", string(out), "the package dsecore_gdb is not beside "+lone)
	if strings.Contains(string(out), "Traceback") {
		t.Errorf("a traceback instead of a message:\n%s", out)
	}
}

// copyBridge copies the loader and its package into dir, as a user copies
// gdbscript/ somewhere else.
func copyBridge(t *testing.T, dir string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(script(t)), "dsecore_gdb", "*.py"))
	if len(files) < 4 {
		t.Fatalf("the package dsecore_gdb has %d modules", len(files))
	}
	os.MkdirAll(filepath.Join(dir, "dsecore_gdb"), 0o755)
	for _, f := range append(files, script(t)) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(filepath.Dir(script(t)), f)
		if err := os.WriteFile(filepath.Join(dir, rel), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// forkProfile is the profile a person writes for the fork fixture (the
// same as cmd/dsecore's fork tests).
const forkProfile = `base: ceph-dse
name: ceph-dse-fork
running: curTask_
task_count: nTasks_
hook_type: co::LinkedQueueHook
queues: {runnableQueue_: runnable, blockQueue_: block, newQueue_: new, gcQueue_: done}
waiter_rutex: waitingOn_
rutex_waiters: sleepers_.head_
sync_types: {"libgo::Mutex": co_mutex, "libgo::RWMutexImpl": co_rwmutex, "libgo::ConditionVariable": co_condvar, "libgo::ChannelImplWithSignal": co_chan}
`

// TestFork: the bridge on the drifted fork (members and the queue type
// renamed). With the default profile, adapted by dsecore, and with a
// hand-written one ($DSECORE_PROFILE, as dsecore reads it, or `dse
// profile FILE`, which then says the profile used), `dse tasks`
// names the profile used and lists the program's tasks, and the printers
// read a task and Processers by the fork's names (curTask_, blockQueue_)
// without an exception or a field they could not read.
func TestFork(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.Fork)
	tasks := sc.Expected["tasks"].([]any)
	var blocked, running map[string]any
	for _, x := range tasks {
		m := x.(map[string]any)
		if m["state"] == "block" && blocked == nil {
			blocked = m
		}
		if m["running"] == true {
			running = m
		}
	}
	if blocked == nil || running == nil {
		t.Fatal("the fork scenario's expected.json has no blocked or no running task")
	}
	prof := filepath.Join(t.TempDir(), "fork.yaml")
	if err := os.WriteFile(prof, []byte(forkProfile), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, used string
		env        []string
		pre        []string // commands before
		adapted    bool
	}{
		{"default profile", "ceph-dse (built-in)", nil, nil, true},
		{"DSECORE_PROFILE", "ceph-dse-fork (" + prof + ")", []string{"DSECORE_PROFILE=" + prof}, nil, false},
		{"dse profile", "ceph-dse-fork (" + prof + ")", nil, []string{"dse profile " + prof}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := gdb(t, sc, c.env, append(c.pre, "echo ==tasks==\\n", "dse tasks", "echo ==print==\\n", "set language c++",
				"p *(co::Task *)"+blocked["address"].(string), "p *((co::Task *)"+blocked["address"].(string)+")->proc_",
				"p *((co::Task *)"+running["address"].(string)+")->proc_")...)
			if c.pre != nil {
				mustContain(t, "dse profile", out, "profile set: "+prof,
					fmt.Sprintf("profile used on this core: %s: %d tasks", c.used, len(tasks)))
			}
			list := after(out, "==tasks==")
			list = list[:strings.Index(list, "==print==")]
			mustContain(t, "dse tasks", list, fmt.Sprintf("%d tasks (profile %s; the scheduler counts %d)", len(tasks), c.used, len(tasks)))
			if got := strings.Contains(list, "(the profile was adapted to this build; to say so in it: "); got != c.adapted {
				t.Errorf("dse tasks: the adaptation's profile lines shown %v, want %v:\n%s", got, c.adapted, list)
			}
			if c.adapted {
				mustContain(t, "dse tasks", list, "running: curTask_", "hook_type: co::LinkedQueueHook")
			}
			rows := regexp.MustCompile(`(?m)^[ *] (\d+)\s+(\w+)\s+(\S+)\s`).FindAllStringSubmatch(list, -1)
			if len(rows) != len(tasks) {
				t.Errorf("dse tasks: %d rows, want %d:\n%s", len(rows), len(tasks), list)
			}
			pr := after(out, "==print==")
			mustContain(t, "printers", pr,
				fmt.Sprintf("= co::Task %v [block] on Processer %v, saved sp 0x", blocked["id"], blocked["processer"]),
				fmt.Sprintf("created in %v (", blocked["func"]),
				fmt.Sprintf("= co::Processer %v (LWP ", blocked["processer"]),
				fmt.Sprintf("= co::Processer %v (LWP ", running["processer"]),
				fmt.Sprintf("running task %v;", running["id"]),
				"blockQueue ", "runnableQueue ",
			)
			if strings.Contains(pr, "[not read from") || strings.Contains(pr, "no queue read") {
				t.Errorf("printers could not read a field:\n%s", pr)
			}
		})
	}
}
