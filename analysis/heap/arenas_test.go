package heap_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/analysis/heap"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/dsecore/dsecore/internal/testsupport/gdboracle"
)

// TestArenasMatchGdb: the ring of arenas, each arena's top chunk and
// system_mem, as gdb reads them through glibc's debug info
// (malloc_state's next, top and system_mem) on the same core.
func TestArenasMatchGdb(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	h := heap.Open(open(t, sc), heap.Options{})
	if !h.Known || len(h.Arenas) < 2 {
		t.Fatalf("heap: known %v (%s), %d arenas", h.Known, h.Reason, len(h.Arenas))
	}
	var cmds []string
	for _, a := range h.Arenas {
		st := fmt.Sprintf("((struct malloc_state *)%#x)", a.Address)
		cmds = append(cmds, "print/x "+st+"->top", "print/x "+st+"->system_mem", "print/x "+st+"->next")
	}
	cmds = append(cmds, "print/x &main_arena")
	out, err := gdboracle.Commands(sc.Exe, sc.Core, gdboracle.Options{}, cmds...)
	if err != nil {
		t.Fatal(err)
	}
	val := func(s string) string {
		s = strings.TrimSpace(s)
		if _, v, ok := strings.Cut(s, " = "); ok {
			s = v
		}
		if i := strings.IndexByte(s, ' '); i > 0 { // "(struct malloc_state *) 0x… <main_arena>"
			s = s[i+1:]
		}
		if v, _, ok := strings.Cut(s, " <"); ok {
			s = v
		}
		return s
	}
	if got := val(out[len(out)-1]); got != fmt.Sprintf("%#x", h.Arenas[0].Address) || !h.Arenas[0].Main {
		t.Errorf("first arena %#x (main %v), gdb's &main_arena %s", h.Arenas[0].Address, h.Arenas[0].Main, out[len(out)-1])
	}
	for i, a := range h.Arenas {
		top, mem, next := val(out[3*i]), val(out[3*i+1]), val(out[3*i+2])
		if fmt.Sprintf("%#x", a.Top) != top || fmt.Sprintf("%#x", a.SystemMem) != mem {
			t.Errorf("arena %#x: top %#x system_mem %#x, gdb: %s %s", a.Address, a.Top, a.SystemMem, out[3*i], out[3*i+1])
		}
		want := h.Arenas[0].Address // the ring closes at main_arena
		if i+1 < len(h.Arenas) {
			want = h.Arenas[i+1].Address
		}
		if fmt.Sprintf("%#x", want) != next {
			t.Errorf("arena %d's next: %#x, gdb: %s", i, want, out[3*i+2])
		}
	}
}

// TestMaxArenas: the ring is read up to the bound, and a warning says
// the rest were not.
func TestMaxArenas(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	p := open(t, sc)
	all := heap.Open(p, heap.Options{})
	n := len(all.Arenas)
	if n < 3 {
		t.Fatalf("%d arenas: the field crash has a main and thread arenas", n)
	}
	h := heap.Open(p, heap.Options{MaxArenas: n - 1})
	if len(h.Arenas) != n-1 || !strings.Contains(strings.Join(h.Warnings, "\n"), fmt.Sprintf("more than %d arenas", n-1)) {
		t.Errorf("MaxArenas %d of %d: %d arenas, warnings %q", n-1, n, len(h.Arenas), h.Warnings)
	}
	if h := heap.Open(p, heap.Options{MaxArenas: n}); len(h.Arenas) != n || strings.Contains(strings.Join(h.Warnings, "\n"), "arenas: the rest") {
		t.Errorf("MaxArenas %d of %d: %d arenas, warnings %q", n, n, len(h.Arenas), h.Warnings)
	}
}
