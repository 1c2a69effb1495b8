package heap

import (
	"fmt"
	"sort"
	"sync"
)

// Arena is one malloc_state: main_arena, or a thread arena that lives
// after the heap_info of its first heap.
type Arena struct {
	Address   uint64   `json:"address" hex:""`
	Main      bool     `json:"main"`
	Top       uint64   `json:"top" hex:""`
	TopSize   uint64   `json:"top_size" hex:""`
	SystemMem uint64   `json:"system_mem" hex:""`
	Heaps     []Region `json:"heaps"`
	// Threads whose thread_arena is this arena (LWPs).
	Threads []int `json:"threads,omitempty"`
}

// Name is how the arena is named in findings: "main_arena" or
// "arena 0x7f…".
func (a *Arena) Name() string {
	if a.Main {
		return "main_arena"
	}
	return fmt.Sprintf("arena %#x", a.Address)
}

// Region is one contiguous run of chunks: the main arena's sbrk heap, or
// one mmap'd heap of a thread arena, or a run of mmapped chunks.
type Region struct {
	Start uint64 `json:"start" hex:""` // the first chunk
	End   uint64 `json:"end" hex:""`   // one past the last byte the chunks may use
	// HeapInfo is the heap_info at the region's base (thread arenas).
	HeapInfo uint64 `json:"heap_info,omitempty" hex:""`
	Kind     string `json:"kind"` // "sbrk", "heap", "mmapped"

	arena *Arena
	walk  *regionWalk
}

// regionWalk is a region's chunks, walked once on first need.
type regionWalk struct {
	once sync.Once
	idx  *chunkIndex
}

// chunkIndex is a region walked once from its first chunk: each chunk's
// start in order, and where the walk stopped if before the end.
type chunkIndex struct {
	starts []uint64
	sizes  []uint64 // raw size fields
	// broken is the chunk whose header stopped the walk (0: the walk
	// reached the top chunk, a fencepost or the region's end).
	broken    uint64
	brokenWhy string
	truncated bool // the chunk bound was hit
	endsInTop bool // the last chunk is the arena's top chunk (it runs to the region's end)
}

// arenas reads the ring of arenas from main_arena.next (bounded; a ring
// that does not close is a warning).
func (h *Heap) readArenas() {
	l := h.l
	seen := map[uint64]bool{}
	a := l.mainArena
	for i := 0; i < h.o.MaxArenas; i++ {
		if seen[a] {
			break
		}
		seen[a] = true
		ar := &Arena{Address: a, Main: a == l.mainArena}
		ar.Top, _ = h.word(a + uint64(l.stTop))
		if ar.Top != 0 {
			sz, _ := h.word(ar.Top + uint64(l.size))
			ar.TopSize = sz &^ sizeBits
		}
		ar.SystemMem, _ = h.word(a + uint64(l.stSystemMem))
		h.Arenas = append(h.Arenas, ar)
		next, err := h.word(a + uint64(l.stNext))
		if err != nil || next == 0 {
			h.warnf("the arena ring breaks at %#x (next %#x): arenas after it are not read", a, next)
			break
		}
		if next == l.mainArena {
			break
		}
		a = next
		if i == h.o.MaxArenas-1 {
			h.warnf("more than %d arenas: the rest are not read", h.o.MaxArenas)
		}
	}
	for _, ar := range h.Arenas {
		if ar.Main {
			h.mainRegions(ar)
		} else {
			h.threadRegions(ar)
		}
	}
}

// mainRegions: the main arena's chunks run from mp_.sbrk_base to the end of
// its top chunk when the arena is contiguous (it grew with brk).
func (h *Heap) mainRegions(ar *Arena) {
	l := h.l
	flags, _ := h.word32(ar.Address + uint64(l.stFlags))
	const nonContiguous = 2 // NONCONTIGUOUS_BIT
	if flags&nonContiguous != 0 {
		h.warnf("main_arena is not contiguous (it fell back to mmap): chunks outside its top chunk's heap are not walked")
	}
	base, err := h.word(l.mp + uint64(l.mpSbrkBase))
	if err != nil || base == 0 || ar.Top == 0 || ar.Top < base {
		if ar.Top != 0 && ar.TopSize != 0 {
			h.warnf("mp_.sbrk_base is %#x: the main heap's start is unknown", base)
		}
		return
	}
	// sysmalloc places the first chunk at sbrk_base aligned so that its
	// memory is MALLOC_ALIGNMENT-aligned.
	start := alignUp(base+l.hdr(), uint64(l.align)) - l.hdr()
	ar.Heaps = append(ar.Heaps, Region{Start: start, End: ar.Top + ar.TopSize, Kind: "sbrk", arena: ar, walk: &regionWalk{}})
}

// heapMax is glibc's heap_max_size(): HEAP_MAX_SIZE = 2 *
// DEFAULT_MMAP_THRESHOLD_MAX (4 MiB * sizeof(long)) unless huge pages were
// asked for (mp_.hp_pagesize * 4). Every use is checked: the heap_info found
// with it must name the arena.
func (h *Heap) heapMax() uint64 {
	if h.l.hasHpPagesize {
		if hp, err := h.word(h.l.mp + uint64(h.l.mpHpPagesize)); err == nil && hp != 0 && hp&(hp-1) == 0 {
			return hp * 4
		}
	}
	return 2 * 4 * 1024 * 1024 * uint64(h.l.sizeSz)
}

// threadRegions: a thread arena's heaps, from the one holding its top chunk
// back through heap_info.prev. The first heap (the one that holds the
// arena itself) starts after heap_info and malloc_state; later ones after
// heap_info.
func (h *Heap) threadRegions(ar *Arena) {
	l := h.l
	if l.heapInfoSize == 0 {
		h.warnf("%s: glibc's DWARF has no heap_info: its heaps are not walked", ar.Name())
		return
	}
	hi := ar.Top &^ (h.heapMax() - 1)
	seen := map[uint64]bool{}
	for n := 0; hi != 0 && n < h.o.MaxHeaps; n++ {
		if seen[hi] {
			h.warnf("%s: heap_info.prev loops at %#x", ar.Name(), hi)
			break
		}
		seen[hi] = true
		owner, err := h.word(hi + uint64(l.hiArena))
		if err != nil || owner != ar.Address {
			h.warnf("%s: the heap_info at %#x names arena %#x: its heaps are not walked", ar.Name(), hi, owner)
			return
		}
		size, _ := h.word(hi + uint64(l.hiSize))
		start := hi + uint64(l.heapInfoSize)
		if ar.Address == start {
			start += uint64(l.stateSize)
		}
		start = alignUp(start+l.hdr(), uint64(l.align)) - l.hdr()
		end := hi + size
		if ar.Top >= hi && ar.Top < hi+h.heapMax() {
			end = max(end, ar.Top+ar.TopSize)
		}
		ar.Heaps = append(ar.Heaps, Region{Start: start, End: end, HeapInfo: hi, Kind: "heap", arena: ar, walk: &regionWalk{}})
		hi, _ = h.word(hi + uint64(l.hiPrev))
	}
	sort.Slice(ar.Heaps, func(i, j int) bool { return ar.Heaps[i].Start < ar.Heaps[j].Start })
}

// index walks a region once (bounded by MaxChunks): from its first chunk,
// next_chunk() after next_chunk(), to the top chunk, a fencepost (size 0
// or CHUNK_HDR_SZ, as sysmalloc leaves at the end of an old heap) or the
// region's end. A header that cannot be a chunk stops it.
func (h *Heap) index(r *Region) *chunkIndex {
	r.walk.once.Do(func() {
		x := &chunkIndex{}
		l := h.l
		top := uint64(0)
		if r.arena != nil {
			top = r.arena.Top
		}
		for p := r.Start; p < r.End; {
			if len(x.starts) >= h.o.MaxChunks {
				x.truncated = true
				break
			}
			raw, err := h.word(p + uint64(l.size))
			if err != nil {
				x.broken, x.brokenWhy = p, fmt.Sprintf("its header is not in the core (%v)", err)
				break
			}
			x.starts = append(x.starts, p)
			x.sizes = append(x.sizes, raw)
			if p == top {
				x.endsInTop = true
				break
			}
			sz := raw &^ sizeBits
			if fence, why := h.fencepost(p, raw, r.End); fence {
				break
			} else if why != "" {
				x.broken, x.brokenWhy = p, why
				x.starts, x.sizes = x.starts[:len(x.starts)-1], x.sizes[:len(x.sizes)-1]
				break
			}
			if why := h.badSize(raw, p, r.End, r.Kind == "mmapped"); why != "" {
				x.broken, x.brokenWhy = p, why
				x.starts, x.sizes = x.starts[:len(x.starts)-1], x.sizes[:len(x.sizes)-1]
				break
			}
			p += sz
		}
		r.walk.idx = x
	})
	return r.walk.idx
}

// badSize says why a size field cannot be the header of a chunk at p in a
// region ending at end ("" when it can).
func (h *Heap) badSize(raw, p, end uint64, mmapped bool) string {
	l := h.l
	sz := raw &^ sizeBits
	switch {
	case sz < l.minSize():
		return fmt.Sprintf("size field %#x is below MINSIZE (%#x)", raw, l.minSize())
	case sz&uint64(l.align-1) != 0:
		return fmt.Sprintf("size field %#x is not a multiple of MALLOC_ALIGNMENT (%d)", raw, l.align)
	case p+sz > end || p+sz < p:
		return fmt.Sprintf("size field %#x runs past the heap's end %#x", raw, end)
	case !mmapped && raw&isMmapped != 0:
		return fmt.Sprintf("size field %#x has IS_MMAPPED set inside an arena's heap", raw)
	}
	return ""
}

// fencepost says whether the header at p is one of sysmalloc's
// fenceposts, which end a heap's chunks: CHUNK_HDR_SZ|PREV_INUSE followed
// by another fencepost (the double fencepost before a gap in the main
// heap, or before the last one of an old thread heap), or 0|PREV_INUSE at
// the end of an old thread heap. A header shaped like a fencepost anywhere
// else is an overwritten one (why says so).
func (h *Heap) fencepost(p, raw, end uint64) (fence bool, why string) {
	l := h.l
	sz := raw &^ sizeBits
	if raw&prevInuse == 0 || sz != 0 && sz != l.hdr() {
		return false, ""
	}
	if sz == 0 {
		if p+l.hdr()+l.minSize() > end {
			return true, ""
		}
		return false, fmt.Sprintf("size field %#x is a heap's last fencepost, %#x bytes before the heap's end", raw, end-p)
	}
	next, err := h.word(p + l.hdr() + uint64(l.size))
	if err == nil && next&prevInuse != 0 && (next&^sizeBits == 0 || next&^sizeBits == l.hdr()) {
		return true, ""
	}
	return false, fmt.Sprintf("size field %#x is a fencepost's, but no second fencepost follows it", raw)
}

// chunkAt finds the chunk of the index that contains addr.
func (x *chunkIndex) chunkAt(addr uint64, end uint64, l *layout) (start, raw uint64, ok bool) {
	i := sort.Search(len(x.starts), func(i int) bool { return x.starts[i] > addr }) - 1
	if i < 0 {
		return 0, 0, false
	}
	start, raw = x.starts[i], x.sizes[i]
	var limit uint64
	switch {
	case i+1 < len(x.starts):
		limit = x.starts[i+1]
	case x.endsInTop:
		limit = end
	default:
		limit = start + max(raw&^sizeBits, l.hdr())
	}
	return start, raw, addr < limit
}

func alignUp(v, a uint64) uint64 { return (v + a - 1) &^ (a - 1) }
