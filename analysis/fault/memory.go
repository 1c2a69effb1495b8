package fault

import (
	"fmt"
	"strings"
	"sync"

	"github.com/dsecore/dsecore/analysis/heap"
	"github.com/dsecore/dsecore/analysis/holders"
	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/internal/l10n"
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
	// roles and whats are each target's Role and What in the catalog's
	// words, by target index.
	roles, whats []l10n.Msg
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
	add := func(addr uint64, roleSaid, whatSaid l10n.Msg, weight int, access heap.Access) {
		if addr == 0 {
			return
		}
		for _, t := range m.Targets {
			if t.Address == addr {
				return
			}
		}
		f := h.Locate(addr)
		role, what := roleSaid.String(), whatSaid.String()
		t := holders.Target{Address: addr, Role: role, What: what, Weight: weight}
		if f.Known && f.Chunk != nil && addr >= f.Chunk.Mem && addr < f.Chunk.End {
			t.Size = f.Chunk.End - addr // the object's extent: the rest of its chunk
		}
		m.Targets = append(m.Targets, t)
		m.roles, m.whats = append(m.roles, roleSaid), append(m.whats, whatSaid)
		m.Heap = append(m.Heap, HeapFact{Role: role, Finding: f, Verdict: f.Verdict(access)})
	}
	for _, ob := range a.Objects {
		w := 80
		if ob.Role == "owner" {
			w = 100
		}
		role := ObjectRole(ob.Role)
		what := l10n.T("what.the", "What", role)
		if ob.Type != "" {
			what = l10n.T("what.the-typed", "What", role, "Type", ob.Type)
		}
		add(ob.Address, role, what, w, heap.AccessUse)
	}
	if lw := a.ListWalk; lw != nil {
		for i, n := range lw.Nodes {
			role := l10n.T("role.list-node", "N", i)
			what := role
			if lw.Element != "" {
				what = l10n.T("what.typed", "What", role, "Type", lw.Element)
			}
			add(n.Element, role, what, 60, heap.AccessUse)
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
			add(e, l10n.T("role.freed-tcache", "Reg", f.BadRegister, "Val", fmt.Sprintf("%#x", f.BadValue)), l10n.T("what.freed-object"), 90, heap.AccessUse)
		}
	}
	add(freeArgument(p, a.vr, h), l10n.T("role.free-arg"), l10n.T("what.free-arg"), 100, heap.AccessFree)
	if len(m.Targets) > 0 {
		m.stacks = stacks().others
	}
	m.Holders = holders.Search(p, m.stacks, m.Targets, holders.Options{})
	for _, hd := range m.Holders.Holders {
		m.Paths = append(m.Paths, m.callPath(hd.Best))
	}

	var parts []string
	if len(m.Holders.Holders) > 0 {
		parts = append(parts, "the strongest other holder: "+m.holderText(0).String())
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
func (m *Memory) holderText(i int) l10n.Msg {
	hd := m.Holders.Holders[i]
	b := hd.Best
	what := l10n.Verbatim(b.Role)
	if b.Target < len(m.roles) {
		what = m.roles[b.Target]
	}
	if t := m.Holders.Targets[b.Target]; t.What != "" {
		what = l10n.Verbatim(t.What)
		if b.Target < len(m.whats) {
			what = m.whats[b.Target]
		}
	}
	what = l10n.T("what.at", "What", what, "Addr", fmt.Sprintf("%#x", m.Holders.Targets[b.Target].Address))
	path := m.pathOf(i)
	if b.Fallback {
		return l10n.T("holder.raw", "Who", hd.Said, "What", what, "Location", l10n.Untranslated(b.Location), "Frame", b.Frame, "Path", path,
			"Why", l10n.Untranslated(b.FallbackWhy))
	}
	kind := l10n.T("holder.local")
	if b.Param {
		kind = l10n.T("holder.parameter")
	}
	held := l10n.T("holder.as", "Text", b.Text)
	switch b.Relation {
	case holders.PointsInto:
		held = l10n.T("holder.as-into", "Text", b.Text, "Offset", b.Offset)
	case holders.Contains:
		held = l10n.T("holder.inside", "Text", b.Text, "Offset", b.Offset)
	case holders.Integer:
		held = l10n.T("holder.as-integer", "Text", b.Text)
	}
	from := l10n.T("holder.variable", "Kind", kind, "Variable", b.Variable, "Type", b.VarType)
	if b.Depth > 0 {
		from = l10n.T("holder.hops", "How", holderHow(b.How), "Count", b.Depth, "From", from)
	}
	return l10n.T("holder.holds", "Who", hd.Said, "What", what, "Held", held, "From", from, "Frame", b.Frame, "Path", path)
}

// ObjectRole is an object's role ("owner", "list header") in the
// catalog's words.
func ObjectRole(role string) l10n.Msg {
	switch role {
	case "owner":
		return l10n.T("role.owner")
	case "list header":
		return l10n.T("role.list-header")
	case "hook offset":
		return l10n.T("role.hook-offset")
	}
	return l10n.Untranslated(role)
}

// holderHow is how a holder's path reaches its target (holders.Hit.How)
// in the catalog's words.
func holderHow(how string) l10n.Msg {
	switch how {
	case "variable":
		return l10n.T("holder.how-variable")
	case "pointer chain":
		return l10n.T("holder.how-pointer-chain")
	case "container element":
		return l10n.T("holder.how-container-element")
	}
	return l10n.Untranslated(how)
}

// RoleSaid is heap fact i's role in the catalog's words.
func (m *Memory) RoleSaid(i int) l10n.Msg { return m.roleMsg(i) }

// roleMsg is heap fact i's role in the catalog's words.
func (m *Memory) roleMsg(i int) l10n.Msg {
	if i < len(m.roles) {
		return m.roles[i]
	}
	return l10n.Untranslated(m.Heap[i].Role)
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
