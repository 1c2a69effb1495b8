// Package par runs independent pieces of work on all CPUs.
package par

import (
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// Do calls f(i) for every i in [0, n), on up to GOMAXPROCS goroutines, and
// returns when all calls have. f must be safe to call concurrently; results
// go to per-index slots, so order is the caller's.
//
// A panic in f is the caller's: the other workers take no new index, and
// Do panics with the first worker's value in the calling goroutine, where
// its recover (a DAP request's handler) can catch it; a panic in a worker
// would otherwise end the process. The workers fault as the caller does
// (debug.SetPanicOnFault): a file truncated under a mapping is then a
// panic the caller recovers, not a fatal SIGBUS.
func Do(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := 0; i < n; i++ {
			f(i)
		}
		return
	}
	onFault := debug.SetPanicOnFault(false)
	debug.SetPanicOnFault(onFault)
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var panicked bool
	var value any
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			debug.SetPanicOnFault(onFault)
			defer func() {
				if x := recover(); x != nil {
					once.Do(func() { panicked, value = true, x })
					next.Store(int64(n))
				}
			}()
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
	if panicked {
		panic(value)
	}
}
