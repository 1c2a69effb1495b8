package mmap

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestFile: a file's bytes, read-only; empty files and directories refused.
func TestFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("core bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := File(p)
	if err != nil || string(b) != "core bytes" {
		t.Fatalf("%q, %v", b, err)
	}
	syscall.Munmap(b)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o644)
	for _, bad := range []string{empty, dir} {
		if _, err := File(bad); err == nil || !strings.Contains(err.Error(), "not a mappable file") {
			t.Errorf("%s: %v", bad, err)
		}
	}
	if _, err := File(filepath.Join(dir, "none")); !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
}
