package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
)

// TestChangedFileWarnedOnce: the program and its library copied, launched,
// then both rewritten with their own bytes (same size, same inode, a new
// mtime: no read faults) while the prefetch may still be unwinding. Every
// request is still answered; one important output event names each file,
// whatever the number of requests after; none came before the change.
// Run under -race it also holds Session.Changed against the prefetch.
func TestChangedFileWarnedOnce(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	dir := t.TempDir()
	exe, lib := filepath.Join(dir, "ceph-dse"), filepath.Join(dir, "libdcache.so")
	for _, p := range [][2]string{{sc.Exe, exe}, {sc.Lib, lib}} {
		b, err := os.ReadFile(p[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p[1], b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "cache"))
	c := startServer(t, Config{})
	c.launch(map[string]any{"coreFile": sc.Core, "program": exe, "solibSearchPath": []string{dir}})
	warned := func() (out []string) {
		for _, o := range c.outputs("important") {
			if strings.Contains(o, "changed while being read") {
				out = append(out, o)
			}
		}
		for _, o := range c.outputs("console") {
			if strings.Contains(o, "changed while being read") {
				t.Errorf("a change said in the console, not as important: %q", o)
			}
		}
		return out
	}
	c.ok("threads", nil)
	c.ok("threads", nil)
	if w := warned(); len(w) > 0 {
		t.Fatalf("warned before any change: %q", w)
	}
	for _, f := range []string{lib, exe} {
		b, _ := os.ReadFile(f)
		if err := os.WriteFile(f, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		c.ok("threads", nil)
	}
	w := warned()
	if len(w) != 2 {
		t.Fatalf("warnings after both files were rewritten: %q, want one for each", w)
	}
	for i, f := range []string{exe, lib} { // in Changed's order: sorted
		if want := "dsecore: warning: " + f + ": changed while being read (it was modified) (answers may not be the file's from now on: launch again to read it as it is now)\n"; w[i] != want {
			t.Errorf("warning %d: %q, want %q", i, w[i], want)
		}
	}
}
