package values

import (
	"debug/dwarf"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/dsecore/dsecore/coreparse/symbols"
)

// Summary is the one-line form of a value, as a debugger shows it next to
// its name.
func (r *Reader) Summary(v *Value, hex bool) string {
	if v.Absent() {
		if v.Absence == OptimizedOut {
			return "<optimized out>"
		}
		return v.AbsentText()
	}
	ty := r.Resolved(v)
	if ty == nil {
		if len(v.Bytes) >= 8 {
			return fmt.Sprintf("%#x", binary.LittleEndian.Uint64(v.Bytes))
		}
		return "<no type>"
	}
	num := func(x uint64, signed int64, isSigned bool) string {
		if hex {
			return fmt.Sprintf("%#x", x)
		}
		if isSigned {
			return strconv.FormatInt(signed, 10)
		}
		return strconv.FormatUint(x, 10)
	}
	switch ty.Kind {
	case symbols.KindBase:
		switch ty.Encoding {
		case ateFloat:
			f, err := r.Float(v)
			if err != nil {
				return errText(err)
			}
			return strconv.FormatFloat(f, 'g', -1, 64)
		case ateBoolean:
			x, err := r.Uint(v)
			if err != nil {
				return errText(err)
			}
			return strconv.FormatBool(x != 0)
		}
		x, err := r.Uint(v)
		if err != nil {
			return errText(err)
		}
		s, _ := r.Int(v)
		signed := ty.Encoding == ateSigned || ty.Encoding == ateSignedChar
		out := num(x, s, signed)
		if (ty.Encoding == ateSignedChar || ty.Encoding == ateUnsignedChar || ty.Encoding == ateUTF) && ty.Size == 1 {
			out += " " + strconv.QuoteRune(rune(byte(x)))
			out = strings.Replace(out, "\"", "'", 2)
		}
		return out
	case symbols.KindEnum:
		s, err := r.Int(v)
		if err != nil {
			return errText(err)
		}
		if name, ok := ty.Enum[s]; ok {
			return fmt.Sprintf("%s (%d)", name, s)
		}
		return num(uint64(s), s, true)
	case symbols.KindPointer:
		x, err := r.Uint(v)
		if err != nil {
			return errText(err)
		}
		if ty.Tag != dwarf.TagPointerType { // a reference: show the referent
			d, err := r.Deref(v)
			if err != nil {
				return errText(err)
			}
			return fmt.Sprintf("@%#x: %s", x, r.Summary(d, hex))
		}
		s := fmt.Sprintf("%#x", x)
		if x == 0 {
			return "0x0"
		}
		if el := resolve(v.Mod.Syms, ty.Elem); el != nil && el.Kind == symbols.KindBase && el.Size == 1 && el.Encoding != ateBoolean {
			if str, err := r.P.Core.ReadCString(x, r.MaxString); err == nil {
				return s + " " + strconv.Quote(str)
			}
		}
		if el, _ := v.Mod.Syms.TypeAt(ty.Elem); el != nil && el.Kind == symbols.KindFunc || ty.Elem == 0 {
			if name, off, ok := r.P.Symbol(x); ok {
				if off == 0 {
					return fmt.Sprintf("%s <%s>", s, name)
				}
				return fmt.Sprintf("%s <%s+%d>", s, name, off)
			}
		}
		if !r.P.Core.Readable(x) {
			return s + " <not in the core>"
		}
		if m := r.P.ModuleAt(x); m != nil && m.Syms != nil {
			if name, start, ok := m.Syms.NearestSymbol(x - m.Bias); ok && start == x-m.Bias {
				return fmt.Sprintf("%s <%s>", s, symbols.Demangle(name))
			}
		}
		return s
	case symbols.KindArray:
		n := ty.Count
		if el := resolve(v.Mod.Syms, ty.Elem); el != nil && el.Kind == symbols.KindBase && el.Size == 1 && n > 0 {
			b, err := r.Read(v, min(n, int64(r.MaxString)))
			if err != nil {
				return errText(err)
			}
			if i := strings.IndexByte(string(b), 0); i >= 0 {
				b = b[:i]
			}
			return strconv.Quote(string(b))
		}
		return fmt.Sprintf("[%d]", n)
	case symbols.KindStruct:
		if s, ok := r.prettySummary(v, ty, hex); ok {
			return s
		}
		return "{…}"
	case symbols.KindFunc:
		return "<function>"
	}
	return "?"
}

func errText(err error) string { return "<error: " + err.Error() + ">" }

// HasChildren says whether a value expands.
func (r *Reader) HasChildren(v *Value) bool {
	if v.Absent() {
		return false
	}
	ty := r.Resolved(v)
	if ty == nil {
		return false
	}
	switch ty.Kind {
	case symbols.KindStruct:
		return true
	case symbols.KindArray:
		return ty.Count > 0
	case symbols.KindPointer:
		x, err := r.Uint(v)
		if err != nil || x == 0 || ty.Elem == 0 {
			return false
		}
		el := resolve(v.Mod.Syms, ty.Elem)
		if el == nil || el.Kind == symbols.KindFunc {
			return false
		}
		if el.Kind == symbols.KindBase && el.Size == 1 {
			return false // char *: the string is the summary
		}
		return r.P.Core.Readable(x)
	}
	return false
}

// IndexedCount is the number of indexed children (arrays, vectors, lists)
// for paging, 0 when the children are named.
func (r *Reader) IndexedCount(v *Value) int {
	ty := r.Resolved(v)
	if ty == nil || v.Absent() {
		return 0
	}
	if ty.Kind == symbols.KindArray {
		return int(max(ty.Count, 0))
	}
	if ty.Kind == symbols.KindStruct {
		if n, ok := r.prettyCount(v, ty); ok {
			return n
		}
	}
	return 0
}

// Children lists a value's children: members (with base classes first,
// named "<Base>"), elements ("[i]", from start, count of them; count 0
// means all), the pointee of a pointer, or a library type's readable form.
func (r *Reader) Children(v *Value, start, count int) ([]*Value, error) {
	if v.Absent() {
		return nil, errors.New(v.AbsentText())
	}
	ty := r.Resolved(v)
	if ty == nil {
		return nil, errors.New("no type")
	}
	if count <= 0 {
		count = r.MaxList
	}
	switch ty.Kind {
	case symbols.KindArray:
		var out []*Value
		for i := start; i < int(ty.Count) && len(out) < count; i++ {
			e, err := r.Index(v, int64(i))
			if err != nil {
				return out, err
			}
			out = append(out, e)
		}
		return out, nil
	case symbols.KindPointer:
		d, err := r.Deref(v)
		if err != nil {
			return nil, err
		}
		if el := r.Resolved(d); el != nil && el.Kind == symbols.KindStruct {
			return r.Children(d, start, count)
		}
		d.Name = "*" + v.Name
		return []*Value{d}, nil
	case symbols.KindStruct:
		if kids, ok, err := r.prettyChildren(v, ty, start, count); ok {
			return kids, err
		}
		return r.members(v, ty), nil
	}
	return nil, nil
}
