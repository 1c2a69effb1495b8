package corefile_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/dsecore/dsecore/coreparse/corefile"
	"github.com/dsecore/dsecore/internal/testsupport/testcore"
)

// TestInheritedDescriptorItself: /dev/fd/N and /proc/self/fd/N read
// through the descriptor N itself, never a file opened anew through the
// /proc link (which would check permissions anew: the node agent's
// unprivileged child could not, and root here always could). A
// write-only descriptor of a good core therefore cannot be read, where a
// new read-only open of the link would read it.
func TestInheritedDescriptorItself(t *testing.T) {
	r := testcore.Make(t, testcore.NullDeref)
	b, err := os.ReadFile(r.Core)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "core")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, p := range []string{"/dev/fd/%d", "/proc/self/fd/%d"} {
		name := fmt.Sprintf(p, w.Fd())
		if c, err := corefile.Open(name); err == nil {
			c.Close()
			t.Errorf("%s, a write-only descriptor, was read (opened anew?)", name)
		}
	}
	if c, err := corefile.Open(path); err != nil { // the same file, by its name
		t.Errorf("%s: %v", path, err)
	} else {
		c.Close()
	}
}
