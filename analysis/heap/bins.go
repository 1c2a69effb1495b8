package heap

import (
	"fmt"

	"github.com/dsecore/dsecore/internal/l10n"
)

// BinRef says where a free chunk is listed.
type BinRef struct {
	// Kind is "tcache", "fastbin", "unsorted", "small" or "large".
	Kind string `json:"kind"`
	// Index is the tcache's tc_idx, the fastbin's index, or the bin number
	// (1 unsorted, 2…63 small, 64…126 large), as malloc.c numbers them.
	Index int `json:"index"`
	// Position in the list: 0 is the head (the next chunk malloc hands out
	// from a tcache or fastbin).
	Position int `json:"position"`
	// Count is tcache's counts[Index], or the entries walked in the list.
	Count int `json:"count"`
	// Thread and ThreadName: whose tcache (tcache entries only).
	Thread     int    `json:"thread,omitempty"`
	ThreadName string `json:"thread_name,omitempty"`
	// Arena whose fastbin or bin lists the chunk.
	Arena uint64 `json:"arena,omitempty" hex:""`
}

// String: "thread LWP 12 (Processer_5)'s tcache bin 29, entry #0 of 1".
func (b BinRef) String() string {
	switch b.Kind {
	case "tcache":
		who := fmt.Sprintf("thread LWP %d", b.Thread)
		if b.ThreadName != "" {
			who += " (" + b.ThreadName + ")"
		}
		return fmt.Sprintf("%s's tcache bin %d, entry #%d of %d", who, b.Index, b.Position, b.Count)
	case "fastbin":
		return fmt.Sprintf("fastbin %d of arena %#x, entry #%d", b.Index, b.Arena, b.Position)
	}
	return fmt.Sprintf("%s bin %d of arena %#x, entry #%d", b.Kind, b.Index, b.Arena, b.Position)
}

// Msg is String in the catalog's words.
func (b BinRef) Msg() l10n.Msg {
	switch b.Kind {
	case "tcache":
		who := l10n.T("who.thread", "LWP", b.Thread)
		if b.ThreadName != "" {
			who = l10n.T("who.thread-named", "LWP", b.Thread, "Name", b.ThreadName)
		}
		return l10n.T("heap.bin-tcache", "Who", who, "Index", b.Index, "Position", b.Position, "N", b.Count)
	case "fastbin":
		return l10n.T("heap.bin-fast", "Index", b.Index, "Arena", fmt.Sprintf("%#x", b.Arena), "Position", b.Position)
	}
	return l10n.T("heap.bin-other", "Kind", b.Kind, "Index", b.Index, "Arena", fmt.Sprintf("%#x", b.Arena), "Position", b.Position)
}

// Tcache is one thread's tcache_perthread_struct.
type Tcache struct {
	Thread     int    `json:"thread"`
	ThreadName string `json:"thread_name,omitempty"`
	Address    uint64 `json:"address" hex:""`
	// Counts are the non-empty bins' counts[] (tc_idx → count).
	Counts map[int]int `json:"counts"`
}

// TcacheEntry is what a chunk in a tcache bin holds in its first words:
// tcache_entry.next, safe-linked (PROTECT_PTR: (&next >> 12) ^ ptr), and
// tcache_entry.key, which free() sets to tcache_key.
type TcacheEntry struct {
	Entry          uint64 `json:"entry" hex:""`      // the tcache_entry: the chunk's memory
	NextRaw        uint64 `json:"next_raw" hex:""`   // the word as stored
	Next           uint64 `json:"next" hex:""`       // REVEAL_PTR of it: the next entry, 0 at the end of the bin
	Key            uint64 `json:"key" hex:""`        // the key word
	KeyIsTcacheKey bool   `json:"key_is_tcache_key"` // free() wrote it (a double free of it is what glibc detects)
}

// freeLists is every free list read once: which chunks they list, and
// what was wrong with them.
type freeLists struct {
	byChunk  map[uint64][]BinRef
	entries  map[uint64]TcacheEntry // by chunk
	problems []Problem
	tcaches  []Tcache
}

// Problem is something inconsistent in the heap's metadata.
type Problem struct {
	// Kind: "header" (a chunk's size field cannot be one), "next-header"
	// (the next chunk's header contradicts this one), "prev-size" (the
	// next chunk's prev_size is not this free chunk's size), "bin-link" (a
	// free list's link is broken), "bin-size" (a chunk in a bin of another
	// size), "bad-fd" (a free chunk's fd word is a bad pointer: written
	// after the free), "bin-loop", "tcache-key", "tcache-count",
	// "multiple-lists".
	Kind  string `json:"kind"`
	Chunk uint64 `json:"chunk,omitempty" hex:""`
	Text  string `json:"text"`
}

func (h *Heap) lists() *freeLists {
	h.listsOnce.Do(func() {
		f := &freeLists{byChunk: map[uint64][]BinRef{}, entries: map[uint64]TcacheEntry{}}
		h.readTcaches(f)
		for _, ar := range h.Arenas {
			h.readFastbins(f, ar)
			h.readBins(f, ar)
		}
		for c, refs := range f.byChunk {
			if len(refs) > 1 {
				f.problems = append(f.problems, Problem{Kind: "multiple-lists", Chunk: c,
					Text: fmt.Sprintf("chunk %#x is listed %d times (%s and %s): freed twice, or a list is corrupt", c, len(refs), refs[0], refs[1])})
			}
		}
		h.free = f
	})
	return h.free
}

func (f *freeLists) add(chunk uint64, b BinRef) { f.byChunk[chunk] = append(f.byChunk[chunk], b) }

// reveal is REVEAL_PTR: a safe-linked pointer stored at pos.
func reveal(pos, stored uint64) uint64 { return (pos >> 12) ^ stored }

// readTcaches walks every thread's tcache bins: entries[i] (a
// tcache_entry, the chunk's memory) and its revealed next links, at most
// counts[i] (and mp_.tcache_count) entries plus a margin, stopping at a
// misaligned entry or a loop as glibc would fail there.
func (h *Heap) readTcaches(f *freeLists) {
	l := h.l
	if !l.hasTcache || !l.hasTcacheTLS {
		h.warnf("glibc's DWARF describes no tcache: per-thread caches are not read")
		return
	}
	nbins := int(l.nTcache)
	if l.hasMpTcache {
		if n, err := h.word(l.mp + uint64(l.mpTcacheBins)); err == nil && n > 0 && int(n) < nbins {
			nbins = int(n)
		}
	}
	maxCount := 0
	if l.hasMpTcache {
		if n, err := h.word(l.mp + uint64(l.mpTcacheCount)); err == nil && n < 1<<16 {
			maxCount = int(n)
		}
	}
	key, hasKey := uint64(0), false
	if l.hasTcacheKey {
		k, err := h.word(l.tcacheKey)
		key, hasKey = k, err == nil
	}
	for _, t := range h.p.Threads {
		at, err := h.p.TLSAddress(t, l.mod, l.tcacheTLS)
		if err != nil {
			h.warnf("thread LWP %d: its tcache pointer cannot be found (%v)", t.LWP, err)
			continue
		}
		tc, err := h.word(at)
		if err != nil || tc == 0 {
			continue // no tcache (never allocated, or shut down)
		}
		tcr := Tcache{Thread: t.LWP, ThreadName: t.Name, Address: tc, Counts: map[int]int{}}
		for i := 0; i < nbins; i++ {
			count := 0
			if c, err := h.readN(tc+uint64(l.tcCounts)+uint64(int64(i)*l.tcCountSize), int(l.tcCountSize)); err == nil {
				count = int(c)
			}
			e, err := h.word(tc + uint64(l.tcEntries) + uint64(i)*8)
			if err != nil || (e == 0 && count == 0) {
				continue
			}
			tcr.Counts[i] = count
			limit := max(count, maxCount) + 8
			seen := map[uint64]bool{}
			n := 0
			for ; e != 0 && n < limit; n++ {
				if e&uint64(l.align-1) != 0 {
					f.problems = append(f.problems, Problem{Kind: "bin-link", Chunk: e - l.hdr(), Text: fmt.Sprintf("thread LWP %d's tcache bin %d: entry #%d at %#x is misaligned (glibc: \"unaligned tcache chunk detected\")", t.LWP, i, n, e)})
					break
				}
				if seen[e] {
					f.problems = append(f.problems, Problem{Kind: "bin-loop", Chunk: e - l.hdr(), Text: fmt.Sprintf("thread LWP %d's tcache bin %d loops back to %#x after %d entries", t.LWP, i, e, n)})
					break
				}
				seen[e] = true
				raw, err := h.word(e + uint64(l.teNext))
				if err != nil {
					f.problems = append(f.problems, Problem{Kind: "bin-link", Chunk: e - l.hdr(), Text: fmt.Sprintf("thread LWP %d's tcache bin %d: entry #%d at %#x is not in the core", t.LWP, i, n, e)})
					break
				}
				k, _ := h.word(e + uint64(l.teKey))
				te := TcacheEntry{Entry: e, NextRaw: raw, Next: reveal(e+uint64(l.teNext), raw), Key: k, KeyIsTcacheKey: hasKey && k == key}
				chunk := e - l.hdr()
				f.entries[chunk] = te
				f.add(chunk, BinRef{Kind: "tcache", Index: i, Position: n, Count: count, Thread: t.LWP, ThreadName: t.Name})
				if hasKey && !te.KeyIsTcacheKey {
					f.problems = append(f.problems, Problem{Kind: "tcache-key", Chunk: chunk, Text: fmt.Sprintf("chunk %#x in thread LWP %d's tcache bin %d: its key word %#x is not tcache_key: written after it was freed", chunk, t.LWP, i, k)})
				}
				if sz, err := h.word(chunk + uint64(l.size)); err == nil {
					if want := h.tcacheIndex(sz &^ sizeBits); want != i {
						f.problems = append(f.problems, Problem{Kind: "bin-size", Chunk: chunk, Text: fmt.Sprintf("chunk %#x of size %#x sits in tcache bin %d, which holds chunks of bin %d's size: its size field was overwritten", chunk, sz&^sizeBits, i, want)})
					}
				}
				e = te.Next
			}
			if n != count {
				f.problems = append(f.problems, Problem{Kind: "tcache-count", Text: fmt.Sprintf("thread LWP %d's tcache bin %d: counts[%d] is %d, the list has %d entries", t.LWP, i, i, count, n)})
			}
		}
		f.tcaches = append(f.tcaches, tcr)
	}
}

// tcacheIndex is csize2tidx: (size - MINSIZE + MALLOC_ALIGNMENT - 1) / MALLOC_ALIGNMENT.
func (h *Heap) tcacheIndex(size uint64) int {
	if size < h.l.minSize() {
		return -1
	}
	return int((size - h.l.minSize() + uint64(h.l.align) - 1) / uint64(h.l.align))
}

// fastbinIndex is fastbin_index: (size >> (SIZE_SZ == 8 ? 4 : 3)) - 2.
func (h *Heap) fastbinIndex(size uint64) int {
	shift := 3
	if h.l.sizeSz == 8 {
		shift = 4
	}
	return int(size>>shift) - 2
}

// binIndex is bin_index for 64-bit glibc: small bins below MIN_LARGE_SIZE
// (64 bins of MALLOC_ALIGNMENT), then largebin_index_64.
func (h *Heap) binIndex(sz uint64) int {
	const nSmallBins = 64 // NSMALLBINS: NBINS / 2
	width := uint64(h.l.align)
	if sz < nSmallBins*width {
		return int(sz / width)
	}
	switch {
	case sz>>6 <= 48:
		return 48 + int(sz>>6)
	case sz>>9 <= 20:
		return 91 + int(sz>>9)
	case sz>>12 <= 10:
		return 110 + int(sz>>12)
	case sz>>15 <= 4:
		return 119 + int(sz>>15)
	case sz>>18 <= 2:
		return 124 + int(sz>>18)
	}
	return 126
}

// readFastbins walks an arena's fastbinsY[]: singly linked through fd,
// safe-linked like the tcache.
func (h *Heap) readFastbins(f *freeLists, ar *Arena) {
	l := h.l
	for i := 0; i < int(l.nFastbins); i++ {
		p, err := h.word(ar.Address + uint64(l.stFastbins) + uint64(i)*8)
		seen := map[uint64]bool{}
		from := uint64(0) // the chunk whose fd gave p; 0: the arena's fastbinsY[i]
		for n := 0; err == nil && p != 0; n++ {
			if n >= h.o.MaxBinEntries {
				h.warnf("%s fastbin %d: more than %d entries, the rest are not read", ar.Name(), i, h.o.MaxBinEntries)
				break
			}
			if (p+l.hdr())&uint64(l.align-1) != 0 || !h.readable(p) {
				why := "misaligned (glibc: \"unaligned fastbin chunk detected\")"
				if (p+l.hdr())&uint64(l.align-1) == 0 {
					why = "not in the core"
				}
				f.problems = append(f.problems, Problem{Kind: "bin-link", Chunk: p, Text: fmt.Sprintf("%s fastbin %d: entry #%d at %#x is %s", ar.Name(), i, n, p, why)})
				if from != 0 {
					f.problems = append(f.problems, Problem{Kind: "bad-fd", Chunk: from, Text: fmt.Sprintf("free chunk %#x in fastbin %d of %s: its fd word, revealed, is %#x, which is %s: the chunk's memory was written after it was freed", from, i, ar.Name(), p, why)})
				}
				break
			}
			if seen[p] {
				f.problems = append(f.problems, Problem{Kind: "bin-loop", Chunk: p, Text: fmt.Sprintf("%s fastbin %d loops back to %#x after %d entries", ar.Name(), i, p, n)})
				break
			}
			seen[p] = true
			f.add(p, BinRef{Kind: "fastbin", Index: i, Position: n, Arena: ar.Address})
			if sz, err := h.word(p + uint64(l.size)); err == nil && h.fastbinIndex(sz&^sizeBits) != i {
				f.problems = append(f.problems, Problem{Kind: "bin-size", Chunk: p, Text: fmt.Sprintf("chunk %#x of size %#x sits in fastbin %d of %s (glibc: \"invalid fastbin entry\")", p, sz&^sizeBits, i, ar.Name())})
			}
			var raw uint64
			raw, err = h.word(p + uint64(l.fd))
			if err != nil {
				f.problems = append(f.problems, Problem{Kind: "bin-link", Chunk: p, Text: fmt.Sprintf("%s fastbin %d: entry #%d at %#x is not in the core", ar.Name(), i, n, p)})
				break
			}
			from, p = p, reveal(p+uint64(l.fd), raw)
		}
	}
}

// readable: a chunk header at c can be read from the core.
func (h *Heap) readable(c uint64) bool {
	_, err := h.word(c + uint64(h.l.size))
	return err == nil
}

// readBins walks an arena's doubly linked bins from each bin header
// (bin_at: &bins[(i-1)*2] - offsetof(malloc_chunk, fd)) along fd until it
// comes back, checking every bk.
func (h *Heap) readBins(f *freeLists, ar *Arena) {
	l := h.l
	nbins := int(l.nBinWords/2) + 1 // NBINS: bins[] has NBINS * 2 - 2 words
	for i := 1; i < nbins; i++ {
		head := ar.Address + uint64(l.stBins) + uint64((i-1)*2)*8 - uint64(l.fd)
		kind := "large"
		switch {
		case i == 1:
			kind = "unsorted"
		case i < nbins/2:
			kind = "small"
		}
		prev := head
		cur, err := h.word(head + uint64(l.fd))
		seen := map[uint64]bool{}
		var refs []uint64
		for n := 0; err == nil && cur != head; n++ {
			if n >= h.o.MaxBinEntries {
				h.warnf("%s %s bin %d: more than %d entries, the rest are not read", ar.Name(), kind, i, h.o.MaxBinEntries)
				break
			}
			if cur == 0 || seen[cur] {
				f.problems = append(f.problems, Problem{Kind: "bin-loop", Chunk: prev, Text: fmt.Sprintf("%s %s bin %d: the list does not come back to its header (fd %#x after %d entries)", ar.Name(), kind, i, cur, n)})
				if cur == 0 && prev != head {
					f.problems = append(f.problems, Problem{Kind: "bad-fd", Chunk: prev, Text: fmt.Sprintf("free chunk %#x in %s bin %d of %s: its fd word is NULL: the chunk's memory was written after it was freed", prev, kind, i, ar.Name())})
				}
				break
			}
			seen[cur] = true
			bk, e1 := h.word(cur + uint64(l.bk))
			if e1 != nil || (cur+l.hdr())&uint64(l.align-1) != 0 {
				why := "not in the core"
				if e1 == nil {
					why = "misaligned"
				}
				f.problems = append(f.problems, Problem{Kind: "bin-link", Chunk: cur, Text: fmt.Sprintf("%s %s bin %d: entry #%d at %#x is %s", ar.Name(), kind, i, n, cur, why)})
				if prev != head {
					f.problems = append(f.problems, Problem{Kind: "bad-fd", Chunk: prev, Text: fmt.Sprintf("free chunk %#x in %s bin %d of %s: its fd word is %#x, which is %s: the chunk's memory was written after it was freed", prev, kind, i, ar.Name(), cur, why)})
				}
				break
			}
			if bk != prev {
				f.problems = append(f.problems, Problem{Kind: "bin-link", Chunk: cur, Text: fmt.Sprintf("%s %s bin %d: chunk %#x's bk is %#x, not the chunk before it %#x (glibc: \"corrupted double-linked list\")", ar.Name(), kind, i, cur, bk, prev)})
			}
			if sz, err := h.word(cur + uint64(l.size)); err == nil && kind != "unsorted" && h.binIndex(sz&^sizeBits) != i {
				f.problems = append(f.problems, Problem{Kind: "bin-size", Chunk: cur, Text: fmt.Sprintf("chunk %#x of size %#x sits in %s bin %d of %s", cur, sz&^sizeBits, kind, i, ar.Name())})
			}
			refs = append(refs, cur)
			prev = cur
			cur, err = h.word(cur + uint64(l.fd))
		}
		for pos, c := range refs {
			f.add(c, BinRef{Kind: kind, Index: i, Position: pos, Count: len(refs), Arena: ar.Address})
		}
	}
}

// threadArenas records which threads use which arena (thread_arena).
func (h *Heap) threadArenas() {
	l := h.l
	if !l.hasThreadArenaTLS {
		return
	}
	by := map[uint64]*Arena{}
	for _, a := range h.Arenas {
		by[a.Address] = a
	}
	for _, t := range h.p.Threads {
		at, err := h.p.TLSAddress(t, l.mod, l.threadArenaTLS)
		if err != nil {
			continue
		}
		if a, err := h.word(at); err == nil {
			if ar := by[a]; ar != nil {
				ar.Threads = append(ar.Threads, t.LWP)
			}
		}
	}
}
