package server

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
)

// TestChangedFileWarnedOnce: the program and its library copied, launched,
// then both rewritten in place with their own bytes (same size, same
// inode, a new mtime: no read faults) while the prefetch may still be
// unwinding, then the library grown by a page (what Changed says of it
// changes). Every request is still answered; one important output event
// names each file (in either order), whatever the number of requests
// after and whatever the file's change says next; none came before the
// change. Run under -race it also holds Session.Changed against the
// prefetch.
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
		rewriteInPlace(t, f)
	}
	for range 5 {
		c.ok("threads", nil)
	}
	f, err := os.OpenFile(lib, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(make([]byte, 4096))
	f.Close()
	for range 3 {
		c.ok("threads", nil)
	}
	w := warned()
	if len(w) != 2 {
		t.Fatalf("warnings after both files were rewritten: %q, want one for each", w)
	}
	// In either order: the check after a request runs while the test may
	// be between its two writes.
	slices.Sort(w)
	for i, f := range []string{exe, lib} { // sorted: ceph-dse < libdcache.so
		if want := "dsecore: warning: " + f + ": changed while being read (it was modified) (answers may not be the file's from now on: launch again to read it as it is now)\n"; w[i] != want {
			t.Errorf("warning %d: %q, want %q", i, w[i], want)
		}
	}
}

// rewriteInPlace writes a file's own bytes over it, without truncating it
// first (os.WriteFile would: a reader in between sees it cut to 0 bytes,
// and a mapped page read then faults): same inode, same size, a new mtime.
func rewriteInPlace(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, 0); err != nil {
		t.Fatal(err)
	}
}
