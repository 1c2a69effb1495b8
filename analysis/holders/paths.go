package holders

import (
	"fmt"
	"strings"
	"sync"

	"github.com/dsecore/dsecore/coreparse"

	"github.com/dsecore/dsecore/internal/par"
)

// paths walks each variable's shortest paths to the targets through the
// expanded graph, following only edges into objects that lead to a match
// within the hops left.
func (s *searcher) paths(stacks []Stack) []Hit {
	per := make([][]Hit, len(stacks))
	var pool sync.Pool // of *[]Hit: a stack's hits are gathered in a reused buffer, then copied out at their size
	par.Do(len(stacks), func(i int) {
		buf, _ := pool.Get().(*[]Hit)
		if buf == nil {
			buf = new([]Hit)
		}
		hits := (*buf)[:0]
		for _, rt := range s.roots[i] {
			hits = s.rootPaths(hits, stacks[i], rt)
		}
		if len(hits) > 0 {
			per[i] = append([]Hit(nil), hits...)
		}
		clear(hits)
		*buf = hits[:0]
		pool.Put(buf)
	})
	n := 0
	for _, h := range per {
		n += len(h)
	}
	out := make([]Hit, 0, n) // 10,000 tasks' hits: grown by appending, they were copied ~twice over
	for _, h := range per {
		out = append(out, h...)
	}
	return out
}

type pathState struct {
	n     *node
	steps []step
	depth int
	mods  []*coreparse.Module // the modules of the objects' types on the way
}

const maxPathStates = 20000

// rootPaths appends the hits of one variable to hits.
func (s *searcher) rootPaths(hits []Hit, st Stack, rt *root) []Hit {
	if len(rt.matches) == 0 && len(rt.edges) == 0 {
		return hits
	}
	found := map[int]bool{}
	emit := func(m match, steps []step, depth int, mods []*coreparse.Module) {
		if found[m.target] {
			return
		}
		found[m.target] = true
		h := s.hit(st, rt, m, steps, depth)
		for _, mod := range mods {
			h.mods = addModule(h.mods, mod)
		}
		hits = append(hits, h)
	}
	for _, m := range rt.matches {
		emit(m, m.steps, 0, nil)
	}
	var queue []pathState
	seen := map[*node]bool{}
	push := func(e edge, prefix []step, depth int, mods []*coreparse.Module) {
		n := e.to
		if seen[n] || !n.expanded || n.dist < 0 || depth+int(n.dist) > s.o.MaxDepth || len(seen) >= maxPathStates {
			return
		}
		seen[n] = true
		steps := make([]step, 0, len(prefix)+len(e.steps))
		queue = append(queue, pathState{n, append(append(steps, prefix...), e.steps...), depth, addModule(mods, n.key.mod)})
	}
	for _, e := range rt.edges {
		push(e, nil, 1, nil)
	}
	for len(queue) > 0 && len(found) < len(s.targets) {
		ps := queue[0]
		queue = queue[1:]
		for _, m := range ps.n.matches {
			emit(m, append(append([]step(nil), ps.steps...), m.steps...), ps.depth, ps.mods)
		}
		for _, e := range ps.n.edges {
			push(e, ps.steps, ps.depth+1, ps.mods)
		}
	}
	return hits
}

func (s *searcher) hit(st Stack, rt *root, m match, steps []step, depth int) Hit {
	f := st.Frames[rt.frame]
	expr, text, exprs := render(rt.v.Name, steps)
	how := "variable"
	switch k := lastVisible(steps); {
	case k == stIndex || k == stElement:
		how = "container element"
	case depth > 0:
		how = "pointer chain"
	}
	t := s.targets[m.target]
	mods := addModule(addModule(nil, f.Mod), rt.v.Mod)
	for _, x := range steps {
		mods = addModule(mods, x.mod)
	}
	return Hit{mods: mods, Who: st.Who, Said: st.Said, LWP: st.LWP, TaskID: st.TaskID, Frame: rt.frame, Function: f.Function,
		Variable: rt.v.Name, VarType: s.r.TypeName(rt.v), Param: rt.v.Param, Location: rt.v.Where,
		Expr: expr, Text: text, Steps: exprs, Target: m.target, Role: t.Role,
		Value: m.value, Relation: m.rel, Offset: m.offset, Depth: depth, How: how,
		systemFrame: f.Mod != nil && systemLibrary(f.Mod.BaseName())}
}

// addModule adds a module to a set of them (nil is none).
func addModule(mods []*coreparse.Module, m *coreparse.Module) []*coreparse.Module {
	if m == nil {
		return mods
	}
	for _, x := range mods {
		if x == m {
			return mods
		}
	}
	return append(mods[:len(mods):len(mods)], m)
}

func lastVisible(steps []step) stepKind {
	for i := len(steps) - 1; i >= 0; i-- {
		if steps[i].kind != stBase && steps[i].kind != stDeref {
			return steps[i].kind
		}
	}
	return stBase
}

// render writes a path from a variable as a C++ expression (and the
// expression after each visible step), and as the words for a sentence.
// Elements of containers C++ cannot index, and members whose name is
// ambiguous among the bases (std::tuple's _M_head_impl), are written as
// the object at their address: (*(T *)0x…).
func render(root string, steps []step) (expr, text string, exprs []string) {
	e := root
	ptr := false // e is a pointer whose pointee the path is in
	elemText, elemExpr := "", ""
	at := func(st step) string {
		tn := "void"
		if st.mod != nil && st.mod.Syms != nil {
			tn = st.mod.Syms.TypeName(st.typ)
		}
		return fmt.Sprintf("(*(%s *)%#x)", tn, st.addr)
	}
	for _, st := range steps {
		switch st.kind {
		case stBase:
			continue
		case stDeref:
			if !st.ref {
				ptr = true
			}
			continue
		case stMember:
			switch {
			case st.ambiguous && st.addr != 0:
				e = at(st)
			case ptr:
				e += "->" + st.name
			default:
				e += "." + st.name
			}
		case stIndex, stElement:
			if ptr {
				e = "(*" + e + ")"
			}
			elemText = fmt.Sprintf("`%s` element #%d", e, st.index)
			if st.kind == stIndex {
				e = fmt.Sprintf("%s[%d]", e, st.index)
			} else {
				e = at(st)
			}
			elemExpr = e
		}
		ptr = false
		exprs = append(exprs, e)
	}
	if ptr {
		e = "*" + e
	}
	text = "`" + e + "`"
	if elemText != "" {
		text = elemText
		if e != elemExpr || strings.HasPrefix(e, "(*(") {
			text += " (`" + e + "`)"
		}
	}
	return e, text, exprs
}
