package coroutines_test

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/analysis/coroutines"
	"github.com/dsecore/dsecore/coreparse/symbols"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
)

// The fork fixture (fixtures/co/co.h with CO_FORK) renamed these; each
// profile line makes one rename explicit.
var forkRenames = map[string]string{
	"running":           "running: curTask_",
	"queues.waitQueue_": "queues: {blockQueue_: block, gcQueue_: done, newQueue_: new, runnableQueue_: runnable}",
	"task_count":        "task_count: nTasks_",
	"hook_type":         "hook_type: co::LinkedQueueHook",
	// and in its routine_sync:
	"waiter_rutex":                  "waiter_rutex: waitingOn_",
	"rutex_waiters":                 "rutex_waiters: sleepers_.head_",
	"sync_types.libgo::SharedMutex": `sync_types: {"libgo::ChannelImplWithSignal": co_chan, "libgo::ConditionVariable": co_condvar, "libgo::Mutex": co_mutex, "libgo::RWMutexImpl": co_rwmutex}`,
}

// sameTasks compares the tasks found with the program's truth: the same
// ids, states, Processers, running flags, addresses, stacks and (when
// withCreated) created-at.
func sameTasks(t *testing.T, rt *coroutines.Runtime, sc *fixture.Scenario, withCreated bool) {
	t.Helper()
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
	for _, w := range want {
		g := got[w.id]
		if g == nil {
			t.Errorf("task %d (%s on Processer %d) missing", w.id, w.state, w.proc)
			continue
		}
		if g.State != w.state || int64(g.Processer) != w.proc || g.Running != w.running || g.Addr != w.addr ||
			g.StackLo != w.lo || g.StackHi != w.hi || withCreated && (g.Func != w.fn || g.File != w.file || g.Line != w.line) {
			t.Errorf("task %d: got %+v\n want %+v", w.id, *g, w)
		}
		if w.running && (g.Thread == nil || g.Thread.LWP != int(sc.Expected["crash_lwp"].(float64))) {
			t.Errorf("running task %d on thread %v", w.id, g.Thread)
		}
	}
	if len(rt.Processers) != len(sc.Expected["processers"].([]any)) {
		t.Errorf("%d Processers, the program had %d", len(rt.Processers), len(sc.Expected["processers"].([]any)))
	}
}

func warningWith(ws []string, parts ...string) bool {
	for _, w := range ws {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(w, p)
		}
		if ok {
			return true
		}
	}
	return false
}

// TestForkDefaultProfile: on the fork, the default profile (ceph-dse)
// names four things the build does not have; each is adapted (the only
// queue member no other key names, the one rename the names agree on, the
// one pointer to a task that points to the task a thread is inside, the
// one self-linked base the queues link), loudly, with the profile line that
// makes it explicit, and every task is found as the program recorded it.
func TestForkDefaultProfile(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.Fork)
	p := open(t, sc.Core, sc.Exe)
	rt := discover(t, p, coroutines.Options{})
	sameTasks(t, rt, sc, true)
	for key, line := range forkRenames {
		kr := rt.Resolution.Key(key)
		if kr == nil || kr.Status != "adapted" || kr.Fix != line {
			t.Errorf("%s: %+v; want adapted, %q", key, kr, line)
		}
		if !warningWith(rt.Warnings, "PROFILE ADAPTED", key+":", "to say so in the profile: "+line) {
			t.Errorf("no loud warning for %s in %q", key, rt.Warnings)
		}
	}
	if kr := rt.Resolution.Key("queues.waitQueue_"); kr == nil || !strings.Contains(kr.Note,
		"co::Processer has no member waitQueue_; members of a queue type (co::LinkedQueue<co::Task, true>, co::LinkedQueue<co::Task, false>): runnableQueue_ (runnable), blockQueue_, newQueue_ (new), gcQueue_ (done); using blockQueue_, the only one no other key names") {
		t.Errorf("waitQueue_'s note: %+v", kr)
	}
	if kr := rt.Resolution.Key("running"); kr == nil || !strings.Contains(kr.Note, "curTask_: on Processer 5 it points to the task whose stack LWP") ||
		!strings.Contains(kr.Note, "nextTask_ never does") {
		t.Errorf("running's note: %+v", kr)
	}
	// Every suspended task is found by the profile, and its context is
	// confirmed where the profile says it is.
	for _, task := range rt.Tasks {
		if (task.State == "block" || task.State == "runnable" && !task.Running) && task.FoundBy != "profile+scan" {
			t.Errorf("task %d (%s) found by %s", task.ID, task.State, task.FoundBy)
		}
	}
	// The effective profile, written out, is what the fork needs.
	eff := rt.EffectiveProfile()
	if eff.Running != "curTask_" || eff.TaskCount != "nTasks_" || eff.Queues["blockQueue_"] != "block" || eff.HookType != "co::LinkedQueueHook" {
		t.Errorf("effective profile %+v", eff)
	}
	if prof, _ := coroutines.LoadProfile("ceph-dse"); prof.Running != "runningTask_" {
		t.Errorf("the built-in profile itself changed: %+v", prof)
	}
	t.Logf("default profile on the fork: %d tasks; adapted: %s", len(rt.Tasks), strings.Join(rt.Resolution.Lines(), "; "))
}

// forkProfile is the profile a person writes for the fork: every rename
// said, nothing left to adapt.
const forkProfile = `# ceph-dse's drifted fork: the names its co runtime uses.
base: ceph-dse
name: ceph-dse-fork
running: curTask_
task_count: nTasks_
hook_type: co::LinkedQueueHook
queues: {runnableQueue_: runnable, blockQueue_: block, newQueue_: new, gcQueue_: done}
waiter_rutex: waitingOn_
rutex_waiters: sleepers_.head_
sync_types: {"libgo::Mutex": co_mutex, "libgo::RWMutexImpl": co_rwmutex, "libgo::ConditionVariable": co_condvar, "libgo::ChannelImplWithSignal": co_chan}
`

// TestForkHandWrittenProfile: the hand-written profile gives the exact task
// set, states, Processers and stacks, with nothing adapted and no warning.
func TestForkHandWrittenProfile(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.Fork)
	prof, err := coroutines.LoadProfile(writeProfile(t, forkProfile))
	if err != nil {
		t.Fatal(err)
	}
	rt := coroutines.Discover(open(t, sc.Core, sc.Exe), prof)
	sameTasks(t, rt, sc, true)
	for _, w := range rt.Warnings {
		t.Errorf("warning: %s", w)
	}
	if rt.Resolution.Count("adapted") != 0 || rt.Resolution.Count("failed") != 0 || rt.Profile != "ceph-dse-fork" {
		t.Errorf("profile %s: %d adapted, %d failed", rt.Profile, rt.Resolution.Count("adapted"), rt.Resolution.Count("failed"))
	}
}

// TestForkIssueProfile: the profile a user writes after reading the README
// (issue 18: libgo-v3 as its base, three renames): its camelCase queues
// match, and what libgo-v3 says otherwise than this build is adapted from
// the core: the root that holds the Processers, the hook type, the entry
// trampoline of the system's Boost.Context, the guard page below the
// stacks.
func TestForkIssueProfile(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.Fork)
	prof, err := coroutines.LoadProfile(writeProfile(t, `base: libgo-v3
running: curTask_
task_count: nTasks_
queues: {runnableQueue_: runnable, blockQueue_: block, newQueue_: new, gcQueue_: done}
`))
	if err != nil {
		t.Fatal(err)
	}
	rt := coroutines.Discover(open(t, sc.Core, sc.Exe), prof)
	sameTasks(t, rt, sc, false)
	for key, line := range map[string]string{
		"roots":            `roots: ["co::Scheduler::getInstance()::obj", "*coroutine_sched"]`,
		"hook_type":        "hook_type: co::LinkedQueueHook",
		"entry_trampoline": "entry_trampoline: make_fcontext",
		"task_stack_guard": "task_stack_guard: 4096",
	} {
		if kr := rt.Resolution.Key(key); kr == nil || kr.Status != "adapted" || kr.Fix != line {
			t.Errorf("%s: %+v; want adapted, %q", key, kr, line)
		}
	}
	for _, key := range []string{"running", "task_count", "queues.blockQueue_", "queues.runnableQueue_"} {
		if kr := rt.Resolution.Key(key); kr == nil || kr.Status != "ok" {
			t.Errorf("%s: %+v", key, kr)
		}
	}
}

// TestForkProfileInit: the profile Generate writes for the fork, used
// unchanged, finds exactly the program's tasks with nothing to adapt, from
// either base.
func TestForkProfileInit(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.Fork)
	p := open(t, sc.Core, sc.Exe)
	for _, base := range []string{"ceph-dse", "libgo-v3"} {
		t.Run(base, func(t *testing.T) {
			bp, _ := coroutines.LoadProfile(base)
			gen, comments, _ := coroutines.Generate(p, bp)
			y, err := gen.YAML("generated", comments)
			if err != nil {
				t.Fatal(err)
			}
			prof, err := coroutines.LoadProfile(writeProfile(t, string(y)))
			if err != nil {
				t.Fatalf("the generated profile does not load: %v\n%s", err, y)
			}
			rt := coroutines.Discover(p, prof)
			sameTasks(t, rt, sc, true)
			for _, w := range rt.Warnings {
				t.Errorf("warning with the generated profile: %s", w)
			}
			text := string(y)
			for _, want := range []string{"running: curTask_ # ADAPTED from runningTask_", "task_count: nTasks_ # ADAPTED from taskCount_",
				"blockQueue_: block", "hook_type: co::LinkedQueueHook # ADAPTED", "layout: {r12: 0x8, r13: 0x10, r14: 0x18, r15: 0x20, rbp: 0x30, rbx: 0x28, rip: 0x38, rsp: 0x40} # saved by jump_fcontext",
				`roots: ["*coroutine_sched", "co::Scheduler::getInstance()::obj"]`, "task_func: opt_.func_", "task_stack_guard: 4096",
				"entry_trampoline: make_fcontext", "current_processer: co::Processer::GetCurrentProcesser()::proc"} {
				if !strings.Contains(text, want) {
					t.Errorf("the generated profile has no %q:\n%s", want, text)
				}
			}
		})
	}
}

// TestForkProfileCheck: the resolution names each renamed field with what
// it resolved to, at the offset DWARF gives (read here independently), and
// the layout agrees with the code of Debian's libboost_context.
func TestForkProfileCheck(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.Fork)
	p := open(t, sc.Core, sc.Exe)
	rt := discover(t, p, coroutines.Options{NoScan: true})
	syms, err := symbols.Open(sc.Exe, "")
	if err != nil {
		t.Fatal(err)
	}
	defer syms.Close()
	offset := func(typ, member string) int64 {
		ty, ok := syms.LookupType(typ)
		if !ok {
			t.Fatalf("no type %s", typ)
		}
		off, _, err := syms.FieldOffset(ty, []string{member})
		if err != nil {
			t.Fatal(err)
		}
		return off
	}
	for _, c := range []struct{ key, want, got, in string }{
		{"running", "runningTask_", "curTask_", "co::Processer"},
		{"queues.waitQueue_", "waitQueue_: block", "blockQueue_", "co::Processer"},
		{"task_count", "taskCount_", "nTasks_", "co::Scheduler"},
	} {
		kr := rt.Resolution.Key(c.key)
		if kr == nil || kr.Want != c.want || kr.Got != c.got || kr.In != c.in || kr.Offset != offset(c.in, c.got) || kr.Status != "adapted" {
			t.Errorf("%s: %+v; want %s → %s in %s at %#x", c.key, kr, c.want, c.got, c.in, offset(c.in, c.got))
		}
	}
	if kr := rt.Resolution.Key("hook_type"); kr == nil || kr.Got != "co::LinkedQueueHook" || kr.Offset != 0x10 {
		t.Errorf("hook_type: %+v", kr)
	}
	if kr := rt.Resolution.Key("layout"); kr == nil || kr.Status != "ok" || kr.Type != "saved by jump_fcontext" {
		t.Errorf("layout: %+v", kr)
	}
	if l, fn, err := coroutines.SwitchLayout(p, []string{"jump_fcontext"}); err != nil || fn != "jump_fcontext" || l["rip"] != 0x38 || l["rsp"] != 0x40 || l["r12"] != 8 || l["rbp"] != 0x30 {
		t.Errorf("jump_fcontext's layout from its code: %v %s %v", l, fn, err)
	}
	// Everything else resolved as named.
	for _, k := range rt.Resolution.Keys {
		if _, renamed := forkRenames[k.Key]; !renamed && k.Status != "ok" {
			t.Errorf("%s: %s (%s)", k.Key, k.Status, k.Note)
		}
	}
}

// TestForkScanFallback: a profile that resolves but walks nothing (its only
// queue is not in this build and no member is the one it could be): the
// stack scan runs, as for stripped types, and finds every suspended task,
// each found_by "scan".
func TestForkScanFallback(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.Fork)
	prof, err := coroutines.LoadProfile(writeProfile(t, strings.Replace(forkProfile,
		"queues: {runnableQueue_: runnable, blockQueue_: block, newQueue_: new, gcQueue_: done}", "queues: {sleepQueue_: block}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	rt := coroutines.Discover(open(t, sc.Core, sc.Exe), prof)
	if kr := rt.Resolution.Key("queues.sleepQueue_"); kr == nil || kr.Status != "absent" || !strings.Contains(kr.Note, "no unambiguous match") {
		t.Errorf("sleepQueue_: %+v", kr)
	}
	if !warningWith(rt.Warnings, "the stack scan found", "the profile found no task") {
		t.Errorf("warnings %q", rt.Warnings)
	}
	n := scanFindsSuspended(t, rt, sc)
	if n != 14 {
		t.Errorf("%d suspended tasks in the truth, the fork fixture has 14", n)
	}
}

// TestNoTasksSaysWhy: a core whose code calls a switch routine and where
// nothing is found says why in one line.
func TestNoTasksSaysWhy(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.Fork)
	stripped := filepath.Join(t.TempDir(), "ceph-dse")
	if out, err := exec.Command("objcopy", "--strip-debug", sc.Exe, stripped).CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v\n%s", err, out)
	}
	prof, err := coroutines.LoadProfile(writeProfile(t, "base: ceph-dse\nentry_trampoline: main\n"))
	if err != nil {
		t.Fatal(err)
	}
	rt := coroutines.Discover(open(t, sc.Core, stripped), prof)
	if len(rt.Tasks) != 0 {
		t.Fatalf("%d tasks", len(rt.Tasks))
	}
	for _, want := range []string{"no coroutine tasks, though the code calls a context switch routine", "does not fit this build: task_type (type co::Task not found",
		"the stack scan found no saved context whose unwind reaches main", "dsecore profile init"} {
		if !strings.Contains(rt.NoTasks, want) {
			t.Errorf("NoTasks %q does not say %q", rt.NoTasks, want)
		}
	}
	if strings.Contains(rt.NoTasks, "\n") {
		t.Errorf("NoTasks is not one line: %q", rt.NoTasks)
	}
	// On the field crash everything is found: nothing to explain.
	fc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	if rt := discover(t, open(t, fc.Core, fc.Exe), coroutines.Options{}); rt.NoTasks != "" || rt.Resolution.Count("adapted") != 0 {
		t.Errorf("field crash: NoTasks %q, %d adapted", rt.NoTasks, rt.Resolution.Count("adapted"))
	}
}

// TestForkTypesByShape: a profile whose type names are all wrong still
// finds the runtime: the scheduler holding a std::deque of Processer
// pointers, the Processer with queues of the task's hook, the task it
// points to; each type adapted, and the task set exact.
func TestForkTypesByShape(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.Fork)
	prof, err := coroutines.LoadProfile(writeProfile(t, forkProfile+"scheduler_type: rt::Sched\nprocesser_type: rt::Worker\ntask_type: rt::Fiber\n"))
	if err != nil {
		t.Fatal(err)
	}
	rt := coroutines.Discover(open(t, sc.Core, sc.Exe), prof)
	sameTasks(t, rt, sc, true)
	for key, want := range map[string]string{"scheduler_type": "co::Scheduler", "processer_type": "co::Processer", "task_type": "co::Task"} {
		if kr := rt.Resolution.Key(key); kr == nil || kr.Status != "adapted" || kr.Got != want || kr.Fix != key+": "+want {
			t.Errorf("%s: %+v", key, kr)
		}
	}
}

// TestScanFallbackShortOfCount: a profile that resolves but leaves out a
// queue finds fewer tasks than the scheduler counts; the sweep adds the
// blocked ones, each found_by "scan", and says why it ran.
func TestScanFallbackShortOfCount(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.Fork)
	prof, err := coroutines.LoadProfile(writeProfile(t, strings.Replace(forkProfile,
		"queues: {runnableQueue_: runnable, blockQueue_: block, newQueue_: new, gcQueue_: done}", "queues: {runnableQueue_: runnable, newQueue_: new, gcQueue_: done}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	rt := coroutines.Discover(open(t, sc.Core, sc.Exe), prof)
	byProfile, byScan := 0, 0
	for _, task := range rt.Tasks {
		switch task.FoundBy {
		case "scan":
			byScan++
		default:
			byProfile++
		}
	}
	blocked := 0
	for _, w := range truthTasks(t, sc) {
		if w.state == "block" {
			blocked++
		}
	}
	if byProfile != len(truthTasks(t, sc))-blocked || byScan != blocked || rt.TaskCount != int64(len(truthTasks(t, sc))) {
		t.Errorf("%d tasks by the profile, %d by the scan (the program had %d blocked of %d)", byProfile, byScan, blocked, len(truthTasks(t, sc)))
	}
	if !warningWith(rt.Warnings, fmt.Sprintf("the stack scan found %d saved contexts the profile did not (the profile found %d tasks, the scheduler counts %d)", blocked, byProfile, rt.TaskCount)) {
		t.Errorf("warnings %q", rt.Warnings)
	}
}
