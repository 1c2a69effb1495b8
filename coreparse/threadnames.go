package coreparse

import (
	"bytes"
	"strconv"
	"strings"
	"sync"

	"github.com/dsecore/dsecore/coreparse/disasm"
	"github.com/dsecore/dsecore/internal/cxxname"
)

// Where a thread's name came from (Thread.NameFrom).
const (
	NameFromComm    = "comm"          // the core's process name: the main thread
	NameFromHandler = "ceph handler"  // Ceph's fatal-signal handler wrote it ("in thread … thread_name:…")
	NameFromRuntime = "runtime"       // the coroutine runtime's Processer
	NameFromEntry   = "entry routine" // the outermost function of the application on its stack
)

// handlerNameWindow is how far above a thread's stack pointer
// Ceph's handler's message is looked for: its buffer (1 KiB) is in
// handle_fatal_signal's frame, a few frames above pthread_kill.
const handlerNameWindow = 64 << 10

// handlerBufs are nameFromHandler's windows, reused: a Ceph daemon's
// fifty threads each read 64 KiB (a fresh buffer each was as many page
// faults of new heap).
var handlerBufs = sync.Pool{New: func() any { b := make([]byte, handlerNameWindow); return &b }}

// nameFromHandler names a thread in Ceph's fatal-signal handler (the
// crashed one, or another that faulted while it ran) as the handler did:
// it formats "*** Caught signal (…) **\n in thread <pthread>
// thread_name:<name>\n" into a buffer on the crashing thread's stack
// before it logs it (src/global/signal_handler.cc). The name is the
// thread's own (pthread_getname_np), taken only when the pthread the
// message names is the thread's.
func (p *Process) nameFromHandler(t *Thread) {
	sp, ok := t.Regs.Get(7) // rsp
	if !ok || t.Pthread == 0 {
		return
	}
	pb := handlerBufs.Get().(*[]byte)
	defer handlerBufs.Put(pb)
	n, _ := p.Core.ReadAt(*pb, sp)
	buf := (*pb)[:n]
	want := []byte(" in thread " + strconv.FormatUint(t.Pthread, 16) + " thread_name:")
	i := bytes.Index(buf, want)
	if i < 0 {
		return
	}
	rest := buf[i+len(want):]
	end := bytes.IndexAny(rest, "\n\x00")
	if end <= 0 || end > 15 { // a thread name is at most 15 bytes
		return
	}
	name := string(rest[:end])
	for _, c := range []byte(name) {
		if c < 0x20 || c >= 0x7f {
			return
		}
	}
	if t.Name != name {
		t.Name, t.NameFrom = name, NameFromHandler
	}
}

// nameFromEntry names a thread the core did not name after its entry
// routine, from its backtrace: the outermost frame of the application
// (not the C library's or the C++ runtime's start_thread, clone,
// execute_native_thread_routine, nor an unknown function), so that a
// thread reads "AdminSocket::entry" or "EventCenter::process_events". A
// thread class's entry that only forwards to its owner
// (DispatchQueue::DispatchThread::entry → DispatchQueue::entry, Ceph's
// Thread subclasses) gives the owner's function; a std::thread's
// _State_impl::_M_run gives the callable it runs.
func (p *Process) nameFromEntry(t *Thread, fs []Frame) {
	t.nameOnce.Do(func() {
		if t.Name != "" {
			return
		}
		if name := EntryRoutine(fs, p.forwarder); name != "" {
			t.Name, t.NameFrom = name, NameFromEntry
		}
	})
}

// maxForwarder bounds the code a forwarder is decoded from: Ceph's are
// 20–24 bytes; a thread loop (OpHistoryServiceThread::entry, 524 bytes)
// is refused by its calls, not by its size.
const maxForwarder = 256

// forwarder tells whether the function f returns into only forwards to
// the function it called: its code (decoded from its start, bounds from
// DWARF, the symbol table or the CFI) holds one call and no backward
// jump, as DispatchQueue::DispatchThread::entry's `dq->entry(); return 0`
// (one direct call) or ThreadPool::WorkThread::entry's
// `pool->worker(this)` (one virtual call). A thread's own loop
// (OpHistoryServiceThread::entry, CephContextServiceThread::entry) calls
// more, so its name is its own whatever the thread was doing when the
// core was written. A frame inlined into its caller has no code of its
// own: not a forwarder.
func (p *Process) forwarder(f *Frame) bool {
	if f.Inline || f.LookupPC == 0 {
		return false
	}
	lo, hi, ok := p.FunctionBounds(f.LookupPC)
	if !ok || hi <= lo || hi-lo > maxForwarder {
		return false
	}
	return forwards(p.Core, lo, hi)
}

// forwards is forwarder's test on the code [lo, hi) of one function.
func forwards(mem disasm.Memory, lo, hi uint64) bool {
	insts, err := disasm.Range(mem, lo, hi, nil, nil)
	if err != nil {
		return false
	}
	calls := 0
	for _, in := range insts {
		switch {
		case in.Bad:
			return false
		case in.Op == "call":
			calls++
		case strings.HasPrefix(in.Op, "j") && in.HasTarget && in.Target <= in.Addr:
			return false // a loop
		}
	}
	return calls == 1
}

// EntryRoutine is the name nameFromEntry gives a stack ("" when none).
// forwards tells whether an application frame only forwards to the frame
// it called (nil: none does).
func EntryRoutine(fs []Frame, forwards func(*Frame) bool) string {
	skip := func(f *Frame) bool {
		switch {
		case f.Boundary || f.Sigtramp || f.Function == "??" || f.Function == "":
			return true
		case f.Mod != nil && f.Mod.IsSystem():
			return true
		case f.Function == "Thread::_entry_func" || f.Function == "Thread::entry_wrapper":
			return true // Ceph's Thread: the wrapper that calls entry()
		case strings.HasPrefix(f.Function, "std::") && stdThreadCallable(f.Function) == "":
			return true
		}
		return false
	}
	if taskStack(fs) {
		return ""
	}
	for i := len(fs) - 1; i >= 0; i-- {
		f := &fs[i]
		if skip(f) {
			continue
		}
		name := f.Function
		if c := stdThreadCallable(name); c != "" {
			return c
		}
		if strings.HasSuffix(withoutTemplates(name), "Thread::entry") && i > 0 && !skip(&fs[i-1]) &&
			forwards != nil && forwards(f) {
			name = fs[i-1].Function
		}
		return cxxname.Elide(name)
	}
	return ""
}

// taskStack tells a coroutine task's stack, switched onto its thread, from
// the thread's own: its outermost named frame is the context's trampoline
// (Boost.Context's make_fcontext, libgo's libgo_make_fcontext), so the
// thread's entry routine is not on it, and naming the thread after the
// task's function would name a Processer after whatever task it ran (the
// runtime names it when its tasks are read).
func taskStack(fs []Frame) bool {
	for i := len(fs) - 1; i >= 0; i-- {
		f := &fs[i]
		if f.Boundary || f.Function == "??" || f.Function == "" {
			continue
		}
		return strings.HasSuffix(f.Function, "make_fcontext")
	}
	return false
}

// stdThreadCallable is the callable a std::thread runs, from its
// _State_impl<_Invoker<tuple<F, …>>>::_M_run frame's name (templates
// elided, parameter lists emptied): "" for any other name.
func stdThreadCallable(fn string) string {
	const pre = "std::thread::_State_impl<std::thread::_Invoker<std::tuple<"
	if !strings.HasPrefix(fn, pre) || !strings.HasSuffix(fn, "::_M_run") {
		return ""
	}
	s := fn[len(pre):]
	// The first element: up to a top-level ',' or the tuple's '>'.
	depth, end := 0, len(s)
loop:
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '<', '(', '{':
			depth++
		case ')', '}':
			depth--
		case '>':
			if depth == 0 {
				end = i
				break loop
			}
			depth--
		case ',':
			if depth == 0 {
				end = i
				break loop
			}
		}
	}
	callable := strings.TrimSpace(s[:end])
	if callable == "" {
		return ""
	}
	return cxxname.Elide(emptyParams(callable))
}

// emptyParams replaces the parameter lists of a name's scopes with "()":
// "ns::C::C(std::function<void ()>, long)::{lambda()#1}" → "ns::C::C()::{lambda()#1}".
func emptyParams(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '(' && !strings.HasSuffix(b.String(), "{lambda") {
			d := 0
			j := i
			for ; j < len(s); j++ {
				if s[j] == '(' {
					d++
				} else if s[j] == ')' {
					d--
					if d == 0 {
						break
					}
				}
			}
			b.WriteString("()")
			i = j
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// withoutTemplates drops every template argument list:
// "CommonSafeTimerThread<std::mutex>::entry" → "CommonSafeTimerThread::entry".
func withoutTemplates(s string) string {
	var b strings.Builder
	d := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '<':
			d++
			continue
		case '>':
			if d > 0 {
				d--
				continue
			}
		}
		if d == 0 {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
