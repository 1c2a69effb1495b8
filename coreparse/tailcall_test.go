package coreparse_test

import (
	"testing"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/internal/cachefile"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
)

// TestCallEnteredAgreesWithCallSites: wherever the code shows that a
// frame's call entered its callee's function (a direct call, or a call
// through a PLT slot, to the function's start), DWARF's call sites find no
// tail call between the two frames either — so sparing them changes no
// stack. Every pair of frames of every thread of the field crash (C++ and
// libc6-dbg's C, calls across modules through the PLT) and of abort; the
// shortcut must be taken, across modules too, or the test proves nothing.
func TestCallEnteredAgreesWithCallSites(t *testing.T) {
	fx := fixture.Get(t)
	for _, name := range []string{fixture.FieldCrash, fixture.Abort} {
		sc := fx.Scenario(t, name)
		p, err := coreparse.Open(coreparse.Options{Core: sc.Core, Exe: sc.Exe, Cache: cachefile.New(t.TempDir())})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		entered, pairs, plt := 0, 0, 0
		for _, th := range p.Threads {
			raw, _ := p.Unwind(th.Regs)
			for i := 0; i+1 < len(raw); i++ {
				callee, caller := &raw[i], &raw[i+1]
				if callee.Sigtramp || caller.Exact {
					continue // symbolize asks for no tail calls there
				}
				lookup := callee.PC
				if !callee.Exact && lookup > 0 {
					lookup--
				}
				pairs++
				if !p.CallEntered(caller.PC, lookup) {
					continue
				}
				entered++
				if cm, em := p.ModuleAt(caller.PC-1), p.ModuleAt(lookup); cm != em {
					plt++
				}
				if tc := p.TailCallsFromSites(lookup, caller.PC); tc != nil {
					t.Errorf("%s LWP %d frames %d/%d: the call at %#x enters %#x's function, yet call sites give tail calls %#x",
						name, th.LWP, i, i+1, caller.PC, lookup, tc)
				}
			}
		}
		t.Logf("%s: %d of %d frame pairs entered by their call (%d across modules)", name, entered, pairs, plt)
		if entered == 0 || plt == 0 {
			t.Errorf("%s: %d of %d frame pairs entered by their call, %d across modules: the test proves nothing", name, entered, pairs, plt)
		}
	}
}
