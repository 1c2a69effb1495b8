// Package fixtureproc is the analysis tests' one setup: a fixture
// scenario's core opened with its executable (closed when the test ends)
// and its coroutine runtime discovered with the ceph-dse profile (which
// also names the Processer threads, as every face does before it shows a
// finding).
package fixtureproc

import (
	"sync"
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

var shared struct {
	sync.Mutex
	opened map[string]*Opened // by core and executable
}

// Shared is Open of the scenario, opened once per test binary and kept
// until CloseShared (the package's TestMain calls it): for a package whose
// tests analyse the same cores again and again with different options
// (analysis/fault opens field-crash a dozen times), so that a test run,
// and a mutation run's thousand of them, reads each core's DWARF once.
// The analysis under test gets the process and runtime read-only; a test
// that changes how the core is opened (debug directories) uses Open.
func Shared(t testing.TB, sc *fixture.Scenario) *Opened {
	t.Helper()
	shared.Lock()
	defer shared.Unlock()
	key := sc.Core + "\x00" + sc.Exe
	if op := shared.opened[key]; op != nil {
		return op
	}
	p, err := coreparse.Open(coreparse.Options{Core: sc.Core, Exe: sc.Exe})
	if err != nil {
		t.Fatal(err)
	}
	op := &Opened{Sc: sc, P: p, RT: Runtime(t, p)}
	if shared.opened == nil {
		shared.opened = map[string]*Opened{}
	}
	shared.opened[key] = op
	return op
}

// CloseShared closes what Shared opened.
func CloseShared() {
	shared.Lock()
	defer shared.Unlock()
	for k, op := range shared.opened {
		op.P.Close()
		delete(shared.opened, k)
	}
}
