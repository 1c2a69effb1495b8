package heap

import (
	"fmt"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/symbols"
)

// layout is glibc's malloc structures as libc's own DWARF describes them:
// every offset and count below is read from the debug info (libc6-dbg),
// none is assumed. The few constants glibc does not describe in DWARF
// (MALLOC_ALIGNMENT, the safe-linking shift, HEAP_MAX_SIZE) are derived
// from described sizes as malloc.c derives them, and checked against the
// core's data where they are used.
type layout struct {
	mod *coreparse.Module

	sizeSz int64 // SIZE_SZ: sizeof(INTERNAL_SIZE_T), the chunk's size field
	align  int64 // MALLOC_ALIGNMENT: 2 * SIZE_SZ on x86-64 (malloc-alignment.h)

	// struct malloc_chunk
	prevSize, size, fd, bk, fdNext, bkNext int64
	minChunk                               int64 // MIN_CHUNK_SIZE = offsetof(malloc_chunk, fd_nextsize)

	// struct malloc_state
	stFlags, stFastbins, stTop, stLastRem, stBins, stNext, stSystemMem int64
	nFastbins, nBinWords                                               int64
	stateSize                                                          int64

	// struct _heap_info (arena.c): absent from a libc without non-main arenas
	hiArena, hiPrev, hiSize int64
	heapInfoSize            int64

	// tcache_perthread_struct, tcache_entry (absent without USE_TCACHE)
	tcCounts, tcEntries, tcCountSize, nTcache int64
	teNext, teKey                             int64
	hasTcache                                 bool

	// struct malloc_par (mp_)
	mpSbrkBase, mpTcacheBins, mpTcacheCount, mpHpPagesize int64
	hasMpTcache, hasHpPagesize                            bool

	// Addresses (runtime) of the globals, TLS offsets of the thread-locals.
	mainArena, mp, tcacheKey uint64
	hasTcacheKey             bool
	tcacheTLS                uint64
	hasTcacheTLS             bool
	threadArenaTLS           uint64
	hasThreadArenaTLS        bool
	abortMsg                 uint64 // &__abort_msg, 0 when not described
	abortMsgOff              int64  // offsetof(struct abort_msg_s, msg)
}

// minSize is MINSIZE: MIN_CHUNK_SIZE rounded up to MALLOC_ALIGNMENT.
func (l *layout) minSize() uint64 {
	return uint64((l.minChunk + l.align - 1) &^ (l.align - 1))
}

// hdr is CHUNK_HDR_SZ, the two size words before a chunk's memory.
func (l *layout) hdr() uint64 { return uint64(2 * l.sizeSz) }

// Chunk size field bits (malloc.c: PREV_INUSE, IS_MMAPPED, NON_MAIN_ARENA):
// the low bits of a size that is a multiple of MALLOC_ALIGNMENT are flags.
const (
	prevInuse    = 0x1
	isMmapped    = 0x2
	nonMainArena = 0x4
	sizeBits     = prevInuse | isMmapped | nonMainArena
)

// errNoMalloc says the process has no glibc malloc whose state is
// described: no module defines main_arena with the malloc_state type.
type errNoMalloc struct{ why string }

func (e *errNoMalloc) Error() string { return e.why }

// findLayout reads the layout from the module that defines main_arena.
func findLayout(p *coreparse.Process) (*layout, error) {
	var libc *coreparse.Module
	for _, m := range p.Modules {
		if m.Syms == nil {
			continue
		}
		if m.Syms.HasDWARF() {
			if _, ok := m.Syms.LookupGlobal("main_arena"); ok {
				return readLayout(m)
			}
		}
		if isLibc(m) {
			libc = m
		}
	}
	if libc != nil {
		return nil, &errNoMalloc{fmt.Sprintf("%s has no debug info (Debian: libc6-dbg): glibc's heap state cannot be read, so whether an address is allocated or free cannot be told", libc.BaseName())}
	}
	return nil, &errNoMalloc{"no module of the process describes glibc's malloc (main_arena): the heap's state cannot be told"}
}

func isLibc(m *coreparse.Module) bool {
	b := m.BaseName()
	return len(b) >= 7 && b[:7] == "libc.so" || len(b) > 5 && b[:5] == "libc-"
}

// readLayout resolves every offset the heap reader uses from m's DWARF.
func readLayout(m *coreparse.Module) (*layout, error) {
	t := m.Syms
	l := &layout{mod: m}
	st := &structReader{t: t}

	chunk := st.typ("malloc_chunk")
	l.prevSize = st.off(chunk, "mchunk_prev_size")
	l.size = st.off(chunk, "mchunk_size")
	l.fd = st.off(chunk, "fd")
	l.bk = st.off(chunk, "bk")
	l.fdNext = st.off(chunk, "fd_nextsize")
	l.bkNext = st.off(chunk, "bk_nextsize")
	l.minChunk = l.fdNext
	l.sizeSz = st.memberSize(chunk, "mchunk_size")
	l.align = 2 * l.sizeSz

	state := st.typ("malloc_state")
	l.stFlags = st.off(state, "flags")
	l.stFastbins = st.off(state, "fastbinsY")
	l.nFastbins = st.count(state, "fastbinsY")
	l.stTop = st.off(state, "top")
	l.stLastRem = st.off(state, "last_remainder")
	l.stBins = st.off(state, "bins")
	l.nBinWords = st.count(state, "bins")
	l.stNext = st.off(state, "next")
	l.stSystemMem = st.off(state, "system_mem")
	if state != nil {
		l.stateSize = state.Size
	}

	par := st.typ("malloc_par")
	l.mpSbrkBase = st.off(par, "sbrk_base")
	if st.err != nil {
		return nil, st.err
	}
	if hi, ok := t.LookupType("_heap_info"); ok {
		o := &structReader{t: t}
		l.hiArena, l.hiPrev, l.hiSize, l.heapInfoSize = o.off(hi, "ar_ptr"), o.off(hi, "prev"), o.off(hi, "size"), hi.Size
		if o.err != nil {
			l.heapInfoSize = 0
		}
	}
	if tc, ok := t.LookupType("tcache_perthread_struct"); ok {
		o := &structReader{t: t}
		l.tcCounts, l.tcEntries = o.off(tc, "counts"), o.off(tc, "entries")
		l.nTcache = o.count(tc, "entries")
		l.tcCountSize = o.elemSize(tc, "counts")
		if te, ok := t.LookupType("tcache_entry"); ok {
			l.teNext, l.teKey = o.off(te, "next"), o.off(te, "key")
		} else {
			o.err = fmt.Errorf("no tcache_entry type")
		}
		o2 := &structReader{t: t}
		l.mpTcacheBins, l.mpTcacheCount = o2.off(par, "tcache_bins"), o2.off(par, "tcache_count")
		l.hasMpTcache = o2.err == nil
		l.hasTcache = o.err == nil
	}
	if o := (&structReader{t: t}); true {
		l.mpHpPagesize = o.off(par, "hp_pagesize")
		l.hasHpPagesize = o.err == nil
	}

	g, _ := t.LookupGlobal("main_arena")
	l.mainArena = g.Addr + m.Bias
	mp, ok := t.LookupGlobal("mp_")
	if !ok {
		return nil, fmt.Errorf("%s: no mp_ (malloc_par) in its DWARF", m.BaseName())
	}
	l.mp = mp.Addr + m.Bias
	if k, ok := t.LookupGlobal("tcache_key"); ok {
		l.tcacheKey, l.hasTcacheKey = k.Addr+m.Bias, true
	}
	if v, ok := t.LookupTLSGlobal("tcache"); ok {
		l.tcacheTLS, l.hasTcacheTLS = v.Addr, true
	}
	if v, ok := t.LookupTLSGlobal("thread_arena"); ok {
		l.threadArenaTLS, l.hasThreadArenaTLS = v.Addr, true
	}
	if a, ok := t.LookupGlobal("__abort_msg"); ok {
		if am, ok := t.LookupType("abort_msg_s"); ok {
			o := &structReader{t: t}
			if off := o.off(am, "msg"); o.err == nil {
				l.abortMsg, l.abortMsgOff = a.Addr+m.Bias, off
			}
		}
	}
	return l, nil
}

// structReader collects the first failure of a series of type look-ups.
type structReader struct {
	t   *symbols.Table
	err error
}

func (s *structReader) typ(name string) *symbols.Type {
	ty, ok := s.t.LookupType(name)
	if !ok && s.err == nil {
		s.err = fmt.Errorf("no type %s in glibc's DWARF", name)
	}
	return ty
}

func (s *structReader) member(ty *symbols.Type, name string) (int64, *symbols.Type) {
	if ty == nil {
		return 0, nil
	}
	off, mt, err := s.t.FieldOffset(ty, []string{name})
	if err != nil {
		if s.err == nil {
			s.err = fmt.Errorf("glibc's %s: %v", ty.Name, err)
		}
		return 0, nil
	}
	return off, mt
}

func (s *structReader) off(ty *symbols.Type, name string) int64 {
	off, _ := s.member(ty, name)
	return off
}

func (s *structReader) memberSize(ty *symbols.Type, name string) int64 {
	_, mt := s.member(ty, name)
	if mt == nil {
		return 0
	}
	n := s.t.SizeOf(mt.Offset)
	if n <= 0 && s.err == nil {
		s.err = fmt.Errorf("glibc's %s.%s has no size", ty.Name, name)
	}
	return n
}

// count is the element count of an array member.
func (s *structReader) count(ty *symbols.Type, name string) int64 {
	_, mt := s.member(ty, name)
	if mt == nil {
		return 0
	}
	if mt.Kind != symbols.KindArray || mt.Count <= 0 {
		if s.err == nil {
			s.err = fmt.Errorf("glibc's %s.%s is not an array of known length", ty.Name, name)
		}
		return 0
	}
	return mt.Count
}

// elemSize is the element size of an array member.
func (s *structReader) elemSize(ty *symbols.Type, name string) int64 {
	_, mt := s.member(ty, name)
	if mt == nil || mt.Kind != symbols.KindArray {
		if s.err == nil {
			s.err = fmt.Errorf("glibc's %s.%s is not an array", ty.Name, name)
		}
		return 0
	}
	return s.t.SizeOf(mt.Elem)
}
