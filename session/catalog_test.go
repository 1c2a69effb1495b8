package session_test

import (
	"os"
	"os/exec"
	"testing"

	"github.com/dsecore/dsecore/internal/l10n"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/dsecore/dsecore/session"
)

// TestFirstAnswerParsesNoCatalog: opening a session, unwinding the
// crashing thread and reading the warnings (the first answer) parses no
// message catalog (the built-in fault profile, which names its state in
// English, is made when first asked for); the profile is then the
// catalog's. Run in a process of its own: another test may have parsed
// the catalogs already.
func TestFirstAnswerParsesNoCatalog(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	if os.Getenv("DSECORE_CATALOG_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFirstAnswerParsesNoCatalog$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "DSECORE_CATALOG_CHILD=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return
	}
	if n := l10n.Parsed(); n != 0 {
		t.Fatalf("%d catalogs parsed before the session", n)
	}
	s, err := session.Open(session.Options{Core: sc.Core, Exe: sc.Exe, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := s.Process()
	if fs, err := p.Backtrace(p.CrashedThread()); len(fs) < 10 {
		t.Fatalf("crashing stack: %d frames (%v)", len(fs), err)
	}
	s.Warnings()
	if n := l10n.Parsed(); n != 0 {
		t.Errorf("the first answer parsed %d catalogs", n)
	}
	want := l10n.T("profile.dcache-disposed").String()
	if got := s.AnalysisProfile().ElementStates[0xdead]; got != want || got == "" {
		t.Errorf("built-in profile's state 0xdead %q, the catalog says %q", got, want)
	}
	if n := l10n.Parsed(); n != 1 {
		t.Errorf("%d catalogs parsed for the English profile, want 1 (English's)", n)
	}
}
