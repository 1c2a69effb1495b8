package die

import (
	"debug/dwarf"
	"errors"
	"fmt"
)

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
