package server

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/dsecore/dsecore/analysis/coroutines"
	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/unwind"
	"github.com/dsecore/dsecore/internal/cxxname"
	"github.com/dsecore/dsecore/internal/par"
	"github.com/dsecore/dsecore/report"
	"github.com/google/go-dap"
)

// taskBase offsets coroutine task thread ids past any LWP (pid_max is at
// most 2^22).
const taskBase = 1 << 30

// crashThreadID is the DAP thread id of the crashing thread.
func (st *state) crashThreadID() int {
	if t := st.p.CrashedThread(); t != nil {
		return t.LWP
	}
	return st.p.Threads[0].LWP
}

// taskThreadID is a task's DAP thread id.
func taskThreadID(t *coroutines.Task, i int) int {
	if t.ID >= 0 {
		return taskBase + int(t.ID)
	}
	return taskBase + 1<<24 + i
}

func (st *state) shownTasks() []*coroutines.Task {
	if st.args.ShowTasks == "none" {
		return nil
	}
	rt := st.discovered()
	if st.args.ShowTasks != "crash-related" {
		return rt.Tasks
	}
	want := map[int64]bool{}
	if an := st.analysis(); an != nil {
		for _, h := range an.Others {
			want[h.TaskID] = true
		}
		for _, h := range an.SameCode {
			want[h.TaskID] = true
		}
	}
	var out []*coroutines.Task
	for _, t := range rt.Tasks {
		if t.Running || want[t.ID] {
			out = append(out, t)
		}
	}
	return out
}

// threads is the thread list: every LWP, then the shown tasks. A core
// never changes: it is made once.
func (st *state) threads() []dap.Thread {
	st.threadsOnce.Do(func() { st.threadList = st.makeThreads() })
	return st.threadList
}

// makeThreads names the LWPs (by the core, the Processers, else their
// entry routine: a thread's stack, unwound now on all CPUs, the one the
// client asks for next) and the tasks from what discovery read of each
// (taskName): no task is unwound for the list (docs/architecture.md,
// "The thread list").
func (st *state) makeThreads() []dap.Thread {
	var out []dap.Thread
	tasks := st.shownTasks() // first: the Processers name their threads
	ts := append([]*coreparse.Thread(nil), st.p.Threads...)
	sort.SliceStable(ts, func(i, j int) bool { return ts[i].LWP < ts[j].LWP })
	par.Do(len(ts), func(i int) {
		if ts[i].Name == "" {
			st.stack(ts[i].LWP)
		}
	})
	for _, t := range ts {
		name := fmt.Sprintf("LWP %d", t.LWP)
		if t.Name != "" {
			name += " " + t.Name
		}
		out = append(out, dap.Thread{Id: t.LWP, Name: name})
	}
	for i, t := range tasks {
		out = append(out, dap.Thread{Id: taskThreadID(t, i), Name: taskName(t)})
	}
	return out
}

// taskName is a task's name in the thread list, from what discovery read
// of it, never from its stack: "task 15 [block] Processer 6, created in
// destroy_engines" (its id, its state word, its Processer when known, the
// function that created it when the runtime records one). Where it waits
// is the first frame of its stack.
func taskName(t *coroutines.Task) string {
	var b strings.Builder
	fmt.Fprintf(&b, "task %d [%s]", t.ID, coroutines.StateWord(t.State, t.Running))
	sep := " "
	if t.Processer >= 0 {
		fmt.Fprintf(&b, " Processer %d", t.Processer)
		sep = ", "
	}
	if t.Func != "" {
		b.WriteString(sep + "created in " + cxxname.Elide(t.Func))
	}
	return b.String()
}

func (st *state) taskStack(t *coroutines.Task) ([]coreparse.Frame, error) {
	if t.SP == 0 && !t.Running {
		return nil, fmt.Errorf("task %d has no saved context (%s)", t.ID, t.State)
	}
	return st.discovered().Stack(t)
}

// stack returns a DAP thread's frames.
func (st *state) stack(id int) ([]coreparse.Frame, error) {
	st.mu.Lock()
	fs, ok := st.stacks[id]
	st.mu.Unlock()
	if ok {
		return fs, nil
	}
	var err error
	if id >= taskBase {
		found := false
		for i, t := range st.shownTasks() {
			if taskThreadID(t, i) == id {
				fs, err = st.taskStack(t)
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("no thread %d", id)
		}
	} else {
		t := st.p.ThreadByLWP(id)
		if t == nil {
			return nil, fmt.Errorf("no thread %d", id)
		}
		fs, err = st.p.Backtrace(t)
	}
	if err != nil && len(fs) == 0 {
		return nil, err
	}
	st.mu.Lock()
	st.stacks[id] = fs
	var se *unwind.StopError
	if errors.As(err, &se) && se.Reason != unwind.StopMaxFrames {
		st.stopped[id] = err.Error()
	}
	st.mu.Unlock()
	return fs, nil
}

// stopReason is why a stack (already unwound) ended early, "" when it did not.
func (st *state) stopReason(id int) string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.stopped[id]
}

func (c *conn) stackTrace(r *dap.StackTraceRequest) {
	st := c.st
	fs, err := st.stack(r.Arguments.ThreadId)
	if err != nil {
		c.sendError(r.Seq, r.Command, errNoStack, err.Error())
		return
	}
	start := max(r.Arguments.StartFrame, 0)
	end := len(fs)
	if r.Arguments.Levels > 0 {
		end = min(len(fs), start+r.Arguments.Levels)
	}
	frames := []dap.StackFrame{}
	// The frames above a signal frame are the fatal-signal handler's
	// (Ceph's handle_oneshot_fatal_signal, its backtrace and re-raise):
	// shown, but deemphasized, so a client focuses the frame that faulted.
	handler := faultFrameIndex(fs) - 1
	// On the crashing thread, the frame the session stops on and the
	// frames above it, deemphasized (focus.go).
	focus := -1
	if r.Arguments.ThreadId == st.crashThreadID() {
		focus = st.crashFocus(fs)
	}
	for i := start; i < end; i++ {
		f := fs[i]
		sf := dap.StackFrame{Id: st.frameID(r.Arguments.ThreadId, i), Name: f.Function}
		switch {
		case f.Boundary:
			sf.Name = "──── the Processer's scheduler frames below ────"
			sf.PresentationHint = "label"
		case f.Sigtramp:
			sf.Name = "<signal handler called>"
			sf.PresentationHint = "label"
		default:
			if f.Inline {
				sf.Name += " [inlined]"
			}
			if f.Tailcall {
				sf.Name += " [tail call]"
			}
			// Frames found without CFI (the frame-pointer chain, a
			// return address on the stack) may be wrong: named so, and
			// deemphasized.
			if f.Raw != nil && f.Raw.Kind.Weak() && !f.Inline && !f.Tailcall {
				sf.Name += " [found by " + f.Raw.Kind.String() + "]"
				sf.PresentationHint = "subtle"
			}
			if f.Function == "??" {
				sf.PresentationHint = "subtle"
			}
		}
		if f.PC != 0 {
			// An instruction's start, never a return address minus one:
			// the call a caller frame is in.
			sf.InstructionPointerReference = hexAddr(st.p.CurrentInstruction(&f))
		}
		if f.Mod != nil {
			sf.ModuleId = f.Mod.Name
		}
		if !f.Boundary {
			sf.Source = st.sourceOf(f)
			sf.Line, sf.Column = f.Line, 1
			switch {
			case i < handler:
				sf.PresentationHint = "subtle"
				sf.Source = st.deemphasized(f, sf.Source, originHandler)
			case i < focus && !f.Sigtramp:
				sf.PresentationHint = "subtle"
				sf.Source = st.deemphasized(f, sf.Source, st.aboveFocus(f))
			case i == focus:
				sf.PresentationHint = "normal"
				sf.Source = st.focusSource(f)
			default:
				sf.Source = appSource(sf.Source, f)
			}
			if sf.Source != nil && sf.Source.SourceReference > 0 {
				// The frame's instruction in the disassembly's text.
				sf.Line = st.sourceLine(sf.Source.SourceReference, st.p.CurrentInstruction(&f))
			}
		}
		frames = append(frames, sf)
	}
	// A stack that ended early (not at its outermost frame, a zero pc or
	// the frame limit) says why in a last label frame.
	total := len(fs)
	if why := st.stopReason(r.Arguments.ThreadId); why != "" {
		total++
		if start <= len(fs) && (r.Arguments.Levels <= 0 || start+r.Arguments.Levels > len(fs)) {
			frames = append(frames, dap.StackFrame{Id: st.frameID(r.Arguments.ThreadId, len(fs)), Name: "unwinding stopped: " + why, PresentationHint: "label"})
		}
	}
	c.send(&dap.StackTraceResponse{Response: response(&r.Request), Body: dap.StackTraceResponseBody{StackFrames: frames, TotalFrames: total}})
}

// faultFrameIndex is the index, in the crashing thread's stack, of the
// frame where the fault happened: the one above the signal frame, or 0.
func faultFrameIndex(fs []coreparse.Frame) int {
	for i, f := range fs {
		if f.Sigtramp && i+1 < len(fs) {
			return i + 1
		}
	}
	return 0
}

func (c *conn) exceptionInfo(r *dap.ExceptionInfoRequest) {
	st := c.st
	body := dap.ExceptionInfoResponseBody{ExceptionId: "signal", BreakMode: "always", Description: report.VerdictText(report.AnalysisDoc(st.analysis()), st.lang())}
	if fc := st.p.Fault(); fc != nil && fc.Real != nil {
		body.ExceptionId = fc.Real.Name
		body.Details = &dap.ExceptionDetails{Message: fc.Real.String(), TypeName: fc.Real.Name}
		if fs, err := st.stack(st.crashThreadID()); err == nil {
			var b strings.Builder
			report.WriteFrames(&b, report.Frames(fs))
			body.Details.StackTrace = b.String()
		}
	}
	c.send(&dap.ExceptionInfoResponse{Response: response(&r.Request), Body: body})
}
