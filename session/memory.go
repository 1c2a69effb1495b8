package session

import (
	"fmt"
	"strings"

	"github.com/dsecore/dsecore/analysis/fault"
	"github.com/dsecore/dsecore/analysis/heap"
	"github.com/dsecore/dsecore/analysis/holders"
	"github.com/dsecore/dsecore/coreparse"
)

// Memory is what glibc malloc's own state and the object graph say about
// the fault analysis' addresses of interest (its objects and the nodes its
// list walk reached): each one's chunk, and who else holds it, through
// which path.
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
	// Verdict names the strongest other holder and how it holds the
	// object, then what the heap says; Rules are the heap's rules that
	// fired ("use-after-free", "heap-corruption", "double-free", …).
	Verdict string   `json:"verdict"`
	Rules   []string `json:"rules"`
}

// HeapFact is the heap's answer for one target.
type HeapFact struct {
	Role    string        `json:"role"`
	Finding *heap.Finding `json:"finding"`
	Verdict heap.Verdict  `json:"verdict"`
}

// Memory is computed on the first call, once, from the fault analysis (which
// it runs if nothing has yet). The crashed thread's own stack is not
// searched: its holders are the crash's path.
func (s *Session) Memory() *Memory {
	s.memOnce.Do(func() {
		a := s.Analysis()
		s.progress("memory", false)
		defer s.progress("memory", true)
		s.mem = memoryOf(s, a)
	})
	return s.mem
}

func memoryOf(s *Session, a *fault.Analysis) *Memory {
	p := s.Process()
	h := heap.Open(p, heap.Options{})
	m := &Memory{HeapKnown: h.Known, HeapReason: h.Reason, MallocError: h.MallocError(), Rules: []string{}}
	all := holders.Stacks(p, s.Runtime())
	others, crash := all, []holders.Stack(nil)
	if fc := p.Fault(); fc != nil && fc.Thread != nil {
		others = holders.Without(all, fc.Thread.LWP, -1)
		for _, st := range all {
			if st.TaskID < 0 && st.LWP == fc.Thread.LWP {
				crash = append(crash, st)
			}
		}
	}
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
			add(n.Element, fmt.Sprintf("list node #%d", i), "", 60, heap.AccessUse)
		}
	}
	// The freed object a bad pointer was read out of, and what free() was given.
	if f := a.Fault; f != nil && f.BadRegister != "" {
		// A bad pointer that is a word free() wrote: the freed object it was read from.
		es := h.TcacheNextIs(f.BadValue, 8)
		if len(es) > 1 {
			// Tails of bins in one page store the same word: keep those the
			// crash's own path reaches.
			es = reachedByCrash(p, crash, es)
		}
		for _, e := range es {
			add(e, fmt.Sprintf("freed object whose tcache next word is %%%s's %#x", f.BadRegister, f.BadValue), "", 90, heap.AccessUse)
		}
	}
	add(freeArgument(p, s.Values(), h), "pointer passed to free()", "", 100, heap.AccessFree)
	stacks := others
	m.Holders = holders.Search(p, stacks, m.Targets, holders.Options{})

	var parts []string
	if len(m.Holders.Holders) > 0 {
		b := m.Holders.Holders[0].Best
		raw := ""
		if b.Fallback {
			raw = " (a raw " + b.How + ", no DWARF variable)"
		}
		parts = append(parts, fmt.Sprintf("the strongest other holder of %s is %s: #%d %s holds it as %s (%s)%s",
			b.Role, b.Who, b.Frame, b.Function, b.Text, b.Relation, raw))
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
	return m
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
