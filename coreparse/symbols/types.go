package symbols

import (
	"debug/dwarf"
	"fmt"
	"strings"
	"sync"
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
}

// TypeKind says what a Type is.
type TypeKind int

// Kinds of types.
const (
	KindOther TypeKind = iota
	KindStruct
	KindPointer
	KindEnum
	KindTypedef
	KindBase
)

// Member is a data member or a base class.
type Member struct {
	Name   string
	Offset int64
	Type   dwarf.Offset
}

type typeIndex struct {
	once   sync.Once
	byName map[string]dwarf.Offset
	cache  map[dwarf.Offset]*Type
	mu     sync.Mutex
}

// LookupType finds a complete (not declaration-only) struct, class, union,
// enum or typedef by its qualified name.
func (t *Table) LookupType(name string) (*Type, bool) {
	t.types.once.Do(t.indexTypes)
	off, ok := t.types.byName[name]
	if !ok {
		return nil, false
	}
	ty, err := t.TypeAt(off)
	return ty, err == nil
}

func (t *Table) indexTypes() {
	defer t.recoverWarn("types")
	t.types.byName = map[string]dwarf.Offset{}
	t.types.cache = map[dwarf.Offset]*Type{}
	t.loadDWARF()
	if t.dwarf == nil {
		return
	}
	r := t.dwarf.Reader()
	type scope struct {
		name  string
		named bool
	}
	var stack []scope
	prefix := func() string {
		p := ""
		for _, s := range stack {
			if s.named {
				p += s.name + "::"
			}
		}
		return p
	}
	for {
		e, err := r.Next()
		if err != nil || e == nil {
			return
		}
		if e.Tag == 0 {
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		name, _ := e.Val(dwarf.AttrName).(string)
		switch e.Tag {
		case dwarf.TagCompileUnit, dwarf.TagPartialUnit:
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
		case dwarf.TagStructType, dwarf.TagClassType, dwarf.TagUnionType, dwarf.TagEnumerationType, dwarf.TagTypedef:
			decl, _ := e.Val(dwarf.AttrDeclaration).(bool)
			if name != "" && !decl {
				q := prefix() + name
				if _, dup := t.types.byName[q]; !dup {
					t.types.byName[q] = e.Offset
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
	t.types.mu.Lock()
	if c, ok := t.types.cache[off]; ok {
		t.types.mu.Unlock()
		return c, nil
	}
	t.types.mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
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
	ty = &Type{Offset: off}
	ty.Name, _ = e.Val(dwarf.AttrName).(string)
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
	case dwarf.TagTypedef, dwarf.TagConstType, dwarf.TagVolatileType:
		ty.Kind = KindTypedef
	case dwarf.TagBaseType:
		ty.Kind = KindBase
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
				ty.Members = append(ty.Members, Member{Name: name, Offset: loc, Type: typ})
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
