package corefile

import (
	"runtime"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/dsecore/dsecore/internal/mmap"
)

// hugePage is the size of an x86-64 transparent huge page.
const hugePage = 2 << 20

// slab is an anonymous mapping the page cache keeps its slots in, advised
// MADV_HUGEPAGE. Its bytes are the cache's only: never the core's (which
// is read with pread, never mapped).
type slab struct {
	b []byte
	m *slabMapping
}

// slabMapping unmaps once: at close, or by the cleanup of a slab nobody
// closed (which must not hold the slab itself).
type slabMapping struct {
	b    []byte
	once sync.Once
}

func (m *slabMapping) unmap() {
	m.once.Do(func() {
		if !mmap.LeftToExit() {
			unix.Munmap(m.b)
		}
	})
}

// newSlab maps n bytes (nil when the mapping fails: the cache then
// allocates its slots from the heap). A slab nobody frees (a Core never
// closed) is unmapped when it becomes unreachable.
func newSlab(n int) *slab {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil
	}
	// Advice (without transparent huge pages, 4 KiB pages throughout):
	// the first huge page's worth (ranks 0-7 of every shard: what a
	// first answer fills) in 4 KiB pages, so that a small working set
	// costs what it holds; the rest in huge pages.
	unix.Madvise(b[:min(n, hugePage)], unix.MADV_NOHUGEPAGE)
	if n > hugePage {
		unix.Madvise(b[hugePage:], unix.MADV_HUGEPAGE)
	}
	s := &slab{b: b, m: &slabMapping{b: b}}
	runtime.AddCleanup(s, (*slabMapping).unmap, s.m)
	return s
}

// free unmaps the slab now (once; nil does nothing). Nothing may read
// its bytes after.
func (s *slab) free() {
	if s == nil {
		return
	}
	s.m.unmap()
}
