package die

import (
	"debug/dwarf"
	"encoding/binary"
	"fmt"
)

// Ranges returns the address ranges of an entry, [low, high) pairs, as
// dwarf.Data.Ranges does: DW_AT_low_pc with DW_AT_high_pc, and DW_AT_ranges
// (.debug_ranges before DWARF 5, .debug_rnglists from 5, DW_FORM_rnglistx
// included), based on the unit's DW_AT_entry_pc or DW_AT_low_pc.
func (d *Data) Ranges(e *Entry) ([][2]uint64, error) {
	var ret [][2]uint64
	low, lowOK := e.Addr(dwarf.AttrLowpc)
	var high uint64
	var highOK bool
	if hf := e.AttrField(dwarf.AttrHighpc); hf != nil {
		switch hf.Class {
		case dwarf.ClassAddress:
			high, highOK = hf.u, true
		case dwarf.ClassConstant:
			if v, ok := hf.Val().(int64); ok {
				high, highOK = low+uint64(v), true
			}
		}
	}
	if lowOK && highOK {
		ret = append(ret, [2]uint64{low, high})
	}
	rf := e.AttrField(dwarf.AttrRanges)
	if rf == nil {
		return ret, nil
	}
	u := e.u
	if u == nil {
		i := d.unitOf(uint64(e.Offset))
		if i < 0 {
			return nil, fmt.Errorf("entry at %#x is in no unit", e.Offset)
		}
		u = d.units[i]
	}
	if err := d.enter(u); err != nil {
		return nil, err
	}
	base := u.base
	if e.Tag == dwarf.TagCompileUnit && !u.split {
		// debug/dwarf takes the base from the entry itself then.
		if v, ok := e.Addr(dwarf.AttrEntrypc); ok {
			base = v
		} else if v, ok := e.Addr(dwarf.AttrLowpc); ok {
			base = v
		} else {
			base = 0
		}
	}
	sec := &u.src.s
	if u.Version >= 5 && sec.RngLists != nil {
		var off uint64
		switch rf.Class {
		case dwarf.ClassRangeListPtr:
			v, ok := rf.Val().(int64)
			if !ok {
				return ret, nil
			}
			if v < 0 {
				return nil, fmt.Errorf("invalid rnglist offset %d", v)
			}
			off = uint64(v)
		case dwarf.ClassRngList:
			off = rf.u
		default:
			return ret, nil
		}
		return d.rnglists(u, base, off, ret)
	}
	v, ok := rf.Val().(int64)
	if !ok || sec.Ranges == nil {
		return ret, nil
	}
	if u.split && rf.Form == formSecOffset {
		// GNU split DWARF: relative to the skeleton's DW_AT_GNU_ranges_base.
		v += int64(u.rangesBase)
	}
	return d.ranges(u, base, v, ret)
}

// ranges reads a .debug_ranges list (DWARF 2 to 4).
func (d *Data) ranges(u *unit, base uint64, off int64, ret [][2]uint64) ([][2]uint64, error) {
	sec := u.src.s.Ranges
	if off < 0 || off > int64(len(sec)) {
		return nil, fmt.Errorf("invalid range offset %d (max %d)", off, len(sec))
	}
	c := cursor{b: sec, i: uint64(off)}
	maxAddr := ^uint64(0) >> uint((8-u.AddrSize)*8)
	for c.i < uint64(len(c.b)) {
		lo, hi := c.addr(u.AddrSize), c.addr(u.AddrSize)
		if c.bad {
			return nil, fmt.Errorf("%w: range list at %#x truncated", ErrFormat, off)
		}
		if lo == 0 && hi == 0 {
			break
		}
		if lo == maxAddr {
			base = hi
		} else {
			ret = append(ret, [2]uint64{base + lo, base + hi})
		}
	}
	return ret, nil
}

// DW_RLE_* (DWARF 5, 7.25).
const (
	rleEndOfList    = 0
	rleBaseAddressx = 1
	rleStartxEndx   = 2
	rleStartxLength = 3
	rleOffsetPair   = 4
	rleBaseAddress  = 5
	rleStartEnd     = 6
	rleStartLength  = 7
)

// rnglists reads a .debug_rnglists list (DWARF 5).
func (d *Data) rnglists(u *unit, base, off uint64, ret [][2]uint64) ([][2]uint64, error) {
	sec := u.src.s.RngLists
	if off > uint64(len(sec)) {
		return nil, fmt.Errorf("invalid rnglist offset %d (max %d)", off, len(sec))
	}
	c := cursor{b: sec, i: off}
	addr := func(idx uint64) (uint64, error) {
		a, ok := d.debugAddr(u, u.addrBase, idx)
		if !ok {
			return 0, fmt.Errorf("%w: rnglist at %#x: address index %d out of range", ErrFormat, off, idx)
		}
		return a, nil
	}
	for n := 0; ; n++ {
		op := c.u8()
		if c.bad {
			return nil, fmt.Errorf("%w: rnglist at %#x truncated", ErrFormat, off)
		}
		switch op {
		case rleEndOfList:
			return ret, nil
		case rleBaseAddressx:
			a, err := addr(c.uleb())
			if err != nil {
				return nil, err
			}
			base = a
		case rleStartxEndx:
			i, j := c.uleb(), c.uleb()
			lo, err := addr(i)
			if err != nil {
				return nil, err
			}
			hi, err := addr(j)
			if err != nil {
				return nil, err
			}
			ret = append(ret, [2]uint64{lo, hi})
		case rleStartxLength:
			i, n := c.uleb(), c.uleb()
			lo, err := addr(i)
			if err != nil {
				return nil, err
			}
			ret = append(ret, [2]uint64{lo, lo + n})
		case rleOffsetPair:
			a, b := c.uleb(), c.uleb()
			ret = append(ret, [2]uint64{base + a, base + b})
		case rleBaseAddress:
			base = c.addr(u.AddrSize)
		case rleStartEnd:
			a, b := c.addr(u.AddrSize), c.addr(u.AddrSize)
			ret = append(ret, [2]uint64{a, b})
		case rleStartLength:
			a, n := c.addr(u.AddrSize), c.uleb()
			ret = append(ret, [2]uint64{a, a + n})
		default:
			return nil, fmt.Errorf("%w: rnglist at %#x: unknown entry kind %d", ErrFormat, off, op)
		}
		if c.bad {
			return nil, fmt.Errorf("%w: rnglist at %#x truncated", ErrFormat, off)
		}
	}
}

// LineReader returns the line table of a unit (its entry, as Next or
// UnitEntry returned it), read by debug/dwarf's own line-program reader:
// it is handed the table's offset and the unit's directory through a
// one-unit stand-in for the unit, so the rows and file names are
// debug/dwarf's. nil, nil when the unit has no line table.
func (d *Data) LineReader(cu *Entry) (*dwarf.LineReader, error) {
	src := &d.main
	if cu.u != nil {
		src = cu.u.src
	}
	if src.s.Line == nil {
		return nil, nil
	}
	off, ok := cu.Int(dwarf.AttrStmtList)
	if !ok {
		return nil, nil
	}
	if off < 0 || off > int64(len(src.s.Line)) {
		return nil, fmt.Errorf("AttrStmtList value out of range")
	}
	src.lineOnce.Do(func() { src.lineData, src.lineErr = src.lineStandIn() })
	if src.lineErr != nil {
		return nil, src.lineErr
	}
	compDir, _ := cu.Str(dwarf.AttrCompDir)
	fake := &dwarf.Entry{Offset: standInFirst, Tag: dwarf.TagCompileUnit, Field: []dwarf.Field{
		{Attr: dwarf.AttrStmtList, Val: off, Class: dwarf.ClassLinePtr},
		{Attr: dwarf.AttrCompDir, Val: compDir, Class: dwarf.ClassString},
	}}
	return src.lineData.LineReader(fake)
}

// standInFirst is the offset of the stand-in unit's entry: after a DWARF 4
// header (length 4, version 2, abbreviation offset 4, address size 1).
const standInFirst = 11

// lineStandIn is a debug/dwarf Data over a file's line, string and
// line-string sections with one empty 64-bit-address unit of its own:
// what dwarf.Data.LineReader needs besides the bytes of the table.
func (src *source) lineStandIn() (*dwarf.Data, error) {
	d := src
	abbrev := []byte{1, 0x11, 0, 0, 0, 0} // code 1: DW_TAG_compile_unit, no children, no attributes; end
	info := binary.LittleEndian.AppendUint32(nil, 7+1)
	info = binary.LittleEndian.AppendUint16(info, 4)
	info = binary.LittleEndian.AppendUint32(info, 0)
	info = append(info, 8, 1) // address size, the entry (abbreviation 1)
	dd, err := dwarf.New(abbrev, nil, nil, info, d.s.Line, nil, nil, d.s.Str)
	if err != nil {
		return nil, err
	}
	if d.s.LineStr != nil {
		if err := dd.AddSection(".debug_line_str", d.s.LineStr); err != nil {
			return nil, err
		}
	}
	return dd, nil
}
