// Package par runs independent pieces of work on all CPUs.
package par

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/dsecore/dsecore/internal/mmap"
)

// Do calls f(i) for every i in [0, n), on up to GOMAXPROCS goroutines, and
// returns when all calls have. f must be safe to call concurrently; results
// go to per-index slots, so order is the caller's.
//
// A panic of f (a fault in a mapped file that changed, which every worker
// turns into a panic with mmap.Guard, or any other) stops the remaining
// work and is raised again in the caller's goroutine once every worker has
// returned, where the caller's recover sees it: a worker's panic never
// ends the process behind the caller's back.
func Do(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := 0; i < n; i++ {
			f(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Pointer[panicked]
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					if fe := mmap.AsFault(r); fe != nil {
						r = fe // named while the mapping is known
					}
					failed.CompareAndSwap(nil, &panicked{r})
					next.Store(int64(n)) // no more work
				}
			}()
			mmap.Guard()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
	if p := failed.Load(); p != nil {
		panic(p.r)
	}
}

type panicked struct{ r any }

// Once is sync.Once that remembers a panic. The call whose f panicked
// panics, as with sync.Once; every later Do panics again with the same
// value, where sync.Once would return as if f had finished and leave its
// results zero. What a session computes once and shares (a module's CFI,
// a table's DWARF, the coroutine runtime) may be first asked for on a
// goroutine whose panic no one reports (the DAP server's prefetch): the
// request that asks next then meets the panic (a file that changed under
// its mapping) and reports it, instead of answering from a zero value.
type Once struct {
	done   atomic.Bool // f has returned or panicked
	once   sync.Once
	failed any // f's panic value, nil while f has not panicked
}

// Do calls f if and only if Do is being called for the first time for
// this Once; see sync.Once.Do, and Once for a panic of f.
func (o *Once) Do(f func()) {
	if !o.done.Load() {
		o.doSlow(f)
	}
	if o.failed != nil {
		panic(o.failed)
	}
}

// Done says whether f has returned or panicked: what f wrote is then
// visible to the caller (a goroutine that must not start f, only read its
// results when there are some).
func (o *Once) Done() bool { return o.done.Load() }

func (o *Once) doSlow(f func()) {
	o.once.Do(func() {
		defer o.done.Store(true)
		returned := false
		defer func() {
			if !returned {
				// A panic (recover is nil only for runtime.Goexit, which
				// then goes on): remembered, and raised again here, with
				// f's frames still on the stack.
				if x := recover(); x != nil {
					o.failed = x
					panic(x)
				}
			}
		}()
		f()
		returned = true
	})
}
