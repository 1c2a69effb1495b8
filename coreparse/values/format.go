package values

import (
	"debug/dwarf"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
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
			b, err := r.Read(v, ty.Size)
			if err != nil {
				return errText(err)
			}
			return formatFloat(b)
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
		if name, ok := v.Mod.Syms.Enumerator(ty, s); ok {
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
			if name, off, ok := m.Syms.PointeeSymbol(x - m.Bias); ok {
				if off == 0 {
					return fmt.Sprintf("%s <%s>", s, name)
				}
				return fmt.Sprintf("%s <%s+%d>", s, name, off)
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
	if start < 0 { // a client's variables request can say anything
		return nil, fmt.Errorf("no children from %d: the first is 0", start)
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

// formatFloat prints a float, double or x87 long double as gdb does: %g
// with as many significant digits as tell the type's values apart (9, 17,
// 21: gdb's floatformat_printf_format), "inf", "-inf", and "nan(0x…)" or
// "-nan(0x…)" with the mantissa's bits.
func formatFloat(b []byte) string {
	var neg, inf, nan bool
	var mant uint64
	var f *big.Float
	digits := 0
	switch len(b) {
	case 4:
		u := binary.LittleEndian.Uint32(b)
		neg, mant = u>>31 != 0, uint64(u&(1<<23-1))
		inf, nan = u>>23&0xff == 0xff && mant == 0, u>>23&0xff == 0xff && mant != 0
		if !inf && !nan {
			f = big.NewFloat(float64(math.Float32frombits(u)))
		}
		digits = 9
	case 8:
		u := binary.LittleEndian.Uint64(b)
		neg, mant = u>>63 != 0, u&(1<<52-1)
		inf, nan = u>>52&0x7ff == 0x7ff && mant == 0, u>>52&0x7ff == 0x7ff && mant != 0
		if !inf && !nan {
			f = big.NewFloat(math.Float64frombits(u))
		}
		digits = 17
	case 10, 16: // x87 extended: 64-bit mantissa with its integer bit, 15-bit exponent
		mant = binary.LittleEndian.Uint64(b)
		se := binary.LittleEndian.Uint16(b[8:])
		neg = se&0x8000 != 0
		exp := int(se & 0x7fff)
		inf, nan = exp == 0x7fff && mant<<1 == 0, exp == 0x7fff && mant<<1 != 0
		if !inf && !nan {
			if exp == 0 {
				exp = 1 // denormal: no integer bit, the smallest exponent
			}
			f = new(big.Float).SetPrec(64).SetMantExp(new(big.Float).SetPrec(64).SetUint64(mant), exp-16383-63)
			if neg {
				f.Neg(f)
			}
		}
		digits = 21
	default:
		return fmt.Sprintf("<float of %d bytes>", len(b))
	}
	sign := ""
	if neg {
		sign = "-"
	}
	switch {
	case inf:
		return sign + "inf"
	case nan:
		return fmt.Sprintf("%snan(%#x)", sign, mant)
	case f.Sign() == 0:
		return sign + "0"
	}
	return cG(f.Text('e', digits-1))
}

// cG turns %e's digits ("d.ddde±XX") into C's %g: fixed notation when the
// exponent is at least -4 and below the precision, trailing zeros dropped.
func cG(e string) string {
	neg := strings.HasPrefix(e, "-")
	e = strings.TrimPrefix(e, "-")
	i := strings.IndexByte(e, 'e')
	mant, exp := strings.Replace(e[:i], ".", "", 1), e[i+1:]
	x, _ := strconv.Atoi(exp)
	var out string
	if x < -4 || x >= len(mant) {
		frac := strings.TrimRight(mant[1:], "0")
		out = mant[:1]
		if frac != "" {
			out += "." + frac
		}
		es := "+"
		if x < 0 {
			es, x = "-", -x
		}
		out += fmt.Sprintf("e%s%02d", es, x)
	} else if x < 0 {
		out = "0." + strings.Repeat("0", -x-1) + strings.TrimRight(mant, "0")
	} else {
		out = mant[:x+1]
		if frac := strings.TrimRight(mant[x+1:], "0"); frac != "" {
			out += "." + frac
		}
	}
	if neg {
		out = "-" + out
	}
	return out
}
