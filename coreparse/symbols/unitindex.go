package symbols

import (
	"debug/dwarf"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"

	"github.com/dsecore/dsecore/internal/par"
)

// A compile unit as runs have read it is kept in the persistent index
// (index-v2-<sizes>/unit-<offset>), so that the next run of any core of the same
// build maps it instead of decoding its line program and walking its DIEs
// again. The file holds the unit's skeleton, decoded when the unit is first
// needed: the facts of its entry, its line rows and file names, the naming
// facts of the DIEs the first pass reads, its concrete functions (ranges,
// entry), its skipped subtrees. Then the parts runs have read beyond that,
// each decoded only when it is needed again: a function's body (inline
// instances, call sites and their parameters, nested functions, the naming
// facts inside) or a skipped subtree's naming facts. A part read from DWARF
// in this run marks the unit dirty; the table's Close writes it again with
// every part, those it decoded and those it only carried.
//
// A file that does not check out (the index's magic, CRC and section
// sizes), or a part that does not decode (an offset outside .debug_info, a
// count the payload cannot hold), is not used: the unit, or the part, is
// read from DWARF as before. A part whose key the unit has no function or
// subtree for is never asked for, and not written again.
func unitPart(off dwarf.Offset) string { return fmt.Sprintf("unit-%x", uint64(off)) }

// maxScopeDepth bounds the nesting of scopes a unit file may describe
// (inline instances inside inline instances): a crafted file cannot
// exhaust the stack.
const maxScopeDepth = 1024

// Parts of a unit file after its skeleton, keyed by partKey.
const (
	partBody    = 0 // a lazy function's body, by the function's DIE
	partSkipped = 1 // a skipped subtree's naming facts, by its DIE
)

func partKey(kind int, off dwarf.Offset) uint64 { return uint64(off)<<1 | uint64(kind) }

// loadUnit reads a unit from the persistent index; nil when there is none
// or it does not check out.
func (t *Table) loadUnit(off dwarf.Offset) *cuInfo {
	b, ok := t.mapIndex(t.indexPath(t.indexID, t.indexKey, unitPart(off)), t.indexKey)
	if !ok {
		return nil
	}
	cu, ok := t.decodeUnit(off, b)
	if !ok {
		return nil
	}
	return cu
}

// flushUnits writes the units this run read more of than the index had.
func (t *Table) flushUnits() {
	if t.indexID == "" || t.cacheDir() == "" || t.dwarf == nil {
		return
	}
	t.mu.Lock()
	clean := len(t.warnings) == 0
	var dirty []*cuInfo
	for _, e := range t.cuCache {
		if e.cu != nil && e.cu.dirty.Load() {
			dirty = append(dirty, e.cu)
		}
	}
	t.mu.Unlock()
	if !clean || len(dirty) == 0 || t.deferWrite() {
		return // a table that read with errors keeps nothing
	}
	par.Do(len(dirty), func(i int) {
		cu := dirty[i]
		t.writeIndex(t.indexPath(t.indexID, t.indexKey, unitPart(cu.off)), t.indexKey, cu.encode())
		cu.dirty.Store(false)
	})
}

func flag(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// encode writes the unit's skeleton, then every part read, in this run or
// an earlier one.
func (cu *cuInfo) encode() []byte {
	e := enc{b: make([]byte, 0, 4096+lineRecord*cu.lines.len()+64*len(cu.dies))}
	e.u8(flag(cu.isC))
	e.u64(cu.base)
	e.u64(uint64(cu.addrBase))
	e.u32(uint32(cu.lines.len()))
	if cu.lines.raw != nil {
		e.b = append(e.b, cu.lines.raw...)
	} else {
		for _, r := range cu.lines.rows {
			e.b = r.appendRecord(e.b)
		}
	}
	strs := func(l []string) {
		e.u32(uint32(len(l)))
		for _, s := range l {
			e.str(s)
		}
	}
	strs(cu.fileNames)
	strs(cu.files)
	if cu.skelTable != nil {
		e.b = append(e.b, cu.skelTable.raw...)
	} else {
		cu.encodeDies(&e, cu.skel)
	}
	e.u32(uint32(len(cu.skips)))
	for i := range cu.skips {
		s := &cu.skips[i]
		e.u64(uint64(s.start))
		e.u64(uint64(s.end))
	}
	fns := encodeFuncRanges(&e, cu.funcs, encodeScopeHead)

	// The parts: those read now, encoded; those carried, as they were.
	type part struct {
		key uint64
		b   []byte
	}
	var parts []part
	for _, s := range fns {
		if !s.lazy {
			continue
		}
		k := partKey(partBody, s.die)
		if s.bodyRead.Load() {
			var pe enc
			cu.encodeBody(&pe, s)
			parts = append(parts, part{k, pe.b})
		} else if b, ok := cu.stored[k]; ok {
			parts = append(parts, part{k, b})
		}
	}
	for i := range cu.skips {
		sk := &cu.skips[i]
		k := partKey(partSkipped, sk.start)
		if sk.read.Load() {
			var pe enc
			cu.encodeDies(&pe, sk.dies)
			parts = append(parts, part{k, pe.b})
		} else if b, ok := cu.stored[k]; ok {
			parts = append(parts, part{k, b})
		}
	}
	e.u32(uint32(len(parts)))
	for _, p := range parts {
		e.u64(p.key)
		e.u32(uint32(len(p.b)))
		e.b = append(e.b, p.b...)
	}
	return e.b
}

// encodeDies writes the naming facts of the DIEs at offs: their count, each
// record's position among the records, the records' length, then the
// records (offset, tag, parent, specification, origin, name, linkage) in
// offset order: a reader can find one by its offset without decoding the
// others (a unit's first-pass facts, dieTable), or read them all.
func (cu *cuInfo) encodeDies(e *enc, offs []dwarf.Offset) {
	cu.mu.Lock()
	defer cu.mu.Unlock()
	var recs enc
	var pos []uint32
	for _, o := range offs {
		d := cu.dies[o]
		if d == nil {
			continue
		}
		pos = append(pos, uint32(len(recs.b)))
		recs.u64(uint64(o))
		recs.u32(uint32(d.tag))
		recs.u64(uint64(d.parent))
		recs.u64(uint64(d.spec))
		recs.u64(uint64(d.origin))
		recs.str(d.name)
		recs.str(d.linkage)
	}
	e.u32(uint32(len(pos)))
	for _, p := range pos {
		e.u32(p)
	}
	e.u32(uint32(len(recs.b)))
	e.b = append(e.b, recs.b...)
}

// encodeScopeHead writes what the first pass knows of a scope.
func encodeScopeHead(e *enc, s *scope) {
	e.u64(uint64(s.die))
	e.u64(s.low)
	e.u8(flag(s.inline) | flag(s.lazy)<<1)
	e.str(s.callFile)
	e.u32(uint32(s.callLine))
	e.u32(uint32(s.callCol))
	e.u32(uint32(len(s.ranges)))
	for _, r := range s.ranges {
		e.u64(r[0])
		e.u64(r[1])
	}
}

// encodeScope writes a scope that is read in full: its head and contents.
func encodeScope(e *enc, s *scope) {
	encodeScopeHead(e, s)
	encodeContents(e, s)
}

// encodeContents writes a read scope's inline instances, call sites and
// their parameters, and the functions defined inside it.
func encodeContents(e *enc, s *scope) {
	e.u32(uint32(len(s.children)))
	for _, c := range s.children {
		encodeScope(e, c)
	}
	e.u32(uint32(len(s.calls)))
	for _, c := range s.calls {
		e.u64(c.returnPC)
		e.u8(flag(c.tail))
		e.u64(uint64(c.origin))
	}
	pcs := make([]uint64, 0, len(s.params))
	for pc := range s.params {
		pcs = append(pcs, pc)
	}
	slices.Sort(pcs)
	e.u32(uint32(len(pcs)))
	for _, pc := range pcs {
		e.u64(pc)
		ps := s.params[pc]
		e.u32(uint32(len(ps)))
		for _, p := range ps {
			e.u32(uint32(p.Reg))
			e.u32(uint32(len(p.Value)))
			e.b = append(e.b, p.Value...)
		}
	}
	encodeFuncRanges(e, s.nested, encodeScope)
}

// encodeFuncRanges writes the functions of ranges, each once (by each),
// then the ranges with their function's index; the functions, in order.
func encodeFuncRanges(e *enc, rs []funcRange, each func(*enc, *scope)) []*scope {
	idx := map[*scope]uint32{}
	var ss []*scope
	for _, f := range rs {
		if _, ok := idx[f.s]; !ok {
			idx[f.s] = uint32(len(ss))
			ss = append(ss, f.s)
		}
	}
	e.u32(uint32(len(ss)))
	for _, s := range ss {
		each(e, s)
	}
	e.u32(uint32(len(rs)))
	for _, f := range rs {
		e.u64(f.lo)
		e.u64(f.hi)
		e.u32(idx[f.s])
	}
	return ss
}

// funcRanges reads what encodeFuncRanges wrote, each function by each:
// the ranges; with sorted, ranges out of order are bad.
func (d *unitDec) funcRanges(each func() *scope, sorted bool) []funcRange {
	ss := make([]*scope, d.count(33))
	for i := range ss {
		ss[i] = each()
	}
	n := d.count(20)
	if n == 0 {
		return nil
	}
	rs := make([]funcRange, n)
	for i := range rs {
		f := funcRange{lo: d.u64(), hi: d.u64()}
		if k := d.u32(); int(k) < len(ss) {
			f.s = ss[k]
		} else {
			d.bad = true
		}
		if sorted && i > 0 && f.lo < rs[i-1].lo {
			d.bad = true
		}
		rs[i] = f
	}
	return rs
}

// encodeBody writes a lazy function's body: its contents and the naming
// facts it added.
func (cu *cuInfo) encodeBody(e *enc, s *scope) {
	encodeContents(e, s)
	if s.bodyTable != nil {
		e.b = append(e.b, s.bodyTable.raw...)
		return
	}
	cu.encodeDies(e, s.bodyDies)
}

// unitDec is a decoder of one unit's file: offsets are checked against
// .debug_info.
type unitDec struct {
	dec
	info uint64

	// A body's scopes, their ranges and their call files are cut from
	// chunks and interned: a body holds hundreds of inline instances, and
	// an allocation each was most of restoring it.
	scopes []scope
	ranges [][2]uint64
	files  map[string]string
}

// newScope is a zeroed scope from the decoder's chunk.
func (d *unitDec) newScope() *scope {
	if len(d.scopes) == 0 {
		d.scopes = make([]scope, 32)
	}
	s := &d.scopes[0]
	d.scopes = d.scopes[1:]
	return s
}

// newRanges is n ranges from the decoder's chunk (full capacity n: an
// append to them copies).
func (d *unitDec) newRanges(n int) [][2]uint64 {
	if n > 64 {
		return make([][2]uint64, n)
	}
	if len(d.ranges) < n {
		d.ranges = make([][2]uint64, 256)
	}
	r := d.ranges[:n:n]
	d.ranges = d.ranges[n:]
	return r
}

// file reads a string, interned: call files repeat.
func (d *unitDec) file() string {
	n := d.u32()
	if uint64(n) > uint64(len(d.b)) {
		d.bad, d.b = true, nil
		return ""
	}
	b := d.b[:n]
	d.b = d.b[n:]
	if s, ok := d.files[string(b)]; ok {
		return s
	}
	if d.files == nil {
		d.files = map[string]string{}
	}
	s := string(b)
	d.files[s] = s
	return s
}

func (d *unitDec) ref() dwarf.Offset {
	o := d.u64()
	if o >= d.info {
		d.bad = true
	}
	return dwarf.Offset(o)
}

// dies decodes naming facts; their offsets, sorted.
func (d *unitDec) dies(into map[dwarf.Offset]*dieInfo) []dwarf.Offset {
	t := d.dieTable()
	if d.bad {
		return nil
	}
	offs := make([]dwarf.Offset, t.n)
	for k := range offs {
		o, di, ok := t.record(k)
		if !ok {
			d.bad = true
			return nil
		}
		offs[k] = o
		into[o] = di
	}
	return offs
}

// dieTable reads what encodeDies wrote, in place: its index checked (every
// position inside the records, offsets in order inside .debug_info), the
// records decoded when asked.
func (d *unitDec) dieTable() *dieTable {
	start := d.b
	n := d.count(4)
	t := &dieTable{n: n, info: d.info}
	if d.bad || uint64(len(d.b)) < 4*uint64(n)+4 {
		d.bad = true
		return t
	}
	t.idx, d.b = d.b[:4*n], d.b[4*n:]
	l := d.u32()
	if uint64(l) > uint64(len(d.b)) {
		d.bad = true
		return t
	}
	t.recs, d.b = d.b[:l], d.b[l:]
	t.raw = start[:len(start)-len(d.b)]
	for k, prev := 0, dwarf.Offset(0); k < n; k++ {
		p := binary.LittleEndian.Uint32(t.idx[4*k:])
		if uint64(p)+44 > uint64(len(t.recs)) {
			d.bad = true
			return t
		}
		o := t.offAt(k)
		if uint64(o) >= d.info || k > 0 && o <= prev {
			d.bad = true
			return t
		}
		prev = o
	}
	return t
}

// dieTable is a list of naming facts as encodeDies wrote it, looked up by
// offset in place (a unit's first-pass facts: thousands, of which a run
// names a few).
type dieTable struct {
	n         int
	idx, recs []byte
	raw       []byte // the whole list as written
	info      uint64
}

func (t *dieTable) offAt(k int) dwarf.Offset {
	return dwarf.Offset(binary.LittleEndian.Uint64(t.recs[binary.LittleEndian.Uint32(t.idx[4*k:]):]))
}

// record decodes the k-th record; false when it does not check out.
func (t *dieTable) record(k int) (dwarf.Offset, *dieInfo, bool) {
	d := &unitDec{dec: dec{b: t.recs[binary.LittleEndian.Uint32(t.idx[4*k:]):]}, info: t.info}
	o := d.ref()
	di := &dieInfo{tag: dwarf.Tag(d.u32())}
	if p := dwarf.Offset(d.u64()); p == ^dwarf.Offset(0) || uint64(p) < d.info {
		di.parent = p
	} else {
		d.bad = true
	}
	di.spec, di.origin = d.ref(), d.ref()
	di.name, di.linkage = d.str(), d.str()
	return o, di, !d.bad
}

// find decodes the facts of the DIE at off; false when the list has none
// (or its record does not check out).
func (t *dieTable) find(off dwarf.Offset) (*dieInfo, bool) {
	k := sort.Search(t.n, func(k int) bool { return t.offAt(k) >= off })
	if k == t.n || t.offAt(k) != off {
		return nil, false
	}
	_, di, ok := t.record(k)
	return di, ok
}

// offsets are the list's DIEs, in order.
func (t *dieTable) offsets() []dwarf.Offset {
	out := make([]dwarf.Offset, t.n)
	for k := range out {
		out[k] = t.offAt(k)
	}
	return out
}

// decodeUnit rebuilds a unit's skeleton from its index file and keeps its
// parts for later; false when the file does not decode.
func (t *Table) decodeUnit(off dwarf.Offset, b []byte) (*cuInfo, bool) {
	d := &unitDec{dec: dec{b: b}, info: t.indexKey.info}
	cu := &cuInfo{t: t, byName: map[dwarf.Offset]string{}, off: off, dies: map[dwarf.Offset]*dieInfo{}}
	cu.isC = d.u8() == 1
	cu.base = d.u64()
	cu.addrBase = int64(d.u64())
	// The rows stay in the file, decoded by the lookups.
	if n := d.count(lineRecord); n > 0 && !d.bad {
		cu.lines.raw, d.b = d.b[:n*lineRecord:n*lineRecord], d.b[n*lineRecord:]
	}
	strs := func() []string {
		l := make([]string, d.count(4))
		for i := range l {
			l[i] = d.str()
		}
		return l
	}
	cu.fileNames = strs()
	cu.files = strs()
	// Checked once: sorted, each row's file named.
	for i, prev := 0, uint64(0); i < cu.lines.len(); i++ {
		r := cu.lines.at(i)
		if r.Addr < prev || int(r.File) >= len(cu.fileNames) {
			d.bad = true
			break
		}
		prev = r.Addr
	}
	cu.skelTable = d.dieTable() // decoded by the lookups (cachedDIE)
	cu.skips = make([]skipped, d.count(16))
	for i := range cu.skips {
		sk := &cu.skips[i]
		sk.start, sk.end = d.ref(), dwarf.Offset(d.u64())
		if sk.end <= sk.start || uint64(sk.end) > d.info || i > 0 && sk.start < cu.skips[i-1].start {
			d.bad = true
		}
	}
	cu.funcs = d.funcRanges(d.scopeHead, true)
	// The parts, by key: a key the unit has no function or subtree for is
	// never asked for, and not written again.
	n := d.count(12)
	cu.stored = make(map[uint64][]byte, n)
	for i := 0; i < n && !d.bad; i++ {
		k, l := d.u64(), d.u32()
		if uint64(l) > uint64(len(d.b)) {
			d.bad = true
			break
		}
		cu.stored[k] = d.b[:l:l]
		d.b = d.b[l:]
	}
	if d.bad || len(d.b) != 0 {
		return nil, false
	}
	return cu, true
}

// scopeHead reads what encodeScopeHead wrote.
func (d *unitDec) scopeHead() *scope {
	s := d.newScope()
	s.die, s.low = d.ref(), d.u64()
	fl := d.u8()
	s.inline, s.lazy = fl&1 != 0, fl&2 != 0
	s.callFile = d.file()
	s.callLine, s.callCol = int(int32(d.u32())), int(int32(d.u32()))
	s.ranges = d.newRanges(d.count(16))
	for i := range s.ranges {
		s.ranges[i] = [2]uint64{d.u64(), d.u64()}
	}
	return s
}

// scope reads what encodeScope wrote.
func (d *unitDec) scope(depth int) *scope {
	s := d.scopeHead()
	d.contents(s, depth)
	return s
}

// contents reads what encodeContents wrote into s.
func (d *unitDec) contents(s *scope, depth int) {
	if depth > maxScopeDepth {
		d.bad = true
	}
	if d.bad {
		return
	}
	if n := d.count(33); n > 0 {
		s.children = make([]*scope, n)
		for i := range s.children {
			s.children[i] = d.scope(depth + 1)
		}
	}
	if n := d.count(17); n > 0 {
		s.calls = make([]callSite, n)
		for i := range s.calls {
			s.calls[i] = callSite{returnPC: d.u64(), tail: d.u8() == 1, origin: d.ref()}
		}
	}
	if n := d.count(12); n > 0 {
		s.params = make(map[uint64][]CallParam, n)
		for i := 0; i < n && !d.bad; i++ {
			pc := d.u64()
			ps := make([]CallParam, d.count(8))
			for j := range ps {
				ps[j].Reg = int(d.u32())
				k := d.u32()
				if ps[j].Reg >= 32 || uint64(k) > uint64(len(d.b)) {
					d.bad = true
					return
				}
				ps[j].Value = append([]byte(nil), d.b[:k]...)
				d.b = d.b[k:]
			}
			s.params[pc] = ps
		}
	}
	s.nested = d.funcRanges(func() *scope { return d.scope(depth + 1) }, false)
}

// restoreBody fills a lazy function's body from the unit's index file;
// false when the file has none or it does not decode (then nothing is
// changed).
func (cu *cuInfo) restoreBody(fn *scope) bool {
	b, ok := cu.stored[partKey(partBody, fn.die)]
	if !ok {
		return false
	}
	d := &unitDec{dec: dec{b: b}, info: cu.t.indexKey.info}
	var s scope
	d.contents(&s, 0)
	// The body's naming facts stay in the file, decoded when looked up
	// (cachedDIE): a body holds hundreds, a backtrace names a few.
	t := d.dieTable()
	if d.bad || len(d.b) != 0 {
		return false
	}
	fn.children, fn.calls, fn.params, fn.nested = s.children, s.calls, s.params, s.nested
	fn.bodyTable = t
	cu.mu.Lock()
	// A fact read before from DWARF (its parent unknown: cu.die) gives
	// way to the body's, as when every fact was merged in.
	if len(cu.dies) < t.n {
		for o := range cu.dies {
			if di, ok := t.find(o); ok {
				cu.dies[o] = di
			}
		}
	} else {
		for k := 0; k < t.n; k++ {
			if _, ok := cu.dies[t.offAt(k)]; ok {
				if o, di, ok := t.record(k); ok {
					cu.dies[o] = di
				}
			}
		}
	}
	cu.bodyTables = append(cu.bodyTables, t)
	cu.mu.Unlock()
	fn.bodyRead.Store(true)
	return true
}

// restoreSkipped fills a skipped subtree's naming facts from the unit's
// index file; false when the file has none or it does not decode.
func (cu *cuInfo) restoreSkipped(sk *skipped) bool {
	b, ok := cu.stored[partKey(partSkipped, sk.start)]
	if !ok {
		return false
	}
	d := &unitDec{dec: dec{b: b}, info: cu.t.indexKey.info}
	dies := map[dwarf.Offset]*dieInfo{}
	offs := d.dies(dies)
	if d.bad || len(d.b) != 0 {
		return false
	}
	cu.mergeDies(dies)
	sk.dies = offs
	sk.read.Store(true)
	return true
}
