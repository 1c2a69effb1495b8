package symbols

import (
	"debug/dwarf"
	"encoding/binary"
	"fmt"
	"sort"
)

// Global is a global variable: its file address and type.
type Global struct {
	Addr uint64
	Type dwarf.Offset
}

// LookupGlobal finds a global variable by qualified or plain name.
func (t *Table) LookupGlobal(name string) (Global, bool) {
	if !t.types.built.Load() && !t.mayName(lastComponent(name)) {
		return Global{}, false
	}
	t.types.once.Do(t.indexTypes)
	g, ok := t.types.vars[name]
	return g, ok
}

// LookupTLSGlobal finds a thread-local variable (C's __thread, C++'s
// thread_local) by qualified or plain name: Addr is its offset in the
// module's TLS block (coreparse.Process.TLSAddress gives a thread's copy).
func (t *Table) LookupTLSGlobal(name string) (Global, bool) {
	if !t.types.built.Load() && !t.mayName(lastComponent(name)) {
		return Global{}, false
	}
	t.types.once.Do(t.indexTypes)
	g, ok := t.types.tls[name]
	return g, ok
}

// tlsOffset decodes the location GCC gives a thread-local variable: its
// offset in the TLS block (DW_OP_const4u/const8u), then
// DW_OP_GNU_push_tls_address or DW_OP_form_tls_address.
func tlsOffset(loc []byte) (uint64, bool) {
	const constU4, constU8, formTLS, gnuPushTLS = 0x0c, 0x0e, 0x9b, 0xe0
	switch {
	case len(loc) == 10 && loc[0] == constU8 && (loc[9] == formTLS || loc[9] == gnuPushTLS):
		return binary.LittleEndian.Uint64(loc[1:9]), true
	case len(loc) == 6 && loc[0] == constU4 && (loc[5] == formTLS || loc[5] == gnuPushTLS):
		return uint64(binary.LittleEndian.Uint32(loc[1:5])), true
	}
	return 0, false
}

// LookupBaseType finds a base type ("int", "long unsigned int") by name.
func (t *Table) LookupBaseType(name string) (dwarf.Offset, bool) {
	t.types.once.Do(t.indexTypes)
	o, ok := t.types.bases[name]
	return o, ok
}

// PointerTo finds a pointer type to the type at off (or to another DIE of
// the same name).
func (t *Table) PointerTo(off dwarf.Offset) (dwarf.Offset, bool) {
	t.types.once.Do(t.indexTypes)
	if p, ok := t.types.ptrTo[off]; ok {
		return p, true
	}
	name := t.types.names[off]
	if name == "" {
		return 0, false
	}
	for el, p := range t.types.ptrTo {
		if t.types.names[el] == name {
			return p, true
		}
	}
	return 0, false
}

// PointerType is a pointer type to the type at off: the program's (as
// PointerTo finds it) or, when its DWARF has none (no `double *` in a
// program that never declares one), one made for it, as a debugger's &
// and casts make one. A made type lies at an offset past the DWARF's
// entries, where TypeAt and TypeName answer it.
func (t *Table) PointerType(off dwarf.Offset) (dwarf.Offset, error) {
	if p, ok := t.PointerTo(off); ok {
		return p, nil
	}
	if _, err := t.TypeAt(off); err != nil && off != 0 {
		return 0, err
	}
	t.types.mu.Lock()
	defer t.types.mu.Unlock()
	if p, ok := t.types.made[off]; ok {
		return p, nil
	}
	if t.types.made == nil {
		t.types.made = map[dwarf.Offset]dwarf.Offset{}
	}
	end := uint64(0)
	if t.dwarf != nil {
		end = t.dwarf.End()
	}
	p := end + uint64(len(t.types.made))
	if p >= 1<<32 {
		return 0, fmt.Errorf("no room for a pointer type to %#x", off)
	}
	t.types.made[off] = dwarf.Offset(p)
	t.types.cache[dwarf.Offset(p)] = &Type{Offset: dwarf.Offset(p), Tag: dwarf.TagPointerType, Kind: KindPointer, Size: 8, Elem: off, Count: -1}
	return dwarf.Offset(p), nil
}

// TypeNames lists the qualified names of the complete (not
// declaration-only) named types, sorted: for finding a type by its shape
// when its name is not known.
func (t *Table) TypeNames() []string {
	t.types.once.Do(t.indexTypes)
	out := make([]string, 0, len(t.types.byName))
	for n := range t.types.byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// GlobalNames lists the qualified names of the global variables (DWARF
// variables at a fixed address outside functions), sorted.
func (t *Table) GlobalNames() []string {
	t.types.once.Do(t.indexTypes)
	out := make([]string, 0, len(t.types.vars))
	for n := range t.types.vars {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// attachedNames reports whether names of the file's DIEs may be in other
// files: a supplementary file (dwz), split units (.dwo).
func (t *Table) attachedNames() bool {
	src := t.dwarfFile()
	return src.Section(".gnu_debugaltlink") != nil || src.Section(".debug_sup") != nil || t.splitsTotal > 0
}
