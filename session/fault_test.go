package session_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/dsecore/dsecore/session"
)

// TestFaultOnlyWhenChanged: a recovered panic is the command's error
// only when one of the session's files changed under it (the change
// named, the panic after it); on unchanged files it is nil, an internal
// error for the caller to report.
func TestFaultOnlyWhenChanged(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	b, err := os.ReadFile(sc.Exe)
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(t.TempDir(), filepath.Base(sc.Exe))
	if err := os.WriteFile(exe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := session.Open(session.Options{Core: sc.Core, Exe: exe})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(s.Changed()) != 0 {
		t.Fatalf("changed before anything changed: %v", s.Changed())
	}
	if err := s.Fault("boom"); err != nil {
		t.Errorf("a panic on unchanged files: %v, want nil", err)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(exe, later, later); err != nil {
		t.Fatal(err)
	}
	ch := s.Changed()
	if len(ch) == 0 {
		t.Fatalf("%s touched: no change seen", exe)
	}
	if err := s.Fault("boom"); err == nil || !strings.Contains(err.Error(), ch[0]) || !strings.HasSuffix(err.Error(), "(and then: boom)") {
		t.Errorf("a panic after %v changed: %v", ch, err)
	}
}

// TestSharedCloseUnset: Close of a nil or empty Shared does nothing.
func TestSharedCloseUnset(t *testing.T) {
	var sh *session.Shared
	sh.Close()
	(&session.Shared{}).Close()
}

// TestWaitsReadsTheLogs: the logs given are read for the heartbeat
// watchdog's lines: every heartbeat_map line of the heartbeat core's
// logs, at its file and line, and a log that cannot be read is passed
// over.
func TestWaitsReadsTheLogs(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.Heartbeat)
	want := map[string]bool{}
	logs, err := filepath.Glob(filepath.Join(sc.Dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range logs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "heartbeat_map") {
				want[fmt.Sprintf("%s:%d", filepath.Base(p), i+1)] = true
			}
		}
	}
	if len(want) == 0 {
		t.Fatalf("no heartbeat_map line in %v", logs)
	}
	s, err := session.Open(session.Options{Core: sc.Core, Exe: sc.Exe, Logs: append(logs, filepath.Join(t.TempDir(), "missing.log"))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w := s.Waits().Watchdog
	if w == nil {
		t.Fatal("no watchdog")
	}
	got := map[string]bool{}
	for _, l := range w.Lines {
		got[fmt.Sprintf("%s:%d", filepath.Base(l.File), l.Line)] = true
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("watchdog lines %v, the logs' heartbeat_map lines %v", got, want)
	}
}
