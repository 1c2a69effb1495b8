//go:build !linux

package corefile

// hugePage: no slab outside Linux (the cache's slots come from the heap).
const hugePage = 1 << 62

type slab struct{ b []byte }

func newSlab(int) *slab { return nil }

func (s *slab) free() {}
