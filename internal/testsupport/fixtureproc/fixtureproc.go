// Package fixtureproc is the analysis tests' one setup: a fixture
// scenario's core opened with its executable (closed when the test ends)
// and its coroutine runtime discovered with the ceph-dse profile (which
// also names the Processer threads, as every face does before it shows a
// finding).
package fixtureproc

import (
	"testing"

	"github.com/dsecore/dsecore/analysis/coroutines"
	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
)

// Opened is a scenario's process and runtime.
type Opened struct {
	Sc *fixture.Scenario
	P  *coreparse.Process
	RT *coroutines.Runtime
}

// Process opens a scenario's core with its executable; debugDirs replace
// the default debug file directories when given.
func Process(t testing.TB, sc *fixture.Scenario, debugDirs ...string) *coreparse.Process {
	t.Helper()
	p, err := coreparse.Open(coreparse.Options{Core: sc.Core, Exe: sc.Exe, DebugFileDirs: debugDirs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// Runtime discovers the coroutine runtime with the ceph-dse profile.
func Runtime(t testing.TB, p *coreparse.Process) *coroutines.Runtime {
	t.Helper()
	prof, err := coroutines.LoadProfile("ceph-dse")
	if err != nil {
		t.Fatal(err)
	}
	return coroutines.Discover(p, prof, coroutines.Options{})
}

// Open is Process and Runtime of the scenario.
func Open(t testing.TB, sc *fixture.Scenario) *Opened {
	t.Helper()
	p := Process(t, sc)
	return &Opened{Sc: sc, P: p, RT: Runtime(t, p)}
}

// Scenario opens the named scenario of the fixture set.
func Scenario(t testing.TB, name string) *Opened {
	t.Helper()
	return Open(t, fixture.Get(t).Scenario(t, name))
}
