package values

import (
	"encoding/binary"
	"math"

	"github.com/dsecore/dsecore/coreparse/symbols"
)

// Floating-point and bool results of expressions: the types gdb gives
// C's arithmetic on floats and its comparisons.

// floatValue is a computed floating-point value of size bytes (float,
// double or long double: the type gdb gives an operation, the larger of
// its floating-point operands'; computed in double).
func (r *Reader) floatValue(x float64, size int64) *Value {
	names := map[int64]string{4: "float", 8: "double", 16: "long double"}
	m, off := r.baseType(names[size])
	if m == nil && size != 8 {
		size = 8
		m, off = r.baseType("double")
	}
	if m == nil {
		fail("no %s type in the program's DWARF", names[size])
	}
	var b []byte
	switch size {
	case 4:
		b = binary.LittleEndian.AppendUint32(nil, math.Float32bits(float32(x)))
	case 16:
		b = x87(x)
	default:
		b = binary.LittleEndian.AppendUint64(nil, math.Float64bits(x))
	}
	return &Value{Mod: m, Type: off, Bytes: b, Where: "computed"}
}

// x87 is x as an x87 extended float in 16 bytes (exact: a double fits).
func x87(x float64) []byte {
	b := make([]byte, 16)
	var se uint16
	if math.Signbit(x) {
		se = 0x8000
	}
	switch {
	case math.IsInf(x, 0):
		se |= 0x7fff
		binary.LittleEndian.PutUint64(b, 1<<63)
	case math.IsNaN(x):
		se |= 0x7fff
		binary.LittleEndian.PutUint64(b, 3<<62)
	case x != 0:
		fr, exp := math.Frexp(math.Abs(x)) // x = fr · 2^exp, fr in [0.5, 1)
		binary.LittleEndian.PutUint64(b, uint64(math.Ldexp(fr, 64)))
		se |= uint16(exp - 1 + 16383)
	}
	binary.LittleEndian.PutUint16(b[8:], se)
	return b
}

// floatSize is the size of the larger floating-point operand's type.
func (r *Reader) floatSize(vs ...*Value) int64 {
	var n int64
	for _, v := range vs {
		if r.isFloat(v) {
			n = max(n, r.Resolved(v).Size)
		}
	}
	return n
}

// isFloat says whether v is a floating-point number.
func (r *Reader) isFloat(v *Value) bool {
	if v.Absent() || v.Mod == nil {
		return false
	}
	ty := r.Resolved(v)
	return ty != nil && ty.Kind == symbols.KindBase && ty.Encoding == ateFloat
}

// mustFloat is v as a double: a float read as such, an integer converted.
func (r *Reader) mustFloat(v *Value) float64 {
	if !r.isFloat(v) {
		x := r.mustInt(v)
		if ty := r.Resolved(v); ty != nil && ty.Kind == symbols.KindPointer {
			fail("a pointer in floating-point arithmetic")
		}
		if ty := r.Resolved(v); ty != nil && ty.Kind == symbols.KindBase && (ty.Encoding == ateUnsigned || ty.Encoding == ateUnsignedChar) {
			return float64(uint64(x))
		}
		return float64(x)
	}
	f, err := r.Float(v)
	if err != nil {
		fail("%v", err)
	}
	return f
}

// floatBinary is a binary operator with a floating-point operand: the
// arithmetic and comparisons of C; the integer-only operators fail.
func (p *parser) floatBinary(op string, x, y float64, size int64) *Value {
	r := p.r
	switch op {
	case "+":
		return r.floatValue(x+y, size)
	case "-":
		return r.floatValue(x-y, size)
	case "*":
		return r.floatValue(x*y, size)
	case "/":
		return r.floatValue(x/y, size)
	}
	if b, ok := compare(op, x, y); ok {
		return r.boolValue(b)
	}
	fail("invalid operands to %s: floating-point", op)
	return nil
}

// compare is C's comparisons and logical operators on two numbers of one
// type (integers or floating point); ok is false for any other operator.
func compare[T int64 | float64](op string, x, y T) (b, ok bool) {
	switch op {
	case "==":
		return x == y, true
	case "!=":
		return x != y, true
	case "<":
		return x < y, true
	case "<=":
		return x <= y, true
	case ">":
		return x > y, true
	case ">=":
		return x >= y, true
	case "&&":
		return x != 0 && y != 0, true
	case "||":
		return x != 0 || y != 0, true
	}
	return false, false
}

// boolValue is a computed bool (C++'s type of a comparison and of !, &&,
// ||; gdb prints it true or false), a long where the program has no bool.
func (r *Reader) boolValue(b bool) *Value {
	x := int64(0)
	if b {
		x = 1
	}
	if m, off := r.baseType("bool"); m != nil && m.Syms.SizeOf(off) == 1 {
		return &Value{Mod: m, Type: off, Bytes: []byte{byte(x)}, Where: "computed"}
	}
	return r.intValue(x)
}
