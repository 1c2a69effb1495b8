package par

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/dsecore/dsecore/internal/mmap"
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

// TestDoPanics: a worker's panic is raised again in the caller, where a
// recover sees it (it ended the process before, whatever the caller
// recovered).
func TestDoPanics(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	}
	var calls atomic.Int32
	got := func() (r any) {
		defer func() { r = recover() }()
		Do(1000, func(i int) {
			calls.Add(1)
			if i == 3 {
				panic("index 3")
			}
		})
		return nil
	}()
	if got != "index 3" {
		t.Fatalf("recovered %v, want the worker's panic", got)
	}
}

// TestDoFaults: a worker reading a mapping whose file was cut shorter
// faults; the caller gets an error naming the file (it was SIGBUS: par's
// goroutines had no mmap.Guard).
func TestDoFaults(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	}
	p := filepath.Join(t.TempDir(), "unit-1234")
	if err := os.WriteFile(p, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := mmap.File(p)
	if err != nil {
		t.Fatal(err)
	}
	defer mmap.Unmap(b)
	if err := os.Truncate(p, 4096); err != nil {
		t.Fatal(err)
	}
	err = func() (err error) {
		defer mmap.Catch(&err)
		var sink atomic.Int32
		Do(256, func(i int) { sink.Add(int32(b[i*4096])) })
		return nil
	}()
	var fe *mmap.FaultError
	if !errors.As(err, &fe) || fe.Path != p {
		t.Fatalf("err %v, want a fault of %s", err, p)
	}
}

// TestOncePanics: a panic of f reaches the call that ran it and every
// later call, with the same value, from any goroutine; f runs once. A
// plain sync.Once would let the later calls return (f's results zero).
func TestOncePanics(t *testing.T) {
	var o Once
	runs := 0
	boom := errors.New("boom")
	call := func() (x any) {
		defer func() { x = recover() }()
		o.Do(func() { runs++; panic(boom) })
		return nil
	}
	if x := call(); x != boom {
		t.Fatalf("first call: panic %v, want %v", x, boom)
	}
	got := make(chan any, 4)
	for range 4 {
		go func() { got <- call() }()
	}
	for range 4 {
		if x := <-got; x != boom {
			t.Fatalf("a later call: panic %v, want %v", x, boom)
		}
	}
	if runs != 1 {
		t.Fatalf("f ran %d times, want once", runs)
	}
	// Without a panic it is sync.Once.
	var ok Once
	n := 0
	if ok.Done() {
		t.Fatal("Done before Do")
	}
	for range 3 {
		ok.Do(func() {
			if ok.Done() {
				t.Error("Done while f runs")
			}
			n++
		})
	}
	if n != 1 {
		t.Fatalf("f ran %d times, want once", n)
	}
	if !ok.Done() || !o.Done() {
		t.Fatalf("Done after f returned: %v, after it panicked: %v", ok.Done(), o.Done())
	}
}
