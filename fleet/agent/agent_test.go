package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dsecore/dsecore/batch"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
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
	an := a.runChild(context.Background(), batch.Core{Path: core, Size: st.Size(), MTime: st.ModTime(), Time: st.ModTime(), Task: -1}, "",
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
	// --once (Pass) leaves nothing held: it passes until the hold is given back.
	os.WriteFile(filepath.Join(writing, "done"), nil, 0o444)
	st, err = a.Pass(context.Background())
	if got, _ := os.ReadFile(filepath.Join(writing, "meta")); err != nil || st.Released != 1 || st.Held != 0 || string(got) != string(meta) {
		t.Errorf("Pass: %s, %v; meta back: %q", st, err, got)
	}
}

// TestCoredumpStore: a core in systemd-coredump's store, as it leaves one
// (zstd-compressed, named core.COMM.UID.BOOTID.PID.USEC.zst, the
// process's facts in user.coredump.* attributes; the file a hidden .#core…
// until it is complete): the agent takes the crash time and the node from
// the attributes, its child decompresses the core into its work directory
// (and removes it) and explains it; the hidden temporary file is not read.
func TestCoredumpStore(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatalf("the coredump test runs as root (CI does): the child drops to uid 64999")
	}
	set := fixture.Get(t)
	sc := set.Scenario(t, fixture.FieldCrash)
	os.Chmod(filepath.Dir(dsecoreBin), 0o755)
	base, err := os.MkdirTemp("", "dsecore-agent-test.")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	store, crash := filepath.Join(base, "coredump"), filepath.Join(base, "crash")
	os.MkdirAll(store, 0o755)
	os.MkdirAll(filepath.Join(crash, "posted"), 0o755)
	raw, err := os.ReadFile(sc.Core)
	if err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	enc, _ := zstd.NewWriter(&z)
	enc.Write(raw)
	enc.Close()
	const usec = 1796000000123456
	name := fmt.Sprintf("core.ceph-dse.0.0123456789abcdef0123456789abcdef.4242.%d.zst", usec)
	core := filepath.Join(store, name)
	if err := os.WriteFile(core, z.Bytes(), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(store, ".#"+name+"1a2b3c"), z.Bytes()[:100], 0o640); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"pid": "4242", "uid": "0", "gid": "0", "signal": "11", "timestamp": fmt.Sprint(usec),
		"rlimit": "18446744073709551615", "hostname": "storage-17", "comm": "ceph-dse", "exe": sc.Exe} {
		if err := unix.Setxattr(core, "user.coredump."+k, []byte(v), 0); err != nil {
			t.Fatalf("setxattr: %v (the file system must hold user attributes, as systemd-coredump's does)", err)
		}
	}
	a, err := New(Config{CoredumpDirs: []string{store}, CrashDirs: []string{crash}, StateDir: filepath.Join(base, "state"),
		WorkDir: filepath.Join(base, "work"), User: "64999:64999", Self: dsecoreBin, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	st, err := a.Once(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Analysed != 1 || st.Failed != 0 {
		t.Fatalf("%s", st)
	}
	metas, _ := filepath.Glob(filepath.Join(crash, "*", "meta"))
	if len(metas) != 1 {
		t.Fatalf("%d reports", len(metas))
	}
	var m map[string]any
	b, _ := os.ReadFile(metas[0])
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["dsecore_node"] != "storage-17" || m["timestamp"] != "2026-11-30T00:53:20.123456Z" || m["dsecore_real_fault"] != "SIGSEGV (SEGV_MAPERR) at 0x0" ||
		!strings.HasPrefix(fmt.Sprint(m["dsecore_verdict"]), "NULL pointer read") || m["dsecore_core"] != core {
		t.Errorf("report: node %v, timestamp %v, fault %v, verdict %.60v, core %v", m["dsecore_node"], m["timestamp"], m["dsecore_real_fault"], m["dsecore_verdict"], m["dsecore_core"])
	}
	if left, _ := filepath.Glob(filepath.Join(base, "work", "cores", "*")); len(left) != 0 {
		t.Errorf("decompressed cores left in the work directory: %v", left)
	}
	if len(a.State().Cores) != 1 {
		t.Errorf("the state knows %d cores (the hidden temporary file is not one)", len(a.State().Cores))
	}
	// A second pass reads nothing again.
	if st, _ := a.Once(context.Background()); st.Analysed+st.Failed != 0 {
		t.Errorf("second pass: %s", st)
	}
}

// TestPlantedLinks: the crash directory is ceph's; a link planted where
// the agent (root) writes its temporary file or reads a report is not
// followed: the file it points to is neither written nor read.
func TestPlantedLinks(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	os.WriteFile(victim, []byte("precious\n"), 0o600)
	entry := filepath.Join(dir, "entry")
	os.Mkdir(entry, 0o700)
	os.Symlink(victim, filepath.Join(entry, "meta.dsecore-new"))
	if err := writeFileOwned(filepath.Join(entry, "meta"), []byte("{}\n"), 0o600, -1, -1); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
		t.Errorf("the link's target was written: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(entry, "meta")); string(b) != "{}\n" {
		t.Errorf("meta: %q", b)
	}
	os.Symlink(victim, filepath.Join(entry, "meta.dsecore-hold"))
	if b, err := readReport(filepath.Join(entry, "meta.dsecore-hold")); err == nil {
		t.Errorf("a report read through a link: %q", b)
	}
	link := filepath.Join(dir, "linked-entry")
	os.Symlink(entry, link)
	if realDir(link) || !realDir(entry) {
		t.Errorf("realDir: link %v, entry %v", realDir(link), realDir(entry))
	}
}
