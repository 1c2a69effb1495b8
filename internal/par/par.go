// Package par runs independent pieces of work on all CPUs.
package par

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Do calls f(i) for every i in [0, n), on up to GOMAXPROCS goroutines, and
// returns when all calls have. f must be safe to call concurrently; results
// go to per-index slots, so order is the caller's.
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
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
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
}
