package main

import (
	"fmt"
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/dsecore/dsecore/report"
)

// TestList: dsecore list, the one intrusive-list walker on the core: the
// abort scenario's intact node walks to the program's six hooks in order
// and back to the header, size_ agreeing; the field crash's list header is
// inconsistent (one link to itself, one to one of the program's hooks)
// and its size_ of -1 an underflow.
func TestList(t *testing.T) {
	set := fixture.Get(t)
	walk := func(sc *fixture.Scenario, size string) report.Walk {
		var w report.Walk
		hdr := hexField(t, sc.Expected, "node") + 0x20 // dm_hash_node_t::objs's m_header
		runJSON(t, &w, "list", sc.Core, "--exe", sc.Exe, "--header", fmt.Sprintf("%#x", hdr), "--size", size)
		return w
	}
	kinds := func(w report.Walk) map[string]report.WalkFinding {
		m := map[string]report.WalkFinding{}
		for _, f := range w.Findings {
			m[f.Kind] = f
		}
		return m
	}
	t.Run(fixture.Abort, func(t *testing.T) {
		sc := set.Scenario(t, fixture.Abort)
		objs := sc.Expected["objs"].([]any)
		w := walk(sc, fmt.Sprint(len(objs)))
		if !w.Back || len(w.Hooks) != len(objs) || len(w.Findings) != 0 || w.Stopped != "" || w.Size == nil || *w.Size != int64(len(objs)) {
			t.Fatalf("walk %+v", w)
		}
		for i, o := range objs {
			if want := fmt.Sprintf("%#x", hexField(t, o.(map[string]any), "hook")); w.Hooks[i] != want {
				t.Errorf("node %d: hook %s, the program's %s", i, w.Hooks[i], want)
			}
		}
		if k := kinds(walk(sc, "7")); k["size-mismatch"].Kind == "" {
			t.Errorf("size_ 7 against 6 nodes: no size-mismatch")
		}
	})
	t.Run(fixture.FieldCrash, func(t *testing.T) {
		sc := set.Scenario(t, fixture.FieldCrash)
		w := walk(sc, "0xffffffffffffffff")
		k := kinds(w)
		hooks := map[string]bool{}
		for _, o := range sc.Expected["objs"].([]any) {
			hooks[fmt.Sprintf("%#x", hexField(t, o.(map[string]any), "hook"))] = true
		}
		if !w.Back || len(w.Hooks) != 0 || !hooks[k["inconsistent-header"].Node] || k["size-underflow"].Kind == "" {
			t.Errorf("walk %+v; the program's hooks %v", w, hooks)
		}
	})
}
