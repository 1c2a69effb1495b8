package heap

import (
	"fmt"
	"strings"

	"github.com/dsecore/dsecore/internal/l10n"
)

// State is what a chunk is to malloc.
type State string

// States of a located address.
const (
	StateInUse   State = "in-use"   // allocated (in an arena's heap)
	StateFree    State = "free"     // in a tcache, fastbin or bin, or marked free by its neighbour
	StateTop     State = "top"      // the arena's top chunk: never handed out
	StateMmapped State = "mmapped"  // an mmapped chunk: in use (free() unmaps it)
	StateNotHeap State = "not-heap" // in no arena's heap and no mmapped chunk
	StateCorrupt State = "corrupt"  // in a heap, but its chunk cannot be found: headers before it are overwritten
	StateUnknown State = "unknown"  // cannot tell (no debug info for glibc's malloc)
)

// Chunk is a malloc_chunk's header and its neighbour's.
type Chunk struct {
	Address uint64 `json:"address" hex:""` // the chunk (its prev_size word)
	Mem     uint64 `json:"mem" hex:""`     // chunk2mem: what malloc returned
	Size    uint64 `json:"size" hex:""`    // chunksize(): the size field without its flags
	// End is one past the chunk's usable memory: chunk + size, plus the
	// next chunk's prev_size word, which an in-use chunk may use.
	End       uint64 `json:"end" hex:""`
	SizeField uint64 `json:"size_field" hex:""` // the raw mchunk_size word
	PrevInuse bool   `json:"prev_inuse"`
	Mmapped   bool   `json:"mmapped"`
	NonMain   bool   `json:"non_main_arena"`
	// Next is next_chunk(); its size field and prev_size word, read to
	// check this chunk's header (0 when there is no next chunk).
	Next          uint64 `json:"next,omitempty" hex:""`
	NextSizeField uint64 `json:"next_size_field,omitempty" hex:""`
	NextPrevSize  uint64 `json:"next_prev_size,omitempty" hex:""`
}

// Finding is what the heap says about one address.
type Finding struct {
	Address uint64 `json:"address" hex:""`
	// Known is false when the heap's state cannot be read: State is
	// "unknown" and Reason says why. Nothing else is set.
	Known  bool   `json:"known"`
	Reason string `json:"reason,omitempty"`
	State  State  `json:"state"`
	Chunk  *Chunk `json:"chunk,omitempty"`
	// Offset is Address − Chunk.Mem (negative: in the chunk's header).
	Offset int64  `json:"offset"`
	Arena  uint64 `json:"arena,omitempty" hex:""`
	// ArenaName: "main_arena", "arena 0x…", or "" for mmapped chunks.
	ArenaName string `json:"arena_name,omitempty"`
	// Bins lists where a free chunk is listed (more than one: freed twice
	// or a corrupt list).
	Bins []BinRef `json:"bins,omitempty"`
	// Tcache is the chunk's tcache_entry words, for a chunk in a tcache bin.
	Tcache *TcacheEntry `json:"tcache_entry,omitempty"`
	// FreeByNeighbour: free because the next chunk's PREV_INUSE is clear
	// (a chunk in no bin we could read).
	FreeByNeighbour bool `json:"free_by_neighbour,omitempty"`
	// How the chunk was found: "walked from the heap's start (N chunks)",
	// "searched back from the address: …", "mmapped chunk".
	How      string    `json:"how,omitempty"`
	Problems []Problem `json:"problems,omitempty"`
}

// UseAfterFree says the address lies in the memory of a free chunk, or in
// the arena's top chunk (never handed out, or freed and merged into it): a
// pointer to it is a dangling pointer.
func (f *Finding) UseAfterFree() bool {
	return f.Known && (f.State == StateFree || f.State == StateTop) && f.Chunk != nil && f.Address >= f.Chunk.Mem && f.Address < f.Chunk.End
}

// Corruption says the chunk's own header, or its neighbour's, is
// overwritten (or it cannot be found for that reason).
func (f *Finding) Corruption() bool {
	if !f.Known {
		return false
	}
	if f.State == StateCorrupt {
		return true
	}
	for _, p := range f.Problems {
		switch p.Kind {
		case "header", "next-header", "prev-size", "bin-size", "bad-fd":
			return true
		}
	}
	return false
}

// Access is what the program was doing with an address.
type Access int

// Accesses.
const (
	AccessUse  Access = iota // a read or write through a pointer
	AccessFree               // the address was being passed to free()
)

// Verdict is the heap's answer for one access, as a rule name and a sentence.
type Verdict struct {
	// Rule: "use-after-free", "double-free", "invalid-free",
	// "heap-corruption", "" when the heap finds nothing wrong, "unknown"
	// when it cannot tell.
	Rule string   `json:"rule"`
	Text string   `json:"text"` // Said's English
	Said l10n.Msg `json:"-"`    // Text in the catalog's words
}

func verdict(rule string, said l10n.Msg) Verdict {
	return Verdict{Rule: rule, Text: said.String(), Said: said}
}

// Verdict interprets the finding for an access to its address.
func (f *Finding) Verdict(a Access) Verdict {
	if !f.Known {
		return verdict("unknown", l10n.Untranslated(f.Reason))
	}
	where := l10n.Verbatim("")
	if len(f.Bins) > 0 {
		where = l10n.T("heap.where-bin", "Bin", f.Bins[0].Msg())
	} else if f.FreeByNeighbour {
		where = l10n.T("heap.where-neighbour")
	}
	hex := func(v uint64) string { return fmt.Sprintf("%#x", v) }
	switch {
	case a == AccessFree && f.State == StateFree:
		return verdict("double-free", l10n.T("heap.freed-again", "Addr", hex(f.Address), "Chunk", hex(f.Chunk.Address), "Size", hex(f.Chunk.Size), "Where", where))
	case a == AccessFree && (f.State == StateNotHeap || f.Chunk != nil && f.Offset != 0 || f.State == StateTop):
		return verdict("invalid-free", l10n.T("heap.not-chunk-start", "Addr", hex(f.Address), "Describe", f.Said()))
	case f.UseAfterFree() && f.State == StateTop:
		return verdict("use-after-free", l10n.T("heap.in-top", "Addr", hex(f.Address), "Arena", f.ArenaName, "Chunk", hex(f.Chunk.Address)))
	case f.UseAfterFree():
		return verdict("use-after-free", l10n.T("heap.in-free-chunk", "Addr", hex(f.Address), "Offset", f.Offset, "Chunk", hex(f.Chunk.Address), "Size", hex(f.Chunk.Size), "Where", where))
	case f.Corruption():
		return verdict("heap-corruption", f.Said())
	}
	return verdict("", f.Said())
}

// Describe is the finding in one sentence, in English.
func (f *Finding) Describe() string { return f.Said().String() }

// Said is the finding in one sentence, in the catalog's words: where the
// address lies, the chunk's state, the free lists that hold it, and what
// is wrong with it.
func (f *Finding) Said() l10n.Msg {
	if !f.Known {
		return l10n.T("heap.cannot-tell", "Reason", l10n.Untranslated(f.Reason))
	}
	hex := func(v uint64) string { return fmt.Sprintf("%#x", v) }
	var m l10n.Msg
	switch f.State {
	case StateNotHeap:
		m = l10n.T("heap.not-heap", "Addr", hex(f.Address))
	case StateCorrupt:
		m = l10n.T("heap.chunk-lost", "Addr", hex(f.Address), "Arena", f.ArenaName)
	default:
		c := f.Chunk
		arena := l10n.Verbatim(f.ArenaName)
		if f.ArenaName == "" {
			arena = l10n.T("heap.no-arena")
		}
		m = l10n.T("heap.into-chunk", "Addr", hex(f.Address), "Offset", f.Offset, "Chunk", hex(c.Address), "Size", hex(c.Size),
			"Arena", arena, "State", f.State.Said())
		if len(f.Bins) > 0 {
			bins := make([]l10n.Msg, len(f.Bins))
			for i, bin := range f.Bins {
				bins[i] = bin.Msg()
			}
			m = l10n.T("heap.in-bins", "Finding", m, "Bins", l10n.Join("sep.and", bins...))
		}
	}
	for _, p := range f.Problems {
		m = l10n.T("heap.problem", "Finding", m, "Problem", l10n.Untranslated(p.Text))
	}
	return m
}

// Said is the state in the catalog's words.
func (s State) Said() l10n.Msg {
	switch s {
	case StateInUse, StateFree, StateTop, StateMmapped, StateNotHeap, StateCorrupt, StateUnknown:
		return l10n.T("heap.state-" + string(s))
	}
	return l10n.Verbatim(string(s))
}

// Locate says where addr lies in the heap. It is safe to call from several
// goroutines.
func (h *Heap) Locate(addr uint64) *Finding {
	f := &Finding{Address: addr, State: StateUnknown}
	if !h.Known {
		f.Reason = h.Reason
		return f
	}
	f.Known = true
	r := h.regionOf(addr)
	if r == nil {
		if c, ok := h.mmappedChunk(addr); ok {
			f.State, f.Chunk, f.How = StateMmapped, c, "an mmapped chunk: the first of its mapping, or after mmapped chunks from there"
			f.Offset = int64(addr) - int64(c.Mem)
			return f
		}
		f.State = StateNotHeap
		return f
	}
	f.Arena, f.ArenaName = r.arena.Address, r.arena.Name()
	x := h.index(r)
	start, raw, ok := x.chunkAt(addr, r.End, h.l)
	switch {
	case ok && (x.broken == 0 || start < x.broken):
		f.How = fmt.Sprintf("walked from the heap's start %#x (%d chunks)", r.Start, len(x.starts))
	default:
		why := ""
		if x.broken != 0 {
			why = fmt.Sprintf("the walk from the heap's start %#x stopped at chunk %#x: %s", r.Start, x.broken, x.brokenWhy)
			f.Problems = append(f.Problems, Problem{Kind: "header", Chunk: x.broken, Text: fmt.Sprintf("chunk %#x's header is overwritten: %s", x.broken, x.brokenWhy)})
		} else if x.truncated {
			why = fmt.Sprintf("the walk from the heap's start %#x stopped after %d chunks (the bound)", r.Start, h.o.MaxChunks)
		}
		if s, rw, found := h.searchBack(r, addr); found {
			start, raw = s, rw
			f.How = "searched back from the address: " + why
		} else {
			f.State = StateCorrupt
			f.How = why
			return f
		}
	}
	h.describeChunk(f, r, start, raw)
	return f
}

// regionOf finds the arena heap that contains addr.
func (h *Heap) regionOf(addr uint64) *Region {
	for _, ar := range h.Arenas {
		for i := range ar.Heaps {
			if r := &ar.Heaps[i]; addr >= r.Start && addr < r.End {
				return r
			}
		}
	}
	return nil
}

// describeChunk fills in the chunk at start and decides its state.
func (h *Heap) describeChunk(f *Finding, r *Region, start, raw uint64) {
	l := h.l
	sz := raw &^ sizeBits
	c := &Chunk{Address: start, Mem: start + l.hdr(), Size: sz, SizeField: raw,
		PrevInuse: raw&prevInuse != 0, Mmapped: raw&isMmapped != 0, NonMain: raw&nonMainArena != 0}
	f.Chunk = c
	f.Offset = int64(f.Address) - int64(c.Mem)
	c.End = start + sz + uint64(l.sizeSz)
	if start == r.arena.Top {
		f.State = StateTop
		c.Size, c.End = r.End-start, r.End
		return
	}
	fl := h.lists()
	f.Bins = append(f.Bins, fl.byChunk[start]...)
	if te, ok := fl.entries[start]; ok {
		f.Tcache = &te
	}
	for _, p := range fl.problems {
		if p.Chunk == start {
			f.Problems = append(f.Problems, p)
		}
	}
	if why := h.badSize(raw, start, r.End, false); why != "" {
		f.Problems = append(f.Problems, Problem{Kind: "header", Chunk: start, Text: fmt.Sprintf("chunk %#x's header is overwritten: %s", start, why)})
		f.State = StateCorrupt
		return
	}
	// The neighbour: its header must be a chunk's (or the top chunk's, or a
	// fencepost), its PREV_INUSE says whether this chunk is in use.
	next := start + sz
	var nextRaw uint64
	var nerr error
	if next < r.End {
		c.Next = next
		nextRaw, nerr = h.word(next + uint64(l.size))
		c.NextSizeField = nextRaw
		c.NextPrevSize, _ = h.word(next + uint64(l.prevSize))
		fence, fenceWhy := h.fencepost(next, nextRaw, r.End)
		if nerr == nil && next != r.arena.Top && !fence {
			why := fenceWhy
			if why == "" {
				why = h.badSize(nextRaw, next, r.End, false)
			}
			if why != "" {
				f.Problems = append(f.Problems, Problem{Kind: "next-header", Chunk: start, Text: fmt.Sprintf("the next chunk %#x's header is overwritten (%s): this chunk's size %#x, or what follows it, was overwritten", next, why, sz)})
			}
		}
	}
	inBins := len(f.Bins) > 0
	fastOrTcache := false
	for _, b := range f.Bins {
		fastOrTcache = fastOrTcache || b.Kind == "tcache" || b.Kind == "fastbin"
	}
	nextSaysFree := c.Next != 0 && nerr == nil && nextRaw&prevInuse == 0
	switch {
	case inBins:
		f.State = StateFree
	case nextSaysFree:
		f.State, f.FreeByNeighbour = StateFree, true
	default:
		f.State = StateInUse
	}
	if c.Next == 0 || nerr != nil {
		return
	}
	// Chunks in a tcache or fastbin stay "in use" to their neighbour; a
	// chunk in a regular bin has the neighbour's PREV_INUSE clear and its
	// size in the neighbour's prev_size (glibc: "corrupted size vs.
	// prev_size").
	switch {
	case fastOrTcache && nextSaysFree:
		f.Problems = append(f.Problems, Problem{Kind: "next-header", Chunk: start, Text: fmt.Sprintf("chunk %#x is in a tcache or fastbin, but the next chunk's PREV_INUSE is clear", start)})
	case inBins && !fastOrTcache && !nextSaysFree:
		f.Problems = append(f.Problems, Problem{Kind: "next-header", Chunk: start, Text: fmt.Sprintf("chunk %#x is in a bin, but the next chunk's PREV_INUSE is set", start)})
	}
	if f.State == StateFree && !fastOrTcache && c.NextPrevSize != sz {
		f.Problems = append(f.Problems, Problem{Kind: "prev-size", Chunk: start, Text: fmt.Sprintf("free chunk %#x has size %#x, the next chunk's prev_size says %#x (glibc: \"corrupted size vs. prev_size\")", start, sz, c.NextPrevSize)})
	}
	if f.State == StateInUse && r.arena.Main == c.NonMain && r.Kind != "mmapped" {
		f.Problems = append(f.Problems, Problem{Kind: "header", Chunk: start, Text: fmt.Sprintf("chunk %#x's NON_MAIN_ARENA bit says %v in %s", start, c.NonMain, r.arena.Name())})
	}
}

// searchBack looks for the chunk of addr when the walk from the heap's
// start cannot reach it: candidate headers at MALLOC_ALIGNMENT steps below
// addr (at most MaxBackSearch bytes), each accepted only when the chunks
// from it run, header after valid header, to the arena's top chunk or the
// heap's end.
func (h *Heap) searchBack(r *Region, addr uint64) (start, raw uint64, ok bool) {
	l := h.l
	step := uint64(l.align)
	lo := r.Start
	if addr > lo+uint64(h.o.MaxBackSearch) {
		lo = addr - uint64(h.o.MaxBackSearch)
	}
	first := (addr-r.Start)/step*step + r.Start
	for p := first; p >= lo && p >= r.Start; p -= step {
		sz, err := h.word(p + uint64(l.size))
		if err == nil && h.badSize(sz, p, r.End, false) == "" && p+(sz&^sizeBits) > addr && h.chainReachesEnd(r, p) {
			return p, sz, true
		}
		if p < step {
			break
		}
	}
	return 0, 0, false
}

// chainReachesEnd follows next_chunk() from p to the top chunk, a
// fencepost or the heap's end, at most MaxChunks steps.
func (h *Heap) chainReachesEnd(r *Region, p uint64) bool {
	l := h.l
	for n := 0; n < h.o.MaxChunks; n++ {
		if p == r.arena.Top || p == r.End {
			return true
		}
		raw, err := h.word(p + uint64(l.size))
		if err != nil {
			return false
		}
		sz := raw &^ sizeBits
		if fence, why := h.fencepost(p, raw, r.End); fence {
			return true
		} else if why != "" {
			return false
		}
		if h.badSize(raw, p, r.End, false) != "" {
			return false
		}
		p += sz
	}
	return false
}

// mmappedChunk finds an mmapped chunk holding addr: mmap'd chunks start at
// their mapping's start (prev_size holds the alignment correction, 0 for
// malloc), with IS_MMAPPED in their size field; adjacent mappings the
// kernel merged into one are walked chunk by chunk (bounded).
func (h *Heap) mmappedChunk(addr uint64) (*Chunk, bool) {
	l := h.l
	seg, ok := h.mem.SegmentAt(addr)
	if !ok || seg.Flags&2 == 0 { // PF_W
		return nil, false
	}
	end := seg.Vaddr + seg.Memsz
	p := seg.Vaddr
	for n := 0; n < h.o.MaxMmapped && p < end; n++ {
		prev, e1 := h.word(p + uint64(l.prevSize))
		raw, e2 := h.word(p + uint64(l.size))
		// malloc's mmapped chunks start their mapping (prev_size, the
		// alignment correction, is 0) and are whole pages.
		if e1 != nil || e2 != nil || raw&isMmapped == 0 || prev != 0 {
			return nil, false
		}
		sz := raw &^ sizeBits
		if sz < 4096 || sz&4095 != 0 || p+sz > end || p+sz < p {
			return nil, false
		}
		if addr < p+sz {
			return &Chunk{Address: p, Mem: p + l.hdr(), Size: sz, End: p + sz, SizeField: raw, Mmapped: true, PrevInuse: raw&prevInuse != 0}, true
		}
		p += sz
	}
	return nil, false
}

// AbortMessage is glibc's record of why it aborted (__abort_msg->msg,
// written by __libc_message, e.g. malloc_printerr's "free(): double free
// detected in tcache 2"), "" when there is none or it is not described.
func (h *Heap) AbortMessage() string {
	if h.l == nil || h.l.abortMsg == 0 {
		return ""
	}
	p, err := h.word(h.l.abortMsg)
	if err != nil || p == 0 {
		return ""
	}
	s, _ := h.mem.ReadCString(p+uint64(h.l.abortMsgOff), 1024)
	return strings.TrimRight(s, "\n")
}

// MallocError is the abort message when it is one of malloc's own
// (malloc_printerr's messages name the function that failed its check:
// "free(): …", "malloc(): …", "double free or corruption …", "corrupted …").
func (h *Heap) MallocError() string {
	m := h.AbortMessage()
	for _, p := range []string{"free(): ", "malloc(): ", "realloc(): ", "calloc(): ", "double free or corruption", "corrupted ", "malloc_consolidate(): ", "munmap_chunk(): ", "tcache_thread_shutdown(): ", "_int_malloc(): ", "_int_free(): "} {
		if strings.HasPrefix(m, p) {
			return m
		}
	}
	return ""
}

// FreedWord says what malloc keeps in the word at `at` of a free chunk —
// the words free() wrote over the program's data — and what the word
// holds: a tcache entry's safe-linked next and its key, a fastbin chunk's
// safe-linked fd, a binned chunk's fd and bk. ok is false when at is not
// such a word (or the chunk is not free). A pointer the program loaded
// from there is malloc's, not the program's: the signature of a use after
// free.
func (f *Finding) FreedWord(at uint64) (what string, ok bool) {
	if !f.Known || f.State != StateFree || f.Chunk == nil {
		return "", false
	}
	if te := f.Tcache; te != nil {
		switch at {
		case te.Entry:
			return fmt.Sprintf("tcache_entry.next of free chunk %#x: %#x, safe-linked (PROTECT_PTR: (%#x >> 12) ^ next), the next entry %#x", f.Chunk.Address, te.NextRaw, te.Entry, te.Next), true
		case te.Entry + 8:
			if te.KeyIsTcacheKey {
				return fmt.Sprintf("tcache_entry.key of free chunk %#x: tcache_key %#x, written by free()", f.Chunk.Address, te.Key), true
			}
			return fmt.Sprintf("tcache_entry.key of free chunk %#x: %#x, not tcache_key", f.Chunk.Address, te.Key), true
		}
		return "", false
	}
	for _, b := range f.Bins {
		switch {
		case b.Kind == "fastbin" && at == f.Chunk.Mem:
			return fmt.Sprintf("the fd of free chunk %#x in fastbin %d, safe-linked (PROTECT_PTR)", f.Chunk.Address, b.Index), true
		case b.Kind != "fastbin" && b.Kind != "tcache" && at == f.Chunk.Mem:
			return fmt.Sprintf("the fd of free chunk %#x in the %s bin %d", f.Chunk.Address, b.Kind, b.Index), true
		case b.Kind != "fastbin" && b.Kind != "tcache" && at == f.Chunk.Mem+8:
			return fmt.Sprintf("the bk of free chunk %#x in the %s bin %d", f.Chunk.Address, b.Kind, b.Index), true
		}
	}
	return "", false
}
