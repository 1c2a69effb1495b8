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

// TestCacheAcrossRuns: with DSECORE_TESTCORE_CACHE set, a second test
// binary (here: the package's state reset) takes the kept program and core
// as they are instead of crashing the program again.
func TestCacheAcrossRuns(t *testing.T) {
	mu.Lock()
	savedRoot, savedCache := root, cache
	root, cache = "", map[string]*Result{}
	mu.Unlock()
	t.Cleanup(func() {
		mu.Lock()
		root, cache = savedRoot, savedCache
		mu.Unlock()
	})
	dir := t.TempDir()
	t.Setenv(CacheEnv, dir)
	first := Make(t, NullDeref)
	if !strings.HasPrefix(first.Dir, dir+string(os.PathSeparator)) {
		t.Fatalf("built in %s, not in the cache %s", first.Dir, dir)
	}
	fi, err := os.Stat(first.Core)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	root, cache = "", map[string]*Result{} // a new test binary
	mu.Unlock()
	second := Make(t, NullDeref)
	fi2, err := os.Stat(second.Core)
	if err != nil {
		t.Fatal(err)
	}
	if *second != *first || !fi2.ModTime().Equal(fi.ModTime()) {
		t.Errorf("second run %+v (core %v), first %+v (core %v): not the kept one", second, fi2.ModTime(), first, fi.ModTime())
	}
}
