package server

import (
	"fmt"
	"sync"

	"github.com/dsecore/dsecore/analysis/coroutines"
	"github.com/dsecore/dsecore/analysis/fault"
	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/values"
	"github.com/dsecore/dsecore/internal/l10n"
	"github.com/dsecore/dsecore/internal/par"
	"github.com/dsecore/dsecore/report"
	"github.com/dsecore/dsecore/session"
	"github.com/google/go-dap"
)

// state is an opened core and the handles given to the client.
type state struct {
	args LaunchArgs
	sess *session.Session
	p    *coreparse.Process
	vr   *values.Reader

	threadList  []dap.Thread // through threads()
	threadsOnce par.Once

	output             func(category, text string) // to the client's console
	rtWarned, anWarned bool
	rtSent             int // the runtime's warnings sent to the console

	mu     sync.Mutex
	stacks map[int][]coreparse.Frame // by DAP thread id
	// stopped says why a stack's unwind ended early (by DAP thread id),
	// absent when it ended normally.
	stopped map[int]string
	// The references given to the client: frame ids (by frame),
	// variablesReference (a frame's scopes by scope, values and analysis
	// nodes each their own), sourceReference (by function).
	frames  handles[frameRef, frameRef]
	vars    handles[varRef, varRef]
	sources handles[string, *sourceRef]
	held    int64                 // bytes the value and node references keep alive
	maxHeld int64                 // the session's budget for them (Limits.MaxHeldBytes)
	scopes  map[int]*values.Scope // frame id → evaluated variables
	// examined is the console's last x/ format and unit: gdb's defaults
	// for the next one.
	examined report.Examine
	// listings: each function's disassembly (by its bounds), shared by the
	// sources that show it (sources.go); made by the first to need it, the
	// crashing thread's by prefetch.
	listings map[[2]uint64]*funcListing
	// bg: the prefetch's goroutine, waited for before the core is closed.
	bg sync.WaitGroup
}

func (st *state) close() {
	st.bg.Wait()
	st.sess.Close()
}

// runtime is the session's coroutine runtime, each task's saved context
// checked (discovered on first use; its warnings then go to the client's
// console).
func (st *state) runtime() *coroutines.Runtime {
	rt := st.sess.Runtime()
	st.tellRuntime(rt)
	return rt
}

// lang renders the words for people in the launch's language.
func (st *state) lang() *l10n.Printer { return l10n.New(st.args.Lang) }

// discovered is the runtime before those checks: enough for the thread
// list and a task's stack (session.Discovered).
func (st *state) discovered() *coroutines.Runtime {
	rt := st.sess.Discovered()
	st.tellRuntime(rt)
	return rt
}

// tellRuntime sends the client the runtime's warnings it has not seen
// (Confirm adds its own after discovery's), then, once, the profile used
// and what it found.
func (st *state) tellRuntime(rt *coroutines.Runtime) {
	st.mu.Lock()
	ws := append([]string(nil), rt.Warnings[min(st.rtSent, len(rt.Warnings)):]...)
	st.rtSent = len(rt.Warnings)
	first := !st.rtWarned
	st.rtWarned = true
	st.mu.Unlock()
	if first {
		used := fmt.Sprintf("coroutine profile %s: %d tasks on %d Processers", rt.DescribeProfile(), len(rt.Tasks), len(rt.Processers))
		if rt.TaskCount >= 0 {
			used += fmt.Sprintf(" (the scheduler counts %d)", rt.TaskCount)
		}
		if rt.NoTasks != "" {
			used += "; " + rt.NoTasks
		}
		ws = append(ws, used)
	}
	if st.output != nil {
		for _, w := range ws {
			st.output("console", w)
		}
	}
}

// analysis is the session's fault analysis (made on first use: it unwinds
// every task, which a client showing the crashing stack does not wait for).
func (st *state) analysis() *fault.Analysis {
	a := st.sess.Analysis()
	st.runtime()
	st.warnOnce(&st.anWarned, a.Warnings)
	return a
}

func (st *state) warnOnce(done *bool, ws []string) {
	st.mu.Lock()
	first := !*done
	*done = true
	st.mu.Unlock()
	if first && st.output != nil {
		for _, w := range ws {
			st.output("console", w)
		}
	}
}
