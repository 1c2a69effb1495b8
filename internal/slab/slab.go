// Package slab hands out small slices cut from shared blocks: ten
// thousand task stacks of a few frames each are one allocation per block,
// not one each (each slice typed and zeroed on its own was most of the
// allocation cost of unwinding and naming them).
package slab

import "sync"

// Slab cuts slices of T from blocks of Block elements. Safe for
// concurrent use. A block lives as long as any slice cut from it.
type Slab[T any] struct {
	Block int // elements per block
	mu    sync.Mutex
	free  []T
}

// Take returns n zeroed elements, their capacity n (an append copies).
// Slices longer than an eighth of a block are allocated on their own.
func (s *Slab[T]) Take(n int) []T {
	if n <= 0 {
		return nil
	}
	if n > s.Block/8 {
		return make([]T, n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.free) < n {
		s.free = make([]T, s.Block)
	}
	out := s.free[:n:n]
	s.free = s.free[n:]
	return out
}

// Copy returns a slice of the slab holding a copy of src (nil for an
// empty src).
func (s *Slab[T]) Copy(src []T) []T {
	out := s.Take(len(src))
	copy(out, src)
	return out
}
