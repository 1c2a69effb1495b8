package symbols

import (
	"bytes"
	"debug/dwarf"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/dsecore/dsecore/internal/mmap"
	"github.com/dsecore/dsecore/internal/par"
)

// Type is the layout of a DWARF type, as far as walking data structures in
// a core needs it.
type Type struct {
	Name    string // qualified name ("co::Task"), "" for anonymous types
	Kind    TypeKind
	Size    int64
	Members []Member // structs, classes, unions: data members in order
	Bases   []Member // base classes (DW_TAG_inheritance), Name = the base's qualified name
	Elem    dwarf.Offset
	Enum    map[int64]string // enumerators
	Offset  dwarf.Offset
	// Tag is the DWARF tag (pointer, reference, rvalue reference, const,
	// volatile, typedef, array, subroutine …): Kind groups them.
	Tag      dwarf.Tag
	Encoding int64 // base types: DW_ATE_* (signed, unsigned, float, boolean, signed_char …)
	Count    int64 // arrays: elements of the first dimension, -1 when unknown
	Decl     bool  // a declaration only (the definition is elsewhere)
	// EnumClass: a scoped enumeration (C++11 enum class, DW_AT_enum_class):
	// its enumerators are named through it (Mode::on).
	EnumClass bool
}

// TypeKind says what a Type is.
type TypeKind int

// Kinds of types.
const (
	KindOther TypeKind = iota
	KindStruct
	KindPointer
	KindEnum
	KindTypedef // typedefs and cv-qualifiers: Elem is the type they name
	KindBase
	KindArray
	KindFunc // a subroutine type (what function pointers point to)
)

// Member is a data member or a base class.
type Member struct {
	Name   string
	Offset int64
	Type   dwarf.Offset
	// Bit fields: BitSize bits starting BitOffset bits into the member's
	// storage at Offset (counted from the least significant bit).
	BitSize, BitOffset int64
}

type typeIndex struct {
	once   par.Once
	byName map[string]dwarf.Offset
	cache  map[dwarf.Offset]*Type
	names  map[dwarf.Offset]string // every named type DIE's qualified name
	bases  map[string]dwarf.Offset // base types by name
	ptrTo  map[dwarf.Offset]dwarf.Offset
	made   map[dwarf.Offset]dwarf.Offset // PointerType's made pointer types, by pointee
	vars   map[string]Global             // global variables by qualified and by plain name
	tls    map[string]Global             // thread-local variables: Addr is the offset in the module's TLS block
	mu     sync.RWMutex                  // TypeAt's cache hits (most calls) share it

	normOnce par.Once
	byNorm   map[string]dwarf.Offset // byName under NormalizeTypeName

	built   atomic.Bool // the index is complete
	mayMemo sync.Map    // mayName's answers
}

// lastComponent is the identifier a type's (or variable's) DIE is named
// by: the last component of a qualified name, without template arguments
// ("std::list<int>::iterator" → "iterator", "co::Box<long>" → "Box").
func lastComponent(name string) string {
	last := name[lastStart(name):]
	if i := strings.IndexAny(last, "<( "); i >= 0 {
		last = last[:i]
	}
	return last
}

// lastStart is where a qualified name's last component begins: after
// its last "::" outside template arguments and parameter lists.
func lastStart(name string) int {
	depth, start := 0, 0
	for i := 0; i < len(name); i++ {
		switch name[i] {
		case '<', '(':
			depth++
		case '>', ')':
			depth--
		case ':':
			if depth == 0 && i+1 < len(name) && name[i+1] == ':' {
				start = i + 2
				i++
			}
		}
	}
	return start
}

// mayName reports whether a DIE of this file may be named ident: whether
// the bytes of a name starting with it are in the string sections or
// inline in .debug_info (a name is a DW_FORM_strp/strx/line_strp string or
// an inline DW_FORM_string). A few milliseconds against walking every DIE,
// for the names a program does not have (the coroutine runtime's types in
// a program without it). True when it cannot tell: names in other files
// (a supplementary file's strings, split units'), no identifier.
func (t *Table) mayName(ident string) bool {
	if ident == "" || strings.ContainsAny(ident, "~") {
		return true
	}
	if v, ok := t.types.mayMemo.Load(ident); ok {
		return v.(bool)
	}
	t.loadDWARF()
	ok := true
	if t.dwarf != nil && !t.attachedNames() {
		s := t.dwarf.Sections()
		needle := []byte(ident)
		ok = false
		for _, b := range [][]byte{s.Str, s.LineStr, s.Info} {
			if bytes.Contains(b, needle) {
				ok = true
				break
			}
		}
	}
	t.types.mayMemo.Store(ident, ok)
	return ok
}

// LookupType finds a complete (not declaration-only) struct, class, union,
// enum or typedef by its qualified name.
func (t *Table) LookupType(name string) (*Type, bool) {
	if !t.types.built.Load() && !t.mayName(lastComponent(name)) {
		// No DIE can have that name: no need to index every type.
		return nil, false
	}
	t.types.once.Do(t.indexTypes)
	off, ok := t.types.byName[name]
	if !ok && strings.ContainsAny(name, "<,*& ") {
		// Template arguments as a person types them: "list_node<void *>"
		// for GCC's "list_node<void*>", "unsigned long" spelled either way.
		t.types.normOnce.Do(func() {
			t.types.byNorm = make(map[string]dwarf.Offset, len(t.types.byName))
			for n, o := range t.types.byName {
				t.types.byNorm[NormalizeTypeName(n)] = o
			}
		})
		off, ok = t.types.byNorm[NormalizeTypeName(name)]
	}
	if !ok {
		return nil, false
	}
	ty, err := t.TypeAt(off)
	return ty, err == nil
}

// NormalizeTypeName is a C++ type name with its spelling differences
// removed: spaces only between two identifier characters, and "unsigned
// long" as GCC writes it ("long unsigned int").
func NormalizeTypeName(name string) string {
	for _, r := range [][2]string{{"unsigned long long", "long long unsigned int"}, {"unsigned long", "long unsigned int"}, {"unsigned int", "unsigned int"}, {"unsigned char", "unsigned char"}, {"unsigned short", "short unsigned int"}} {
		if strings.Contains(name, r[0]) && !strings.Contains(name, r[1]) {
			name = strings.ReplaceAll(name, r[0], r[1])
		}
	}
	ident := func(c byte) bool {
		return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == ' ' {
			j := i
			for j < len(name) && name[j] == ' ' {
				j++
			}
			if b.Len() > 0 && j < len(name) && ident(b.String()[b.Len()-1]) && ident(name[j]) {
				b.WriteByte(' ')
			}
			i = j - 1
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func (t *Table) indexTypes() {
	defer t.recoverWarn("types")
	t.types.byName = map[string]dwarf.Offset{}
	t.types.cache = map[dwarf.Offset]*Type{}
	t.types.names = map[dwarf.Offset]string{}
	t.types.bases = map[string]dwarf.Offset{}
	t.types.ptrTo = map[dwarf.Offset]dwarf.Offset{}
	t.types.vars = map[string]Global{}
	t.types.tls = map[string]Global{}
	defer t.types.built.Store(true)
	t.loadDWARF()
	if t.dwarf == nil {
		return
	}
	path := t.indexPath(t.indexID, t.indexKey, "types")
	if b, ok := readIndex(path, t.indexKey); ok && t.decodeTypes(b) {
		return
	}
	if t.walkTypes() {
		t.writeIndex(path, t.indexKey, t.encodeTypes())
	}
}

// walkTypes fills the type index from every unit's DIEs (outside
// functions); false when the walk stopped at an error.
func (t *Table) walkTypes() (complete bool) {
	r := t.dwarf.Reader()
	type scope struct {
		name  string
		named bool
		full  bool // name is qualified already: the scopes outside it do not count
	}
	var stack []scope
	prefix := func() string {
		p := ""
		for _, s := range stack {
			if s.full {
				p = ""
			}
			if s.named {
				p += s.name + "::"
			}
		}
		return p
	}
	for {
		e, err := r.Next()
		if err != nil || e == nil {
			return err == nil
		}
		if e.Tag == 0 {
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		name, _ := e.Val(dwarf.AttrName).(string)
		switch e.Tag {
		case dwarf.TagCompileUnit, dwarf.TagPartialUnit, dwarf.TagTypeUnit:
			stack = stack[:0]
			if e.Children {
				stack = append(stack, scope{})
			}
			continue
		case dwarf.TagSubprogram, dwarf.TagLexDwarfBlock, dwarf.TagInlinedSubroutine:
			// Types local to functions are not looked up by name.
			if e.Children {
				r.SkipChildren()
			}
			continue
		case dwarf.TagBaseType:
			if _, dup := t.types.bases[name]; !dup && name != "" {
				t.types.bases[name] = e.Offset
			}
		case dwarf.TagPointerType:
			if el, ok := e.Val(dwarf.AttrType).(dwarf.Offset); ok {
				if _, dup := t.types.ptrTo[el]; !dup {
					t.types.ptrTo[el] = e.Offset
				}
			}
		case dwarf.TagVariable:
			loc, _ := e.Val(dwarf.AttrLocation).([]byte)
			into := t.types.vars
			var g Global
			if off, ok := tlsOffset(loc); ok {
				into, g = t.types.tls, Global{Addr: off}
			} else if len(loc) == 9 && loc[0] == 0x03 { // DW_OP_addr
				g = Global{Addr: binary.LittleEndian.Uint64(loc[1:])}
			} else {
				loc = nil
			}
			if loc != nil {
				g.Type, _ = e.Val(dwarf.AttrType).(dwarf.Offset)
				n := name
				if spec, ok := e.Val(dwarf.AttrSpecification).(dwarf.Offset); ok {
					sr := t.dwarf.Reader()
					sr.Seek(spec)
					if se, err := sr.Next(); err == nil && se != nil {
						if n == "" {
							n, _ = se.Val(dwarf.AttrName).(string)
						}
						if g.Type == 0 {
							g.Type, _ = se.Val(dwarf.AttrType).(dwarf.Offset)
						}
					}
				}
				if n != "" {
					for _, k := range []string{prefix() + n, n} {
						if _, dup := into[k]; !dup {
							into[k] = g
						}
					}
				}
			}
		case dwarf.TagStructType, dwarf.TagClassType, dwarf.TagUnionType, dwarf.TagEnumerationType, dwarf.TagTypedef:
			decl, _ := e.Val(dwarf.AttrDeclaration).(bool)
			q, specified := "", false
			if spec, ok := e.Val(dwarf.AttrSpecification).(dwarf.Offset); ok {
				// g++'s type units: the definition at the unit's top level,
				// its name and scope those of the declaration it completes
				// (inside the unit's namespace entries, met before it).
				q, specified = t.types.names[spec], t.types.names[spec] != ""
			}
			if q == "" && name != "" {
				q = prefix() + name
			}
			if q != "" {
				t.types.names[e.Offset] = q
				if _, dup := t.types.byName[q]; !dup && !decl {
					t.types.byName[q] = e.Offset
				}
				if specified && e.Children {
					// Its nested types are in its scope.
					stack = append(stack, scope{name: q, named: true, full: true})
					continue
				}
			}
		}
		if e.Children {
			if e.Tag == dwarf.TagNamespace && name == "" {
				stack = append(stack, scope{name: "(anonymous namespace)", named: true})
			} else {
				stack = append(stack, scope{name: name, named: name != "" && (e.Tag == dwarf.TagNamespace ||
					e.Tag == dwarf.TagStructType || e.Tag == dwarf.TagClassType || e.Tag == dwarf.TagUnionType)})
			}
		}
	}
}

// TypeAt reads the type at a DWARF offset.
func (t *Table) TypeAt(off dwarf.Offset) (ty *Type, err error) {
	t.types.once.Do(t.indexTypes)
	t.types.mu.RLock()
	if c, ok := t.types.cache[off]; ok {
		t.types.mu.RUnlock()
		return c, nil
	}
	t.types.mu.RUnlock()
	defer func() {
		if r := recover(); r != nil {
			mmap.Repanic(r) // a file that changed under the reader is the command's error, not this decoder's
			ty, err = nil, fmt.Errorf("type at %#x: %v", off, r)
		}
	}()
	if t.dwarf == nil {
		return nil, fmt.Errorf("no DWARF")
	}
	r := t.dwarf.Reader()
	r.Seek(off)
	e, err := r.Next()
	if err != nil || e == nil {
		return nil, fmt.Errorf("type at %#x: %v", off, err)
	}
	if sig, ok := e.Ref(dwarf.AttrSignature); ok && sig != off {
		// A declaration whose definition is a type unit's (clang's
		// -fdebug-types-section): the definition.
		def, err := t.TypeAt(sig)
		if err == nil {
			t.types.mu.Lock()
			t.types.cache[off] = def
			t.types.mu.Unlock()
		}
		return def, err
	}
	ty = &Type{Offset: off, Tag: e.Tag, Count: -1}
	ty.Decl, _ = e.Val(dwarf.AttrDeclaration).(bool)
	ty.Encoding, _ = e.Val(dwarf.AttrEncoding).(int64)
	ty.Name, _ = e.Val(dwarf.AttrName).(string)
	if spec, ok := e.Ref(dwarf.AttrSpecification); ty.Name == "" && ok && spec != off {
		// g++'s type units: a definition named by the declaration it
		// completes.
		if se, err := t.dwarf.EntryAt(spec); err == nil {
			ty.Name, _ = se.Val(dwarf.AttrName).(string)
		}
	}
	ty.Size, _ = e.Val(dwarf.AttrByteSize).(int64)
	ty.Elem, _ = e.Val(dwarf.AttrType).(dwarf.Offset)
	switch e.Tag {
	case dwarf.TagStructType, dwarf.TagClassType, dwarf.TagUnionType:
		ty.Kind = KindStruct
	case dwarf.TagPointerType, dwarf.TagReferenceType, dwarf.TagRvalueReferenceType:
		ty.Kind = KindPointer
		if ty.Size == 0 {
			ty.Size = 8
		}
	case dwarf.TagEnumerationType:
		ty.Kind = KindEnum
		ty.Enum = map[int64]string{}
		ty.EnumClass = e.Flag(dwarf.AttrEnumClass)
	case dwarf.TagTypedef, dwarf.TagConstType, dwarf.TagVolatileType, dwarf.TagRestrictType, dwarf.TagAtomicType:
		ty.Kind = KindTypedef
	case dwarf.TagBaseType:
		ty.Kind = KindBase
	case dwarf.TagArrayType:
		ty.Kind = KindArray
	case dwarf.TagSubroutineType:
		ty.Kind = KindFunc
	}
	if e.Children {
		for {
			c, err := r.Next()
			if err != nil || c == nil || c.Tag == 0 {
				break
			}
			name, _ := c.Val(dwarf.AttrName).(string)
			typ, _ := c.Val(dwarf.AttrType).(dwarf.Offset)
			loc, _ := c.Val(dwarf.AttrDataMemberLoc).(int64)
			switch c.Tag {
			case dwarf.TagMember:
				if static, _ := c.Val(dwarf.AttrExternal).(bool); static {
					break
				}
				if decl, _ := c.Val(dwarf.AttrDeclaration).(bool); decl {
					break // a static data member
				}
				m := Member{Name: name, Offset: loc, Type: typ}
				if bs, ok := c.Val(dwarf.AttrBitSize).(int64); ok {
					m.BitSize = bs
					if dbo, ok := c.Val(dwarf.AttrDataBitOffset).(int64); ok {
						m.Offset, m.BitOffset = dbo/8, dbo%8
					}
				}
				ty.Members = append(ty.Members, m)
			case dwarf.TagSubrangeType:
				if ty.Count < 0 {
					if n, ok := c.Val(dwarf.AttrCount).(int64); ok {
						ty.Count = n
					} else if ub, ok := c.Val(dwarf.AttrUpperBound).(int64); ok {
						ty.Count = ub + 1
					}
				}
			case dwarf.TagInheritance:
				bn := ""
				if bt, err := t.TypeAt(typ); err == nil {
					bn = bt.Name
				}
				ty.Bases = append(ty.Bases, Member{Name: bn, Offset: loc, Type: typ})
			case dwarf.TagEnumerator:
				v, _ := c.Val(dwarf.AttrConstValue).(int64)
				ty.Enum[v] = name
			}
			if c.Children {
				r.SkipChildren()
			}
		}
	}
	t.types.mu.Lock()
	t.types.cache[off] = ty
	t.types.mu.Unlock()
	return ty, nil
}

// Resolve follows typedefs and cv-qualifiers to the underlying type.
func (t *Table) Resolve(ty *Type) *Type {
	for i := 0; ty != nil && ty.Kind == KindTypedef && i < 16; i++ {
		n, err := t.TypeAt(ty.Elem)
		if err != nil {
			return ty
		}
		ty = n
	}
	return ty
}

// FieldOffset walks a dotted path of members ("ctx_.ctx_") from a struct
// type and returns the offset and the type of the last member. Members of
// base classes are found too.
func (t *Table) FieldOffset(ty *Type, path []string) (int64, *Type, error) {
	var off int64
	cur := t.Resolve(ty)
	for _, name := range path {
		if cur == nil || cur.Kind != KindStruct {
			return 0, nil, fmt.Errorf("%s: not a struct", name)
		}
		o, mt, ok := t.findMember(cur, name, 0)
		if !ok {
			return 0, nil, fmt.Errorf("%s has no member %s", cur.Name, name)
		}
		off += o
		cur = t.Resolve(mt)
	}
	return off, cur, nil
}

func (t *Table) findMember(ty *Type, name string, depth int) (int64, *Type, bool) {
	for _, m := range ty.Members {
		if m.Name == name {
			mt, err := t.TypeAt(m.Type)
			if err != nil {
				return 0, nil, false
			}
			return m.Offset, mt, true
		}
	}
	if depth > 8 {
		return 0, nil, false
	}
	for _, b := range ty.Bases {
		bt, err := t.TypeAt(b.Type)
		if err != nil {
			continue
		}
		if o, mt, ok := t.findMember(t.Resolve(bt), name, depth+1); ok {
			return b.Offset + o, mt, true
		}
	}
	return 0, nil, false
}

// BaseOffset returns where a base class (by qualified name) sits in a type.
func (t *Table) BaseOffset(ty *Type, base string) (int64, bool) {
	ty = t.Resolve(ty)
	if ty == nil {
		return 0, false
	}
	for _, b := range ty.Bases {
		if b.Name != "" && (b.Name == base || strings.HasSuffix(base, "::"+b.Name)) {
			return b.Offset, true
		}
		if bt, err := t.TypeAt(b.Type); err == nil {
			if o, ok := t.BaseOffset(bt, base); ok {
				return b.Offset + o, true
			}
		}
	}
	return 0, false
}

// TypeName is a type's C++ name as gdb prints it ("dm_obj_t *",
// "const char *", "long [4]", "void (*)(void)").
func (t *Table) TypeName(off dwarf.Offset) string {
	return t.typeName(off, 0)
}

func (t *Table) typeName(off dwarf.Offset, depth int) string {
	if off == 0 {
		return "void"
	}
	if depth > 12 {
		return "…"
	}
	ty, err := t.TypeAt(off)
	if err != nil {
		return "?"
	}
	switch ty.Tag {
	case dwarf.TagPointerType:
		if e, err := t.TypeAt(ty.Elem); err == nil && ty.Elem != 0 && e.Kind == KindFunc {
			return t.typeName(e.Elem, depth+1) + " (*)(…)"
		}
		return t.typeName(ty.Elem, depth+1) + " *"
	case dwarf.TagReferenceType:
		return t.typeName(ty.Elem, depth+1) + " &"
	case dwarf.TagRvalueReferenceType:
		return t.typeName(ty.Elem, depth+1) + " &&"
	case dwarf.TagConstType:
		inner := t.typeName(ty.Elem, depth+1)
		if strings.HasPrefix(inner, "const ") {
			return inner
		}
		if strings.HasSuffix(inner, " *") {
			return inner + " const"
		}
		return "const " + inner
	case dwarf.TagVolatileType:
		return "volatile " + t.typeName(ty.Elem, depth+1)
	case dwarf.TagArrayType:
		if ty.Count >= 0 {
			return fmt.Sprintf("%s [%d]", t.typeName(ty.Elem, depth+1), ty.Count)
		}
		return t.typeName(ty.Elem, depth+1) + " []"
	case dwarf.TagSubroutineType:
		return t.typeName(ty.Elem, depth+1) + " (…)"
	}
	if ty.Name != "" {
		if q := t.qualifiedName(off); q != "" {
			return q
		}
		return ty.Name
	}
	switch ty.Tag {
	case dwarf.TagStructType:
		return "struct {…}"
	case dwarf.TagClassType:
		return "class {…}"
	case dwarf.TagUnionType:
		return "union {…}"
	case dwarf.TagEnumerationType:
		return "enum {…}"
	}
	return "?"
}

// Enumerator is the name of the enumerator of value v of the enum type
// ty, qualified as C++ (and gdb's print) names it: through the enum's own
// name for an enum class (Mode::on, ns::Mode::on), through the enum's
// scope for a plain enum (red, ns::green, ns::S::a2). False when no
// enumerator has the value.
func (t *Table) Enumerator(ty *Type, v int64) (string, bool) {
	name, ok := ty.Enum[v]
	if !ok {
		return "", false
	}
	q := t.qualifiedName(ty.Offset)
	switch {
	case q == "":
		return name, true // an anonymous enum: its scope is not known
	case ty.EnumClass:
		return q + "::" + name, true
	}
	return q[:lastStart(q)] + name, true
}

// qualifiedName is the namespace-qualified name the type index knows for
// a type DIE, "" when it is not indexed.
func (t *Table) qualifiedName(off dwarf.Offset) string {
	t.types.once.Do(t.indexTypes)
	return t.types.names[off]
}

// SizeOf is the size in bytes of the type at off (through typedefs and
// qualifiers; arrays multiply; pointers and references are 8).
func (t *Table) SizeOf(off dwarf.Offset) int64 {
	for i := 0; i < 16; i++ {
		ty, err := t.TypeAt(off)
		if err != nil {
			return 0
		}
		switch {
		case ty.Kind == KindArray:
			if ty.Count < 0 {
				return 0
			}
			return ty.Count * t.SizeOf(ty.Elem)
		case ty.Size > 0:
			return ty.Size
		case ty.Kind == KindTypedef:
			off = ty.Elem
		case ty.Decl && ty.Name != "":
			if def, ok := t.LookupType(t.TypeName(off)); ok {
				return def.Size
			}
			return 0
		default:
			return 0
		}
	}
	return 0
}
