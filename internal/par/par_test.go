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

// TestDoPanicIsTheCallers: a panic in one call of f comes out of Do in the
// calling goroutine, with its value, after every worker stopped; before,
// it ended the process from a worker goroutine no handler could recover.
func TestDoPanicIsTheCallers(t *testing.T) {
	var calls atomic.Int64
	got := func() (x any) {
		defer func() { x = recover() }()
		Do(1000, func(i int) {
			calls.Add(1)
			if i == 7 {
				panic("item 7")
			}
		})
		return nil
	}()
	if got != "item 7" {
		t.Fatalf("recovered %v, want item 7", got)
	}
	if n := calls.Load(); n < 8 || n > 1000 {
		t.Errorf("%d calls", n)
	}
}
