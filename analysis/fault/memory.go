package fault

import (
	"fmt"
	"strings"
	"sync"

	"github.com/dsecore/dsecore/analysis/heap"
	"github.com/dsecore/dsecore/analysis/holders"
	"github.com/dsecore/dsecore/coreparse"
)

// Memory is what glibc malloc's own state and the object graph say about
// the analysis' addresses of interest (its objects, the nodes its list
// walk reached, the freed object a bad pointer was read out of, what free()
// was given): each one's chunk, and who else holds it, through which path.
// The verdict (conclude) draws on it; Verdict here is its part alone.
type Memory struct {
	Targets []holders.Target `json:"targets"`
	Heap    []HeapFact       `json:"heap"`
	// HeapKnown is false when glibc's malloc state cannot be read (no libc
	// debug info): HeapReason says why, and no heap rule is drawn.
	HeapKnown  bool   `json:"heap_known"`
	HeapReason string `json:"heap_reason,omitempty"`
	// MallocError is glibc's abort message when malloc aborted ("free():
	// double free detected in tcache 2").
	MallocError string          `json:"malloc_error,omitempty"`
	Holders     *holders.Result `json:"holders"`
	// Paths are the call paths of each holder's best frame, by holder
	// index: "release_wait ← lsm_release_all_csdobj ← lsm_destroy".
	Paths []string `json:"paths"`
	// Verdict names the strongest other holder and how it holds the
	// object, then what the heap says; Rules are the heap's rules that
	// fired ("use-after-free", "heap-corruption", "double-free", …).
	Verdict string   `json:"verdict"`
	Rules   []string `json:"rules"`

	stacks []holders.Stack // searched (the crash's own left out)
}

// HeapFact is the heap's answer for one target.
type HeapFact struct {
	Role    string        `json:"role"`
	Finding *heap.Finding `json:"finding"`
	Verdict heap.Verdict  `json:"verdict"`
}

// findMemory locates every address of interest in glibc's heap and
// searches every other thread's and task's variables for it. The crashed
// thread's own stack is not searched: its holders are the crash's path.
func (a *Analysis) findMemory() {
	p := a.p
	h := heap.Open(p, heap.Options{})
	m := &Memory{HeapKnown: h.Known, HeapReason: h.Reason, MallocError: h.MallocError(), Rules: []string{}}
	a.Memory = m
	// Every stack is unwound only when there is something to look for
	// (a real daemon's wild jump has no object of interest).
	type split struct{ others, crash []holders.Stack }
	stacks := sync.OnceValue(func() split {
		var all []holders.Stack
		if a.o.Stacks != nil {
			all = a.o.Stacks()
		} else {
			all = holders.Stacks(p, a.rt)
		}
		sp := split{others: all}
		if fc := p.Fault(); fc != nil && fc.Thread != nil {
			sp.others = holders.Without(all, fc.Thread.LWP, -1)
			for _, st := range all {
				if st.TaskID < 0 && st.LWP == fc.Thread.LWP {
					sp.crash = append(sp.crash, st)
				}
			}
		}
		return sp
	})
	add := func(addr uint64, role, what string, weight int, access heap.Access) {
		if addr == 0 {
			return
		}
		for _, t := range m.Targets {
			if t.Address == addr {
				return
			}
		}
		f := h.Locate(addr)
		t := holders.Target{Address: addr, Role: role, What: what, Weight: weight}
		if f.Known && f.Chunk != nil && addr >= f.Chunk.Mem && addr < f.Chunk.End {
			t.Size = f.Chunk.End - addr // the object's extent: the rest of its chunk
		}
		m.Targets = append(m.Targets, t)
		m.Heap = append(m.Heap, HeapFact{Role: role, Finding: f, Verdict: f.Verdict(access)})
	}
	for _, ob := range a.Objects {
		w := 80
		if ob.Role == "owner" {
			w = 100
		}
		add(ob.Address, ob.Role, strings.TrimSpace("the "+ob.Role+" "+ob.Type), w, heap.AccessUse)
	}
	if lw := a.ListWalk; lw != nil {
		for i, n := range lw.Nodes {
			add(n.Element, fmt.Sprintf("list node #%d", i), strings.TrimSpace(fmt.Sprintf("list node #%d %s", i, lw.Element)), 60, heap.AccessUse)
		}
	}
	// The freed object a bad pointer was read out of, and what free() was given.
	if f := a.Fault; f != nil && f.BadRegister != "" {
		// A bad pointer that is a word free() wrote: the freed object it was read from.
		es := h.TcacheNextIs(f.BadValue, 8)
		if len(es) > 1 {
			// Tails of bins in one page store the same word: keep those the
			// crash's own path reaches.
			es = reachedByCrash(p, stacks().crash, es)
		}
		for _, e := range es {
			add(e, fmt.Sprintf("freed object whose tcache next word is %%%s's %#x", f.BadRegister, f.BadValue), "the freed object", 90, heap.AccessUse)
		}
	}
	add(freeArgument(p, a.vr, h), "pointer passed to free()", "the pointer passed to free()", 100, heap.AccessFree)
	if len(m.Targets) > 0 {
		m.stacks = stacks().others
	}
	m.Holders = holders.Search(p, m.stacks, m.Targets, holders.Options{})
	for _, hd := range m.Holders.Holders {
		m.Paths = append(m.Paths, m.callPath(hd.Best))
	}

	var parts []string
	if len(m.Holders.Holders) > 0 {
		parts = append(parts, "the strongest other holder: "+m.holderText(0))
	} else if len(m.Targets) > 0 {
		parts = append(parts, "no other thread or task holds the objects")
	}
	for _, hf := range m.Heap {
		if r := hf.Verdict.Rule; r != "" && r != "unknown" {
			parts = append(parts, fmt.Sprintf("%s: %s (%s)", r, hf.Verdict.Text, hf.Role))
			if !contains(m.Rules, r) {
				m.Rules = append(m.Rules, r)
			}
		}
	}
	if m.MallocError != "" {
		parts = append(parts, "glibc aborted: "+m.MallocError)
		if !contains(m.Rules, "malloc-abort") {
			m.Rules = append(m.Rules, "malloc-abort")
		}
	}
	if !m.HeapKnown && len(m.Targets) > 0 {
		parts = append(parts, "heap: cannot tell ("+m.HeapReason+")")
	}
	m.Verdict = strings.Join(parts, "; ")
}

// callPath is the call path of a hit's frame in its stack.
func (m *Memory) callPath(h holders.Hit) string {
	for _, st := range m.stacks {
		if st.Who == h.Who && st.LWP == h.LWP && st.TaskID == h.TaskID && h.Frame < len(st.Frames) {
			if p := callPath(st.Frames, h.Frame); p != "" {
				return p
			}
		}
	}
	return h.Function
}

// pathOf is holder i's call path.
func (m *Memory) pathOf(i int) string {
	if i < len(m.Paths) {
		return m.Paths[i]
	}
	return m.Holders.Holders[i].Best.Function
}

// holderText says how holder i holds its target: the path, the variable
// and its type, the frame.
func (m *Memory) holderText(i int) string {
	hd := m.Holders.Holders[i]
	b := hd.Best
	what := b.Role
	if t := m.Holders.Targets[b.Target]; t.What != "" {
		what = t.What
	}
	what = fmt.Sprintf("%s %#x", what, m.Holders.Targets[b.Target].Address)
	path := m.pathOf(i)
	if b.Fallback {
		return fmt.Sprintf("%s holds %s in its %s (frame #%d %s; a raw match: %s)", hd.Who, what, b.Location, b.Frame, path, b.FallbackWhy)
	}
	kind := "local"
	if b.Param {
		kind = "parameter"
	}
	held := "as " + b.Text
	switch b.Relation {
	case holders.PointsInto:
		held = fmt.Sprintf("as %s, a pointer %d bytes into it", b.Text, b.Offset)
	case holders.Contains:
		held = fmt.Sprintf("inside %s (%d bytes into it)", b.Text, b.Offset)
	case holders.Integer:
		held = fmt.Sprintf("as %s, an integer equal to its address", b.Text)
	}
	from := fmt.Sprintf("%s `%s` of type %s", kind, b.Variable, b.VarType)
	if b.Depth > 0 {
		hops := "hops"
		if b.Depth == 1 {
			hops = "hop"
		}
		from = fmt.Sprintf("a %s of %d %s from %s", b.How, b.Depth, hops, from)
	}
	return fmt.Sprintf("%s holds %s %s (%s, frame #%d %s)", hd.Who, what, held, from, b.Frame, path)
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// reachedByCrash keeps the addresses the crashed thread's own variables
// reach (all of them when it reaches none: the ambiguity stays visible).
func reachedByCrash(p *coreparse.Process, crash []holders.Stack, addrs []uint64) []uint64 {
	if len(crash) == 0 {
		return addrs
	}
	var ts []holders.Target
	for _, a := range addrs {
		ts = append(ts, holders.Target{Address: a, Role: fmt.Sprintf("%#x", a)})
	}
	res := holders.Search(p, crash, ts, holders.Options{NoRaw: true})
	var out []uint64
	for i, a := range addrs {
		for _, h := range res.Hits {
			if h.Target == i {
				out = append(out, a)
				break
			}
		}
	}
	if len(out) == 0 {
		return addrs
	}
	return out
}
