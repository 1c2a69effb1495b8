package agent

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dsecore/dsecore/analysis/summary"
	"github.com/dsecore/dsecore/internal/fixture"
)

var dsecoreBin string

func TestMain(m *testing.M) { fixture.RunWithDsecore(m, &dsecoreBin) }

// TestChildPrivileges: the analysis child runs as the unprivileged user
// (its /proc entry, read by the agent's side while the child waits for
// its job, and its own), with no supplementary groups, no_new_privs and
// the configured limits; it reads a core only root may open (through the
// descriptor the agent passed) and explains it; it can write under its
// work directory and nowhere else (not the crash directory, not the
// world-writable /tmp) and cannot connect to a TCP listener on loopback.
func TestChildPrivileges(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatalf("the privilege test runs as root (CI does): the child drops to uid 64999")
	}
	set := fixture.Get(t)
	sc := set.Scenario(t, fixture.FieldCrash)
	os.Chmod(filepath.Dir(dsecoreBin), 0o755)
	base, err := os.MkdirTemp("", "dsecore-agent-test.")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755) // the child (uid 64999) enters its work directory below it
	core := filepath.Join(base, "core")
	b, err := os.ReadFile(sc.Core)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(core, b, 0o600); err != nil {
		t.Fatal(err)
	}
	crash := filepath.Join(base, "crash")
	os.MkdirAll(crash, 0o777) // writable by anyone: only the sandbox keeps the child out
	os.MkdirAll(filepath.Join(base, "cores"), 0o755)
	a, err := New(Config{CoreDirs: []string{filepath.Join(base, "cores")}, CrashDirs: []string{crash}, StateDir: filepath.Join(base, "state"),
		WorkDir: filepath.Join(base, "work"), User: "64999:64999", Self: dsecoreBin, MemoryLimit: 3 << 30, CPULimit: 300 * time.Second,
		MaxFiles: 256, Nice: 7, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	tmpProbe := filepath.Join(os.TempDir(), fmt.Sprintf("dsecore-probe-%d", time.Now().UnixNano()))
	defer os.Remove(tmpProbe)
	inside := filepath.Join(base, "work", "probe")
	outside := filepath.Join(crash, "probe")
	tcp := "tcp:" + l.Addr().String()
	var fromParent map[string]string
	st, _ := os.Stat(core)
	an := a.runChild(context.Background(), summary.Core{Path: core, Size: st.Size(), MTime: st.ModTime(), Time: st.ModTime(), Task: -1}, "",
		[]string{inside, outside, tmpProbe, tcp}, func(pid int) {
			fromParent = procFields(fmt.Sprintf("/proc/%d/status", pid), "Uid", "Gid", "Groups")
		})
	if an.reason != "" {
		t.Fatalf("the analysis failed: %s", an.reason)
	}
	r := an.res
	t.Logf("child: /proc (agent's side) %v; its own %v; limits %v; %v", fromParent, r.Status, r.Limits, r.Sandbox)
	for _, st := range []map[string]string{fromParent, r.Status} {
		if st["Uid"] != "64999 64999 64999 64999" || st["Gid"] != "64999 64999 64999 64999" || st["Groups"] != "" {
			t.Errorf("child's credentials %v: want uid and gid 64999, no groups", st)
		}
	}
	if r.Status["NoNewPrivs"] != "1" {
		t.Errorf("NoNewPrivs %q", r.Status["NoNewPrivs"])
	}
	if r.Limits["Max address space"] != fmt.Sprint(3<<30) || r.Limits["Max cpu time"] != "300" || r.Limits["Max open files"] != "256" || r.Limits["Max core file size"] != "0" {
		t.Errorf("limits %v", r.Limits)
	}
	if r.Probe[inside] != "written" {
		t.Errorf("write under its work directory: %s", r.Probe[inside])
	}
	for _, p := range []string{outside, tmpProbe, tcp} {
		if !strings.Contains(r.Probe[p], "permission denied") {
			t.Errorf("%s: %q: want permission denied", p, r.Probe[p])
		}
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s was created", p)
		}
	}
	if c := r.Core; c.Error != "" || !strings.HasPrefix(c.Verdict, "NULL pointer read") || c.Signal != "SIGSEGV (SEGV_MAPERR) at 0x0" {
		t.Errorf("the root-only core through its descriptor: error %q, signal %q, verdict %q", c.Error, c.Signal, c.Verdict)
	}
}

// TestHoldReleased: a daemon's report is held from ceph-crash (meta renamed
// away) while no core came, and given back, as it was, after the hold
// timeout; a report being written (no done) is not touched.
func TestHoldReleased(t *testing.T) {
	base := t.TempDir()
	crash := filepath.Join(base, "crash")
	entry := filepath.Join(crash, "2026-12-07T01:34:02.926323Z_a8cb05f2-a109-478d-ba65-1aba0b294e59")
	writing := filepath.Join(crash, "2026-12-07T01:35:00.000000Z_00000000-a109-478d-ba65-1aba0b294e59")
	os.MkdirAll(entry, 0o700)
	os.MkdirAll(writing, 0o700)
	os.MkdirAll(filepath.Join(base, "cores"), 0o755)
	meta := []byte(`{"crash_id": "2026-12-07T01:34:02.926323Z_a8cb05f2-a109-478d-ba65-1aba0b294e59", "timestamp": "2026-12-07T01:34:02.926323Z", "process_name": "ceph-osd", "backtrace": []}` + "\n")
	os.WriteFile(filepath.Join(entry, "meta"), meta, 0o600)
	os.WriteFile(filepath.Join(entry, "done"), nil, 0o444)
	os.WriteFile(filepath.Join(writing, "meta"), meta, 0o600)
	a, err := New(Config{CoreDirs: []string{filepath.Join(base, "cores")}, CrashDirs: []string{crash}, StateDir: filepath.Join(base, "state"),
		WorkDir: filepath.Join(base, "work"), User: "64999:64999", HoldTimeout: 300 * time.Millisecond, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	st, err := a.Once(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(entry, "meta")); st.Held != 1 || err == nil {
		t.Fatalf("%s; meta still there: %v", st, err == nil)
	}
	if _, err := os.Stat(filepath.Join(writing, "meta")); err != nil {
		t.Errorf("a report without done was held: %v", err)
	}
	// A restarted agent knows its hold.
	a, err = New(Config{CoreDirs: []string{filepath.Join(base, "cores")}, CrashDirs: []string{crash}, StateDir: filepath.Join(base, "state"),
		WorkDir: filepath.Join(base, "work"), User: "64999:64999", HoldTimeout: 300 * time.Millisecond, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.State().Holds) != 1 {
		t.Fatalf("the state after a restart holds %d reports", len(a.State().Holds))
	}
	deadline := time.Now().Add(time.Minute)
	for st.Released == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		if st, err = a.Once(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(filepath.Join(entry, "meta"))
	if st.Released != 1 || st.Held != 0 || string(got) != string(meta) {
		t.Errorf("%s; meta back: %q, %v", st, got, err)
	}
}
