// Package die reads DWARF debugging information entries (DWARF 2 to 5,
// 32- and 64-bit units, little-endian) straight from the bytes of the
// sections, one unit at a time.
//
// debug/dwarf parses the header and the abbreviation table of every unit
// when it opens a file (80 ms on libc's debug file, whose 1,700 units each
// have their own table), before the first entry can be read. Here a unit's
// header is read when a reader first enters it and its abbreviation table
// when it is first decoded (tables shared between units are parsed once);
// the unit list can come from a cache (New's units). Entries, attribute
// values, ranges and line tables are what debug/dwarf gives for the same
// bytes (Entry.Val returns the Go type dwarf.Entry.Val does; the tests
// compare them entry for entry), so code written for debug/dwarf reads the
// same answers.
//
// It decodes entries and nothing else: no types, no expressions.
package die

import (
	"bytes"
	"debug/dwarf"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"sync"
)

// Sections are the bytes of the DWARF sections a reader uses; absent
// sections are nil.
type Sections struct {
	Info, Abbrev, Str, LineStr, StrOffsets, Addr, Ranges, RngLists, Line []byte
	// Loc and LocLists are a split unit's location lists (.debug_loc.dwo,
	// .debug_loclists.dwo); a file's own are read by the caller (LocList).
	Loc, LocLists []byte
	// Types is DWARF 4's .debug_types (type units), attached with
	// AttachTypes.
	Types []byte
}

// UnitHeader is where a unit lies and how it is encoded.
type UnitHeader struct {
	Off       uint64 // the unit header
	First     uint64 // the unit's first entry (its DW_TAG_compile_unit)
	End       uint64 // just past the unit
	AbbrevOff uint64
	Version   uint8
	UnitType  uint8 // DW_UT_* (DWARF 5); DW_UT_compile (1) before
	AddrSize  uint8
	Is64      bool // 64-bit DWARF
}

// DWARF 5 unit types.
const (
	utCompile      = 1
	utType         = 2
	utPartial      = 3
	utSkeleton     = 4
	utSplitCompile = 5
	utSplitType    = 6
)

// ParseHeaders reads the header of every unit of a .debug_info section:
// a walk over the units' lengths, no entry decoded. Units of length 0 are
// skipped (as debug/dwarf does).
func ParseHeaders(info []byte) ([]UnitHeader, error) {
	var out []UnitHeader
	for off := uint64(0); off < uint64(len(info)); {
		h, err := parseHeader(info, off)
		if err != nil {
			return out, err
		}
		if h.First != 0 {
			out = append(out, h)
		}
		off = h.End
	}
	return out, nil
}

// ParseTypeHeaders reads the header of every type unit of a DWARF 4
// .debug_types section (a unit header, then the type's signature and
// the offset of its entry): each comes back with UnitType DW_UT_type.
func ParseTypeHeaders(types []byte) ([]UnitHeader, error) {
	var out []UnitHeader
	for off := uint64(0); off < uint64(len(types)); {
		h, err := parseHeaderOf(types, off, true)
		if err != nil {
			return out, err
		}
		if h.First != 0 {
			out = append(out, h)
		}
		off = h.End
	}
	return out, nil
}

// parseHeader reads the unit header at off. A unit of length 0 comes back
// with First 0.
func parseHeader(info []byte, off uint64) (UnitHeader, error) { return parseHeaderOf(info, off, false) }

// parseHeaderOf is parseHeader of .debug_info (types false) or of DWARF 4's
// .debug_types (types true: a signature and a type offset after the
// address size, as DWARF 5's type units have after theirs).
func parseHeaderOf(info []byte, off uint64, types bool) (UnitHeader, error) {
	c := cursor{b: info, i: off}
	h := UnitHeader{Off: off}
	n := uint64(c.u32())
	if n >= 0xfffffff0 {
		if n != 0xffffffff {
			return h, fmt.Errorf("unit at %#x: reserved unit length %#x", off, n)
		}
		h.Is64 = true
		n = c.u64()
	}
	if c.bad {
		return h, fmt.Errorf("unit at %#x: truncated header", off)
	}
	if n > uint64(len(info))-c.i {
		return h, fmt.Errorf("unit at %#x: length %#x past the end of the section", off, n)
	}
	h.End = c.i + n
	if n == 0 {
		return h, nil
	}
	if h.End > 1<<32 {
		return h, fmt.Errorf("unit at %#x: past 4 GiB (offsets are 32-bit)", off)
	}
	c.b = info[:h.End]
	v := c.u16()
	if v < 2 || v > 5 {
		return h, fmt.Errorf("unit at %#x: unsupported DWARF version %d", off, v)
	}
	h.Version = uint8(v)
	h.UnitType = utCompile
	if v >= 5 {
		h.UnitType = c.u8()
		h.AddrSize = c.u8()
	}
	h.AbbrevOff = c.offset(h.Is64)
	if v < 5 {
		h.AddrSize = c.u8()
		if types {
			h.UnitType = utType
		}
	}
	switch h.UnitType {
	case utSkeleton, utSplitCompile:
		c.u64() // unit id
	case utType, utSplitType:
		c.u64() // type signature
		c.offset(h.Is64)
	}
	if c.bad {
		return h, fmt.Errorf("unit at %#x: truncated header", off)
	}
	switch h.AddrSize {
	case 1, 2, 4, 8:
	default:
		return h, fmt.Errorf("unit at %#x: address size %d", off, h.AddrSize)
	}
	h.First = c.i
	return h, nil
}

// Data is a file's DWARF, read on demand. Its methods may be called from
// several goroutines once it is set up (New, then AttachSupplementary and
// AttachSplit before the first reader).
//
// The entries of other files the file's own refer to share one offset
// space with its own: a supplementary file's (dwz's .gnu_debugaltlink,
// DWARF 5 .debug_sup) from SupBase on, each split unit's (a .dwo file, or
// its part of a .dwp) after that. A reference into them (DW_FORM_GNU_ref_alt,
// DW_FORM_ref_sup4/8) is an ordinary reference in that space; their
// strings (DW_FORM_GNU_strp_alt, DW_FORM_strp_sup) read as strings.
type Data struct {
	main  source
	sup   *source
	units []*unit // by offset: the file's own (nMain), the supplementary file's, the split units
	nMain int

	splits map[uint64]int // a skeleton unit's entry offset → its split unit's index in units

	// Type units (DWARF 5's DW_UT_type in .debug_info, DWARF 4's
	// .debug_types attached by AttachTypes): a type signature → the
	// offset of the type's entry, for DW_FORM_ref_sig8.
	sigOnce sync.Once
	sigs    map[uint64]uint64
	types   bool // .debug_types attached

	abMu    sync.Mutex
	abbrevs map[abbrevKey]*abbrevTable
}

// source is one file's sections and where its entries lie in the offset
// space: a DIE's offset is its offset in the source's .debug_info + shift.
type source struct {
	s     Sections
	shift uint64

	lineOnce sync.Once
	lineData *dwarf.Data
	lineErr  error
}

type abbrevKey struct {
	src *source
	off uint64
}

// unit is a unit's header and, once entered, its abbreviations and bases.
type unit struct {
	UnitHeader
	src  *source
	once sync.Once
	err  error
	ab   *abbrevTable
	// DWARF 5 bases from the unit's entry (0 before DWARF 5); a split
	// unit's from its skeleton and its package's contributions.
	addrBase, strOffBase, rngBase, locBase uint64
	// rangesBase is added to a split unit's DW_AT_ranges (GNU split DWARF:
	// the skeleton's DW_AT_GNU_ranges_base into the file's .debug_ranges).
	rangesBase uint64
	split      bool // a split unit: the bases above are its skeleton's
	// base is the unit entry's DW_AT_entry_pc, else DW_AT_low_pc: the
	// base address of its range lists (a split unit's: its skeleton's).
	base  uint64
	first *Entry // the unit's own entry
}

// info is the unit's source's .debug_info up to the unit's end, and off
// (an offset in the shared space) as an offset in it.
func (u *unit) info(off uint64) ([]byte, uint64) {
	return u.src.s.Info[:u.End-u.src.shift], off - u.src.shift
}

// New reads DWARF from its sections. units are the unit headers (from a
// cache; nil: read from Info now, which touches one word per unit). Headers
// that do not fit the section are an error, never trusted.
func New(s Sections, units []UnitHeader) (*Data, error) {
	if units == nil {
		var err error
		if units, err = ParseHeaders(s.Info); err != nil {
			return nil, err
		}
	}
	d := &Data{main: source{s: s}, units: make([]*unit, len(units)), nMain: len(units), abbrevs: map[abbrevKey]*abbrevTable{}}
	prev := uint64(0)
	for i, h := range units {
		if h.Off < prev || h.First <= h.Off || h.End < h.First || h.End > uint64(len(s.Info)) {
			return nil, fmt.Errorf("unit %d at %#x does not fit .debug_info", i, h.Off)
		}
		prev = h.End
		d.units[i] = &unit{UnitHeader: h, src: &d.main}
	}
	return d, nil
}

// Units returns the headers of the file's own units (not those of a
// supplementary file or of split units).
func (d *Data) Units() []UnitHeader {
	out := make([]UnitHeader, d.nMain)
	for i := range out {
		out[i] = d.units[i].UnitHeader
	}
	return out
}

// Sections returns the file's own sections.
func (d *Data) Sections() Sections { return d.main.s }

// unitOf returns the index of the unit whose entries contain off, -1 when
// none (debug/dwarf's offsetToUnit: from the first entry to the end).
func (d *Data) unitOf(off uint64) int {
	i := sort.Search(len(d.units), func(i int) bool { return d.units[i].First > off })
	if i == 0 {
		return -1
	}
	u := d.units[i-1]
	if off >= u.First && off < u.End {
		return i - 1
	}
	return -1
}

// UnitBounds returns the offsets of the first entry of the unit that
// contains off and of its end; false when no unit does.
func (d *Data) UnitBounds(off dwarf.Offset) (first, end dwarf.Offset, ok bool) {
	i := d.unitOf(uint64(off))
	if i < 0 {
		return 0, 0, false
	}
	return dwarf.Offset(d.units[i].First), dwarf.Offset(d.units[i].End), true
}

// enter sets up a unit for decoding: its abbreviations, then the bases
// its own entry gives (once; concurrent callers wait).
func (d *Data) enter(u *unit) error {
	u.once.Do(func() {
		u.ab, u.err = d.abbrevTable(u.src, u.AbbrevOff, int(u.Version))
		if u.err != nil {
			return
		}
		u.err = d.readUnitEntry(u)
	})
	return u.err
}

// readUnitEntry decodes the unit's own entry into u.first and sets the
// bases it gives.
func (d *Data) readUnitEntry(u *unit) error {
	// The bases are attributes of the unit's entry, which may itself use
	// them: read it once without (as debug/dwarf does), then again.
	e := Entry{}
	if _, err := d.decode(u, u.First, &e, nil); err != nil {
		return err
	}
	if u.Version >= 5 && !u.split {
		u.addrBase = uint64(e.int(dwarf.AttrAddrBase))
		u.strOffBase = uint64(e.int(dwarf.AttrStrOffsetsBase))
		u.rngBase = uint64(e.int(dwarf.AttrRnglistsBase))
		u.locBase = uint64(e.int(dwarf.AttrLoclistsBase))
		e = Entry{}
		if _, err := d.decode(u, u.First, &e, nil); err != nil {
			return err
		}
	}
	if u.split {
		// The skeleton's base (the split unit's entry has no address).
	} else if v, ok := e.Val(dwarf.AttrEntrypc).(uint64); ok {
		u.base = v
	} else if v, ok := e.Val(dwarf.AttrLowpc).(uint64); ok {
		u.base = v
	}
	u.first = &e
	return nil
}

// FirstEntry returns the entry of the i'th unit (Units' order) without
// entering the unit: of its abbreviation table only the declaration the
// entry uses is read: for indexing every unit's ranges on a first run.
// The entry's Ranges are the unit's.
func (d *Data) FirstEntry(i int) (*Entry, error) {
	if i < 0 || i >= len(d.units) {
		return nil, fmt.Errorf("no unit %d", i)
	}
	u := d.units[i]
	b, first := u.info(u.First)
	c := cursor{b: b, i: first}
	code := c.uleb()
	if c.bad || code == 0 {
		if err := d.enter(u); err != nil {
			return nil, err
		}
		return u.first, nil
	}
	a, err := d.abbrevDecl(u.src, u.AbbrevOff, int(u.Version), code)
	if err != nil || a == nil {
		if err := d.enter(u); err != nil {
			return nil, err
		}
		return u.first, nil
	}
	tmp := &unit{UnitHeader: u.UnitHeader, src: u.src, ab: &abbrevTable{sparse: map[uint64]*abbrev{code: a}}}
	if err := d.readUnitEntry(tmp); err != nil {
		return nil, err
	}
	return tmp.first, nil
}

// abbrevDecl reads the one declaration of code in the abbreviation table at
// off, skipping the others undecoded; nil when the table has none.
func (d *Data) abbrevDecl(src *source, off uint64, vers int, code uint64) (*abbrev, error) {
	if off >= uint64(len(src.s.Abbrev)) {
		return nil, fmt.Errorf("abbreviation table at %#x past the end of .debug_abbrev", off)
	}
	c := cursor{b: src.s.Abbrev, i: off}
	for {
		k := c.uleb()
		if k == 0 || c.bad {
			return nil, nil
		}
		tag := dwarf.Tag(c.uleb())
		children := c.u8() != 0
		var a *abbrev
		if k == code {
			a = &abbrev{tag: tag, children: children}
		}
		for {
			at, form := c.uleb(), c.uleb()
			if at == 0 && form == 0 || c.bad {
				break
			}
			var implicit int64
			if form == formImplicitConst {
				implicit = c.sleb()
			}
			if a == nil {
				continue
			}
			if form > 0xffff {
				return nil, fmt.Errorf("abbreviation %d at %#x: form %#x", code, off, form)
			}
			f := afield{attr: dwarf.Attr(at), form: uint16(form), implicit: implicit}
			var ok bool
			if f.class, ok = formClass(f.form, f.attr, vers); !ok {
				return nil, fmt.Errorf("abbreviation %d at %#x: unknown form %#x", code, off, form)
			}
			a.fields = append(a.fields, f)
		}
		if c.bad {
			return nil, fmt.Errorf("abbreviation table at %#x: truncated", off)
		}
		if a != nil {
			return a, nil
		}
	}
}

// UnitEntry returns the entry of the unit that contains off (its
// DW_TAG_compile_unit or DW_TAG_partial_unit).
func (d *Data) UnitEntry(off dwarf.Offset) (*Entry, error) {
	i := d.unitOf(uint64(off))
	if i < 0 {
		return nil, fmt.Errorf("offset %#x is in no unit", off)
	}
	u := d.units[i]
	if err := d.enter(u); err != nil {
		return nil, err
	}
	return u.first, nil
}

// UnitVersion returns the DWARF version of the unit containing off, 0 when
// none does.
func (d *Data) UnitVersion(off dwarf.Offset) int {
	if i := d.unitOf(uint64(off)); i >= 0 {
		return int(d.units[i].Version)
	}
	return 0
}

// UnitBases returns the DWARF 5 bases of the unit containing off.
func (d *Data) UnitBases(off dwarf.Offset) (addrBase, locListsBase uint64, err error) {
	i := d.unitOf(uint64(off))
	if i < 0 {
		return 0, 0, fmt.Errorf("offset %#x is in no unit", off)
	}
	u := d.units[i]
	if err := d.enter(u); err != nil {
		return 0, 0, err
	}
	return u.addrBase, u.locBase, nil
}

// abbrev is one abbreviation: an entry's tag, children flag and the forms
// of its attributes.
type abbrev struct {
	tag      dwarf.Tag
	children bool
	fields   []afield
}

type afield struct {
	attr     dwarf.Attr
	form     uint16
	class    dwarf.Class
	implicit int64 // DW_FORM_implicit_const's value
}

// abbrevTable maps abbreviation codes to abbreviations: a slice when the
// codes are small (GCC and clang number them 1, 2, 3 …), else a map.
type abbrevTable struct {
	dense  []*abbrev
	sparse map[uint64]*abbrev
}

func (t *abbrevTable) get(code uint64) *abbrev {
	if code < uint64(len(t.dense)) {
		return t.dense[code]
	}
	return t.sparse[code]
}

// abbrevTable parses (once) the abbreviation table at off.
func (d *Data) abbrevTable(src *source, off uint64, vers int) (*abbrevTable, error) {
	key := abbrevKey{src, off}
	d.abMu.Lock()
	t, ok := d.abbrevs[key]
	d.abMu.Unlock()
	if ok {
		return t, nil
	}
	if off >= uint64(len(src.s.Abbrev)) {
		return nil, fmt.Errorf("abbreviation table at %#x past the end of .debug_abbrev", off)
	}
	c := cursor{b: src.s.Abbrev, i: off}
	t = &abbrevTable{}
	for {
		code := c.uleb()
		if code == 0 || c.bad {
			break
		}
		a := &abbrev{tag: dwarf.Tag(c.uleb()), children: c.u8() != 0}
		for {
			at, form := c.uleb(), c.uleb()
			if at == 0 && form == 0 || c.bad {
				break
			}
			f := afield{attr: dwarf.Attr(at), form: uint16(form)}
			if form == formImplicitConst {
				f.implicit = c.sleb()
			}
			if form > 0xffff {
				return nil, fmt.Errorf("abbreviation %d at %#x: form %#x", code, off, form)
			}
			var ok bool
			if f.class, ok = formClass(f.form, f.attr, vers); !ok {
				return nil, fmt.Errorf("abbreviation %d at %#x: unknown form %#x", code, off, form)
			}
			a.fields = append(a.fields, f)
		}
		if code < 1<<12 {
			for uint64(len(t.dense)) <= code {
				t.dense = append(t.dense, nil)
			}
			if t.dense[code] == nil {
				t.dense[code] = a
			}
		} else {
			if t.sparse == nil {
				t.sparse = map[uint64]*abbrev{}
			}
			if _, dup := t.sparse[code]; !dup {
				t.sparse[code] = a
			}
		}
	}
	if c.bad {
		return nil, fmt.Errorf("abbreviation table at %#x: truncated", off)
	}
	d.abMu.Lock()
	if prev, ok := d.abbrevs[key]; ok {
		t = prev
	} else {
		d.abbrevs[key] = t
	}
	d.abMu.Unlock()
	return t, nil
}

// Entry is one debugging information entry. Entries returned by a Reader
// stay valid (they are never reused).
type Entry struct {
	Offset   dwarf.Offset
	Tag      dwarf.Tag // 0 for the null entry that ends a list of siblings
	Children bool
	Field    []Field
	u        *unit
}

// Field is one attribute of an entry.
type Field struct {
	Attr  dwarf.Attr
	Class dwarf.Class
	Form  uint16
	wide  bool   // a 64-bit DWARF offset (DW_FORM_strp_sup's Go type)
	alt   bool   // a supplementary reference or string, resolved (u in the shared space, b the string)
	u     uint64 // integers, addresses, offsets, references, flags
	b     []byte // blocks, expressions, data16, a string's bytes
}

// Forms (DWARF 5, 7.5.6) and the GNU extensions debug/dwarf knows.
const (
	formAddr          = 0x01
	formBlock2        = 0x03
	formBlock4        = 0x04
	formData2         = 0x05
	formData4         = 0x06
	formData8         = 0x07
	formString        = 0x08
	formBlock         = 0x09
	formBlock1        = 0x0a
	formData1         = 0x0b
	formFlag          = 0x0c
	formSdata         = 0x0d
	formStrp          = 0x0e
	formUdata         = 0x0f
	formRefAddr       = 0x10
	formRef1          = 0x11
	formRef2          = 0x12
	formRef4          = 0x13
	formRef8          = 0x14
	formRefUdata      = 0x15
	formIndirect      = 0x16
	formSecOffset     = 0x17
	formExprloc       = 0x18
	formFlagPresent   = 0x19
	formStrx          = 0x1a
	formAddrx         = 0x1b
	formRefSup4       = 0x1c
	formStrpSup       = 0x1d
	formData16        = 0x1e
	formLineStrp      = 0x1f
	formRefSig8       = 0x20
	formImplicitConst = 0x21
	formLoclistx      = 0x22
	formRnglistx      = 0x23
	formRefSup8       = 0x24
	formStrx1         = 0x25
	formStrx2         = 0x26
	formStrx3         = 0x27
	formStrx4         = 0x28
	formAddrx1        = 0x29
	formAddrx2        = 0x2a
	formAddrx3        = 0x2b
	formAddrx4        = 0x2c
	formGNUAddrIndex  = 0x1f01 // GNU split DWARF (DWARF 4 .dwo): DW_FORM_addrx
	formGNUStrIndex   = 0x1f02 // GNU split DWARF: DW_FORM_strx
	formGNURefAlt     = 0x1f20
	formGNUStrpAlt    = 0x1f21
)

// attrPtrClass, attrIsExprloc and formClass are DWARF 4's classes as
// debug/dwarf assigns them (its formToClass), so that Field.Class agrees.
var attrPtrClass = map[dwarf.Attr]dwarf.Class{
	dwarf.AttrLocation:       dwarf.ClassLocListPtr,
	dwarf.AttrStmtList:       dwarf.ClassLinePtr,
	dwarf.AttrStringLength:   dwarf.ClassLocListPtr,
	dwarf.AttrReturnAddr:     dwarf.ClassLocListPtr,
	dwarf.AttrStartScope:     dwarf.ClassRangeListPtr,
	dwarf.AttrDataMemberLoc:  dwarf.ClassLocListPtr,
	dwarf.AttrFrameBase:      dwarf.ClassLocListPtr,
	dwarf.AttrMacroInfo:      dwarf.ClassMacPtr,
	dwarf.AttrSegment:        dwarf.ClassLocListPtr,
	dwarf.AttrStaticLink:     dwarf.ClassLocListPtr,
	dwarf.AttrUseLocation:    dwarf.ClassLocListPtr,
	dwarf.AttrVtableElemLoc:  dwarf.ClassLocListPtr,
	dwarf.AttrRanges:         dwarf.ClassRangeListPtr,
	dwarf.AttrStrOffsetsBase: dwarf.ClassStrOffsetsPtr,
	dwarf.AttrAddrBase:       dwarf.ClassAddrPtr,
	dwarf.AttrRnglistsBase:   dwarf.ClassRngListsPtr,
	dwarf.AttrLoclistsBase:   dwarf.ClassLocListPtr,
}

var attrIsExprloc = map[dwarf.Attr]bool{
	dwarf.AttrLocation: true, dwarf.AttrByteSize: true, dwarf.AttrBitOffset: true, dwarf.AttrBitSize: true,
	dwarf.AttrStringLength: true, dwarf.AttrLowerBound: true, dwarf.AttrReturnAddr: true, dwarf.AttrStrideSize: true,
	dwarf.AttrUpperBound: true, dwarf.AttrCount: true, dwarf.AttrDataMemberLoc: true, dwarf.AttrFrameBase: true,
	dwarf.AttrSegment: true, dwarf.AttrStaticLink: true, dwarf.AttrUseLocation: true, dwarf.AttrVtableElemLoc: true,
	dwarf.AttrAllocated: true, dwarf.AttrAssociated: true, dwarf.AttrDataLocation: true, dwarf.AttrStride: true,
}

func formClass(form uint16, attr dwarf.Attr, vers int) (dwarf.Class, bool) {
	switch form {
	case formIndirect:
		return dwarf.ClassUnknown, true
	case formAddr, formAddrx, formAddrx1, formAddrx2, formAddrx3, formAddrx4, formGNUAddrIndex:
		return dwarf.ClassAddress, true
	case formBlock1, formBlock2, formBlock4, formBlock:
		if attrIsExprloc[attr] {
			return dwarf.ClassExprLoc, true
		}
		return dwarf.ClassBlock, true
	case formData1, formData2, formData4, formData8, formSdata, formUdata, formData16, formImplicitConst:
		if c, ok := attrPtrClass[attr]; vers < 4 && ok {
			return c, true
		}
		return dwarf.ClassConstant, true
	case formFlag, formFlagPresent:
		return dwarf.ClassFlag, true
	case formRefAddr, formRef1, formRef2, formRef4, formRef8, formRefUdata, formRefSup4, formRefSup8:
		return dwarf.ClassReference, true
	case formRefSig8:
		return dwarf.ClassReferenceSig, true
	case formString, formStrp, formStrx, formStrpSup, formLineStrp, formStrx1, formStrx2, formStrx3, formStrx4, formGNUStrIndex:
		return dwarf.ClassString, true
	case formSecOffset:
		if c, ok := attrPtrClass[attr]; ok {
			return c, true
		}
		return dwarf.ClassUnknown, true
	case formExprloc:
		return dwarf.ClassExprLoc, true
	case formGNURefAlt:
		return dwarf.ClassReferenceAlt, true
	case formGNUStrpAlt:
		return dwarf.ClassStringAlt, true
	case formLoclistx:
		return dwarf.ClassLocList, true
	case formRnglistx:
		return dwarf.ClassRngList, true
	}
	return 0, false
}

// ErrFormat is wrapped by every error about bytes that do not decode.
var ErrFormat = errors.New("malformed DWARF")

func (d *Data) errorf(off uint64, format string, args ...any) error {
	return fmt.Errorf("%w: entry at %#x: %s", ErrFormat, off, fmt.Sprintf(format, args...))
}

// decode reads the entry at off of unit u into e, its fields carved from
// *slab (nil: allocated); it returns the offset of the next entry.
func (d *Data) decode(u *unit, off uint64, e *Entry, slab *[]Field) (uint64, error) {
	info, loff := u.info(off)
	shift := u.src.shift
	sec := &u.src.s
	c := cursor{b: info, i: loff}
	code := c.uleb()
	if c.bad {
		return 0, d.errorf(off, "truncated")
	}
	e.u = u
	if code == 0 {
		// debug/dwarf returns the null entry as a zero Entry.
		*e = Entry{u: u}
		return c.i + shift, nil
	}
	a := u.ab.get(code)
	if a == nil {
		return 0, d.errorf(off, "unknown abbreviation code %d", code)
	}
	e.Offset, e.Tag, e.Children = dwarf.Offset(off), a.tag, a.children
	n := len(a.fields)
	var fields []Field
	switch {
	case slab == nil:
		fields = make([]Field, 0, n)
	default:
		if cap(*slab) < n {
			*slab = make([]Field, 0, max(512, n))
		}
		fields = (*slab)[0:0:n]
		*slab = (*slab)[n:n]
	}
	for _, af := range a.fields {
		f := Field{Attr: af.attr, Class: af.class, Form: af.form}
		form := uint64(af.form)
		if form == formIndirect {
			form = c.uleb()
			cl, ok := formClass(uint16(form), af.attr, int(u.Version))
			if !ok || form > 0xffff {
				return 0, d.errorf(off, "unknown indirect form %#x", form)
			}
			f.Form, f.Class = uint16(form), cl
		}
		switch form {
		case formAddr:
			f.u = c.addr(u.AddrSize)
		case formAddrx, formAddrx1, formAddrx2, formAddrx3, formAddrx4, formGNUAddrIndex:
			idx := c.index(form)
			if sec.Addr == nil {
				return 0, d.errorf(off, "DW_FORM_addrx with no .debug_addr section")
			}
			a, ok := d.debugAddr(u, u.addrBase, idx)
			if !ok {
				return 0, d.errorf(off, "DW_FORM_addrx index %d out of range", idx)
			}
			f.u = a
		case formBlock1:
			f.b = c.bytes(uint64(c.u8()))
		case formBlock2:
			f.b = c.bytes(uint64(c.u16()))
		case formBlock4:
			f.b = c.bytes(uint64(c.u32()))
		case formBlock, formExprloc:
			f.b = c.bytes(c.uleb())
		case formData1:
			f.u = uint64(c.u8())
		case formData2:
			f.u = uint64(c.u16())
		case formData4:
			f.u = uint64(c.u32())
		case formData8:
			f.u = c.u64()
		case formData16:
			f.b = c.bytes(16)
		case formSdata:
			f.u = uint64(c.sleb())
		case formUdata:
			f.u = c.uleb()
		case formImplicitConst:
			f.u = uint64(af.implicit)
		case formFlag:
			f.u = uint64(c.u8())
		case formFlagPresent:
			f.u = 1
		case formRefAddr:
			if u.Version == 2 {
				f.u = c.addr(u.AddrSize)
			} else {
				f.u = c.offset(u.Is64)
			}
			f.u += shift
		case formRef1:
			f.u = uint64(c.u8()) + u.Off
		case formRef2:
			f.u = uint64(c.u16()) + u.Off
		case formRef4:
			f.u = uint64(c.u32()) + u.Off
		case formRef8:
			f.u = c.u64() + u.Off
		case formRefUdata:
			f.u = c.uleb() + u.Off
		case formString:
			f.b = c.cstr()
		case formStrp, formLineStrp:
			so := c.offset(u.Is64)
			str := sec.Str
			if form == formLineStrp {
				if len(sec.LineStr) == 0 {
					return 0, d.errorf(off, "DW_FORM_line_strp with no .debug_line_str section")
				}
				str = sec.LineStr
			}
			s, ok := cstrAt(str, so)
			if !ok && !c.bad {
				return 0, d.errorf(off, "string offset %#x out of range", so)
			}
			f.b = s
		case formStrx, formStrx1, formStrx2, formStrx3, formStrx4, formGNUStrIndex:
			idx := c.index(form)
			if len(sec.StrOffsets) == 0 {
				return 0, d.errorf(off, "DW_FORM_strx with no .debug_str_offsets section")
			}
			sz := uint64(4)
			if u.Is64 {
				sz = 8
			}
			p := u.strOffBase + idx*sz
			if idx > 1<<40 || p+sz > uint64(len(sec.StrOffsets)) || p+sz < p {
				return 0, d.errorf(off, "DW_FORM_strx index %d out of range", idx)
			}
			oc := cursor{b: sec.StrOffsets, i: p}
			s, ok := cstrAt(sec.Str, oc.offset(u.Is64))
			if !ok {
				return 0, d.errorf(off, "DW_FORM_strx string out of range")
			}
			f.b = s
		case formStrpSup, formGNUStrpAlt:
			f.u, f.wide = c.offset(u.Is64), u.Is64
			if d.sup != nil && !c.bad {
				// A string of the supplementary file.
				s, ok := cstrAt(d.sup.s.Str, f.u)
				if !ok {
					return 0, d.errorf(off, "supplementary string offset %#x out of range", f.u)
				}
				f.b, f.alt = s, true
			}
		case formGNURefAlt, formRefSup4, formRefSup8:
			switch form {
			case formRefSup4:
				f.u = uint64(c.u32())
			case formRefSup8:
				f.u = c.u64()
			default:
				f.u = c.offset(u.Is64)
			}
			if d.sup != nil {
				// An entry of the supplementary file, in the shared space.
				f.u += d.sup.shift
				f.alt = true
			}
		case formSecOffset:
			f.u = c.offset(u.Is64)
		case formRefSig8:
			f.u = c.u64()
			if off, ok := d.typeEntry(f.u); ok {
				// The type unit's type entry, in the shared space.
				f.u, f.alt = off, true
			}
		case formLoclistx:
			f.u = c.uleb()
		case formRnglistx:
			idx := c.uleb()
			sz := uint64(4)
			if u.Is64 {
				sz = 8
			}
			p := u.rngBase + idx*sz
			if idx > 1<<40 || p+sz > uint64(len(sec.RngLists)) || p+sz < p {
				return 0, d.errorf(off, "DW_FORM_rnglistx index %d out of range", idx)
			}
			oc := cursor{b: sec.RngLists, i: p}
			f.u = u.rngBase + oc.offset(u.Is64)
		default:
			return 0, d.errorf(off, "unknown form %#x", form)
		}
		if c.bad {
			return 0, d.errorf(off, "truncated attribute %v", af.attr)
		}
		fields = append(fields, f)
	}
	e.Field = fields
	return c.i + shift, nil
}

// debugAddr reads entry idx of the unit's part of .debug_addr.
func (d *Data) debugAddr(u *unit, base, idx uint64) (uint64, bool) {
	sz := uint64(u.AddrSize)
	p := base + idx*sz
	addr := u.src.s.Addr
	if idx > 1<<40 || p+sz > uint64(len(addr)) || p+sz < p {
		return 0, false
	}
	c := cursor{b: addr, i: p}
	return c.addr(u.AddrSize), true
}

// Val returns the value of an attribute as dwarf.Entry.Val would: uint64
// addresses, int64 constants and section offsets, bool flags, dwarf.Offset
// references, string strings, []byte blocks and expressions; nil when the
// entry has no such attribute.
func (e *Entry) Val(a dwarf.Attr) any {
	for i := range e.Field {
		if e.Field[i].Attr == a {
			return e.Field[i].Val()
		}
	}
	return nil
}

// AttrField returns the field of an attribute, nil when none.
func (e *Entry) AttrField(a dwarf.Attr) *Field {
	for i := range e.Field {
		if e.Field[i].Attr == a {
			return &e.Field[i]
		}
	}
	return nil
}

// Val is the field's value in debug/dwarf's Go types.
func (f *Field) Val() any {
	if f.alt {
		// Resolved into the supplementary file: what the entry means.
		switch f.Form {
		case formGNURefAlt, formRefSup4, formRefSup8, formRefSig8:
			return dwarf.Offset(f.u)
		case formGNUStrpAlt, formStrpSup:
			return string(f.b)
		}
	}
	switch f.Form {
	case formAddr, formAddrx, formAddrx1, formAddrx2, formAddrx3, formAddrx4, formGNUAddrIndex:
		return f.u
	case formBlock1, formBlock2, formBlock4, formBlock, formExprloc, formData16:
		return f.b
	case formData1, formData2, formData4, formData8, formSdata, formUdata, formImplicitConst,
		formSecOffset, formGNURefAlt, formGNUStrpAlt:
		return int64(f.u)
	case formFlag, formFlagPresent:
		return f.u == 1
	case formRefAddr, formRef1, formRef2, formRef4, formRef8, formRefUdata:
		return dwarf.Offset(f.u)
	case formString, formStrp, formLineStrp, formStrx, formStrx1, formStrx2, formStrx3, formStrx4, formGNUStrIndex:
		return string(f.b)
	case formStrpSup:
		if f.wide {
			return f.u
		}
		return uint32(f.u)
	case formRefSig8, formRefSup8, formLoclistx, formRnglistx:
		return f.u
	case formRefSup4:
		return uint32(f.u)
	}
	return nil
}

// The typed accessors below read one attribute without boxing it.

// Str returns a string attribute.
func (e *Entry) Str(a dwarf.Attr) (string, bool) {
	if f := e.AttrField(a); f != nil && f.isString() {
		return string(f.b), true
	}
	return "", false
}

// StrBytes is Str without the copy: the bytes are the section's.
func (e *Entry) StrBytes(a dwarf.Attr) ([]byte, bool) {
	if f := e.AttrField(a); f != nil && f.isString() {
		return f.b, true
	}
	return nil, false
}

// isString reports whether the field holds a string: its own, or the
// supplementary file's once resolved.
func (f *Field) isString() bool {
	switch f.Form {
	case formStrpSup, formGNUStrpAlt:
		return f.alt
	}
	return f.Class == dwarf.ClassString
}

// Addr returns an address attribute (class address).
func (e *Entry) Addr(a dwarf.Attr) (uint64, bool) {
	if f := e.AttrField(a); f != nil && f.Class == dwarf.ClassAddress {
		return f.u, true
	}
	return 0, false
}

// Int returns an attribute whose Val is an int64 (constants, section
// offsets).
func (e *Entry) Int(a dwarf.Attr) (int64, bool) {
	if f := e.AttrField(a); f != nil {
		if v, ok := f.Val().(int64); ok {
			return v, true
		}
	}
	return 0, false
}

func (e *Entry) int(a dwarf.Attr) int64 { v, _ := e.Int(a); return v }

// Ref returns a reference to another entry in .debug_info.
func (e *Entry) Ref(a dwarf.Attr) (dwarf.Offset, bool) {
	if f := e.AttrField(a); f != nil {
		switch f.Form {
		case formRefAddr, formRef1, formRef2, formRef4, formRef8, formRefUdata:
			return dwarf.Offset(f.u), true
		case formGNURefAlt, formRefSup4, formRefSup8:
			// Into the supplementary file: only once it is attached.
			return dwarf.Offset(f.u), f.alt
		case formRefSig8:
			// A type unit's type: only when a unit has that signature.
			return dwarf.Offset(f.u), f.alt
		}
	}
	return 0, false
}

// Flag returns a flag attribute (false when absent).
func (e *Entry) Flag(a dwarf.Attr) bool {
	if f := e.AttrField(a); f != nil && f.Class == dwarf.ClassFlag {
		return f.u == 1
	}
	return false
}

// Bytes returns a block or expression attribute.
func (e *Entry) Bytes(a dwarf.Attr) ([]byte, bool) {
	if f := e.AttrField(a); f != nil {
		if b, ok := f.Val().([]byte); ok {
			return b, true
		}
	}
	return nil, false
}

// cursor reads little-endian values; past the end it reads zeros and
// sets bad.
type cursor struct {
	b   []byte
	i   uint64
	bad bool
}

func (c *cursor) need(n uint64) bool {
	if c.bad || n > uint64(len(c.b)) || c.i > uint64(len(c.b))-n {
		c.bad = true
		return false
	}
	return true
}

func (c *cursor) u8() uint8 {
	if !c.need(1) {
		return 0
	}
	v := c.b[c.i]
	c.i++
	return v
}

func (c *cursor) u16() uint16 {
	if !c.need(2) {
		return 0
	}
	v := binary.LittleEndian.Uint16(c.b[c.i:])
	c.i += 2
	return v
}

func (c *cursor) u24() uint32 {
	if !c.need(3) {
		return 0
	}
	v := uint32(c.b[c.i]) | uint32(c.b[c.i+1])<<8 | uint32(c.b[c.i+2])<<16
	c.i += 3
	return v
}

func (c *cursor) u32() uint32 {
	if !c.need(4) {
		return 0
	}
	v := binary.LittleEndian.Uint32(c.b[c.i:])
	c.i += 4
	return v
}

func (c *cursor) u64() uint64 {
	if !c.need(8) {
		return 0
	}
	v := binary.LittleEndian.Uint64(c.b[c.i:])
	c.i += 8
	return v
}

func (c *cursor) addr(size uint8) uint64 {
	switch size {
	case 1:
		return uint64(c.u8())
	case 2:
		return uint64(c.u16())
	case 4:
		return uint64(c.u32())
	case 8:
		return c.u64()
	}
	c.bad = true
	return 0
}

func (c *cursor) offset(is64 bool) uint64 {
	if is64 {
		return c.u64()
	}
	return uint64(c.u32())
}

// index reads the operand of the strx and addrx forms.
func (c *cursor) index(form uint64) uint64 {
	switch form {
	case formStrx1, formAddrx1:
		return uint64(c.u8())
	case formStrx2, formAddrx2:
		return uint64(c.u16())
	case formStrx3, formAddrx3:
		return uint64(c.u24())
	case formStrx4, formAddrx4:
		return uint64(c.u32())
	}
	return c.uleb() // strx, addrx and the GNU index forms

}

func (c *cursor) uleb() uint64 {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		if !c.need(1) {
			return 0
		}
		b := c.b[c.i]
		c.i++
		if shift < 64 {
			v |= uint64(b&0x7f) << shift
		}
		if b&0x80 == 0 {
			return v
		}
	}
}

func (c *cursor) sleb() int64 {
	var v int64
	var shift uint
	for {
		if !c.need(1) {
			return 0
		}
		b := c.b[c.i]
		c.i++
		if shift < 64 {
			v |= int64(b&0x7f) << shift
		}
		shift += 7
		if b&0x80 == 0 {
			if shift < 64 && b&0x40 != 0 {
				v |= -1 << shift
			}
			return v
		}
	}
}

func (c *cursor) bytes(n uint64) []byte {
	if !c.need(n) {
		return nil
	}
	b := c.b[c.i : c.i+n : c.i+n]
	c.i += n
	return b
}

// cstr reads a NUL-terminated string (without the NUL).
func (c *cursor) cstr() []byte {
	if c.bad {
		return nil
	}
	s, ok := cstrAt(c.b, c.i)
	if !ok {
		c.bad = true
		return nil
	}
	c.i += uint64(len(s)) + 1
	return s
}

func cstrAt(sec []byte, off uint64) ([]byte, bool) {
	if off >= uint64(len(sec)) {
		return nil, false
	}
	rest := sec[off:]
	i := bytes.IndexByte(rest, 0)
	if i < 0 {
		return nil, false
	}
	return rest[:i:i], true
}
