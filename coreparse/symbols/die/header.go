package die

import (
	"fmt"
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
