package coroutines

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/unwind"
)

// ErrNoStack is returned for tasks that have no stack to show: never
// started, or done.
var ErrNoStack = errors.New("the task has no stack (not started, or done)")

// Stack returns a task's frames. A switched-out task is unwound from its
// saved context; the running task shows its thread's frames down to the
// entry trampoline, a boundary frame, then the scheduler's frames from the
// thread-local scheduler context (co::Processer::Process() … start_thread).
func (rt *Runtime) Stack(t *Task) ([]coreparse.Frame, error) {
	p := rt.p
	if t.Running && t.Thread != nil {
		fs, err := p.Backtrace(t.Thread)
		// Cut after the entry trampoline: below it gdb shows a zero pc.
		for i, f := range fs {
			if f.Function == rt.prof.EntryTrampoline {
				fs = fs[:i+1]
				err = nil
				break
			}
		}
		sched, serr := rt.SchedulerStack(t.Thread)
		if serr != nil {
			return fs, fmt.Errorf("scheduler frames: %w", serr)
		}
		fs = append(fs, coreparse.Frame{Function: "<coroutine entry: the scheduler below switched to this task>", Boundary: true})
		fs = append(fs, sched...)
		for i := range fs {
			fs[i].Level = i
		}
		return fs, err
	}
	if t.State == "new" || t.State == "done" || t.SP == 0 {
		return nil, ErrNoStack
	}
	return rt.contextStack(t.SP)
}

// SavedRegs is a switched-out task's saved context: the callee-saved
// registers, the resume address (rip) and the stack pointer after the switch.
func (rt *Runtime) SavedRegs(t *Task) (unwind.Regs, error) {
	if t.Running || t.SP == 0 {
		return unwind.Regs{}, ErrNoStack
	}
	if v, ok := rt.raw.Load(t.SP); ok {
		r := v.(rawUnwind)
		return r.regs, r.regsErr
	}
	return SavedRegs(rt.p, rt.prof.Layout, t.SP)
}

// switchedOut reports whether the task's stack is a context it saved when it
// switched out (not running, started and not done, with a saved sp).
func (t *Task) switchedOut() bool {
	return t.SP != 0 && !t.Running && t.State != "new" && t.State != "done"
}

// FirstFrame is the innermost frame of a task's stack, among its first n
// physical frames, that match accepts: frames are named one at a time,
// and no further than the match (a task list names ten thousand tasks by
// their first frame of application code; the units below are not read).
func (rt *Runtime) FirstFrame(t *Task, n int, match func(*coreparse.Frame) bool) (coreparse.Frame, bool) {
	if !t.switchedOut() {
		fs, _ := rt.Stack(t)
		for i := range fs {
			if match(&fs[i]) {
				return fs[i], true
			}
		}
		return coreparse.Frame{}, false
	}
	var raw []unwind.Frame
	if v, ok := rt.raw.Load(t.SP); ok {
		// The scan's check unwound this context already: its frames.
		raw = v.(rawUnwind).frames
		if len(raw) > n {
			raw = raw[:n]
		}
	} else {
		regs, err := SavedRegs(rt.p, rt.prof.Layout, t.SP)
		if err != nil {
			return coreparse.Frame{}, false
		}
		raw, _ = rt.p.UnwindN(regs, n)
		if len(raw) > 0 {
			raw[0].Exact = false
		}
	}
	for i := range raw {
		fs := rt.p.SymbolizePhysical(raw[i : i+1])
		for j := range fs {
			if match(&fs[j]) {
				return fs[j], true
			}
		}
	}
	return coreparse.Frame{}, false
}

// contextStack unwinds a switched-out context.
func (rt *Runtime) contextStack(sp uint64) ([]coreparse.Frame, error) {
	raw, err := rt.unwindContext(sp)
	if raw == nil && err != nil {
		return nil, err
	}
	fs := rt.p.Symbolize(raw)
	for i, f := range fs {
		if f.Function == rt.prof.EntryTrampoline {
			return fs[:i+1], nil
		}
	}
	return fs, err
}

// A TaskStack is a task's stack as CheckedStack hands it out.
type TaskStack struct {
	Frames  []coreparse.Frame // Stack's frames
	Err     error             // Stack's error
	Regs    unwind.Regs       // the saved context, SavedRegs's
	RegsErr error             // SavedRegs's error
}

// CheckedStack calls f with the task's stack, Stack's frames and
// SavedRegs' registers (valid only while f runs: the frames are made in
// buffers reused for the next stack). A switched-out task whose context
// Confirm has yet to check is checked with the same unwind (FoundBy says
// so from then on), and its frames are not remembered: a pass over every
// task unwinds each once, reads its context once and holds one stack at a
// time. It must not run while Confirm does.
func (rt *Runtime) CheckedStack(t *Task, f func(*TaskStack)) {
	var ts TaskStack
	if !t.switchedOut() {
		ts.Frames, ts.Err = rt.Stack(t)
		ts.Regs, ts.RegsErr = rt.SavedRegs(t)
		f(&ts)
		return
	}
	if _, ok := rt.raw.Load(t.SP); ok {
		ts.Frames, ts.Err = rt.contextStack(t.SP) // unwound already
		ts.Regs, ts.RegsErr = rt.SavedRegs(t)
		f(&ts)
		return
	}
	check := rt.confirmPending && t.FoundBy == "profile" && atomic.LoadInt32(&t.check) == 0
	ts.Regs, ts.RegsErr = SavedRegs(rt.p, rt.prof.Layout, t.SP)
	if ts.RegsErr != nil {
		if check {
			rt.settle(t, false)
		}
		ts.Err = fmt.Errorf("saved context at %#x: %w", t.SP, ts.RegsErr)
		f(&ts)
		return
	}
	sc := stackPool.Get().(*stackScratch)
	defer stackPool.Put(sc)
	raw, err := rt.p.UnwindInto(sc.raw, ts.Regs)
	sc.raw = raw[:0] // a grown buffer is the one reused
	if len(raw) > 0 {
		raw[0].Exact = false
	}
	if check {
		rt.settle(t, rt.reachesEntry(raw))
	}
	if len(raw) == 0 && err != nil {
		ts.Err = err
		f(&ts)
		return
	}
	fs := rt.p.SymbolizeInto(sc.frames, raw)
	if fs != nil {
		sc.frames = fs[:0]
	}
	for i := range fs {
		if fs[i].Function == rt.prof.EntryTrampoline {
			fs, err = fs[:i+1], nil
			break
		}
	}
	ts.Frames, ts.Err = fs, err
	f(&ts)
}

// stackScratch is CheckedStack's reused buffers.
type stackScratch struct {
	raw    []unwind.Frame
	frames []coreparse.Frame
}

var stackPool = sync.Pool{New: func() any { return new(stackScratch) }}

type rawUnwind struct {
	frames  []unwind.Frame
	err     error
	regs    unwind.Regs // the saved context's registers (what SavedRegs read)
	regsErr error
}

// unwindContext unwinds the context saved at sp (once per sp), its first
// frame marked as a return address: the call into the switch routine.
func (rt *Runtime) unwindContext(sp uint64) ([]unwind.Frame, error) {
	if v, ok := rt.raw.Load(sp); ok {
		r := v.(rawUnwind)
		return r.frames, r.err
	}
	regs, rerr := SavedRegs(rt.p, rt.prof.Layout, sp)
	if rerr != nil {
		err := fmt.Errorf("saved context at %#x: %w", sp, rerr)
		rt.raw.Store(sp, rawUnwind{err: err, regs: regs, regsErr: rerr})
		return nil, err
	}
	raw, err := rt.p.Unwind(regs)
	if len(raw) > 0 {
		raw[0].Exact = false
	}
	rt.raw.Store(sp, rawUnwind{frames: raw, err: err, regs: regs})
	return raw, err
}

// SchedulerStack unwinds the scheduler context a thread saved when it
// switched into its running task.
func (rt *Runtime) SchedulerStack(th *coreparse.Thread) ([]coreparse.Frame, error) {
	mod, sym, ok := rt.p.LookupSymbol(rt.prof.SchedulerContext)
	if !ok {
		return nil, fmt.Errorf("thread-local %s not found", rt.prof.SchedulerContext)
	}
	a, err := rt.p.TLSAddress(th, mod, sym.Value)
	if err != nil {
		return nil, err
	}
	sp, err := rt.p.Core.ReadUint64(a)
	if err != nil {
		return nil, err
	}
	if sp == 0 {
		return nil, fmt.Errorf("thread LWP %d has no saved scheduler context", th.LWP)
	}
	regs, err := SavedRegs(rt.p, rt.prof.Layout, sp)
	if err != nil {
		return nil, err
	}
	raw, err := rt.p.Unwind(regs)
	if len(raw) > 0 {
		raw[0].Exact = false
	}
	return rt.p.Symbolize(raw), err
}

// Spec is the profile discovery followed.
func (rt *Runtime) Spec() *Profile { return rt.prof }

// TopFrame is the first frame of a stack that is the task's own code
// (OwnFrame): where the task is really waiting or running. Without one, the
// innermost frame.
func (rt *Runtime) TopFrame(fs []coreparse.Frame) *coreparse.Frame {
	for i := range fs {
		f := &fs[i]
		if f.Boundary {
			break // below it is the scheduler, not the task
		}
		if rt.OwnFrame(f) {
			return f
		}
	}
	if len(fs) > 0 {
		return &fs[0]
	}
	return nil
}

// TopFrameOf is a task's TopFrame found among the first n physical frames
// of its stack, naming frames one at a time (a thread list names ten
// thousand tasks this way).
func (rt *Runtime) TopFrameOf(t *Task, n int) (coreparse.Frame, bool) {
	return rt.FirstFrame(t, n, func(f *coreparse.Frame) bool { return !f.Boundary && rt.OwnFrame(f) })
}

// OwnFrame is the one rule for "the task's own code": a named frame that is
// not a signal trampoline, not the runtime's (its namespace, as the
// profile's task type names it, its entry trampoline and switch routines),
// not the C++ library's (std::) and not in a system library.
func (rt *Runtime) OwnFrame(f *coreparse.Frame) bool {
	if f.Sigtramp || f.Boundary || f.Function == "" || f.Function == "??" || f.Mod.IsSystem() ||
		strings.HasPrefix(f.Function, "std::") || rt.runtimeFunction(f.Function) {
		return false
	}
	return true
}

// runtimeFunction: the runtime's own functions, from the profile.
func (rt *Runtime) runtimeFunction(fn string) bool {
	p := rt.prof
	if fn == p.EntryTrampoline {
		return true
	}
	for _, s := range p.SwitchFunctions {
		if fn == s {
			return true
		}
	}
	if i := strings.LastIndex(p.TaskType, "::"); i > 0 && strings.HasPrefix(fn, p.TaskType[:i+2]) {
		return true // the runtime's namespace ("co::")
	}
	return false
}
