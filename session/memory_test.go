package session_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/dsecore/dsecore/session"
)

func hexOf(t *testing.T, v any) uint64 {
	t.Helper()
	s, _ := v.(string)
	x, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64)
	if err != nil {
		t.Fatalf("not a hex address: %v", v)
	}
	return x
}

func openScenario(t *testing.T, name string, st *steps) (*session.Session, *fixture.Scenario) {
	t.Helper()
	sc := fixture.Get(t).Scenario(t, name)
	o := session.Options{Core: sc.Core, Exe: sc.Exe}
	if st != nil {
		o.Progress = st.hook
	}
	s, err := session.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, sc
}

// TestMemoryPointerChain: the node the crash walks is in use, and the
// strongest other holder is the release thread's callback holding it as
// l->node (the truth's first path); no heap rule fires. Memory is made
// once, with the analysis (its verdict draws on it).
func TestMemoryPointerChain(t *testing.T) {
	var st steps
	s, sc := openScenario(t, fixture.PointerChain, &st)
	m := s.Memory()
	if s.Memory() != m || s.Analysis().Memory != m || st.list() != "coroutines,analysis" {
		t.Errorf("steps %q", st.list())
	}
	truth := sc.Expected["holder"].(map[string]any)
	path := truth["paths"].([]any)[0].(map[string]any)
	if len(m.Holders.Holders) == 0 {
		t.Fatalf("no holder; verdict %q", m.Verdict)
	}
	b := m.Holders.Holders[0].Best
	if b.LWP != int(truth["lwp"].(float64)) || b.Function != path["function"] || b.Expr != path["expr"] || b.Fallback || b.Value != hexOf(t, truth["object"]) {
		t.Errorf("strongest holder %+v, want %v", b, path)
	}
	if !strings.Contains(m.Verdict, "`l->node`") || !strings.Contains(m.Verdict, "chain_release_cb") || !strings.Contains(s.Analysis().Verdict, "`l->node`") {
		t.Errorf("verdict %q", m.Verdict)
	}
	node := hexOf(t, sc.Expected["node"])
	found := false
	for _, hf := range m.Heap {
		if hf.Finding.Address == node {
			found = true
			if hf.Finding.State != "in-use" || hf.Verdict.Rule != "" {
				t.Errorf("node: %s, rule %q", hf.Finding.Describe(), hf.Verdict.Rule)
			}
		}
	}
	if !found || len(m.Rules) != 0 {
		t.Errorf("node found %v, rules %v", found, m.Rules)
	}
}

// checkChunk: the truth's chunk, free in the truth's thread's tcache bin.
func checkChunk(t *testing.T, m *session.Memory, truth map[string]any, rule string) {
	t.Helper()
	mem := hexOf(t, truth["mem"])
	var hit bool
	for _, hf := range m.Heap {
		f := hf.Finding
		if f.Address != mem {
			continue
		}
		hit = true
		if f.Chunk == nil || f.Chunk.Address != hexOf(t, truth["chunk"]) || f.Chunk.Size != hexOf(t, truth["size"]) || string(f.State) != truth["state"] {
			t.Errorf("chunk: %s", f.Describe())
		}
		if len(f.Bins) == 0 || f.Bins[0].Kind != "tcache" || f.Bins[0].Index != int(truth["tcache_bin"].(float64)) || f.Bins[0].Thread != int(truth["thread_lwp"].(float64)) {
			t.Errorf("bins %+v", f.Bins)
		}
		if hf.Verdict.Rule != rule {
			t.Errorf("rule %q, want %q", hf.Verdict.Rule, rule)
		}
	}
	if !hit || len(m.Heap) != 1 {
		t.Errorf("targets %+v", m.Targets)
	}
	if len(m.Holders.Holders) != 0 {
		t.Errorf("holders %+v: the truth has none", m.Holders.Holders)
	}
	if !strings.Contains(m.Verdict, rule+": ") || !strings.Contains(m.Verdict, "no other thread or task holds") {
		t.Errorf("verdict %q", m.Verdict)
	}
}

// TestMemoryTcacheUAF: no poison: the bad pointer is the safe-linked
// tcache next word of the freed request, found in its thread's tcache bin
// (the one of two entries with that word that the crash path reaches):
// use after free, and no other holder.
func TestMemoryTcacheUAF(t *testing.T) {
	s, sc := openScenario(t, fixture.TcacheUAF, nil)
	m := s.Memory()
	checkChunk(t, m, sc.Expected["heap"].(map[string]any), "use-after-free")
	if strings.Join(m.Rules, ",") != "use-after-free" || m.MallocError != "" {
		t.Errorf("rules %v, malloc error %q", m.Rules, m.MallocError)
	}
}

// TestMemoryDoubleFree: the pointer free() was given (read from
// _int_free's chunk: __libc_free's mem is optimized out) is already in the
// tcache: double free, with glibc's own message.
func TestMemoryDoubleFree(t *testing.T) {
	s, sc := openScenario(t, fixture.DoubleFree, nil)
	m := s.Memory()
	checkChunk(t, m, sc.Expected["heap"].(map[string]any), "double-free")
	if strings.Join(m.Rules, ",") != "double-free,malloc-abort" || !strings.Contains(m.MallocError, "double free detected in tcache") {
		t.Errorf("rules %v, malloc error %q", m.Rules, m.MallocError)
	}
}

// TestMemoryFieldCrash: the field crash's strongest holder is engine 5's
// task holding the node as release_wait's parameter; the heap is clean.
func TestMemoryFieldCrash(t *testing.T) {
	s, _ := openScenario(t, fixture.FieldCrash, nil)
	m := s.Memory()
	if len(m.Holders.Holders) == 0 {
		t.Fatalf("no holder; verdict %q", m.Verdict)
	}
	b := m.Holders.Holders[0].Best
	if b.Function != "(anonymous namespace)::release_wait" || b.Expr != "node" || b.Fallback || !strings.HasPrefix(b.Who, "task ") {
		t.Errorf("strongest holder %+v", b)
	}
	if len(m.Rules) != 0 || !m.HeapKnown {
		t.Errorf("rules %v, heap known %v", m.Rules, m.HeapKnown)
	}
}
