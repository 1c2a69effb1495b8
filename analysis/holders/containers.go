package holders

import (
	"debug/dwarf"
	"strings"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/symbols"
	"github.com/dsecore/dsecore/coreparse/values"
)

// elements reads a library container's elements (reporting false when v
// is no container it knows). Element types and node layouts come from
// DWARF: the container's template arguments name the node type
// (std::_List_node<T>, std::_Rb_tree_node<V>, std::__detail::_Hash_node<V,
// c>) whose _M_storage holds the element; a container whose node type is
// not in the DWARF is walked through its members like any struct.
func (s *searcher) elements(v *values.Value, ty *symbols.Type, steps []step, out *scanOut, nest int) bool {
	if !v.InMemory() {
		return false
	}
	name := v.Mod.Syms.TypeName(ty.Offset)
	if !strings.HasSuffix(name, ">") {
		return false // a type nested in a container's (list_impl<…>::data_t), not the container
	}
	switch {
	case hasPrefix(name, "std::vector<", "boost::intrusive::list<", "boost::intrusive::list_impl<"):
		kids, err := s.r.Children(v, 0, s.o.MaxElements+1)
		if err != nil {
			return false
		}
		if len(kids) > s.o.MaxElements {
			s.elementCut.Add(1)
			kids = kids[:s.o.MaxElements]
		}
		for i, c := range kids {
			s.addElement(c, i, stIndex, steps, out, nest)
		}
		return true
	}
	var ok bool
	switch {
	case hasPrefix(name, "std::deque<"):
		ok = s.deque(v, steps, out, nest)
	case hasPrefix(name, "std::__cxx11::list<", "std::list<"):
		ok = s.list(v, name, steps, out, nest)
	case hasPrefix(name, "std::map<", "std::multimap<", "std::set<", "std::multiset<"):
		ok = s.rbtree(v, steps, out, nest)
	case hasPrefix(name, "std::unordered_map<", "std::unordered_multimap<", "std::unordered_set<", "std::unordered_multiset<"):
		ok = s.hashtable(v, steps, out, nest)
	default:
		return false
	}
	if !ok {
		s.warnOnce(name, "%s: its node type or members are not in the DWARF as libstdc++ lays them out: it is walked as a plain struct (its elements through their base links only)", name)
	}
	return ok
}

func hasPrefix(s string, ps ...string) bool {
	for _, p := range ps {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// field is the value of a dotted member path of v.
func (s *searcher) field(v *values.Value, path ...string) (*values.Value, bool) {
	cur := v
	for _, n := range path {
		next, err := s.r.Member(cur, n)
		if err != nil {
			return nil, false
		}
		cur = next
	}
	return cur, true
}

func (s *searcher) fieldUint(v *values.Value, path ...string) (uint64, bool) {
	f, ok := s.field(v, path...)
	if !ok {
		return 0, false
	}
	x, err := s.r.Uint(f)
	return x, err == nil
}

// resolvedName is the name of a value's type past typedefs (a map's _M_t
// is declared as its _Rep_type).
func (s *searcher) resolvedName(v *values.Value) string {
	if ty := s.r.Resolved(v); ty != nil {
		return v.Mod.Syms.TypeName(ty.Offset)
	}
	return s.r.TypeName(v)
}

// templateArg is the k-th top-level template argument of a type name.
func templateArg(name string, k int) (string, bool) {
	i := strings.IndexByte(name, '<')
	if i < 0 {
		return "", false
	}
	depth, start, n := 0, i+1, 0
	for j := i + 1; j < len(name); j++ {
		switch name[j] {
		case '<', '(':
			depth++
		case '>', ')':
			if depth == 0 {
				if n == k {
					return strings.TrimSpace(name[start:j]), true
				}
				return "", false
			}
			depth--
		case ',':
			if depth == 0 {
				if n == k {
					return strings.TrimSpace(name[start:j]), true
				}
				n++
				start = j + 1
			}
		}
	}
	return "", false
}

// typeByName finds a type DIE by its C++ name as DWARF spells template
// arguments ("dm_obj_t*", "std::pair<int const, X*>", "long unsigned int").
func typeByName(t *symbols.Table, name string) (dwarf.Offset, bool) {
	name = strings.TrimSpace(name)
	stars := 0
	for strings.HasSuffix(name, "*") {
		stars++
		name = strings.TrimSpace(strings.TrimSuffix(name, "*"))
	}
	name = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(name, "const "), " const"))
	var off dwarf.Offset
	if ty, ok := t.LookupType(name); ok {
		off = ty.Offset
	} else if b, ok := t.LookupBaseType(name); ok {
		off = b
	} else {
		return 0, false
	}
	for ; stars > 0; stars-- {
		p, ok := t.PointerTo(off)
		if !ok {
			return 0, false
		}
		off = p
	}
	return off, true
}

// nodeStorage is where a container node's element lives: the offset of
// _M_storage in the node type (through its bases), and the element type.
func nodeStorage(t *symbols.Table, nodeType, elem string) (int64, dwarf.Offset, bool) {
	nt, ok := t.LookupType(nodeType)
	if !ok {
		return 0, 0, false
	}
	off, _, err := t.FieldOffset(nt, []string{"_M_storage"})
	if err != nil {
		return 0, 0, false
	}
	et, ok := typeByName(t, elem)
	return off, et, ok
}

func (s *searcher) element(m *coreparse.Module, typ dwarf.Offset, addr uint64) *values.Value {
	return &values.Value{Mod: m, Type: typ, Addr: addr, Kind: values.KindReference}
}

// list: std::list's nodes from _M_impl._M_node along _M_next.
func (s *searcher) list(v *values.Value, name string, steps []step, out *scanOut, nest int) bool {
	t := v.Mod.Syms
	elem, ok := templateArg(name, 0)
	if !ok {
		return false
	}
	hdr, ok := s.field(v, "_M_impl", "_M_node")
	if !ok {
		return false
	}
	off, et, ok := nodeStorage(t, "std::_List_node<"+elem+">", elem)
	if !ok {
		return false
	}
	base, ok := t.LookupType("std::__detail::_List_node_base")
	if !ok {
		return false
	}
	nextOff, _, err := t.FieldOffset(base, []string{"_M_next"})
	if err != nil {
		return false
	}
	next := func(n uint64) (uint64, bool) {
		x, err := s.p.Core.ReadUint64(n + uint64(nextOff))
		return x, err == nil
	}
	if first, ok := next(hdr.Addr); ok {
		s.walkNodes(first, ^uint64(0), hdr.Addr, next, func(i int, n uint64) {
			s.addElement(s.element(v.Mod, et, n+uint64(off)), i, stElement, steps, out, nest)
		})
	}
	return true
}

// walkNodes walks a linked container from first, visiting each node in turn:
// at most limit (the container's own count) and MaxElements of them (past
// that the search counts a cut), stopping at a null node, at end (the
// header of a circular list) or one already visited (a cycle), and where
// next cannot read.
func (s *searcher) walkNodes(first, limit, end uint64, next func(uint64) (uint64, bool), visit func(i int, node uint64)) {
	seen := map[uint64]bool{}
	cur, ok := first, true
	for i := 0; ok && cur != 0 && cur != end && !seen[cur] && uint64(i) < limit; i++ {
		if i >= s.o.MaxElements {
			s.elementCut.Add(1)
			return
		}
		seen[cur] = true
		visit(i, cur)
		cur, ok = next(cur)
	}
}

// rbtree: std::map and std::set in order (libstdc++'s _Rb_tree_increment),
// from the header's leftmost node, at most _M_node_count elements.
func (s *searcher) rbtree(v *values.Value, steps []step, out *scanOut, nest int) bool {
	t := v.Mod.Syms
	tree, ok := s.field(v, "_M_t")
	if !ok {
		return false
	}
	elem, ok := templateArg(s.resolvedName(tree), 1)
	if !ok {
		return false
	}
	off, et, ok := nodeStorage(t, "std::_Rb_tree_node<"+elem+">", elem)
	if !ok {
		return false
	}
	hdr, ok := s.field(tree, "_M_impl", "_M_header")
	count, ok2 := s.fieldUint(tree, "_M_impl", "_M_node_count")
	base, ok3 := t.LookupType("std::_Rb_tree_node_base")
	if !ok || !ok2 || !ok3 {
		return false
	}
	var offs [3]int64 // parent, left, right
	for i, f := range []string{"_M_parent", "_M_left", "_M_right"} {
		o, _, err := t.FieldOffset(base, []string{f})
		if err != nil {
			return false
		}
		offs[i] = o
	}
	rd := func(n uint64, which int) uint64 {
		x, err := s.p.Core.ReadUint64(n + uint64(offs[which]))
		if err != nil {
			return 0
		}
		return x
	}
	header := hdr.Addr
	// The in-order successor, each climb bounded.
	successor := func(cur uint64) (uint64, bool) {
		if r := rd(cur, 2); r != 0 {
			cur = r
			for k := 0; k < 128; k++ {
				l := rd(cur, 1)
				if l == 0 {
					break
				}
				cur = l
			}
			return cur, true
		}
		y := rd(cur, 0)
		for k := 0; k < 128 && y != 0 && cur == rd(y, 2); k++ {
			cur, y = y, rd(y, 0)
		}
		if rd(cur, 2) != y {
			cur = y
		}
		return cur, true
	}
	s.walkNodes(rd(header, 1), count, header, successor, func(i int, n uint64) {
		s.addElement(s.element(v.Mod, et, n+uint64(off)), i, stElement, steps, out, nest)
	})
	return true
}

// hashtable: std::unordered_map and set from _M_h._M_before_begin along
// _M_nxt, at most _M_element_count elements.
func (s *searcher) hashtable(v *values.Value, steps []step, out *scanOut, nest int) bool {
	t := v.Mod.Syms
	h, ok := s.field(v, "_M_h")
	if !ok {
		return false
	}
	elem, ok := templateArg(s.resolvedName(h), 1)
	if !ok {
		return false
	}
	var off int64
	var et dwarf.Offset
	found := false
	for _, c := range []string{"true", "false"} {
		if off, et, found = nodeStorage(t, "std::__detail::_Hash_node<"+elem+", "+c+">", elem); found {
			break
		}
	}
	first, ok2 := s.fieldUint(h, "_M_before_begin", "_M_nxt")
	count, ok3 := s.fieldUint(h, "_M_element_count")
	base, ok4 := t.LookupType("std::__detail::_Hash_node_base")
	if !found || !ok2 || !ok3 || !ok4 {
		return false
	}
	nextOff, _, err := t.FieldOffset(base, []string{"_M_nxt"})
	if err != nil {
		return false
	}
	s.walkNodes(first, count, 0, func(n uint64) (uint64, bool) {
		x, err := s.p.Core.ReadUint64(n + uint64(nextOff))
		return x, err == nil
	}, func(i int, n uint64) {
		s.addElement(s.element(v.Mod, et, n+uint64(off)), i, stElement, steps, out, nest)
	})
	return true
}

// deque: std::deque's buffers from _M_start._M_node to _M_finish._M_node;
// the buffer length is the start iterator's _M_last − _M_first (the data's,
// not libstdc++'s constant).
func (s *searcher) deque(v *values.Value, steps []step, out *scanOut, nest int) bool {
	t := v.Mod.Syms
	cur, ok := s.field(v, "_M_impl", "_M_start", "_M_cur")
	if !ok {
		return false
	}
	pt := s.r.Resolved(cur)
	if pt == nil || pt.Kind != symbols.KindPointer {
		return false
	}
	et := pt.Elem
	sz := uint64(t.SizeOf(et))
	var it [2][4]uint64 // start, finish: cur, first, last, node
	for i, which := range []string{"_M_start", "_M_finish"} {
		for j, f := range []string{"_M_cur", "_M_first", "_M_last", "_M_node"} {
			x, ok := s.fieldUint(v, "_M_impl", which, f)
			if !ok {
				return false
			}
			it[i][j] = x
		}
	}
	start, finish := it[0], it[1]
	if sz == 0 || start[2] <= start[1] || finish[3] < start[3] || (finish[3]-start[3])/8 > uint64(s.o.MaxElements) {
		if sz != 0 && finish[3] >= start[3] {
			s.elementCut.Add(1)
		}
		return sz != 0
	}
	bufLen := (start[2] - start[1]) / sz
	i := 0
	for node := start[3]; node <= finish[3]; node += 8 {
		buf, err := s.p.Core.ReadUint64(node)
		if err != nil {
			break
		}
		lo, hi := buf, buf+bufLen*sz
		if node == start[3] {
			lo = start[0]
		}
		if node == finish[3] {
			hi = finish[0]
		}
		for a := lo; a < hi; a += sz {
			if i >= s.o.MaxElements {
				s.elementCut.Add(1)
				return true
			}
			s.addElement(s.element(v.Mod, et, a), i, stElement, steps, out, nest)
			i++
		}
	}
	return true
}
