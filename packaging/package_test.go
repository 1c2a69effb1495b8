// Package packaging holds the test of what `make package` builds: the
// .deb installed on this machine with dpkg, used, and removed.
package packaging

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
)

// installed files the package must put in place (and take away).
var installed = []string{
	"/usr/bin/dsecore",
	"/usr/share/dsecore/gdb/dsecore.py",
	"/usr/share/dsecore/gdb/dsecore_gdb/__init__.py",
	"/usr/share/dsecore/gdb/dsecore_gdb/bridge.py",
	"/etc/gdb/gdbinit.d/dsecore.gdb",
	"/etc/dsecore/dsecore.yaml",
	"/usr/lib/systemd/system/dsecore-agent.service",
	"/usr/lib/systemd/system/dsecore-agent-once.service",
	"/usr/lib/systemd/system/dsecore-agent.timer",
	"/usr/lib/systemd/system/dsecore-agent.path",
	"/usr/share/man/man1/dsecore.1.gz",
	"/usr/share/man/man1/dsecore-agent.1.gz",
	"/usr/share/man/man1/dsecore-summarize.1.gz",
	"/usr/share/bash-completion/completions/dsecore",
	"/usr/share/zsh/vendor-completions/_dsecore",
	"/usr/share/fish/vendor_completions.d/dsecore.fish",
}

func artifact(t *testing.T, pattern string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(fixture.RepoRoot(), "build", "package", pattern))
	if len(m) != 1 {
		t.Fatalf("build/package/%s: %d files (make package builds them; make test runs it first)", pattern, len(m))
	}
	return m[0]
}

func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// dpkg runs dpkg, waiting (bounded) while another dpkg holds its lock.
func dpkg(t *testing.T, args ...string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		out, err := exec.Command("dpkg", args...).CombinedOutput()
		if err == nil {
			return string(out)
		}
		if !strings.Contains(string(out), "lock") || time.Now().After(deadline) {
			t.Fatalf("dpkg %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		time.Sleep(time.Second)
	}
}

// TestPackage: the .deb's metadata and files, the .rpm's, the .vsix; then
// the .deb installed with dpkg -i: its files, its conffile, its dsecore
// user, its systemd units verified by systemd-analyze, the installed
// binary explaining a fixture core, the installed gdb bridge in gdb, the
// installed agent (one pass, as the package's dsecore user) putting its
// analysis into a fixture daemon's report; then dpkg --purge leaves none
// of its files.
func TestPackage(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatalf("the package test installs the .deb: it runs as root (CI does)")
	}
	for _, tool := range []string{"dpkg", "dpkg-deb", "rpm", "systemd-analyze", "gdb"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (scripts/setup.sh installs it)", tool)
		}
	}
	deb, rpm, vsix := artifact(t, "dsecore_*_amd64.deb"), artifact(t, "dsecore-*.x86_64.rpm"), artifact(t, "dsecore-*.vsix")

	info := sh(t, "dpkg-deb", "-f", deb, "Package", "Version", "Architecture")
	if !strings.Contains(info, "Package: dsecore") || !strings.Contains(info, "Architecture: amd64") {
		t.Errorf("dpkg-deb -f: %s", info)
	}
	list := sh(t, "dpkg-deb", "-c", deb)
	rpmList := sh(t, "rpm", "-qpl", "--nosignature", rpm)
	rpmConf := sh(t, "rpm", "-qpc", "--nosignature", rpm)
	for _, f := range installed {
		if !strings.Contains(list, "."+f+"\n") {
			t.Errorf("the .deb has no %s", f)
		}
		if !strings.Contains(rpmList, f+"\n") {
			t.Errorf("the .rpm has no %s", f)
		}
	}
	if !strings.Contains(rpmConf, "/etc/dsecore/dsecore.yaml") {
		t.Errorf("the .rpm's config files: %s", rpmConf)
	}
	if z, err := zip.OpenReader(vsix); err != nil {
		t.Errorf("%s: %v", vsix, err)
	} else {
		names := map[string]bool{}
		for _, f := range z.File {
			names[f.Name] = true
		}
		z.Close()
		if !names["extension/package.json"] || !names["extension/bin/dsecore"] {
			t.Errorf("the .vsix lacks extension/package.json or its dsecore")
		}
	}

	// One install at a time on this machine.
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "dsecore-package-test.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if exec.Command("dpkg", "-s", "dsecore").Run() == nil {
		t.Logf("dsecore was installed before the test: purged first")
		dpkg(t, "--purge", "dsecore")
	}
	t.Logf("dpkg -i:\n%s", dpkg(t, "-i", deb))
	purged := false
	t.Cleanup(func() {
		if !purged {
			exec.Command("dpkg", "--purge", "dsecore").Run()
		}
	})
	for _, f := range installed {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("installed: %v", err)
		}
	}
	if cf, _ := os.ReadFile("/var/lib/dpkg/info/dsecore.conffiles"); !bytes.Contains(cf, []byte("/etc/dsecore/dsecore.yaml")) {
		t.Errorf("conffiles: %q", cf)
	}
	pw := sh(t, "getent", "passwd", "dsecore")
	t.Logf("the package's user: %s", strings.TrimSpace(pw))
	if st, err := os.Stat("/var/cache/dsecore/agent"); err != nil {
		t.Errorf("the agent's work directory: %v", err)
	} else if s := st.Sys().(*syscall.Stat_t); fmt.Sprint(s.Uid) != strings.Split(pw, ":")[2] || st.Mode().Perm() != 0o700 {
		t.Errorf("/var/cache/dsecore/agent: uid %d, mode %v: want the dsecore user's, 0700", s.Uid, st.Mode().Perm())
	}
	units := []string{"/usr/lib/systemd/system/dsecore-agent.service", "/usr/lib/systemd/system/dsecore-agent-once.service",
		"/usr/lib/systemd/system/dsecore-agent.timer", "/usr/lib/systemd/system/dsecore-agent.path"}
	if out, err := exec.Command("systemd-analyze", append([]string{"verify"}, units...)...).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	if out := sh(t, "man", "-w", "dsecore-agent"); !strings.Contains(out, "/usr/share/man/man1/dsecore-agent.1.gz") {
		t.Errorf("man -w dsecore-agent: %s", out)
	}
	if out := sh(t, "bash", "-c", "source /usr/share/bash-completion/completions/dsecore && complete -p dsecore"); !strings.Contains(out, "dsecore") {
		t.Errorf("bash completion: %s", out)
	}

	// The installed binary on a fixture core.
	set := fixture.Get(t)
	sc := set.Scenario(t, fixture.FieldCrash)
	out := sh(t, "/usr/bin/dsecore", "inspect", sc.Core)
	if !strings.Contains(out, "Verdict (confidence high)") || !strings.Contains(out, "dm_hash_node_t::clear") {
		t.Errorf("the installed dsecore inspect:\n%s", out)
	}
	// The installed gdb bridge, in gdb, finds the installed dsecore.
	g := sh(t, "gdb", "-nx", "-batch", "-x", "/usr/share/dsecore/gdb/dsecore.py", "-ex", "dse analyze", sc.Exe, sc.Core)
	if !strings.Contains(g, "dm_hash_node_t::clear") {
		t.Errorf("gdb with the installed bridge, dse analyze:\n%s", g)
	}

	// The installed agent, one pass with the package's configuration and
	// user, on a fixture core and its daemon's report.
	base, err := os.MkdirTemp("", "dsecore-package-agent.")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(base)
	os.Chmod(base, 0o755)
	cores, crash := filepath.Join(base, "cores"), filepath.Join(base, "crash")
	os.MkdirAll(cores, 0o755)
	os.MkdirAll(filepath.Join(crash, "posted"), 0o755)
	ents, _ := filepath.Glob(filepath.Join(sc.Dir, "crash", "*"))
	if len(ents) != 1 {
		t.Fatalf("%d crash entries of the fixture", len(ents))
	}
	sh(t, "cp", "-a", ents[0], crash)
	sh(t, "cp", sc.Core, filepath.Join(cores, "core.field-crash"))
	out = sh(t, "/usr/bin/dsecore", "agent", "--once", "--config", "/etc/dsecore/dsecore.yaml", "--core-dir", cores, "--coredump-dir", "",
		"--crash-dir", crash, "--settle", "0s", "--node", "packaged")
	t.Logf("the installed agent: %s", out)
	var meta map[string]any
	b, err := os.ReadFile(filepath.Join(ents[0][:0]+crash, filepath.Base(ents[0]), "meta"))
	if err != nil || json.Unmarshal(b, &meta) != nil || meta["dsecore_verdict"] == nil || meta["dsecore_node"] != "packaged" {
		t.Errorf("the installed agent's report: %v %s", err, b)
	}

	t.Logf("dpkg --purge:\n%s", dpkg(t, "--purge", "dsecore"))
	purged = true
	for _, f := range append(installed, "/var/lib/dsecore", "/var/cache/dsecore", "/etc/dsecore") {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("after dpkg --purge: %s is still there", f)
		}
	}
	if exec.Command("dpkg", "-s", "dsecore").Run() == nil {
		t.Errorf("dpkg -s dsecore: still installed")
	}
}
