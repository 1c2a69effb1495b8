package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/google/go-dap"
)

// runIn runs dsecore in dir with HOME set to home (so no user config is
// read unless the test puts one there) and DSECORE_CONFIG as given.
func runIn(t *testing.T, dir, home, cfgEnv string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, dsecoreBin, args...)
	cmd.Dir = dir
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "HOME=") && (!strings.HasPrefix(e, "DSECORE_") || strings.HasPrefix(e, fillEnv+"=")) {
			env = append(env, e)
		}
	}
	env = append(env, "HOME="+home)
	if cfgEnv != "" {
		env = append(env, "DSECORE_CONFIG="+cfgEnv)
	}
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("dsecore %s in %s: no answer in 60 s", strings.Join(args, " "), dir)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

// strayDirs makes the working directories a user really has: one holding
// an executable named dsecore (the binary itself, where `go build` from
// the repository root leaves it), one holding a directory named dsecore.
func strayDirs(t *testing.T) map[string]string {
	t.Helper()
	exeDir, subDir := t.TempDir(), t.TempDir()
	b, err := os.ReadFile(dsecoreBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(exeDir, "dsecore"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(subDir, "dsecore"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A directory named like the config file is not a config file either.
	if err := os.Mkdir(filepath.Join(subDir, "dsecore.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"executable named dsecore": exeDir, "directory named dsecore": subDir}
}

// TestConfigIgnoresStrayFiles: from a directory holding an executable or a
// directory named dsecore, every command answers exactly as from an empty
// directory: nothing there is read as configuration.
func TestConfigIgnoresStrayFiles(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	home := t.TempDir()
	clean := t.TempDir()
	commands := [][]string{
		{"bt", sc.Core, "--json"},
		{"inspect", sc.Core, "--json"},
		{"tasks", sc.Core},
	}
	want := map[int]string{}
	for i, args := range commands {
		code, out, stderr := runIn(t, clean, home, "", args...)
		if code != 0 {
			t.Fatalf("dsecore %s in an empty directory: exit %d: %s", args[0], code, stderr)
		}
		want[i] = out
	}
	if !strings.Contains(want[0], `"function": "dm_hash_node_t::clear"`) {
		t.Fatalf("bt --json of the field crash has no clear() frame:\n%.2000s", want[0])
	}
	for name, dir := range strayDirs(t) {
		for i, args := range commands {
			code, out, stderr := runIn(t, dir, home, "", args...)
			if code != 0 || strings.Contains(stderr, "config") {
				t.Errorf("%s: dsecore %s: exit %d, stderr %q", name, args[0], code, stderr)
				continue
			}
			if out != want[i] {
				t.Errorf("%s: dsecore %s answers differently than from an empty directory", name, args[0])
			}
		}
		// The DAP server started there (as VS Code starts it in the
		// workspace folder) answers initialize and opens the core.
		c := startDAPIn(t, dir, home)
		init := c.ok("initialize", map[string]any{"adapterID": "dsecore"}).(*dap.InitializeResponse)
		if !init.Body.SupportsConfigurationDoneRequest {
			t.Errorf("%s: initialize: %+v", name, init.Body)
		}
		c.ok("launch", map[string]any{"coreFile": sc.Core})
		c.ok("configurationDone", map[string]any{})
		stopped := c.waitEvent("stopped").(*dap.StoppedEvent)
		if !strings.Contains(stopped.Body.Description, "SIGSEGV") {
			t.Errorf("%s: stopped event %+v", name, stopped.Body)
		}
	}
}

// TestConfigFiles: ./dsecore.yaml, ~/.config/dsecore/dsecore.yaml,
// DSECORE_CONFIG and --config are read, in that order of precedence
// (explicit first); a malformed one is one line naming the file and the
// line; a named file that does not exist says so.
func TestConfigFiles(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	// Physical frames of the crashed thread: what max-frames bounds (a
	// tail-called frame has no stack frame of its own: not one of them).
	frames := func(out string) int {
		return strings.Count(out, `"inline": false`) - strings.Count(out, `"tailcall": true`)
	}
	setting := func(n int) string { return "max-frames: " + string(rune('0'+n)) + "\n" }
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".config", "dsecore"), 0o755); err != nil {
		t.Fatal(err)
	}
	userCfg := filepath.Join(home, ".config", "dsecore", "dsecore.yaml")
	cwd := t.TempDir()
	explicit := filepath.Join(t.TempDir(), "settings.conf") // any name, any extension
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(userCfg, setting(4))
	write(explicit, setting(2))
	count := func(cfgEnv string, args ...string) int {
		t.Helper()
		code, out, stderr := runIn(t, cwd, home, cfgEnv, append([]string{"bt", sc.Core, "--json"}, args...)...)
		if code != 0 {
			t.Fatalf("bt %v (DSECORE_CONFIG=%q): exit %d: %s", args, cfgEnv, code, stderr)
		}
		return frames(out)
	}
	if n := count(""); n != 4 {
		t.Errorf("~/.config/dsecore/dsecore.yaml (max-frames: 4): %d frames", n)
	}
	write(filepath.Join(cwd, "dsecore.yaml"), setting(3))
	if n := count(""); n != 3 {
		t.Errorf("./dsecore.yaml (max-frames: 3) before the user's: %d frames", n)
	}
	if n := count(explicit); n != 2 {
		t.Errorf("DSECORE_CONFIG (max-frames: 2): %d frames", n)
	}
	if n := count("", "--config", explicit); n != 2 {
		t.Errorf("--config (max-frames: 2): %d frames", n)
	}
	if n := count(explicit, "--max-frames", "5"); n != 5 {
		t.Errorf("a flag over the file: %d frames, want 5", n)
	}

	// Malformed: one line, the file and the parser's line.
	write(filepath.Join(cwd, "dsecore.yaml"), "exe: /opt/ceph-dse/bin/ceph-dse\nsolib-search-path: [unclosed\n")
	for _, args := range [][]string{{"bt", sc.Core}, {"inspect", sc.Core}, {"dap"}} {
		code, out, stderr := runIn(t, cwd, home, "", args...)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code == 0 || len(lines) != 1 || !strings.Contains(stderr, "config dsecore.yaml: line ") || out != "" {
			t.Errorf("dsecore %s with a malformed ./dsecore.yaml: exit %d, stdout %q, stderr %q; want one line naming the file and the line", args[0], code, out, stderr)
		}
	}
	write(filepath.Join(cwd, "dsecore.yaml"), "- just\n- a list\n")
	if code, _, stderr := runIn(t, cwd, home, "", "bt", sc.Core); code == 0 || !strings.Contains(stderr, "config dsecore.yaml: line 1, column 1: want a mapping of settings (key: value), found a list") {
		t.Errorf("a list as config: exit %d, %q", code, stderr)
	}
	write(filepath.Join(cwd, "dsecore.yaml"), "\x7fELF\x02\x01\x01\x00garbage")
	if code, _, stderr := runIn(t, cwd, home, "", "bt", sc.Core); code == 0 || stderr != "dsecore: config dsecore.yaml: not a text file (it holds NUL bytes)\n" || strings.Count(stderr, "\n") != 1 {
		t.Errorf("binary bytes in dsecore.yaml: exit %d, %q", code, stderr)
	}

	// Named but missing.
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	if code, _, stderr := runIn(t, cwd, home, "", "bt", sc.Core, "--config", missing); code == 0 || !strings.Contains(stderr, "--config names "+missing+", which does not exist") {
		t.Errorf("--config of a missing file: exit %d, %q", code, stderr)
	}
	if code, _, stderr := runIn(t, cwd, home, missing, "bt", sc.Core); code == 0 || !strings.Contains(stderr, "DSECORE_CONFIG names "+missing+", which does not exist") {
		t.Errorf("DSECORE_CONFIG of a missing file: exit %d, %q", code, stderr)
	}
}
