package die

import (
	"debug/dwarf"
	"fmt"
)

// LocList is where an entry's location list lies and what reading it
// needs: the section (or a split unit's contribution), the list's offset
// in it, the unit's base address and its part of .debug_addr.
type LocList struct {
	Sec      []byte // .debug_loclists from DWARF 5, .debug_loc before (a split unit's: its .dwo's)
	Off      uint64
	Version  int
	GNUSplit bool   // GNU split DWARF's .debug_loc.dwo: DW_LLE_GNU_* entries, addresses by index
	Base     uint64 // the unit's base address
	Addr     []byte // .debug_addr
	AddrBase uint64 // the unit's part of it
	AddrSize int
}

// LocList returns where the location list of attribute a of e lies;
// false when the attribute is not a location list. loc and loclists are
// the file's own .debug_loc and .debug_loclists (read by the caller, on
// demand); a split unit's come from its .dwo.
func (d *Data) LocList(e *Entry, a dwarf.Attr, loc, loclists []byte) (LocList, bool, error) {
	f := e.AttrField(a)
	if f == nil {
		return LocList{}, false, nil
	}
	u := e.u
	if u == nil {
		i := d.unitOf(uint64(e.Offset))
		if i < 0 {
			return LocList{}, false, fmt.Errorf("entry at %#x is in no unit", e.Offset)
		}
		u = d.units[i]
	}
	if err := d.enter(u); err != nil {
		return LocList{}, false, err
	}
	l := LocList{Version: int(u.Version), Base: u.base, Addr: u.src.s.Addr, AddrBase: u.addrBase, AddrSize: int(u.AddrSize)}
	switch {
	case u.split && u.Version >= 5:
		l.Sec = u.src.s.LocLists
	case u.split:
		l.Sec, l.GNUSplit = u.src.s.Loc, true
	case u.Version >= 5:
		l.Sec = loclists
	default:
		l.Sec = loc
	}
	switch f.Form {
	case formSecOffset, formData4, formData8:
		if f.Class != dwarf.ClassLocListPtr && f.Class != dwarf.ClassLocList && f.Form != formSecOffset {
			return LocList{}, false, nil
		}
		l.Off = f.u
	case formLoclistx:
		sz := uint64(4)
		if u.Is64 {
			sz = 8
		}
		p := u.locBase + f.u*sz
		if f.u > 1<<40 || p+sz > uint64(len(l.Sec)) || p+sz < p {
			return LocList{}, false, fmt.Errorf("%w: DW_FORM_loclistx index %d out of range", ErrFormat, f.u)
		}
		c := cursor{b: l.Sec, i: p}
		l.Off = u.locBase + c.offset(u.Is64)
	default:
		return LocList{}, false, nil
	}
	if l.Sec == nil {
		return LocList{}, false, fmt.Errorf("no location list section")
	}
	return l, true, nil
}

// DW_LLE_GNU_* (GNU split DWARF's .debug_loc.dwo).
const (
	lleGNUEnd         = 0
	lleGNUBase        = 1
	lleGNUStartEnd    = 2
	lleGNUStartLength = 3
)

// FindGNUSplit returns the expression of a .debug_loc.dwo list's entry
// covering pc: addresses are indices into the unit's .debug_addr.
func (l LocList) FindGNUSplit(pc uint64) ([]byte, bool, error) {
	c := cursor{b: l.Sec, i: l.Off}
	addr := func(idx uint64) (uint64, error) {
		p := l.AddrBase + idx*uint64(l.AddrSize)
		if idx > 1<<40 || p+uint64(l.AddrSize) > uint64(len(l.Addr)) {
			return 0, fmt.Errorf("%w: location list at %#x: address index %d out of range", ErrFormat, l.Off, idx)
		}
		ac := cursor{b: l.Addr, i: p}
		return ac.addr(uint8(l.AddrSize)), nil
	}
	for n := 0; n < 1<<20; n++ {
		kind := c.u8()
		if c.bad {
			return nil, false, fmt.Errorf("%w: location list at %#x truncated", ErrFormat, l.Off)
		}
		var lo, hi uint64
		switch kind {
		case lleGNUEnd:
			return nil, false, nil
		case lleGNUBase:
			// A base for offset pairs, which GNU split lists do not have.
			c.uleb()
			continue
		case lleGNUStartEnd:
			a, err := addr(c.uleb())
			if err != nil {
				return nil, false, err
			}
			b, err := addr(c.uleb())
			if err != nil {
				return nil, false, err
			}
			lo, hi = a, b
		case lleGNUStartLength:
			a, err := addr(c.uleb())
			if err != nil {
				return nil, false, err
			}
			lo, hi = a, a+uint64(c.u32())
		default:
			return nil, false, fmt.Errorf("%w: location list at %#x: entry kind %d", ErrFormat, l.Off, kind)
		}
		expr := c.bytes(uint64(c.u16()))
		if c.bad {
			return nil, false, fmt.Errorf("%w: location list at %#x truncated", ErrFormat, l.Off)
		}
		if pc >= lo && pc < hi {
			return expr, true, nil
		}
	}
	return nil, false, fmt.Errorf("%w: location list at %#x: too long", ErrFormat, l.Off)
}
