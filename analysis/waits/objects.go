package waits

import (
	"debug/dwarf"
	"debug/elf"
	"fmt"
	"sort"
	"strings"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/symbols"
)

// syncKind says which kind of lock a C++ type is ("" when none): the C and
// C++ libraries' and Ceph's by name, the coroutine runtime's through the
// profile's sync types (the type or a base of it).
func (a *analysis) syncKind(t *symbols.Table, name string, ty *symbols.Type) string {
	if k := libKind(name); k != "" {
		return k
	}
	if a.sync == nil {
		return ""
	}
	if k := a.sync.KindOfName(name); k != "" {
		return k
	}
	if ty != nil && t != nil {
		return a.sync.KindOf(t, ty)
	}
	return ""
}

// libKind is the kind of the C and C++ libraries' and Ceph's locks.
func libKind(name string) string {
	name = strings.TrimPrefix(strings.TrimPrefix(name, "const "), "volatile ")
	switch {
	case name == "std::mutex" || name == "std::recursive_mutex" || name == "std::timed_mutex" || name == "std::recursive_timed_mutex" ||
		name == "pthread_mutex_t" || strings.HasPrefix(name, "ceph::mutex_debug_detail::mutex_debug_impl<") ||
		name == "ceph::mutex" || name == "ceph::recursive_mutex" || name == "ceph::mutex_debug" || name == "ceph::mutex_recursive_debug":
		return Mutex
	case name == "std::shared_mutex" || name == "std::shared_timed_mutex" || name == "pthread_rwlock_t" || name == "ceph::shared_mutex" ||
		strings.HasPrefix(name, "ceph::shared_mutex_debug"):
		return RWLock
	case name == "std::condition_variable" || name == "std::_V2::condition_variable_any" || name == "std::condition_variable_any" ||
		name == "pthread_cond_t" || name == "ceph::condition_variable" || strings.HasPrefix(name, "ceph::condition_variable_debug"):
		return CondVar
	case name == "sem_t":
		return Semaphore
	}
	return ""
}

// typeName is a type's name as declared (typedefs kept), and the name of
// what it resolves to.
func typeNames(t *symbols.Table, off dwarf.Offset) (declared, resolved string, rt *symbols.Type) {
	declared = t.TypeName(off)
	for i := 0; i < 16; i++ {
		ty, err := t.TypeAt(off)
		if err != nil {
			return declared, resolved, nil
		}
		if ty.Kind != symbols.KindTypedef || ty.Elem == 0 {
			return declared, ty.Name, ty
		}
		off = ty.Elem
	}
	return declared, resolved, nil
}

// memberPath finds, inside an object of type off, the outermost member at
// byte offset at whose type is a lock: its path (".a.b"), kind, declared
// type name and offset. The object itself counts when it is a lock. With a
// handle type, the member at exactly at of that type is the one (a
// channel's handle).
func (a *analysis) memberPath(t *symbols.Table, off dwarf.Offset, at int64, handle ...string) (path, kind, typ string, base int64, size int64, ok bool) {
	for depth := 0; depth < 12; depth++ {
		decl, res, ty := typeNames(t, off)
		if len(handle) > 0 {
			if base == at && ty != nil && (res == handle[0] || decl == handle[0] || t.TypeName(ty.Offset) == handle[0] || derivesAt0(t, ty, handle[0])) {
				return path, CoChan, decl + "\x00" + t.TypeName(ty.Offset), base, sizeOf(ty), true
			}
		} else {
			if k := a.syncKind(t, decl, nil); k != "" {
				return path, k, decl + "\x00" + res, base, sizeOf(ty), true
			}
			if k := a.syncKind(t, res, ty); k != "" {
				if ty != nil {
					res = t.TypeName(ty.Offset) // qualified
				}
				return path, k, decl + "\x00" + res, base, sizeOf(ty), true
			}
		}
		if ty == nil {
			return "", "", "", 0, 0, false
		}
		switch ty.Kind {
		case symbols.KindStruct:
			found := false
			// Bases first: a lock's own base classes are part of it (no
			// name in the path).
			for k, m := range append(append([]symbols.Member(nil), ty.Bases...), ty.Members...) {
				if m.BitSize != 0 {
					continue
				}
				_, _, mt := typeNames(t, m.Type)
				sz := sizeOf(mt)
				if at < base+m.Offset || at >= base+m.Offset+max(sz, 1) {
					continue
				}
				if k >= len(ty.Bases) {
					path += "." + m.Name
				}
				base += m.Offset
				off = m.Type
				found = true
				break
			}
			if !found {
				return "", "", "", 0, 0, false
			}
		case symbols.KindArray:
			_, _, et := typeNames(t, ty.Elem)
			es := sizeOf(et)
			if es <= 0 {
				return "", "", "", 0, 0, false
			}
			k := (at - base) / es
			path += fmt.Sprintf("[%d]", k)
			base += k * es
			off = ty.Elem
		default:
			return "", "", "", 0, 0, false
		}
	}
	return "", "", "", 0, 0, false
}

// derivesAt0: ty has base (by qualified name) at its offset 0.
func derivesAt0(t *symbols.Table, ty *symbols.Type, base string) bool {
	off, ok := t.BaseOffset(ty, base)
	return ok && off == 0
}

func sizeOf(t *symbols.Type) int64 {
	if t == nil {
		return 0
	}
	return t.Size
}

// globalIndex is one module's DWARF globals by address.
type globalIndex struct {
	addr []uint64 // file addresses, sorted
	size []int64
	name []string
	typ  []dwarf.Offset
}

func (a *analysis) globals(m *coreparse.Module) *globalIndex {
	if gi, ok := a.gidx[m]; ok {
		return gi
	}
	gi := &globalIndex{}
	a.gidx[m] = gi
	if m.Syms == nil || !m.Syms.HasDWARF() {
		return gi
	}
	type ent struct {
		addr uint64
		size int64
		name string
		typ  dwarf.Offset
	}
	// The ELF object symbols give the qualified names (DWARF's
	// definitions of namespace members carry only the last component);
	// DWARF gives the types.
	var es []ent
	for _, sym := range m.Syms.Symbols() {
		if sym.Type != elf.STT_OBJECT || sym.Size == 0 || sym.Value == 0 {
			continue
		}
		name := sym.DemangledName()
		g, ok := m.Syms.LookupGlobal(name)
		if !ok || g.Addr != sym.Value {
			g, ok = m.Syms.LookupGlobal(lastComponent(name))
		}
		if !ok || g.Addr != sym.Value {
			continue
		}
		es = append(es, ent{sym.Value, int64(sym.Size), name, g.Type})
	}
	sort.Slice(es, func(i, j int) bool { return es[i].addr < es[j].addr })
	for _, e := range es {
		gi.addr, gi.size, gi.name, gi.typ = append(gi.addr, e.addr), append(gi.size, e.size), append(gi.name, e.name), append(gi.typ, e.typ)
	}
	return gi
}

// globalName names an address inside a global variable: the global's
// path to the outermost lock containing it.
func (a *analysis) globalName(addr uint64) (expr, kind, typ string, base uint64, size int64, ok bool) {
	m := a.p.ModuleAt(addr)
	if m == nil || m.Syms == nil {
		return "", "", "", 0, 0, false
	}
	gi := a.globals(m)
	fa := addr - m.Bias
	i := sort.Search(len(gi.addr), func(i int) bool { return gi.addr[i] > fa }) - 1
	if i < 0 || fa >= gi.addr[i]+uint64(max(gi.size[i], 1)) {
		return "", "", "", 0, 0, false
	}
	off := fa - gi.addr[i]
	path, k, ty, b, sz, pok := a.memberPath(m.Syms, gi.typ[i], int64(off))
	if !pok {
		return "", "", "", 0, 0, false
	}
	return gi.name[i] + path, k, ty, addr - off + uint64(b), sz, true
}

// globalHandle names a channel's handle at addr when a global holds it:
// the global's path to the member of the handle's type there, and its
// declared type.
func (a *analysis) globalHandle(addr uint64, handleType string) (expr, typ string, ok bool) {
	m := a.p.ModuleAt(addr)
	if m == nil || m.Syms == nil {
		return "", "", false
	}
	gi := a.globals(m)
	fa := addr - m.Bias
	i := sort.Search(len(gi.addr), func(i int) bool { return gi.addr[i] > fa }) - 1
	if i < 0 || fa >= gi.addr[i]+uint64(max(gi.size[i], 1)) {
		return "", "", false
	}
	path, _, ty, _, _, pok := a.memberPath(m.Syms, gi.typ[i], int64(fa-gi.addr[i]), handleType)
	if !pok {
		return "", "", false
	}
	decl, _, _ := strings.Cut(ty, "\x00")
	return gi.name[i] + path, decl, true
}

// nameObject names a new object from its address: a global's member path
// (the lock containing the waited word), else left for the frames.
func (a *analysis) nameObject(o *Object) {
	if expr, k, ty, base, sz, ok := a.globalName(o.word); ok {
		o.Expr, o.How, o.Address, o.size = expr, "global", base, sz
		o.Type, o.rtype, _ = strings.Cut(ty, "\x00")
		if o.Kind == Rutex || o.Kind == Futex || o.Kind == Mutex && k != Mutex && k != "" {
			o.Kind = k
		}
		return
	}
	if name, off, ok := a.p.Symbol(o.word); ok {
		o.Expr, o.How = fmt.Sprintf("%s+%#x", name, off), "symbol"
		if off == 0 {
			o.Expr = name
		}
	}
}
