package server

import (
	"runtime/debug"

	"github.com/dsecore/dsecore/internal/chaos"
)

// prefetchFrames is how many of the crashing thread's frames prefetch
// readies: VS Code's first stackTrace of a stopped thread asks for 20.
const prefetchFrames = 20

// Tests' hooks: prefetchOff turns the prefetch off; prefetchStart runs
// first in the prefetch's goroutine; prefetchDone hears of each
// prefetch's end.
var (
	prefetchOff   bool
	prefetchStart func(*state)
	prefetchDone  func(*state)
)

// prefetch readies, on another CPU, what the client's first stackTrace
// (of the crashing thread) will need, while it sends configurationDone
// and waits for the thread list (which, on the 10,000-task core, is
// discovery's walk of every queue): the crashing thread's stack, each
// frame's current instruction and the disassembly of the functions its
// disassembly sources show. On the 10,000-task core those listings
// were 80 ms of the stackTrace's 85 (ceph's handle_oneshot_fatal_signal,
// 2,832 instructions, each one's source position looked up), after the
// thread list's 100 ms.
//
// It makes nothing the client sees: no source reference is given out
// (their numbers stay in the order the client's requests name them), no
// event is sent; a request that needs what it is making waits for it, one
// that comes first makes it itself. A panic in it (a file that changed
// under its mapping) is dropped: the request that meets the same file
// reports it, as without the prefetch — also when the prefetch met it
// inside work the session makes once and shares (a module's CFI, a
// table's DWARF): those are par.Once, which panics again for every later
// caller where sync.Once would hand out the zero value
// (TestPrefetchPanicReported). close waits for it. With
// $DSECORE_CHAOS armed it does nothing, so that a chaos point is reached
// by the request that reaches it without the prefetch.
func (st *state) prefetch() {
	if chaos.Armed() || prefetchOff {
		return
	}
	st.bg.Add(1)
	go func() {
		defer st.bg.Done()
		if prefetchDone != nil {
			defer prefetchDone(st)
		}
		debug.SetPanicOnFault(true) // this goroutine's: mmap.Guard
		defer func() { recover() }()
		if prefetchStart != nil {
			prefetchStart(st)
		}
		fs, err := st.stack(st.crashThreadID())
		if err != nil {
			return
		}
		for i := range fs[:min(len(fs), prefetchFrames)] {
			f := fs[i]
			if f.Boundary || f.Sigtramp || f.PC == 0 {
				continue
			}
			st.p.CurrentInstruction(&f)
			if f.File != "" && fileExists(st.mapPath(f.File)) {
				continue // a source on disk: nothing to disassemble
			}
			if st.p.Core.Readable(f.LookupPC) {
				st.listing(f.LookupPC)
			}
		}
	}()
}
