package values

import (
	"debug/dwarf"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
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
	if v.Err != "" {
		return nil, errors.New(v.Err)
	}
	if n <= 0 || n > 1<<20 {
		return nil, fmt.Errorf("size %d", n)
	}
	if !v.InMemory {
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

// Summary is the one-line form of a value, as a debugger shows it next to
// its name.
func (r *Reader) Summary(v *Value, hex bool) string {
	if v.Err != "" {
		if v.Err == "optimized out" {
			return "<optimized out>"
		}
		return v.Err
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
	if v.Err != "" {
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
	if ty == nil || v.Err != "" {
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
	if v.Err != "" {
		return nil, errors.New(v.Err)
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

// Members are a struct value's data members as the type lays them out,
// base classes first (named "<Base>"): what a debugger's raw view shows,
// without the readable form of library types Children gives. Nil for
// anything but a struct, class or union.
func (r *Reader) Members(v *Value) []*Value {
	ty := r.Resolved(v)
	if v.Err != "" || ty == nil || ty.Kind != symbols.KindStruct {
		return nil
	}
	return r.members(v, ty)
}

func (r *Reader) members(v *Value, ty *symbols.Type) []*Value {
	var out []*Value
	if !v.InMemory && v.Bytes == nil {
		return nil
	}
	sub := func(off int64, t dwarf.Offset) *Value {
		c := &Value{Mod: v.Mod, Type: t, Where: v.Where}
		if v.InMemory {
			c.Addr, c.InMemory = v.Addr+uint64(off), true
		} else if off < int64(len(v.Bytes)) {
			c.Bytes = v.Bytes[off:]
		} else {
			c.Err = "optimized out"
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
	return &Value{Name: "*" + v.Name, Mod: v.Mod, Type: ty.Elem, Addr: x, InMemory: true, Where: "memory"}, nil
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
		if v.InMemory {
			c.Addr, c.InMemory = v.Addr+uint64(i*sz), true
		} else if (i+1)*sz <= int64(len(v.Bytes)) {
			c.Bytes = v.Bytes[i*sz:]
		} else {
			c.Err = "optimized out"
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
		return &Value{Name: fmt.Sprintf("[%d]", i), Mod: v.Mod, Type: ty.Elem, Addr: x + uint64(i*sz), InMemory: true}, nil
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

// ---- library types ----

func isPrefix(name string, ps ...string) bool {
	for _, p := range ps {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// structName is the qualified name of a struct type.
func (r *Reader) structName(v *Value, ty *symbols.Type) string {
	return v.Mod.Syms.TypeName(ty.Offset)
}

func (r *Reader) path(v *Value, names ...string) (*Value, error) {
	cur := v
	for _, n := range names {
		next, err := r.Member(cur, n)
		if err != nil {
			return nil, err
		}
		cur = next
	}
	return cur, nil
}

func (r *Reader) pathUint(v *Value, names ...string) (uint64, error) {
	m, err := r.path(v, names...)
	if err != nil {
		return 0, err
	}
	return r.Uint(m)
}

func (r *Reader) prettyCount(v *Value, ty *symbols.Type) (int, bool) {
	name := r.structName(v, ty)
	switch {
	case isPrefix(name, "std::vector<"):
		start, e1 := r.pathUint(v, "_M_impl", "_M_start")
		finish, e2 := r.pathUint(v, "_M_impl", "_M_finish")
		el, e3 := r.vectorElem(v)
		if e1 != nil || e2 != nil || e3 != nil || finish < start {
			return 0, false
		}
		sz := v.Mod.Syms.SizeOf(el)
		if sz <= 0 {
			return 0, false
		}
		return int(min((finish-start)/uint64(sz), uint64(r.MaxList))), true
	}
	if l, ok := r.AsIntrusiveList(v); ok {
		return len(r.Walk(l, 0).Hooks), true
	}
	return 0, false
}

func (r *Reader) vectorElem(v *Value) (dwarf.Offset, error) {
	s, err := r.path(v, "_M_impl", "_M_start")
	if err != nil {
		return 0, err
	}
	pt := r.Resolved(s)
	if pt == nil || pt.Kind != symbols.KindPointer {
		return 0, errors.New("no element type")
	}
	return pt.Elem, nil
}

func (r *Reader) prettySummary(v *Value, ty *symbols.Type, hex bool) (string, bool) {
	name := r.structName(v, ty)
	switch {
	case isPrefix(name, "std::__cxx11::basic_string<char", "std::basic_string<char", "std::string"):
		p, err1 := r.pathUint(v, "_M_dataplus", "_M_p")
		n, err2 := r.pathUint(v, "_M_string_length")
		if err1 != nil || err2 != nil {
			return "", false
		}
		b := make([]byte, min(n, uint64(r.MaxString)))
		if k, _ := r.P.Core.ReadAt(b, p); k < len(b) {
			return fmt.Sprintf("<unreadable string at %#x>", p), true
		}
		s := strconv.Quote(string(b))
		if n > uint64(len(b)) {
			s += fmt.Sprintf("… (%d bytes)", n)
		}
		return s, true
	case isPrefix(name, "std::vector<"):
		if n, ok := r.prettyCount(v, ty); ok {
			return fmt.Sprintf("size=%d", n), true
		}
	case isPrefix(name, "std::shared_ptr<", "std::__shared_ptr<", "std::weak_ptr<"):
		p, err := r.pathUint(v, "_M_ptr")
		if err != nil {
			return "", false
		}
		if p == 0 {
			return "nullptr", true
		}
		s := fmt.Sprintf("%#x", p)
		if pi, err := r.pathUint(v, "_M_refcount", "_M_pi"); err == nil && pi != 0 {
			use, _ := r.P.Core.ReadUint32(pi + 8)
			weak, _ := r.P.Core.ReadUint32(pi + 12)
			s += fmt.Sprintf(" (use_count %d, weak_count %d)", int32(use), int32(weak)-1)
		}
		return s, true
	case isPrefix(name, "std::unique_ptr<"):
		p, ok := r.uniquePtr(v)
		if !ok {
			return "", false
		}
		x, _ := r.Uint(p)
		if x == 0 {
			return "nullptr", true
		}
		return fmt.Sprintf("%#x", x), true
	case isPrefix(name, "std::atomic<", "std::__atomic_base<"):
		if in, err := r.Member(v, "_M_i"); err == nil {
			return r.Summary(in, hex), true
		}
		if in, err := r.Member(v, "_M_base"); err == nil {
			return r.Summary(in, hex), true
		}
	case isPrefix(name, "std::function<"):
		inv, err := r.pathUint(v, "_M_invoker")
		if err != nil {
			return "", false
		}
		if inv == 0 {
			return "empty", true
		}
		if fn, _, ok := r.P.Symbol(inv); ok {
			return "target " + functionTarget(fn), true
		}
		return fmt.Sprintf("target %#x", inv), true
	}
	if l, ok := r.AsIntrusiveList(v); ok {
		w := r.Walk(l, 0)
		s := fmt.Sprintf("size=%d", len(w.Hooks))
		if l.HasSize && l.Size != int64(len(w.Hooks)) {
			s += fmt.Sprintf(" (size_ says %d)", l.Size)
		}
		if stop := w.Stopped(); stop != "" {
			s += ", walk stopped at " + stop
		}
		return s, true
	}
	return "", false
}

// functionTarget names a std::function's target from its invoker: the
// lambda or function inside _Function_handler<Sig, Target>::_M_invoke.
func functionTarget(invoker string) string {
	if i := strings.Index(invoker, "_Function_handler<"); i >= 0 {
		inner := invoker[i+len("_Function_handler<"):]
		depth := 0
		for j, c := range inner {
			switch c {
			case '<', '(':
				depth++
			case '>', ')':
				depth--
			case ',':
				if depth == 0 {
					t := strings.TrimSpace(inner[j+1:])
					t = strings.TrimSuffix(t, ">::_M_invoke")
					return strings.TrimSpace(strings.TrimSuffix(t, " >"))
				}
			}
		}
	}
	return invoker
}

func (r *Reader) uniquePtr(v *Value) (*Value, bool) {
	cur := v
	for i := 0; i < 6; i++ {
		ty := r.Resolved(cur)
		if ty == nil || ty.Kind != symbols.KindStruct {
			return nil, false
		}
		if h, err := r.Member(cur, "_M_head_impl"); err == nil {
			if ht := r.Resolved(h); ht != nil && ht.Kind == symbols.KindPointer {
				return h, true
			}
		}
		next, err := r.Member(cur, "_M_t")
		if err != nil {
			return nil, false
		}
		cur = next
	}
	return nil, false
}

func (r *Reader) prettyChildren(v *Value, ty *symbols.Type, start, count int) ([]*Value, bool, error) {
	name := r.structName(v, ty)
	switch {
	case isPrefix(name, "std::vector<"):
		n, ok := r.prettyCount(v, ty)
		if !ok {
			return nil, false, nil
		}
		el, _ := r.vectorElem(v)
		base, _ := r.pathUint(v, "_M_impl", "_M_start")
		sz := v.Mod.Syms.SizeOf(el)
		var out []*Value
		for i := start; i < n && len(out) < count; i++ {
			out = append(out, &Value{Name: fmt.Sprintf("[%d]", i), Mod: v.Mod, Type: el, Addr: base + uint64(int64(i)*sz), InMemory: true})
		}
		return out, true, nil
	case isPrefix(name, "std::shared_ptr<", "std::__shared_ptr<", "std::unique_ptr<"):
		var p *Value
		var err error
		if strings.HasPrefix(name, "std::unique_ptr<") {
			var ok bool
			if p, ok = r.uniquePtr(v); !ok {
				return nil, false, nil
			}
		} else if p, err = r.Member(v, "_M_ptr"); err != nil {
			return nil, false, nil
		}
		d, err := r.Deref(p)
		if err != nil {
			return []*Value{}, true, nil
		}
		d.Name = "*ptr"
		out := []*Value{d}
		if pi, err := r.path(v, "_M_refcount", "_M_pi"); err == nil {
			pi.Name = "control block"
			out = append(out, pi)
		}
		return out, true, nil
	case isPrefix(name, "std::atomic<", "std::__atomic_base<"):
		for _, m := range []string{"_M_i", "_M_base"} {
			if in, err := r.Member(v, m); err == nil {
				in.Name = "value"
				return []*Value{in}, true, nil
			}
		}
	}
	if l, ok := r.AsIntrusiveList(v); ok {
		w := r.Walk(l, start+count)
		var out []*Value
		for i := start; i < len(w.Hooks) && len(out) < count; i++ {
			out = append(out, r.ElementAt(v, l, w.Hooks[i], fmt.Sprintf("[%d]", i)))
		}
		return out, true, nil
	}
	return nil, false, nil
}
