package gdboracle

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dsecore/dsecore/internal/testsupport/testcore"
)

// TestMemo: with GDBORACLE_MEMO set, an answer is kept and read back for
// the same question; a core that changed (its mtime) is asked again; unset,
// nothing is kept.
func TestMemo(t *testing.T) {
	r := testcore.Make(t, testcore.NullDeref)
	work := t.TempDir()
	core := filepath.Join(work, "core")
	b, err := os.ReadFile(r.Core)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(core, b, 0o644); err != nil {
		t.Fatal(err)
	}
	ask := func() string {
		t.Helper()
		out, err := Commands(r.Exe, core, Options{}, "info symbol sum_list")
		if err != nil || len(out) != 1 {
			t.Fatalf("gdb: %q %v", out, err)
		}
		return out[0]
	}
	kept := func(dir string) []string {
		m, _ := filepath.Glob(filepath.Join(dir, "*"))
		return m
	}

	t.Setenv(MemoEnv, "")
	first := ask()
	if want := "sum_list in section .text"; len(first) < len(want) || first[:len(want)] != want {
		t.Fatalf("gdb's info symbol: %q", first)
	}

	memo := t.TempDir()
	t.Setenv(MemoEnv, memo)
	if got := ask(); got != first || len(kept(memo)) != 1 {
		t.Fatalf("first answer with a memo %q, kept %v", got, kept(memo))
	}
	// The kept answer is what a second call returns (gdb does not run).
	fake, _ := json.Marshal([]string{"kept answer\n"})
	if err := os.WriteFile(kept(memo)[0], fake, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := ask(); got != "kept answer\n" {
		t.Errorf("second call %q, not the kept answer", got)
	}
	// A changed core is a new question.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(core, later, later); err != nil {
		t.Fatal(err)
	}
	if got := ask(); got != first || len(kept(memo)) != 2 {
		t.Errorf("after the core changed: %q (gdb said %q), kept %d", got, first, len(kept(memo)))
	}
}
