package values

import (
	"debug/dwarf"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/dsecore/dsecore/coreparse/symbols"
)

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
	if isMap(name) {
		if t, ok := r.rbTree(v, name); ok {
			return int(min(t.count, uint64(r.MaxList))), true
		}
		return 0, false
	}
	if l, ok := r.AsIntrusiveList(v); ok {
		return len(r.Walk(l, 0).Hooks), true
	}
	return 0, false
}

func isMap(name string) bool { return isPrefix(name, "std::map<", "std::multimap<") }

// rbTreeOf is a std::map's red-black tree (libstdc++'s _Rb_tree): its
// header node (whose left is the first node), the node count, the size of
// a node's links (_Rb_tree_node_base: the pair follows them), and the
// element type (the allocator's: std::pair<const K, V>).
type rbTreeOf struct {
	header   *Value
	count    uint64
	linkSize int64
	elemType dwarf.Offset
}

func (r *Reader) rbTree(v *Value, name string) (*rbTreeOf, bool) {
	impl, err := r.path(v, "_M_t", "_M_impl")
	if err != nil {
		return nil, false
	}
	h, err := r.Member(impl, "_M_header")
	if err != nil || !h.InMemory() {
		return nil, false
	}
	n, err := r.pathUint(impl, "_M_node_count")
	if err != nil {
		return nil, false
	}
	args := templateArgs(name)
	if len(args) != 4 || !strings.HasPrefix(args[3], "std::allocator<") {
		return nil, false
	}
	pair := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(args[3], "std::allocator<"), ">"))
	pt, ok := v.Mod.Syms.LookupType(pair)
	if !ok {
		return nil, false
	}
	return &rbTreeOf{header: h, count: n, linkSize: h.Mod.Syms.SizeOf(h.Type), elemType: pt.Offset}, true
}

// templateArgs splits "T<a, b<c, d>, e>"'s top-level arguments.
func templateArgs(name string) []string {
	i := strings.IndexByte(name, '<')
	if i < 0 || !strings.HasSuffix(name, ">") {
		return nil
	}
	inner := name[i+1 : len(name)-1]
	var out []string
	depth, start := 0, 0
	for j, c := range inner {
		switch c {
		case '<', '(':
			depth++
		case '>', ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(inner[start:j]))
				start = j + 1
			}
		}
	}
	return append(out, strings.TrimSpace(inner[start:]))
}

// rbNodes walks the tree in order (libstdc++'s _Rb_tree_increment) and
// returns the nodes' addresses, at most limit. A corrupt tree ends the
// walk: a node seen before, a link it cannot read, or more link reads than
// a tree of the nodes asked for needs (a cycle of parents).
func (r *Reader) rbNodes(t *rbTreeOf, limit int) []uint64 {
	budget := 64*limit + 1024
	link := func(x uint64, name string) (uint64, bool) {
		if budget--; budget < 0 {
			return 0, false
		}
		nv := &Value{Mod: t.header.Mod, Type: t.header.Type, Addr: x, Kind: KindReference}
		y, err := r.pathUint(nv, name)
		return y, err == nil
	}
	head := t.header.Addr
	x, ok := link(head, "_M_left")
	var out []uint64
	seen := map[uint64]bool{head: true}
	for ok && x != head && x != 0 && !seen[x] && len(out) < limit {
		seen[x] = true
		out = append(out, x)
		right, ok2 := link(x, "_M_right")
		if !ok2 {
			break
		}
		if right != 0 { // the leftmost node of the right subtree
			x = right
			for {
				left, ok3 := link(x, "_M_left")
				if !ok3 || left == 0 {
					ok = ok3
					break
				}
				x = left
			}
			continue
		}
		// Up while x is its parent's right child; then the parent, unless
		// the walk climbed past the root to the header.
		y, ok2 := link(x, "_M_parent")
		for ok2 {
			yr, ok3 := link(y, "_M_right")
			if !ok3 {
				ok2 = false
				break
			}
			if x != yr {
				break
			}
			x = y
			y, ok2 = link(y, "_M_parent")
		}
		if !ok2 {
			break
		}
		if xr, ok3 := link(x, "_M_right"); !ok3 {
			break
		} else if xr != y {
			x = y
		}
	}
	return out
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
	case isMap(name):
		if t, ok := r.rbTree(v, name); ok {
			return fmt.Sprintf("size=%d", t.count), true
		}
	case isPrefix(name, "std::shared_ptr<", "std::__shared_ptr<", "std::weak_ptr<", "std::__weak_ptr<"):
		// As libstdc++'s printer: no control block is empty; a use count
		// of 0 is expired (the weak count as stored); otherwise the weak
		// count without the one the shared owners hold together.
		p, err := r.pathUint(v, "_M_ptr")
		if err != nil {
			return "", false
		}
		s := fmt.Sprintf("%#x", p)
		pi, err := r.path(v, "_M_refcount", "_M_pi")
		if err != nil {
			return "", false
		}
		if x, _ := r.Uint(pi); x == 0 {
			if p == 0 {
				return "nullptr", true
			}
			return s + " (empty)", true
		}
		use, err1 := r.Member(pi, "_M_use_count")
		weak, err2 := r.Member(pi, "_M_weak_count")
		if err1 != nil || err2 != nil {
			return s + " (control block unreadable)", true
		}
		u, err1 := r.Int(use)
		w, err2 := r.Int(weak)
		switch {
		case err1 != nil || err2 != nil:
			s += " (control block unreadable)"
		case u == 0:
			s += fmt.Sprintf(" (expired, weak_count %d)", w)
		default:
			s += fmt.Sprintf(" (use_count %d, weak_count %d)", u, w-1)
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
	const h = "_Function_handler<"
	i := strings.Index(invoker, h)
	if i < 0 {
		return invoker
	}
	inner := invoker[i+len(h):]
	depth, comma := 0, -1
	for j, c := range inner {
		switch c {
		case '<', '(', '{', '[':
			depth++
		case ')', '}', ']':
			depth--
		case '>':
			if depth == 0 {
				if comma < 0 {
					return invoker
				}
				return strings.TrimSpace(inner[comma+1 : j])
			}
			depth--
		case ',':
			if depth == 0 && comma < 0 {
				comma = j
			}
		}
	}
	return invoker
}

// smartPointer is the pointer a std::unique_ptr, std::shared_ptr holds.
func (r *Reader) smartPointer(v *Value) (*Value, bool) {
	ty := r.Resolved(v)
	if ty == nil || ty.Kind != symbols.KindStruct {
		return nil, false
	}
	switch name := r.structName(v, ty); {
	case isPrefix(name, "std::unique_ptr<"):
		return r.uniquePtr(v)
	case isPrefix(name, "std::shared_ptr<", "std::__shared_ptr<"):
		p, err := r.Member(v, "_M_ptr")
		return p, err == nil
	}
	return nil, false
}

func (r *Reader) uniquePtr(v *Value) (*Value, bool) {
	return r.headImpl(v, 0)
}

// headImpl finds the pointer a unique_ptr holds: the _M_head_impl of
// pointer type among its members and bases (the deleter's _Head_base
// has an _M_head_impl too, of the deleter's type), through
// __uniq_ptr_data, __uniq_ptr_impl and std::tuple.
func (r *Reader) headImpl(v *Value, depth int) (*Value, bool) {
	ty := r.Resolved(v)
	if ty == nil || ty.Kind != symbols.KindStruct || depth > 8 {
		return nil, false
	}
	for _, m := range r.Members(v) {
		mt := r.Resolved(m)
		if m.Name == "_M_head_impl" && mt != nil && mt.Kind == symbols.KindPointer {
			return m, true
		}
		if mt != nil && mt.Kind == symbols.KindStruct && (m.Name == "_M_t" || strings.HasPrefix(m.Name, "<")) {
			if p, ok := r.headImpl(m, depth+1); ok {
				return p, true
			}
		}
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
			out = append(out, &Value{Name: fmt.Sprintf("[%d]", i), Mod: v.Mod, Type: el, Addr: base + uint64(int64(i)*sz), Kind: KindReference})
		}
		return out, true, nil
	case isMap(name):
		// Each element as gdb shows it: [key] = value.
		t, ok := r.rbTree(v, name)
		if !ok {
			return nil, false, nil
		}
		nodes := r.rbNodes(t, start+count)
		var out []*Value
		for i := start; i < len(nodes); i++ {
			pair := &Value{Mod: v.Mod, Type: t.elemType, Addr: nodes[i] + uint64(t.linkSize), Kind: KindReference}
			k, err1 := r.Member(pair, "first")
			val, err2 := r.Member(pair, "second")
			if err1 != nil || err2 != nil {
				pair.Name = fmt.Sprintf("[%d]", i)
				out = append(out, pair)
				continue
			}
			val.Name = "[" + r.Summary(k, false) + "]"
			out = append(out, val)
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
