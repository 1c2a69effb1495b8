package slab

import (
	"sync"
	"testing"
)

// TestTake: slices are zeroed, do not overlap, cannot grow into a
// neighbour, and long ones are their own.
func TestTake(t *testing.T) {
	s := Slab[int]{Block: 64}
	var got [][]int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				b := s.Take(1 + i%8)
				for j := range b {
					if b[j] != 0 {
						t.Errorf("not zeroed")
					}
					b[j] = g*1000 + i
				}
				mu.Lock()
				got = append(got, b)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, b := range got {
		if cap(b) != len(b) {
			t.Errorf("capacity %d for %d elements", cap(b), len(b))
		}
		for j := range b {
			if b[j] != b[0] {
				t.Fatalf("slices overlap: %v", b)
			}
		}
	}
	if b := s.Take(9); cap(b) != 9 || len(b) != 9 {
		t.Errorf("a long slice: cap %d", cap(b))
	}
	if s.Take(0) != nil || s.Copy(nil) != nil {
		t.Error("an empty slice is nil")
	}
	if c := s.Copy([]int{1, 2, 3}); len(c) != 3 || c[2] != 3 {
		t.Errorf("Copy: %v", c)
	}
}
