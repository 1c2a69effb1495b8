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
			out = append(out, &Value{Name: fmt.Sprintf("[%d]", i), Mod: v.Mod, Type: el, Addr: base + uint64(int64(i)*sz), Kind: KindReference})
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
