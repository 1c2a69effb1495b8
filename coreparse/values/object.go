package values

import (
	"debug/dwarf"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/dsecore/dsecore/coreparse/symbols"
)

// DWARF base type encodings.
const (
	ateBoolean      = 0x2
	ateFloat        = 0x4
	ateSigned       = 0x5
	ateSignedChar   = 0x6
	ateUnsigned     = 0x7
	ateUnsignedChar = 0x8
	ateUTF          = 0x10
)

// Resolved is a value's type with typedefs and qualifiers followed, and
// declarations replaced by their definitions.
func (r *Reader) Resolved(v *Value) *symbols.Type {
	if v.Mod == nil || v.Mod.Syms == nil || v.Type == 0 {
		return nil
	}
	return resolve(v.Mod.Syms, v.Type)
}

func resolve(t *symbols.Table, off dwarf.Offset) *symbols.Type {
	for i := 0; i < 16 && off != 0; i++ {
		ty, err := t.TypeAt(off)
		if err != nil {
			return nil
		}
		if ty.Kind == symbols.KindTypedef {
			off = ty.Elem
			continue
		}
		if ty.Decl && ty.Name != "" {
			if def, ok := t.LookupType(t.TypeName(off)); ok {
				return def
			}
		}
		return ty
	}
	return nil
}

// TypeName is the value's C++ type name.
func (r *Reader) TypeName(v *Value) string {
	if v.Mod == nil || v.Mod.Syms == nil {
		return ""
	}
	return v.Mod.Syms.TypeName(v.Type)
}

// Size is the size of the value's type.
func (r *Reader) Size(v *Value) int64 {
	if v.Mod == nil || v.Mod.Syms == nil {
		return 0
	}
	return v.Mod.Syms.SizeOf(v.Type)
}

// Read returns the value's bytes (n of them).
func (r *Reader) Read(v *Value, n int64) ([]byte, error) {
	if v.Absent() {
		return nil, errors.New(v.AbsentText())
	}
	if n <= 0 || n > 1<<20 {
		return nil, fmt.Errorf("size %d", n)
	}
	if !v.InMemory() {
		if int64(len(v.Bytes)) < n {
			b := make([]byte, n)
			copy(b, v.Bytes)
			return b, nil
		}
		return v.Bytes[:n], nil
	}
	b := make([]byte, n)
	k, err := r.P.Core.ReadAt(b, v.Addr)
	if k < len(b) {
		if err == nil {
			err = fmt.Errorf("cannot access memory at %#x", v.Addr+uint64(k))
		}
		return nil, fmt.Errorf("cannot access memory at %#x", v.Addr)
	}
	return b, nil
}

// Uint reads an integer-like value (integers, enums, pointers, bool, bit
// fields) as unsigned.
func (r *Reader) Uint(v *Value) (uint64, error) {
	ty := r.Resolved(v)
	if ty == nil {
		return 0, errors.New("no type")
	}
	size := ty.Size
	if ty.Kind == symbols.KindPointer {
		size = 8
	}
	if size <= 0 || size > 8 {
		return 0, fmt.Errorf("%s is not a scalar", r.TypeName(v))
	}
	b, err := r.Read(v, size)
	if err != nil {
		return 0, err
	}
	var buf [8]byte
	copy(buf[:], b)
	x := binary.LittleEndian.Uint64(buf[:])
	if v.BitSize > 0 {
		x = (x >> uint(v.BitOffset)) & (1<<uint(v.BitSize) - 1)
	}
	return x, nil
}

// Int reads an integer-like value with its type's signedness.
func (r *Reader) Int(v *Value) (int64, error) {
	x, err := r.Uint(v)
	if err != nil {
		return 0, err
	}
	ty := r.Resolved(v)
	if ty.Kind == symbols.KindBase && (ty.Encoding == ateSigned || ty.Encoding == ateSignedChar) || ty.Kind == symbols.KindEnum {
		bits := ty.Size * 8
		if v.BitSize > 0 {
			bits = v.BitSize
		}
		if bits < 64 && x&(1<<uint(bits-1)) != 0 {
			return int64(x) - int64(1)<<uint(bits), nil
		}
	}
	return int64(x), nil
}

// Float reads a floating-point value.
func (r *Reader) Float(v *Value) (float64, error) {
	ty := r.Resolved(v)
	if ty == nil {
		return 0, errors.New("no type")
	}
	b, err := r.Read(v, ty.Size)
	if err != nil {
		return 0, err
	}
	switch ty.Size {
	case 4:
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(b))), nil
	case 8:
		return math.Float64frombits(binary.LittleEndian.Uint64(b)), nil
	case 16, 10: // x87 extended
		mant := binary.LittleEndian.Uint64(b)
		se := binary.LittleEndian.Uint16(b[8:])
		exp := int(se&0x7fff) - 16383
		f := float64(mant) / float64(1<<63) * math.Pow(2, float64(exp))
		if se&0x8000 != 0 {
			f = -f
		}
		return f, nil
	}
	return 0, fmt.Errorf("float of %d bytes", ty.Size)
}

// Members are a struct value's data members as the type lays them out,
// base classes first (named "<Base>"): what a debugger's raw view shows,
// without the readable form of library types Children gives. Nil for
// anything but a struct, class or union.
func (r *Reader) Members(v *Value) []*Value {
	ty := r.Resolved(v)
	if v.Absent() || ty == nil || ty.Kind != symbols.KindStruct {
		return nil
	}
	return r.members(v, ty)
}

func (r *Reader) members(v *Value, ty *symbols.Type) []*Value {
	var out []*Value
	if !v.InMemory() && v.Bytes == nil {
		return nil
	}
	sub := func(off int64, t dwarf.Offset) *Value {
		c := &Value{Mod: v.Mod, Type: t, Where: v.Where}
		if v.InMemory() {
			c.Addr, c.Kind = v.Addr+uint64(off), KindReference
		} else if off < int64(len(v.Bytes)) {
			c.Bytes = v.Bytes[off:]
		} else {
			c.SetAbsent(OptimizedOut, nil)
		}
		return c
	}
	for _, b := range ty.Bases {
		c := sub(b.Offset, b.Type)
		c.Name = "<" + v.Mod.Syms.TypeName(b.Type) + ">"
		out = append(out, c)
	}
	for _, m := range ty.Members {
		c := sub(m.Offset, m.Type)
		c.Name = m.Name
		if c.Name == "" {
			c.Name = "<anonymous>"
		}
		c.BitSize, c.BitOffset = m.BitSize, m.BitOffset
		out = append(out, c)
	}
	return out
}

// Member finds a data member by name, through base classes.
func (r *Reader) Member(v *Value, name string) (*Value, error) {
	ty := r.Resolved(v)
	if ty != nil && ty.Kind == symbols.KindPointer {
		d, err := r.Deref(v)
		if err != nil {
			return nil, err
		}
		return r.Member(d, name)
	}
	if ty == nil || ty.Kind != symbols.KindStruct {
		return nil, fmt.Errorf("%s has no members", r.TypeName(v))
	}
	return r.member(v, ty, name, 0)
}

func (r *Reader) member(v *Value, ty *symbols.Type, name string, depth int) (*Value, error) {
	for _, c := range r.members(v, ty) {
		if c.Name == name {
			return c, nil
		}
	}
	if depth < 8 {
		for _, c := range r.members(v, ty) {
			if strings.HasPrefix(c.Name, "<") {
				if bt := r.Resolved(c); bt != nil && bt.Kind == symbols.KindStruct {
					if m, err := r.member(c, bt, name, depth+1); err == nil {
						return m, nil
					}
				}
			}
		}
	}
	return nil, fmt.Errorf("there is no member named %s in %s", name, r.TypeName(v))
}

// Deref follows a pointer or reference.
func (r *Reader) Deref(v *Value) (*Value, error) {
	ty := r.Resolved(v)
	if ty == nil || ty.Kind != symbols.KindPointer {
		return nil, fmt.Errorf("%s is not a pointer", r.TypeName(v))
	}
	x, err := r.Uint(v)
	if err != nil {
		return nil, err
	}
	if x == 0 {
		return nil, errors.New("NULL pointer")
	}
	if ty.Elem == 0 {
		return nil, errors.New("void pointer")
	}
	return &Value{Name: "*" + v.Name, Mod: v.Mod, Type: ty.Elem, Addr: x, Kind: KindReference, Where: "memory"}, nil
}

// Index is element i of an array, or of what a pointer points to.
func (r *Reader) Index(v *Value, i int64) (*Value, error) {
	ty := r.Resolved(v)
	if ty == nil {
		return nil, errors.New("no type")
	}
	switch ty.Kind {
	case symbols.KindArray:
		sz := v.Mod.Syms.SizeOf(ty.Elem)
		c := &Value{Name: fmt.Sprintf("[%d]", i), Mod: v.Mod, Type: ty.Elem}
		if v.InMemory() {
			c.Addr, c.Kind = v.Addr+uint64(i*sz), KindReference
		} else if (i+1)*sz <= int64(len(v.Bytes)) {
			c.Bytes = v.Bytes[i*sz:]
		} else {
			c.SetAbsent(OptimizedOut, nil)
		}
		return c, nil
	case symbols.KindPointer:
		if ty.Tag != dwarf.TagPointerType {
			// A reference: r[i] indexes what it refers to.
			d, err := r.Deref(v)
			if err != nil {
				return nil, err
			}
			return r.Index(d, i)
		}
		x, err := r.Uint(v)
		if err != nil {
			return nil, err
		}
		sz := v.Mod.Syms.SizeOf(ty.Elem)
		return &Value{Name: fmt.Sprintf("[%d]", i), Mod: v.Mod, Type: ty.Elem, Addr: x + uint64(i*sz), Kind: KindReference}, nil
	}
	if ty.Kind == symbols.KindStruct {
		if kids, ok, err := r.prettyChildren(v, ty, int(i), 1); ok {
			if err != nil {
				return nil, err
			}
			if len(kids) == 1 {
				return kids[0], nil
			}
			return nil, fmt.Errorf("index %d out of range", i)
		}
	}
	return nil, fmt.Errorf("cannot index %s", r.TypeName(v))
}
