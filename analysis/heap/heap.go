// Package heap reads glibc malloc's own state from a core: the arenas
// (main_arena and the thread arenas after their heap_info), their heaps
// walked chunk by chunk, every thread's tcache, the fastbins and the
// unsorted, small and large bins. For an address it says which chunk the
// address lies in, whether that chunk is in use or free and where a free
// one is listed, and what in its metadata is inconsistent.
//
// Every layout comes from libc's DWARF (Debian's libc6-dbg: malloc_state,
// malloc_chunk, tcache_perthread_struct, tcache_entry, heap_info,
// malloc_par, and the variables main_arena, mp_, tcache_key and the
// thread-locals tcache and thread_arena), read through coreparse/symbols;
// no offset is assumed. Without that debug info Locate says it cannot
// tell, and why; it never guesses. Every walk is bounded (Options) and
// detects loops, so a corrupt heap gives findings, not a hang.
//
//	h := heap.Open(p, heap.Options{})
//	f := h.Locate(addr)
//	if f.UseAfterFree() { … f.Bins[0] … }
//
// The semantics mirror glibc 2.36's malloc/malloc.c and arena.c (Debian
// 12): chunk flags PREV_INUSE, IS_MMAPPED, NON_MAIN_ARENA; safe-linked
// tcache and fastbin next pointers (PROTECT_PTR: (&next >> 12) ^ ptr,
// glibc ≥ 2.32); tcache_entry.key set to tcache_key by free() (≥ 2.34).
package heap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/corefile"
)

// Options bound the walks. Zero values take the defaults.
type Options struct {
	MaxArenas     int // arenas read along main_arena.next (default 1024)
	MaxHeaps      int // heaps per thread arena along heap_info.prev (default 4096)
	MaxChunks     int // chunks walked per heap (default 4,000,000)
	MaxBinEntries int // entries walked per fastbin or bin (default 1,000,000)
	MaxMmapped    int // mmapped chunks walked in one mapping (default 65536)
	MaxBackSearch int // bytes searched back from an address for its chunk when the walk broke (default 1 MiB)
}

func (o Options) withDefaults() Options {
	if o.MaxArenas <= 0 {
		o.MaxArenas = 1024
	}
	if o.MaxHeaps <= 0 {
		o.MaxHeaps = 4096
	}
	if o.MaxChunks <= 0 {
		o.MaxChunks = 4_000_000
	}
	if o.MaxBinEntries <= 0 {
		o.MaxBinEntries = 1_000_000
	}
	if o.MaxMmapped <= 0 {
		o.MaxMmapped = 65536
	}
	if o.MaxBackSearch <= 0 {
		o.MaxBackSearch = 1 << 20
	}
	return o
}

// Heap is glibc's malloc state in one process.
type Heap struct {
	// Known is false when the state cannot be read (Reason says why):
	// every Locate then answers "cannot tell".
	Known    bool     `json:"known"`
	Reason   string   `json:"reason,omitempty"`
	Arenas   []*Arena `json:"arenas,omitempty"`
	Warnings []string `json:"warnings,omitempty"`

	p         *coreparse.Process
	mem       memory
	l         *layout
	o         Options
	listsOnce sync.Once
	free      *freeLists
	mu        sync.Mutex
}

// ErrCannotTell wraps every reason the heap's state cannot be read.
var ErrCannotTell = errors.New("glibc's heap state cannot be read")

// Open reads the arenas (a few words each); heaps are walked, and free
// lists read, on the first Locate that needs them. It never fails: a
// process without a described glibc malloc gives a Heap with Known false.
func Open(p *coreparse.Process, o Options) *Heap {
	return open(p, o, p.Core)
}

// memory is what the heap reads: the core (tests lay patches over it).
type memory interface {
	ReadAt(b []byte, addr uint64) (int, error)
	ReadUint64(addr uint64) (uint64, error)
	ReadUint32(addr uint64) (uint32, error)
	ReadCString(addr uint64, max int) (string, error)
	SegmentAt(addr uint64) (*corefile.Segment, bool)
}

func open(p *coreparse.Process, o Options, mem memory) *Heap {
	h := &Heap{p: p, o: o.withDefaults(), mem: mem}
	l, err := findLayout(p)
	if err != nil {
		h.Reason = err.Error()
		return h
	}
	h.l = l
	if _, err := h.word(l.mainArena); err != nil {
		h.Reason = fmt.Sprintf("main_arena (%#x) is not in the core: %v", l.mainArena, err)
		return h
	}
	h.Known = true
	for _, m := range p.Modules {
		if b := m.BaseName(); len(b) > 12 && (b[:12] == "libtcmalloc." || b[:12] == "libtcmalloc_") || len(b) > 11 && b[:11] == "libjemalloc" {
			h.warnf("the process loaded %s: what it allocated is not in glibc's heap, whose state below describes only what glibc's malloc handed out", b)
		}
	}
	h.readArenas()
	h.threadArenas()
	return h
}

func (h *Heap) warnf(format string, args ...any) {
	h.mu.Lock()
	h.Warnings = append(h.Warnings, fmt.Sprintf(format, args...))
	h.mu.Unlock()
}

func (h *Heap) word(addr uint64) (uint64, error) { return h.mem.ReadUint64(addr) }

func (h *Heap) word32(addr uint64) (uint32, error) { return h.mem.ReadUint32(addr) }

// readN reads an n-byte little-endian unsigned integer (n ≤ 8).
func (h *Heap) readN(addr uint64, n int) (uint64, error) {
	if n <= 0 || n > 8 {
		return 0, fmt.Errorf("integer of %d bytes", n)
	}
	var b [8]byte
	if k, err := h.mem.ReadAt(b[:n], addr); k < n {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// Tcaches lists every thread's tcache (the non-empty bins' counts).
func (h *Heap) Tcaches() []Tcache {
	if !h.Known {
		return nil
	}
	return h.lists().tcaches
}

// Problems lists what the free lists' walk found inconsistent, anywhere in
// the heap (a Finding lists those of its own chunk).
func (h *Heap) Problems() []Problem {
	if !h.Known {
		return nil
	}
	return h.lists().problems
}

// TcacheNextIs lists the tcache entries (their memory: what malloc
// returned for the chunk) whose stored next word, as free() wrote it
// (safe-linked), is v: a pointer the program loaded from such a word is
// malloc's, read out of memory it had freed. Sorted; at most max.
func (h *Heap) TcacheNextIs(v uint64, max int) []uint64 {
	if !h.Known || v == 0 {
		return nil
	}
	var out []uint64
	for _, e := range h.lists().entries {
		if e.NextRaw == v {
			out = append(out, e.Entry)
		}
	}
	slices.Sort(out)
	if len(out) > max {
		out = out[:max]
	}
	return out
}
