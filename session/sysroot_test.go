package session_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/dsecore/dsecore/session"
)

// TestSysrootFindsLibrary: the missing-lib core's libdcache.so is gone
// from the path the core names (fixtures/build.sh deletes it from
// bin-gone); a sysroot holding that build of it at that path finds it
// (as gdb's `set sysroot` does), and so does one holding it elsewhere
// (the sysroot is searched by build ID too, as the solib search path
// is), with the core's build ID; without the sysroot it stays missing.
func TestSysrootFindsLibrary(t *testing.T) {
	set := fixture.Get(t)
	sc := set.Scenario(t, "missing-lib")
	gone := filepath.Join(set.Dir, "bin-gone", "libdcache.so")
	if _, err := os.Stat(gone); err == nil {
		t.Fatalf("%s exists: the scenario's library should be gone", gone)
	}
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, filepath.Dir(gone)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(set.Dir, "bin", "libdcache.so"), filepath.Join(root, gone)); err != nil {
		t.Fatal(err)
	}
	elsewhere := t.TempDir()
	if err := os.MkdirAll(filepath.Join(elsewhere, "usr", "lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	lib, err := os.ReadFile(filepath.Join(set.Dir, "bin", "libdcache.so"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(elsewhere, "usr", "lib", "libdcache.so"), lib, 0o755); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(set.Dir, "bin-gone", "ceph-dse")
	for _, sysroot := range []string{"", root, elsewhere} {
		s, err := session.Open(session.Options{Core: sc.Core, Exe: exe, Sysroot: sysroot})
		if err != nil {
			t.Fatal(err)
		}
		found := ""
		for _, m := range s.Process().Modules {
			if m.BaseName() == "libdcache.so" {
				found = m.Path
				if m.Path != "" && m.BuildIDMismatch {
					t.Errorf("sysroot %q: %s's build ID is not the core's", sysroot, m.Path)
				}
			}
		}
		s.Close()
		if (found != "") != (sysroot != "") {
			t.Errorf("sysroot %q: libdcache.so found at %q", sysroot, found)
		}
	}
}
