package heap_test

import (
	"testing"
	"time"

	"github.com/dsecore/dsecore/analysis/heap"
	"github.com/dsecore/dsecore/internal/testsupport/bound"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
)

// FuzzHeap: the heap of the tcache-uaf core with the fuzzer's bytes laid
// over its metadata (the chunks around the freed request, the thread's
// tcache_perthread_struct, its arena's malloc_state, main_arena): every
// input gives findings in bounded time, never a panic or a hang.
func FuzzHeap(f *testing.F) {
	sc := fixture.Get(f).Scenario(f, fixture.TcacheUAF)
	truth := sc.Expected["heap"].(map[string]any)
	mem := fixture.Hex(f, truth["mem"])
	p := open(f, sc)
	clean := heap.Open(p, heap.Options{})
	fd := clean.Locate(mem)
	if fd.State != heap.StateFree {
		f.Fatalf("the clean core: %s", fd.Describe())
	}
	regions := []struct{ at, n uint64 }{
		{fd.Chunk.Address - 0x400, 0xc00},
		{tcacheOf(f, clean, num(f, truth["thread_lwp"])), 0x290},
		{fd.Arena, 0x898},
		{clean.Arenas[0].Address, 0x898},
	}
	for i := range regions {
		f.Add(uint8(i), uint16(0), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		f.Add(uint8(i), uint16(0x368), []byte{0x11, 0, 0, 0, 0, 0, 0, 0})
		f.Add(uint8(i), uint16(0x60), []byte{0, 0, 0, 0, 0, 0, 0, 0, 0x31})
	}
	f.Fuzz(func(t *testing.T, which uint8, at uint16, patch []byte) {
		r := regions[int(which)%len(regions)]
		if len(patch) > 64 {
			patch = patch[:64]
		}
		m := &heap.Patched{Core: p.Core, Bytes: map[uint64]byte{}}
		start := r.at + uint64(at)%r.n
		for i, b := range patch {
			m.Bytes[start+uint64(i)] = b
		}
		bound.Within(t, 20*time.Second, func() {
			h := heap.OpenPatched(p, heap.Options{}, m)
			for _, a := range []uint64{mem, mem + 0x40, start, start + 0x10, fd.Chunk.Address + fd.Chunk.Size + 0x20} {
				x := h.Locate(a)
				_ = x.Describe()
				_ = x.Verdict(heap.AccessFree)
			}
			_ = h.Tcaches()
			_ = h.Problems()
			_ = h.AbortMessage()
		}, "heap reading hung on patch %x at %#x", patch, start)
	})
}
