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
	"debug/dwarf"
	"fmt"
	"sort"
	"sync"

	"github.com/dsecore/dsecore/internal/par"
)

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
	sigOnce par.Once
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

	lineOnce par.Once
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
	once par.Once
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
	// The units in one allocation, not one each: one object per unit of
	// libc's and libceph-common's was ~2 % of a warm first answer (perf,
	// ceph-mon), in the allocator.
	all := make([]unit, len(units))
	for i, h := range units {
		if h.Off < prev || h.First <= h.Off || h.End < h.First || h.End > uint64(len(s.Info)) {
			return nil, fmt.Errorf("unit %d at %#x does not fit .debug_info", i, h.Off)
		}
		prev = h.End
		u := &all[i]
		u.UnitHeader, u.src = h, &d.main
		d.units[i] = u
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
