package finder

import (
	"debug/elf"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/dsecore/dsecore/coreparse/symbols"
)

// TestFindsSymlinkedFile: a search directory whose library is a symlink
// to a file outside it (as sysroots and /usr/lib/debug hold them) finds
// it by build ID, as a copy is found; a symlinked directory is not walked,
// so a loop ends. The build ID is readelf's (.note.gnu.build-id of
// /usr/bin/ls), read here through debug/elf.
func TestFindsSymlinkedFile(t *testing.T) {
	const target = "/usr/bin/ls"
	e, err := elf.Open(target)
	if err != nil {
		t.Fatal(err)
	}
	id := symbols.BuildID(e)
	e.Close()
	if len(id) == 0 {
		t.Fatalf("%s has no build ID", target)
	}
	dir := t.TempDir()
	link := filepath.Join(dir, "usr", "lib", "ls")
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dir, filepath.Join(dir, "usr", "loop")); err != nil {
		t.Fatal(err)
	}
	if got := New(Options{Dirs: []string{dir}}).Find("ls", id, true); got != link {
		t.Errorf("build ID %s: found %q, want the symlink %q", hex.EncodeToString(id), got, link)
	}
	if got := New(Options{Dirs: []string{dir}}).Find("ls", []byte{1, 2, 3, 4}, true); got != "" {
		t.Errorf("another build ID: found %q", got)
	}
}
