package coreparse_test

import (
	"slices"
	"testing"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/internal/cachefile"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
)

// TestFirstAnswerReadsOnlyItsModules: the first answer (the crashing
// thread's stack and the warnings printed with it) loads the DWARF of the
// modules its frames are in and of no other, though the others have DWARF
// (libc6-dbg's debug files of ld.so and libm, compressed: each would be
// inflated on a cold run and checked on a warm one); the warnings are
// those of a process whose every module's DWARF was loaded first.
func TestFirstAnswerReadsOnlyItsModules(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	open := func() *coreparse.Process {
		p, err := coreparse.Open(coreparse.Options{Core: sc.Core, Exe: sc.Exe, Cache: cachefile.New(t.TempDir())})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	p := open()
	frames, err := p.Backtrace(p.CrashedThread())
	if err != nil || len(frames) < 5 {
		t.Fatalf("backtrace: %d frames, %v", len(frames), err)
	}
	warnings := p.SymbolWarnings()
	touched := map[*coreparse.Module]bool{}
	for _, f := range frames {
		if f.Mod != nil {
			touched[f.Mod] = true
		}
	}
	untouchedWithDWARF := 0
	for _, m := range p.Modules {
		if m.Syms == nil {
			continue
		}
		switch loaded := m.Syms.DWARFLoaded(); {
		case touched[m] && !loaded:
			t.Errorf("%s: a frame is in it, its DWARF was not loaded", m.Name)
		case !touched[m] && loaded:
			t.Errorf("%s: no frame is in it, its DWARF was loaded", m.Name)
		case !touched[m] && m.DebugPath != "":
			untouchedWithDWARF++
		}
	}
	if untouchedWithDWARF == 0 {
		t.Fatal("no module outside the stack has a debug file: the test proves nothing (is libc6-dbg installed?)")
	}
	// Every module's DWARF loaded first: the same warnings.
	q := open()
	for _, m := range q.Modules {
		if m.Syms != nil {
			m.Syms.HasDWARF()
		}
	}
	if want := q.SymbolWarnings(); !slices.Equal(warnings, want) {
		t.Errorf("warnings %q, with every module's DWARF loaded %q", warnings, want)
	}
	for _, m := range q.Modules {
		if m.Syms != nil && !m.Syms.DWARFLoaded() {
			t.Errorf("%s: HasDWARF did not load its DWARF", m.Name)
		}
	}
}
