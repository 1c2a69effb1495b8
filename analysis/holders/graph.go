package holders

import (
	"debug/dwarf"
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/symbols"
	"github.com/dsecore/dsecore/coreparse/values"
	"github.com/dsecore/dsecore/internal/par"
)

// stepKind is one step of a path from a variable.
type stepKind uint8

const (
	stMember  stepKind = iota // .name (->name after a deref)
	stBase                    // into a base class: invisible in C++
	stDeref                   // through a pointer (a reference: ref)
	stIndex                   // [i]: arrays, std::vector, boost::intrusive::list
	stElement                 // element #i of a container C++ cannot index: (*(T *)addr)
)

type step struct {
	kind      stepKind
	ref       bool // stDeref through a reference
	ambiguous bool // stMember whose name C++ lookup finds in more than one base
	name      string
	index     int
	addr      uint64
	mod       *coreparse.Module
	typ       dwarf.Offset
}

// with is steps and one more, for the scan below: it may write into
// steps' spare capacity, so the steps a scan is handed are only good
// until its caller's next step (a sibling member overwrites them). What
// a scan keeps (a match's or an edge's steps) is a copy: kept.
func with(steps []step, s step) []step { return append(steps, s) }

// kept is a copy of steps (and more) to keep in a match or an edge.
func kept(steps []step, more ...step) []step {
	if len(steps)+len(more) == 0 {
		return nil
	}
	out := make([]step, 0, len(steps)+len(more))
	return append(append(out, steps...), more...)
}

// scratchSteps is the room a scan's steps start with: nesting is bounded
// (scanIn's 24 levels), so a path rarely outgrows it and its steps are
// not copied level by level.
const scratchSteps = 32

// match is a target found at the end of steps from a value.
type match struct {
	steps  []step
	target int
	rel    Relation
	value  uint64
	offset int64
}

// edge leads from a value to an object: steps end in a deref or an element.
type edge struct {
	steps []step
	to    *node
}

type nodeKey struct {
	mod  *coreparse.Module
	typ  dwarf.Offset
	addr uint64
}

// node is one typed object in the core, expanded (read) once.
type node struct {
	key      nodeKey
	once     sync.Once
	expanded bool
	matches  []match
	edges    []edge
	best     atomic.Int32 // the most hops left it was visited with; -1 before
	dist     int32        // hops to the nearest match (distances), -1 when none
}

// root is one variable of one frame, scanned.
type root struct {
	frame   int
	v       *values.Value
	matches []match
	edges   []edge
}

type scanOut struct {
	matches []match
	edges   []edge
}

func (s *searcher) node(mod *coreparse.Module, typ dwarf.Offset, addr uint64) *node {
	k := nodeKey{mod, typ, addr}
	if n, ok := s.nodes.Load(k); ok {
		return n.(*node)
	}
	n := &node{key: k}
	n.best.Store(-1)
	got, _ := s.nodes.LoadOrStore(k, n)
	return got.(*node)
}

// collectRoots reads every frame's variables and expands the object graph
// from them, stack by stack on all CPUs.
func (s *searcher) collectRoots(stacks []Stack) {
	s.roots = make([][]*root, len(stacks))
	par.Do(len(stacks), func(i int) {
		fs := stacks[i].Frames
		scratch := make([]step, 0, scratchSteps)
		for j := range fs {
			f := &fs[j]
			if f.Raw == nil || f.Mod == nil || f.Boundary || f.Sigtramp || s.expired() {
				continue
			}
			fr := values.FrameOf(s.p, fs, j)
			if fr == nil || fr.Scope == 0 {
				continue
			}
			params, locals, _ := s.r.FrameVars(fr)
			s.frames.Add(1)
			for _, v := range append(params, locals...) {
				if v.Absent() || v.Unsaved {
					continue // (an unsaved register's value is gdb's guess, not evidence)
				}
				s.vars.Add(1)
				rt := &root{frame: j, v: v}
				var out scanOut
				s.scan(v, scratch[:0], &out, 0)
				if v.InMemory() {
					// The variable itself may be a target (a local list
					// header, an object on the stack).
					out.matches = append(out.matches, s.matchesOf(v.Addr, uint64(max(s.r.Size(v), 1)), false)...)
				}
				rt.matches, rt.edges = out.matches, out.edges
				for _, e := range rt.edges {
					s.visit(e.to, s.o.MaxDepth-1)
				}
				s.roots[i] = append(s.roots[i], rt)
			}
		}
	})
}

// visit expands n and what it points to, with hops left; a node already
// visited with as many hops left is not walked again.
func (s *searcher) visit(n *node, left int) {
	for {
		b := n.best.Load()
		if int32(left) <= b {
			return
		}
		if n.best.CompareAndSwap(b, int32(left)) {
			break
		}
	}
	s.expand(n)
	if left == 0 {
		return
	}
	for _, e := range n.edges {
		s.visit(e.to, left-1)
	}
}

// expand reads n's object: its pointers' targets and where they lead.
func (s *searcher) expand(n *node) {
	n.once.Do(func() {
		if s.expired() {
			return
		}
		if s.objects.Add(1) > int64(s.o.MaxObjects) {
			s.objects.Add(-1)
			s.objectCut.Add(1)
			return
		}
		var out scanOut
		v := &values.Value{Mod: n.key.mod, Type: n.key.typ, Addr: n.key.addr, Kind: values.KindReference}
		s.scan(v, make([]step, 0, scratchSteps), &out, 0)
		n.matches, n.edges, n.expanded = out.matches, out.edges, true
	})
}

// scan walks a value's own storage (members, base classes, array
// elements) to its pointers, and containers to their elements.
func (s *searcher) scan(v *values.Value, steps []step, out *scanOut, nest int) {
	s.scanIn(v, steps, out, nest, 0)
}

// scanIn is scan with the struct C++ name lookup starts from when v is a
// base-class part of it (0: v itself).
func (s *searcher) scanIn(v *values.Value, steps []step, out *scanOut, nest int, lookup dwarf.Offset) {
	if nest > 24 {
		return
	}
	ty := s.r.Resolved(v)
	if ty == nil {
		return
	}
	switch ty.Kind {
	case symbols.KindPointer:
		x, err := s.r.Uint(v)
		if err != nil || x == 0 {
			return
		}
		s.pointer(v.Mod, ty, x, steps, out)
	case symbols.KindStruct:
		if s.elements(v, ty, steps, out, nest) {
			return
		}
		if lookup == 0 {
			lookup = ty.Offset
		}
		for _, b := range ty.Bases {
			s.scanIn(sub(v, b.Offset, b.Type), with(steps, step{kind: stBase}), out, nest+1, lookup)
		}
		for _, m := range ty.Members {
			if m.BitSize > 0 {
				continue
			}
			var mt *symbols.Type
			if m.Name != "" {
				if mt = s.resolve(v.Mod, m.Type); !mayHold(mt) {
					continue // (what scan would find nothing in, not read)
				}
			}
			if mt != nil && mt.Kind == symbols.KindPointer && v.InMemory() {
				// A pointer member of an object in memory: its word, read
				// as scan would read it, without making it a value.
				if nest+1 > 24 {
					continue
				}
				at := v.Addr + uint64(m.Offset)
				st := step{kind: stMember, name: m.Name}
				if lookup != ty.Offset && s.memberCount(v.Mod, lookup, m.Name) > 1 {
					st.ambiguous, st.addr, st.mod, st.typ = true, at, v.Mod, m.Type
				}
				if x, ok := s.word(at); ok && x != 0 {
					s.pointer(v.Mod, mt, x, with(steps, st), out)
				}
				continue
			}
			c := sub(v, m.Offset, m.Type)
			name := m.Name
			if name == "" {
				// An anonymous union or struct: its members are the
				// enclosing type's in C++.
				s.scanIn(c, with(steps, step{kind: stBase}), out, nest+1, lookup)
				continue
			}
			st := step{kind: stMember, name: name}
			if lookup != ty.Offset && s.memberCount(v.Mod, lookup, name) > 1 {
				st.ambiguous, st.addr, st.mod, st.typ = true, c.Addr, c.Mod, c.Type
			}
			s.scan(c, with(steps, st), out, nest+1)
		}
	case symbols.KindArray:
		el := s.resolve(v.Mod, ty.Elem)
		if el == nil || el.Kind == symbols.KindBase || el.Kind == symbols.KindEnum || el.Kind == symbols.KindFunc || ty.Count <= 0 {
			return
		}
		n := int(ty.Count)
		if n > s.o.MaxElements {
			s.elementCut.Add(1)
			n = s.o.MaxElements
		}
		for i := 0; i < n; i++ {
			e, err := s.r.Index(v, int64(i))
			if err != nil {
				return
			}
			s.scan(e, with(steps, step{kind: stIndex, index: i}), out, nest+1)
		}
	case symbols.KindBase:
		if ty.Size != 8 || ty.Encoding == 0x4 { // not a 64-bit integer (DW_ATE_float)
			return
		}
		x, err := s.r.Uint(v)
		if err != nil || x < 4096 {
			return
		}
		var k []step
		for i, ti := range s.exact(x) {
			if i == 0 {
				k = kept(steps)
			}
			out.matches = append(out.matches, match{steps: k, target: ti, rel: Integer, value: x})
		}
	}
}

// pointer records what the pointer x of type ty (resolved, in module
// mod) holds: the targets it points to or into, and the object it leads
// to.
func (s *searcher) pointer(mod *coreparse.Module, ty *symbols.Type, x uint64, steps []step, out *scanOut) {
	el := s.resolve(mod, ty.Elem)
	size := uint64(0)
	if el != nil {
		size = uint64(max(mod.Syms.SizeOf(el.Offset), 0))
	}
	if ms := s.matchesOf(x, size, true); len(ms) > 0 {
		k := kept(steps)
		for _, m := range ms {
			m.steps = k
			out.matches = append(out.matches, m)
		}
	}
	if followable(el) && s.p.Core.Readable(x) {
		out.edges = append(out.edges, edge{kept(steps, step{kind: stDeref, ref: ty.Tag != dwarf.TagPointerType}), s.node(mod, el.Offset, x)})
	}
}

// word reads the 64-bit word at addr (values.Reader.Uint's read of a
// pointer in memory, without a value or a buffer on the heap).
func (s *searcher) word(addr uint64) (uint64, bool) {
	var b [8]byte
	if k, _ := s.p.Core.ReadAt(b[:], addr); k < len(b) {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b[:]), true
}

// mayHold: scanIn finds something in a value of this (resolved) type
// only when it is a pointer, a struct, an array, or a 64-bit integer.
func mayHold(ty *symbols.Type) bool {
	if ty == nil {
		return false
	}
	switch ty.Kind {
	case symbols.KindPointer, symbols.KindStruct, symbols.KindArray:
		return true
	case symbols.KindBase:
		return ty.Size == 8 && ty.Encoding != 0x4
	}
	return false
}

// memberCount is how many data members of that name a struct has, its
// bases' included (more than one: C++ lookup of the name is ambiguous).
func (s *searcher) memberCount(m *coreparse.Module, off dwarf.Offset, name string) int {
	k := nodeKey{mod: m, typ: off}
	if c, ok := s.names.Load(k); ok {
		return c.(map[string]int)[name]
	}
	counts := map[string]int{}
	var walk func(off dwarf.Offset, depth int)
	walk = func(off dwarf.Offset, depth int) {
		ty := s.resolve(m, off)
		if ty == nil || ty.Kind != symbols.KindStruct || depth > 16 {
			return
		}
		for _, mb := range ty.Members {
			if mb.Name != "" {
				counts[mb.Name]++
			}
		}
		for _, b := range ty.Bases {
			walk(b.Type, depth+1)
		}
	}
	walk(off, 0)
	s.names.Store(k, counts)
	return counts[name]
}

// sub is the part of v at off, of type typ.
func sub(v *values.Value, off int64, typ dwarf.Offset) *values.Value {
	c := &values.Value{Mod: v.Mod, Type: typ, Where: v.Where}
	switch {
	case v.InMemory():
		c.Addr, c.Kind = v.Addr+uint64(off), values.KindReference
	case off < int64(len(v.Bytes)):
		c.Bytes = v.Bytes[off:]
	default:
		c.SetAbsent(values.OptimizedOut, nil)
	}
	return c
}

// resolve follows typedefs and qualifiers, and a declaration to its
// definition.
func (s *searcher) resolve(m *coreparse.Module, off dwarf.Offset) *symbols.Type {
	if off == 0 {
		return nil
	}
	return s.r.Resolved(&values.Value{Mod: m, Type: off})
}

// followable: what a pointer points to is worth reading (objects,
// pointers, arrays; not characters, functions or void).
func followable(el *symbols.Type) bool {
	if el == nil || el.Decl {
		return false
	}
	switch el.Kind {
	case symbols.KindStruct, symbols.KindArray:
		return true
	case symbols.KindPointer:
		return true
	}
	return false
}

// addElement records a container's element c (#i): an object becomes a
// node one hop away (and is matched in place); a pointer or scalar is
// scanned where it is stored.
func (s *searcher) addElement(c *values.Value, i int, kind stepKind, steps []step, out *scanOut, nest int) {
	st := with(steps, step{kind: kind, index: i, addr: c.Addr, mod: c.Mod, typ: c.Type})
	et := s.r.Resolved(c)
	if et == nil {
		return
	}
	if et.Kind == symbols.KindStruct || et.Kind == symbols.KindArray {
		size := uint64(max(c.Mod.Syms.SizeOf(et.Offset), 1))
		k := kept(st)
		for _, m := range s.matchesOf(c.Addr, size, false) {
			m.steps = k
			out.matches = append(out.matches, m)
		}
		out.edges = append(out.edges, edge{k, s.node(c.Mod, et.Offset, c.Addr)})
		return
	}
	s.scan(c, st, out, nest+1)
}

// distances marks each expanded object with the hops to its nearest match
// (reverse breadth-first from the objects that hold a target).
func (s *searcher) distances() {
	id := map[*node]int{}
	s.nodes.Range(func(_, v any) bool {
		n := v.(*node)
		n.dist = -1
		id[n] = len(s.all)
		s.all = append(s.all, n)
		return true
	})
	rev := make([][]int, len(s.all))
	var queue []int
	for i, n := range s.all {
		for _, e := range n.edges {
			j := id[e.to]
			rev[j] = append(rev[j], i)
		}
		if len(n.matches) > 0 {
			n.dist = 0
			queue = append(queue, i)
		}
		if n.best.Load() == 0 && len(n.edges) > 0 {
			s.depthCut.Add(int64(len(n.edges)))
		}
	}
	for len(queue) > 0 {
		j := queue[0]
		queue = queue[1:]
		for _, i := range rev[j] {
			if s.all[i].dist < 0 {
				s.all[i].dist = s.all[j].dist + 1
				queue = append(queue, i)
			}
		}
	}
}
