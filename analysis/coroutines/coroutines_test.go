package coroutines_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/analysis/coroutines"
	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
)

func open(t testing.TB, core, exe string) *coreparse.Process {
	t.Helper()
	p, err := coreparse.Open(coreparse.Options{Core: core, Exe: exe})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func discover(t testing.TB, p *coreparse.Process, o coroutines.Options) *coroutines.Runtime {
	t.Helper()
	prof, err := coroutines.LoadProfile("ceph-dse")
	if err != nil {
		t.Fatal(err)
	}
	return coroutines.Discover(p, prof, o)
}

type truthTask struct {
	id, proc     int64
	state        string
	running      bool
	addr, lo, hi uint64
	fn, file     string
	line         int
}

func truthTasks(t testing.TB, sc *fixture.Scenario) []truthTask {
	var out []truthTask
	for _, x := range sc.Expected["tasks"].([]any) {
		m := x.(map[string]any)
		out = append(out, truthTask{id: int64(m["id"].(float64)), proc: int64(m["processer"].(float64)), state: m["state"].(string),
			running: m["running"].(bool), addr: fixture.Hex(t, m["address"]), lo: fixture.Hex(t, m["stack_lo"]), hi: fixture.Hex(t, m["stack_hi"]),
			fn: m["func"].(string), file: m["file"].(string), line: int(m["line"].(float64))})
	}
	return out
}

// TestTasksMatchTruth: the exact set of tasks, with state, Processer,
// address, stack and created-at, that the program recorded.
func TestTasksMatchTruth(t *testing.T) {
	set := fixture.Get(t)
	for _, name := range []string{fixture.FieldCrash, fixture.Large} {
		t.Run(name, func(t *testing.T) {
			sc := set.Scenario(t, name)
			p := open(t, sc.Core, sc.Exe)
			rt := discover(t, p, coroutines.Options{})
			for _, w := range rt.Warnings {
				t.Errorf("warning: %s", w)
			}
			want := truthTasks(t, sc)
			got := map[int64]*coroutines.Task{}
			for _, task := range rt.Tasks {
				if task.ID < 0 {
					t.Errorf("a task found only by scan: sp %#x", task.SP)
					continue
				}
				got[task.ID] = task
			}
			if len(got) != len(want) || rt.TaskCount != int64(len(want)) {
				t.Errorf("%d tasks (scheduler count %d), the program had %d", len(got), rt.TaskCount, len(want))
			}
			bad := 0
			for _, w := range want {
				g := got[w.id]
				if g == nil {
					t.Errorf("task %d missing", w.id)
					continue
				}
				if g.State != w.state || int64(g.Processer) != w.proc || g.Running != w.running || g.Addr != w.addr ||
					g.StackLo != w.lo || g.StackHi != w.hi || g.Func != w.fn || g.File != w.file || g.Line != w.line {
					if bad++; bad < 5 {
						t.Errorf("task %d: got %+v\n want %+v", w.id, *g, w)
					}
				}
			}
			// Threads are named after their Processers, as the program named them.
			names := map[int]string{}
			for _, th := range p.Threads {
				names[th.LWP] = th.Name
			}
			for _, x := range sc.Expected["threads"].([]any) {
				m := x.(map[string]any)
				if lwp := int(m["lwp"].(float64)); names[lwp] != m["name"].(string) {
					t.Errorf("thread LWP %d named %q, the program named it %q", lwp, names[lwp], m["name"])
				}
			}
			t.Logf("%s: %d tasks, %d Processers, all as the program recorded", name, len(got), len(rt.Processers))
		})
	}
}

func functions(fs []coreparse.Frame) []string {
	var out []string
	for _, f := range fs {
		if f.Boundary {
			out = append(out, "--boundary--")
			continue
		}
		out = append(out, f.Function)
	}
	return out
}

// inOrder reports whether want appears in have as a subsequence.
func inOrder(have, want []string) bool {
	i := 0
	for _, h := range have {
		if i < len(want) && h == want[i] {
			i++
		}
	}
	return i == len(want)
}

// TestTaskStacks: the suspended second shutdown path, a sleeper, and the
// crashing task stitched to its scheduler's frames.
func TestTaskStacks(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	p := open(t, sc.Core, sc.Exe)
	rt := discover(t, p, coroutines.Options{NoScan: true})
	var engine5, sleeper *coroutines.Task
	for _, task := range rt.Tasks {
		switch {
		case task.Func == "destroy_engines" && task.State == "block":
			engine5 = task
		case task.Func == "wait_for_peer" && sleeper == nil:
			sleeper = task
		}
	}
	if engine5 == nil || sleeper == nil {
		t.Fatalf("engine 5's task %v, a sleeper %v", engine5, sleeper)
	}
	check := func(what string, task *coroutines.Task, exact []string, last string) {
		t.Helper()
		fs, err := rt.Stack(task)
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
		fns := functions(fs)
		if len(fns) < len(exact) || strings.Join(fns[:len(exact)], " | ") != strings.Join(exact, " | ") || fns[len(fns)-1] != last {
			t.Errorf("%s: frames\n  %s\nwant them to start\n  %s\nand end in %s", what, strings.Join(fns, "\n  "), strings.Join(exact, "\n  "), last)
		}
	}
	check("engine 5's shutdown task", engine5, []string{"co::Processer::SwapOut", "co::Processer::Suspend", "co::Event::Wait",
		"(anonymous namespace)::release_wait", "(anonymous namespace)::release_wait", "lsm_release_all_csdobj", "lsm_destroy",
		"(anonymous namespace)::EngineMgr::shutdown_engine", "operator()"}, "make_fcontext")
	check("a sleeper", sleeper, []string{"co::Processer::SwapOut", "co::Processer::Suspend", "co::Event::Wait",
		"(anonymous namespace)::sleeper_body"}, "make_fcontext")

	crash := rt.TaskByID(int64(sc.Expected["crash_task_id"].(float64)))
	if crash == nil || !crash.Running || crash.Thread == nil || crash.Thread.LWP != int(sc.Expected["crash_lwp"].(float64)) {
		t.Fatalf("crashing task %+v", crash)
	}
	fs, err := rt.Stack(crash)
	if err != nil {
		t.Errorf("crashing task: %v", err)
	}
	fns := functions(fs)
	want := []string{"dm_hash_node_t::clear", "lsm_release_all_csdobj", "lsm_destroy", "co::Task::StaticRun", "make_fcontext",
		"--boundary--", "co::Processer::Process", "start_thread", "clone3"}
	if !inOrder(fns, want) || fns[len(fns)-1] != "clone3" {
		t.Errorf("crashing task's stitched stack:\n  %s\nwant in order: %v", strings.Join(fns, "\n  "), want)
	}
}

// TestScanAgreesWithProfile: on the fixture, the scan alone finds the same
// switched-out tasks as the profile, with the same top frames.
func TestScanAgreesWithProfile(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	p := open(t, sc.Core, sc.Exe)
	prof := discover(t, p, coroutines.Options{NoScan: true})
	scan := discover(t, p, coroutines.Options{NoProfile: true})
	top := func(rt *coroutines.Runtime, task *coroutines.Task) string {
		fs, _ := rt.Stack(task)
		if f := rt.TopFrame(fs); f != nil {
			return f.Function
		}
		return ""
	}
	scanned := map[uint64]string{}
	for _, task := range scan.Tasks {
		if task.FoundBy != "scan" {
			t.Errorf("scan-only task found by %s", task.FoundBy)
		}
		scanned[task.SP] = top(scan, task)
	}
	n := 0
	for _, task := range prof.Tasks {
		if task.Running || task.State == "new" {
			continue
		}
		n++
		st, ok := scanned[task.SP]
		switch {
		case !ok:
			t.Errorf("task %d (%s) at sp %#x: the scan did not find it", task.ID, task.State, task.SP)
		case task.State != "done" && st != top(prof, task):
			t.Errorf("task %d: top frame %q by scan, %q by profile", task.ID, st, top(prof, task))
		}
		delete(scanned, task.SP)
	}
	for sp := range scanned {
		t.Errorf("the scan found a context at %#x that is no task", sp)
	}
	t.Logf("%d switched-out tasks found by both", n)
}

// TestScanWithoutTypes: with the executable's DWARF stripped, the profile
// cannot resolve the runtime's types, and the scan alone finds every
// suspended task (block, or runnable but not running).
func TestScanWithoutTypes(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	stripped := filepath.Join(t.TempDir(), "ceph-dse")
	if out, err := exec.Command("objcopy", "--strip-debug", sc.Exe, stripped).CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v\n%s", err, out)
	}
	p := open(t, sc.Core, stripped)
	rt := discover(t, p, coroutines.Options{})
	if len(rt.Warnings) == 0 || !strings.Contains(strings.Join(rt.Warnings, "\n"), "co::Task not found") {
		t.Errorf("warnings %q: the profile should say the types are missing", rt.Warnings)
	}
	n := scanFindsSuspended(t, rt, sc)
	if n < 10 {
		t.Fatalf("only %d suspended tasks in the truth", n)
	}
	t.Logf("scan alone: %d contexts; all %d suspended tasks found", len(rt.Tasks), n)
}

// scanFindsSuspended checks a discovery that fell back to the stack scan:
// every task it has was found by the scan, with no id, and every
// suspended task of the truth (block, or runnable but not running) has a
// context in its stack. It returns how many suspended tasks the truth has.
func scanFindsSuspended(t *testing.T, rt *coroutines.Runtime, sc *fixture.Scenario) int {
	t.Helper()
	var sps []uint64
	for _, task := range rt.Tasks {
		if task.FoundBy != "scan" || task.ID != -1 {
			t.Errorf("task %d found by %s: the scan alone should find it, with no id", task.ID, task.FoundBy)
		}
		sps = append(sps, task.SP)
	}
	sort.Slice(sps, func(i, j int) bool { return sps[i] < sps[j] })
	n := 0
	for _, w := range truthTasks(t, sc) {
		if w.state != "block" && !(w.state == "runnable" && !w.running) {
			continue
		}
		n++
		i := sort.Search(len(sps), func(i int) bool { return sps[i] >= w.lo })
		if i == len(sps) || sps[i] >= w.hi {
			t.Errorf("task %d (%s, %s): no context found in its stack %#x-%#x", w.id, w.state, w.fn, w.lo, w.hi)
		}
	}
	return n
}

func TestProfileYAML(t *testing.T) {
	dir := t.TempDir()
	y := filepath.Join(dir, "fork.yaml")
	os.WriteFile(y, []byte("base: libgo-v3\nname: my-fork\nroots: ['*my_sched']\ntask_func: opt_.func_\nlayout: {r12: 16, r13: 24, r14: 32, r15: 40, rbx: 48, rbp: 56, rip: 64, rsp: 72}\n"), 0o644)
	p, err := coroutines.LoadProfile(y)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "my-fork" || len(p.Roots) != 1 || p.Roots[0] != "*my_sched" || p.TaskFunc != "opt_.func_" ||
		p.Layout["rip"] != 64 || p.TaskType != "co::Task" || p.Queues["waitQueue_"] != "block" {
		t.Errorf("profile %+v", p)
	}
	// The state enum renamed by the profile.
	os.WriteFile(y, []byte("base: ceph-dse\nstates: {0: ready, 1: waiting, 2: finished}\n"), 0o644)
	sp, err := coroutines.LoadProfile(y)
	if err != nil {
		t.Fatal(err)
	}
	fc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	rt0 := coroutines.Discover(open(t, fc.Core, fc.Exe), sp, coroutines.Options{NoScan: true})
	states := map[string]int{}
	for _, task := range rt0.Tasks {
		states[task.State]++
	}
	if states["waiting"] != 13 || states["new"] != 3 || states["finished"] != 1 || states["ready"] != 2 {
		t.Errorf("renamed states: %v", states)
	}
	os.WriteFile(y, []byte("layout: {r12: 8}\n"), 0o644)
	if _, err := coroutines.LoadProfile(y); err == nil {
		t.Error("a layout without rip accepted")
	}
	if _, err := coroutines.LoadProfile("no-such-profile"); err == nil || !strings.Contains(err.Error(), "libgo-v3") {
		t.Errorf("unknown profile: %v", err)
	}
	// A profile naming types that do not exist: warnings, the scan still runs.
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	proc := open(t, sc.Core, sc.Exe)
	bad := coroutines.Builtin()["ceph-dse"]
	bad.TaskType = "no::Such"
	rt := coroutines.Discover(proc, &bad)
	if !strings.Contains(fmt.Sprint(rt.Warnings), "no::Such") || len(rt.Tasks) == 0 {
		t.Errorf("bad profile: %d tasks, warnings %v", len(rt.Tasks), rt.Warnings)
	}
}

// BenchmarkLargeAllTasks enumerates and unwinds the 10,000 tasks of the
// large fixture.
func BenchmarkLargeAllTasks(b *testing.B) {
	sc := fixture.Get(b).Scenario(b, fixture.Large)
	for i := 0; i < b.N; i++ {
		p, err := coreparse.Open(coreparse.Options{Core: sc.Core, Exe: sc.Exe})
		if err != nil {
			b.Fatal(err)
		}
		rt := discover(b, p, coroutines.Options{})
		frames := 0
		for _, t := range rt.Tasks {
			fs, _ := rt.Stack(t)
			frames += len(fs)
		}
		if len(rt.Tasks) < 10000 {
			b.Fatalf("%d tasks", len(rt.Tasks))
		}
		b.ReportMetric(float64(len(rt.Tasks)), "tasks")
		b.ReportMetric(float64(frames), "frames")
		p.Close()
	}
}
