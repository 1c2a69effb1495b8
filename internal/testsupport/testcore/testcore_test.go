package testcore

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestMakeWritesKernelCore(t *testing.T) {
	for _, p := range []Program{NullDeref, Reraise} {
		r := Make(t, p)
		b, err := os.ReadFile(r.Core)
		if err != nil {
			t.Fatal(err)
		}
		// An ELF core: magic, then e_type ET_CORE (4) at offset 16.
		if !bytes.HasPrefix(b, []byte("\x7fELF")) || b[16] != 4 {
			t.Fatalf("%s: %s is not an ELF core", p.Name, r.Core)
		}
	}
	r := Make(t, Reraise)
	if !strings.Contains(r.Stderr, "*** Caught signal (Segmentation fault) **") {
		t.Fatalf("handler did not run: %q", r.Stderr)
	}
}
