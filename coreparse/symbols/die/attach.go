package die

import (
	"debug/dwarf"
	"encoding/binary"
	"errors"
	"fmt"
)

// The attributes of skeleton units (GNU split DWARF, DWARF 4) and of dwz
// (not in debug/dwarf).
const (
	attrGNUDWOName    = dwarf.Attr(0x2130)
	attrGNUDWOID      = dwarf.Attr(0x2131)
	attrGNURangesBase = dwarf.Attr(0x2132)
	attrGNUAddrBase   = dwarf.Attr(0x2133)
	attrDWOName       = dwarf.Attr(0x76) // DW_AT_dwo_name (DWARF 5)
	tagSkeletonUnit   = dwarf.Tag(0x4a)
)

// space is where the next attached file's entries start: past the last
// unit, rounded up to 64 KiB.
func (d *Data) space() uint64 {
	return (d.End() + 0x10000) &^ 0xffff
}

// AttachSupplementary adds the entries of the file's supplementary file
// (dwz's .gnu_debugaltlink, DWARF 5 .debug_sup): its units after the
// file's own, from SupBase on. References into it and its strings resolve
// from then on. It must be called before any entry is read, and before
// AttachSplit.
func (d *Data) AttachSupplementary(s Sections) error {
	if d.sup != nil || len(d.units) != d.nMain {
		return errors.New("a supplementary file is attached after other files")
	}
	hs, err := ParseHeaders(s.Info)
	if err != nil {
		return fmt.Errorf("supplementary file: %w", err)
	}
	src := &source{s: s, shift: d.space()}
	if err := d.add(src, hs, false); err != nil {
		return err
	}
	d.sup = src
	return nil
}

// AttachTypes adds the type units of DWARF 4's .debug_types section
// (g++ -gdwarf-4 -fdebug-types-section): its units after the file's own
// (and its supplementary file's), read with the file's other sections.
// DW_FORM_ref_sig8 references into them resolve from then on. It must be
// called before any entry is read, and before AttachSplit.
func (d *Data) AttachTypes(types []byte) error {
	if d.types || len(d.splits) > 0 {
		return errors.New(".debug_types attached twice, or after split units")
	}
	for _, u := range d.units[d.nMain:] {
		if u.split {
			return errors.New(".debug_types attached after split units")
		}
	}
	hs, err := ParseTypeHeaders(types)
	if err != nil {
		return fmt.Errorf(".debug_types: %w", err)
	}
	s := d.main.s
	s.Info = types
	src := &source{s: s, shift: d.space()}
	if err := d.add(src, hs, false); err != nil {
		return err
	}
	d.types = true
	return nil
}

// HasTypeUnits reports whether the file has type units (in .debug_info,
// or in an attached .debug_types).
func (d *Data) HasTypeUnits() bool {
	d.sigOnce.Do(d.indexSignatures)
	return len(d.sigs) > 0
}

// typeEntry is the offset of the type entry of the type unit with the
// signature sig.
func (d *Data) typeEntry(sig uint64) (uint64, bool) {
	d.sigOnce.Do(d.indexSignatures)
	off, ok := d.sigs[sig]
	return off, ok
}

// indexSignatures maps every type unit's signature to its type's entry:
// the two fields that end the unit's header (signature, type offset),
// read from its bytes; no entry is decoded. A split type unit (a .dwo's)
// is not indexed: its signatures are the package's.
func (d *Data) indexSignatures() {
	d.sigs = map[uint64]uint64{}
	for _, u := range d.units {
		if u.UnitType != utType || u.split {
			continue
		}
		b, first := u.info(u.First)
		osz := uint64(4)
		if u.Is64 {
			osz = 8
		}
		if first < 8+osz {
			continue
		}
		sig := binary.LittleEndian.Uint64(b[first-8-osz:])
		c := cursor{b: b, i: first - osz}
		typeOff := c.offset(u.Is64) + u.Off
		if c.bad || typeOff < u.First || typeOff >= u.End {
			continue
		}
		if _, dup := d.sigs[sig]; !dup {
			d.sigs[sig] = typeOff
		}
	}
}

// SupBase is where the supplementary file's entries start in the offset
// space (0 without one).
func (d *Data) SupBase() uint64 {
	if d.sup == nil {
		return 0
	}
	return d.sup.shift
}

// add appends a source's units, shifted.
func (d *Data) add(src *source, hs []UnitHeader, split bool) error {
	for _, h := range hs {
		h.Off += src.shift
		h.First += src.shift
		h.End += src.shift
		if h.End >= 1<<32 {
			return errors.New("attached DWARF past 4 GiB of entries")
		}
		d.units = append(d.units, &unit{UnitHeader: h, src: src, split: split})
	}
	return nil
}

// Skeleton is a skeleton unit: a unit of the file whose entries are in a
// split unit of a .dwo file or a .dwp package.
type Skeleton struct {
	Entry   dwarf.Offset // the skeleton's unit entry
	Name    string       // DW_AT_dwo_name (DW_AT_GNU_dwo_name)
	CompDir string
	ID      uint64 // the split unit's id: DWARF 5's unit header, DW_AT_GNU_dwo_id before
	Version int
}

// Skeletons lists the file's skeleton units. A DWARF 5 unit says what it
// is in its header; an earlier one is read only when it is one entry long
// (a GNU skeleton: a compile unit without children).
func (d *Data) Skeletons() []Skeleton {
	var out []Skeleton
	for i := 0; i < d.nMain; i++ {
		u := d.units[i]
		switch {
		case u.Version >= 5 && u.UnitType != utSkeleton:
			continue
		case u.Version < 5 && u.End-u.First > 512:
			continue
		}
		e, err := d.FirstEntry(i)
		if err != nil || e.Children {
			continue
		}
		sk := Skeleton{Entry: e.Offset, Version: int(u.Version)}
		sk.CompDir, _ = e.Str(dwarf.AttrCompDir)
		if u.Version >= 5 {
			sk.Name, _ = e.Str(attrDWOName)
			if b, first := u.info(u.First); first >= 8 {
				sk.ID = binary.LittleEndian.Uint64(b[first-8:])
			}
		} else {
			var ok bool
			if sk.Name, ok = e.Str(attrGNUDWOName); !ok {
				continue
			}
			id, _ := e.Int(attrGNUDWOID)
			if f := e.AttrField(attrGNUDWOID); f != nil && f.Form == formData8 {
				id = int64(f.u)
			}
			sk.ID = uint64(id)
		}
		if sk.Name == "" {
			continue
		}
		out = append(out, sk)
	}
	return out
}

// ErrWrongDWO is the error of AttachSplit when the split unit found is
// not the skeleton's (another build's .dwo: its id differs).
var ErrWrongDWO = errors.New("split unit id does not match the skeleton's")

// AttachSplit adds a skeleton's split unit: s are the sections of its .dwo
// file, or its contributions in a .dwp package, with the file's own
// .debug_addr (the skeleton's DW_AT_addr_base indexes it) and, for GNU
// split DWARF, its .debug_ranges. The unit's entries come after every
// unit attached before; the skeleton's addresses, bases and line table are
// the unit's. Attach the splits in Skeletons' order before any entry is
// read: the offsets they get must be the same on every run.
func (d *Data) AttachSplit(sk Skeleton, s Sections) (dwarf.Offset, error) {
	hs, err := ParseHeaders(s.Info)
	if err != nil {
		return 0, err
	}
	var h *UnitHeader
	for i := range hs {
		switch hs[i].UnitType {
		case utSplitCompile:
			if h == nil || binary.LittleEndian.Uint64(s.Info[hs[i].First-8:]) == sk.ID {
				h = &hs[i]
			}
		case utCompile:
			if h == nil && hs[i].Version < 5 {
				h = &hs[i]
			}
		}
	}
	if h == nil {
		return 0, errors.New("no split compile unit")
	}
	if h.Version >= 5 && binary.LittleEndian.Uint64(s.Info[h.First-8:]) != sk.ID {
		return 0, ErrWrongDWO
	}
	skIdx := d.unitOf(uint64(sk.Entry))
	if skIdx < 0 || skIdx >= d.nMain {
		return 0, fmt.Errorf("skeleton at %#x is in no unit of the file", sk.Entry)
	}
	skel := d.units[skIdx]
	if err := d.enter(skel); err != nil {
		return 0, err
	}
	src := &source{s: s, shift: d.space()}
	if err := d.add(src, []UnitHeader{*h}, true); err != nil {
		return 0, err
	}
	u := d.units[len(d.units)-1]
	u.base = skel.base
	u.addrBase = skel.addrBase
	se := skel.first
	if v, ok := se.Int(attrGNUAddrBase); ok {
		u.addrBase = uint64(v)
	}
	if v, ok := se.Int(attrGNURangesBase); ok {
		u.rangesBase = uint64(v)
	}
	// Addresses are the file's (.debug_addr, from the skeleton's base), and
	// so are GNU split units' range lists (.debug_ranges, from the
	// skeleton's DW_AT_GNU_ranges_base).
	if src.s.Addr == nil {
		src.s.Addr = d.main.s.Addr
	}
	if h.Version < 5 {
		src.s.Ranges = d.main.s.Ranges
	}
	if h.Version >= 5 {
		// The split unit's string offsets, range and location lists: its
		// (only) contribution's tables, after their headers.
		hdr := uint64(8)
		lists := uint64(12)
		if h.Is64 {
			hdr, lists = 16, 20
		}
		if len(s.StrOffsets) > 0 {
			u.strOffBase = hdr
		}
		if len(s.RngLists) > 0 {
			u.rngBase = lists
		}
		if len(s.LocLists) > 0 {
			u.locBase = lists
		}
	}
	if err := d.enter(u); err != nil {
		d.units = d.units[:len(d.units)-1]
		return 0, err
	}
	if h.Version < 5 {
		if id, ok := u.first.Int(attrGNUDWOID); ok {
			if f := u.first.AttrField(attrGNUDWOID); f != nil && f.Form == formData8 {
				id = int64(f.u)
			}
			if uint64(id) != sk.ID {
				d.units = d.units[:len(d.units)-1]
				return 0, ErrWrongDWO
			}
		}
	}
	if d.splits == nil {
		d.splits = map[uint64]int{}
	}
	d.splits[uint64(sk.Entry)] = len(d.units) - 1
	return dwarf.Offset(u.First), nil
}

// Split returns the entry of the split unit attached for the skeleton
// whose unit entry is at skel; false when none is.
func (d *Data) Split(skel dwarf.Offset) (dwarf.Offset, bool) {
	i, ok := d.splits[uint64(skel)]
	if !ok {
		return 0, false
	}
	return dwarf.Offset(d.units[i].First), true
}

// IsSkeleton reports whether the unit entry at off is a skeleton unit's
// (split or not).
func (d *Data) IsSkeleton(e *Entry) bool {
	if e.Tag == tagSkeletonUnit {
		return true
	}
	if e.Tag != dwarf.TagCompileUnit || e.Children {
		return false
	}
	_, ok := e.Str(attrGNUDWOName)
	if !ok {
		_, ok = e.Str(attrDWOName)
	}
	return ok
}

// End is the end of the offset space: past the last unit of every file.
func (d *Data) End() uint64 {
	end := uint64(len(d.main.s.Info))
	if n := len(d.units); n > 0 && d.units[n-1].End > end {
		end = d.units[n-1].End
	}
	return end
}
