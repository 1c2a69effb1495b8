package fault

import (
	"strconv"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/analysis/coroutines"
	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/internal/fixture"
)

// TestThisFallback: when DWARF has no `this`, the owner comes from the
// register/stack guess, is the program's node all the same, and says it
// is a fallback (FromDWARF false, "FALLBACK guess" in how); the list walk
// and the verdict do not change.
func TestThisFallback(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	p, err := coreparse.Open(coreparse.Options{Core: sc.Core, Exe: sc.Exe})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	prof, err := coroutines.LoadProfile("ceph-dse")
	if err != nil {
		t.Fatal(err)
	}
	rt := coroutines.Discover(p, prof, coroutines.Options{})
	node, err := strconv.ParseUint(strings.TrimPrefix(sc.Expected["node"].(string), "0x"), 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	for _, withhold := range []bool{false, true} {
		a := Analyze(p, rt, Options{withholdThis: withhold})
		var owner *Object
		for i := range a.Objects {
			if a.Objects[i].Role == "owner" {
				owner = &a.Objects[i]
			}
		}
		if owner == nil || owner.Address != node {
			t.Fatalf("withhold %v: owner %+v, the program's node %#x", withhold, owner, node)
		}
		fallback := strings.Contains(owner.How, "FALLBACK guess") && strings.Contains(owner.How, "optimized out")
		if owner.FromDWARF == withhold || fallback != withhold {
			t.Errorf("withhold %v: from DWARF %v, how %q", withhold, owner.FromDWARF, owner.How)
		}
		if w := a.ListWalk; w == nil || w.Header != node+0x20 || !w.SizeUnderflow {
			t.Errorf("withhold %v: list walk %+v", withhold, w)
		}
		if !strings.Contains(a.Verdict, "concurrent destruction") {
			t.Errorf("withhold %v: verdict %q", withhold, a.Verdict)
		}
	}
}
