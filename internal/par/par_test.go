package par

import (
	"sync/atomic"
	"testing"
)

// TestDo: every index exactly once, whatever the count.
func TestDo(t *testing.T) {
	for _, n := range []int{0, 1, 2, 7, 1000} {
		hits := make([]atomic.Int32, n)
		var calls atomic.Int32
		Do(n, func(i int) { hits[i].Add(1); calls.Add(1) })
		if int(calls.Load()) != n {
			t.Fatalf("n=%d: %d calls", n, calls.Load())
		}
		for i := range hits {
			if hits[i].Load() != 1 {
				t.Fatalf("n=%d: index %d called %d times", n, i, hits[i].Load())
			}
		}
	}
}
