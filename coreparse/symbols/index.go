package symbols

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"

	"debug/dwarf"

	"github.com/dsecore/dsecore/coreparse/symbols/die"
	"github.com/dsecore/dsecore/internal/cachefile"
)

// The persistent index of a file with a build-id lives beside its
// decompressed sections, in the cache directory's <build-id>/index-v<N>/, one
// file per part, each built at most once per build and mapped by the next
// run instead of walking the DWARF again:
//
//	units  the .debug_info unit headers (where each unit and its
//	       abbreviations are, its version, address size) and the
//	       compile units' address ranges → unit offset
//	types  qualified type name → DIE offset, and what LookupBaseType,
//	       PointerTo, LookupGlobal and LookupTLSGlobal answer from
//
// Every file starts with a magic line, the CRC-32 (IEEE) of everything after
// it and the sizes of .debug_info and .debug_abbrev it was built from; a file
// that does not check out (damaged, truncated, from other sections) is
// rebuilt, never trusted. The version is in the path: a new format never
// reads an old one, and engineers' runs sharing ~/.cache never collide.
const indexVersion = "index-v2"

// indexPath is where the index part of the sections k was built from is
// kept. One build-id names files with different DWARF (the build as linked,
// the same after dwz, its separate debug file as shipped): the directory
// says which sections (their sizes), so that each keeps its own index
// instead of rewriting the other's (whose next run then warns of a
// damaged file and rebuilds it).
func (t *Table) indexPath(id string, k indexKey, part string) string {
	dir := t.cacheDir()
	if dir == "" || id == "" {
		return ""
	}
	return filepath.Join(dir, id, fmt.Sprintf("%s-%x-%x", indexVersion, k.info, k.abbrev), part)
}

const indexMagic = "dsecore-index\n"

// indexKey identifies the sections an index was built from.
type indexKey struct{ info, abbrev uint64 }

func (t *Table) writeIndex(path string, k indexKey, payload []byte) {
	if path == "" || t.deferWrite() {
		return
	}
	le := binary.LittleEndian
	key := le.AppendUint64(nil, k.info)
	key = le.AppendUint64(key, k.abbrev)
	sum := crc32.Update(crc32.ChecksumIEEE(key), crc32.IEEETable, payload)
	head := append([]byte(indexMagic), le.AppendUint32(nil, sum)...)
	t.writeCacheFile(path, head, key, payload)
}

// readIndex returns an index file's payload, false when the file is
// missing or does not check out. Its checksum is skipped when a marker
// vouches for the file (cachefile.Checked).
func readIndex(path string, k indexKey) ([]byte, bool) {
	if path == "" {
		return nil, false
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	var b []byte
	read := func() error { // as os.ReadFile: one buffer of the file's size
		st, err := f.Stat()
		if err != nil {
			return err
		}
		b = make([]byte, st.Size())
		_, err = f.ReadAt(b, 0)
		return err
	}
	trusted, err := cachefile.Checked(path, f, func() error {
		if err := read(); err != nil {
			return err
		}
		if _, ok := checkIndex(b, k, false); !ok {
			return errDamaged
		}
		return nil
	})
	if trusted {
		err = read()
	}
	if err != nil && err != errDamaged {
		return nil, false // unreadable: no warning, as for a missing file
	}
	payload, ok := checkIndex(b, k, trusted)
	if !ok {
		cachefile.Warnf(path, errDamaged)
	}
	return payload, ok
}

// errDamaged is the warning of an index or symbol layout file that does
// not check out (its magic, CRC-32 or the sections' sizes).
var errDamaged = fmt.Errorf("%w: its checksum or the sections it was built from do not match", cachefile.ErrDamaged)

// mapIndex is readIndex over a read-only mapping of the file, released by
// the table's Close: a unit's file holds megabytes of which a run decodes
// a part.
func (t *Table) mapIndex(path string, k indexKey) ([]byte, bool) {
	var payload []byte
	_, ok := t.mapChecked(path, func(b []byte, trusted bool) (ok bool) {
		if payload, ok = checkIndex(b, k, trusted); !ok {
			cachefile.Warnf(path, errDamaged)
		}
		return ok
	})
	return payload, ok
}

// checkIndex returns an index file's payload, false when it does not
// check out. trusted (a marker vouches for the file's bytes: mapChecked)
// skips the checksum, not the rest.
func checkIndex(b []byte, k indexKey, trusted bool) ([]byte, bool) {
	if len(b) < len(indexMagic)+4+16 || string(b[:len(indexMagic)]) != indexMagic {
		return nil, false
	}
	le := binary.LittleEndian
	b = b[len(indexMagic):]
	sum, body := le.Uint32(b), b[4:]
	if (!trusted && crc32.ChecksumIEEE(body) != sum) || le.Uint64(body) != k.info || le.Uint64(body[8:]) != k.abbrev {
		return nil, false
	}
	return body[16:], true
}

// dec reads an index payload; any read past the end sets bad.
type dec struct {
	b   []byte
	bad bool
}

func (d *dec) u64() uint64 {
	if len(d.b) < 8 {
		d.bad, d.b = true, nil
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *dec) u32() uint32 {
	if len(d.b) < 4 {
		d.bad, d.b = true, nil
		return 0
	}
	v := binary.LittleEndian.Uint32(d.b)
	d.b = d.b[4:]
	return v
}

func (d *dec) u8() uint8 {
	if len(d.b) < 1 {
		d.bad = true
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *dec) str() string {
	n := d.u32()
	if uint64(n) > uint64(len(d.b)) {
		d.bad, d.b = true, nil
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// count reads a count of records of at least min bytes each: a count the
// rest of the payload cannot hold is bad.
func (d *dec) count(min int) int {
	n := d.u32()
	if d.bad || uint64(n)*uint64(min) > uint64(len(d.b)) {
		d.bad = true
		return 0
	}
	return int(n)
}

type enc struct{ b []byte }

func (e *enc) u64(v uint64) { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *enc) u32(v uint32) { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *enc) u8(v uint8)   { e.b = append(e.b, v) }
func (e *enc) str(s string) { e.u32(uint32(len(s))); e.b = append(e.b, s...) }

func encodeUnits(units []die.UnitHeader, cus []cuRange) []byte {
	var e enc
	e.u32(uint32(len(units)))
	for _, u := range units {
		e.u64(u.Off)
		e.u64(u.First)
		e.u64(u.End)
		e.u64(u.AbbrevOff)
		b := uint8(0)
		if u.Is64 {
			b = 1
		}
		e.b = append(e.b, u.Version, u.UnitType, u.AddrSize, b)
	}
	e.u32(uint32(len(cus)))
	for _, c := range cus {
		e.u64(c.lo)
		e.u64(c.hi)
		e.u64(uint64(c.off))
	}
	return e.b
}

// decodeUnits checks what it reads against the sections: units in order
// inside .debug_info, ranges non-empty and sorted, each at a unit's entry.
func decodeUnits(b []byte, k indexKey) ([]die.UnitHeader, []cuRange, bool) {
	d := &dec{b: b}
	units := make([]die.UnitHeader, d.count(36))
	prev := uint64(0)
	first := map[uint64]bool{}
	for i := range units {
		u := die.UnitHeader{Off: d.u64(), First: d.u64(), End: d.u64(), AbbrevOff: d.u64()}
		u.Version, u.UnitType, u.AddrSize = d.u8(), d.u8(), d.u8()
		u.Is64 = d.u8() == 1
		if d.bad || u.Off < prev || u.First <= u.Off || u.End < u.First || u.End > k.info || u.AbbrevOff >= k.abbrev {
			return nil, nil, false
		}
		prev = u.End
		first[u.First] = true
		units[i] = u
	}
	cus := make([]cuRange, d.count(24))
	for i := range cus {
		c := cuRange{d.u64(), d.u64(), dwarf.Offset(d.u64())}
		if d.bad || c.hi <= c.lo || !first[uint64(c.off)] || i > 0 && c.lo < cus[i-1].lo {
			return nil, nil, false
		}
		cus[i] = c
	}
	if d.bad || len(d.b) != 0 {
		return nil, nil, false
	}
	return units, cus, true
}

// unitRanges reads the compile units' address ranges: from .debug_aranges
// for the units it lists (GCC lists every unit with code: libc's 1,700
// units without decoding one entry), else from each unit's entry, its
// DW_AT_ranges or low/high pc.
func (t *Table) unitRanges(d *die.Data) []cuRange {
	var ar map[uint64][][2]uint64
	if src := t.dwarfFile(); src != nil && src.Type != elf.ET_REL {
		if b, err := t.locSection(".debug_aranges"); err == nil && len(b) > 0 {
			ar, _ = die.ParseAranges(b) // the sets before a bad one still hold
		}
	}
	return t.unitRangesWith(d, ar)
}

// tagSkeletonUnit is DW_TAG_skeleton_unit (DWARF 5 split DWARF).
const tagSkeletonUnit = dwarf.Tag(0x4a)

// unitRangesWith is unitRanges with the ranges .debug_aranges lists by unit
// offset (nil: none).
func (t *Table) unitRangesWith(d *die.Data, ar map[uint64][][2]uint64) []cuRange {
	var cus []cuRange
	for i, u := range d.Units() {
		if rs := ar[u.Off]; len(rs) > 0 {
			for _, rg := range rs {
				cus = append(cus, cuRange{rg[0], rg[1], dwarf.Offset(u.First)})
			}
			continue
		}
		e, err := d.FirstEntry(i)
		if err != nil {
			t.warnf("%s: DWARF compile units: %v", filepath.Base(t.Path), err)
			continue
		}
		if e.Tag != dwarf.TagCompileUnit && e.Tag != tagSkeletonUnit {
			continue
		}
		ranges, err := d.Ranges(e)
		if err != nil {
			continue
		}
		for _, rg := range ranges {
			if rg[1] > rg[0] {
				cus = append(cus, cuRange{rg[0], rg[1], e.Offset})
			}
		}
	}
	sort.SliceStable(cus, func(i, j int) bool { return cus[i].lo < cus[j].lo })
	return cus
}

// encodeTypes writes the type index: the maps walkTypes fills.
func (t *Table) encodeTypes() []byte {
	ty := &t.types
	var e enc
	offs := func(m map[string]dwarf.Offset) {
		e.u32(uint32(len(m)))
		for n, o := range m {
			e.str(n)
			e.u64(uint64(o))
		}
	}
	globals := func(m map[string]Global) {
		e.u32(uint32(len(m)))
		for n, g := range m {
			e.str(n)
			e.u64(g.Addr)
			e.u64(uint64(g.Type))
		}
	}
	offs(ty.byName)
	offs(ty.bases)
	e.u32(uint32(len(ty.names)))
	for o, n := range ty.names {
		e.u64(uint64(o))
		e.str(n)
	}
	e.u32(uint32(len(ty.ptrTo)))
	for el, p := range ty.ptrTo {
		e.u64(uint64(el))
		e.u64(uint64(p))
	}
	globals(ty.vars)
	globals(ty.tls)
	return e.b
}

// decodeTypes fills the type index from a file; false (and the maps left
// empty) when any DIE offset lies outside .debug_info or the payload does
// not parse to its end.
func (t *Table) decodeTypes(b []byte) bool {
	d := &dec{b: b}
	info := t.indexKey.info
	off := func() dwarf.Offset {
		o := d.u64()
		if o >= info {
			d.bad = true
		}
		return dwarf.Offset(o)
	}
	offs := func() map[string]dwarf.Offset {
		n := d.count(12)
		m := make(map[string]dwarf.Offset, n)
		for i := 0; i < n && !d.bad; i++ {
			k := d.str()
			m[k] = off()
		}
		return m
	}
	globals := func() map[string]Global {
		n := d.count(20)
		m := make(map[string]Global, n)
		for i := 0; i < n && !d.bad; i++ {
			k := d.str()
			g := Global{Addr: d.u64()}
			if g.Type = dwarf.Offset(d.u64()); uint64(g.Type) >= info {
				d.bad = true
			}
			m[k] = g
		}
		return m
	}
	byName, bases := offs(), offs()
	n := d.count(12)
	names := make(map[dwarf.Offset]string, n)
	for i := 0; i < n && !d.bad; i++ {
		o := off()
		names[o] = d.str()
	}
	n = d.count(16)
	ptrTo := make(map[dwarf.Offset]dwarf.Offset, n)
	for i := 0; i < n && !d.bad; i++ {
		el := off()
		ptrTo[el] = off()
	}
	vars, tls := globals(), globals()
	if d.bad || len(d.b) != 0 {
		return false
	}
	ty := &t.types
	ty.byName, ty.bases, ty.names, ty.ptrTo, ty.vars, ty.tls = byName, bases, names, ptrTo, vars, tls
	return true
}

// deferWrite reports whether the table leaves a cache file to the
// background fill (Resolver.AnswerFirst: the first answer's cold run,
// whose index files only warm runs read), and then marks it Deferred.
func (t *Table) deferWrite() bool {
	if t.resolver == nil || !t.resolver.AnswerFirst {
		return false
	}
	t.deferred.Store(true)
	return true
}
