package batch_test

import (
	"strings"
	"testing"

	"github.com/dsecore/dsecore/batch"
	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/dsecore/dsecore/session"
)

// TestSummarizeThreadOnly: a core whose signalled thread runs no task
// (a plain thread's hang, killed by SIGABRT) has no task, and the
// thread expected.json names.
func TestSummarizeThreadOnly(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.LeakedLock)
	c := batch.Summarize(open(t, sc), batch.Core{Task: 3}, batch.Options{})
	if want := int64(sc.Expected["crash_task_id"].(float64)); want != -1 || c.Task != -1 {
		t.Errorf("task %d, expected.json %d (want -1)", c.Task, want)
	}
	if c.LWP != int(sc.Expected["crash_lwp"].(float64)) {
		t.Errorf("LWP %d, expected.json %v", c.LWP, sc.Expected["crash_lwp"])
	}
}

// TestSummarizeNoSymbolStatus: only partial symbols (DWARF missing a file
// it refers to) or symbol problems are said; the field crash's modules
// have full DWARF (the executable, libdcache.so) or are the system's
// without problems: no status line.
func TestSummarizeNoSymbolStatus(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	s := open(t, sc)
	levels := map[string]int{}
	for _, m := range s.Process().Modules {
		st := m.SymbolStatus()
		levels[st.Level]++
		if st.Level == coreparse.SymbolsPartial || len(st.Problems) > 0 {
			t.Fatalf("%s: %s %v: the fixture has no module with partial symbols or problems", m.Name, st.Level, st.Problems)
		}
	}
	if levels[coreparse.SymbolsFull] < 2 {
		t.Fatalf("symbol levels %v: want the executable and libdcache.so full", levels)
	}
	c := batch.Summarize(s, batch.Core{}, batch.Options{})
	if len(c.SymbolStatus) != 0 {
		t.Errorf("symbol status %q, with modules %v", c.SymbolStatus, levels)
	}
}

// TestGroupVerdictOrder: a group's verdicts by how many cores say them,
// most first, whatever their alphabetical order; the group's verdict is
// the most said.
func TestGroupVerdictOrder(t *testing.T) {
	s := sig("k", "l")
	g, _ := batch.GroupCores([]batch.Core{{Path: "1", Signature: s, Verdict: "a at 0x5555aaaa"}, {Path: "2", Signature: s, Verdict: "z by task 3"}, {Path: "3", Signature: s, Verdict: "z by task 4"}})
	if len(g) != 1 || strings.Join(g[0].Verdicts, "|") != "z by task N|a at 0x…" || g[0].Verdict != "z by task N" {
		t.Errorf("verdicts %q, verdict %q", g[0].Verdicts, g[0].Verdict)
	}
}

// TestSummarizeSymbolStatusStale: a module whose debuglink finds another
// build's debug file (the stale variant: CRC mismatch) has its symbol
// status in the summary, as inspect says it (names only, the file
// rejected); the executable, whose debuglink matches, has none.
func TestSummarizeSymbolStatusStale(t *testing.T) {
	v := fixture.GetVariants(t).Variant(t, fixture.VariantStale)
	s, err := session.Open(session.Options{Core: v.Core, Exe: v.Exe, DebugFileDirs: v.DebugDirs()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := batch.Summarize(s, batch.Core{Path: v.Core}, batch.Options{})
	if st := c.SymbolStatus["libdcache.so"]; len(c.SymbolStatus) != 1 || !strings.HasPrefix(st, "debug file rejected: CRC mismatch; names only (") || c.Error != "" {
		t.Errorf("symbol status %q, error %q", c.SymbolStatus, c.Error)
	}
}
