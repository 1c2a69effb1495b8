package corefile

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestBytesAtEnd: both sources of parse's bytes (a core in memory, a core
// file read with pread) give [off, off+n) cut at the end of the core, and
// nothing past it. parse clamps its own reads first, so only this test
// asks for more than is left.
func TestBytesAtEnd(t *testing.T) {
	data := []byte("0123456789abcdef")
	p := filepath.Join(t.TempDir(), "core")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, src := range []bytesAt{memBytes(data), &fileBytes{f: f, n: uint64(len(data))}} {
		if src.size() != uint64(len(data)) {
			t.Errorf("%T: size %d", src, src.size())
		}
		for _, c := range []struct {
			off, n uint64
			want   string
		}{{0, 4, "0123"}, {4, 4, "4567"}, {10, 100, "abcdef"}, {12, 4, "cdef"}, {15, 2, "f"}, {16, 1, ""}, {17, 1, ""}, {1 << 40, 8, ""}} {
			b, err := src.at(c.off, c.n)
			if err != nil || !bytes.Equal(b, []byte(c.want)) {
				t.Errorf("%T: at(%d, %d) = %q, %v; want %q", src, c.off, c.n, b, err, c.want)
			}
		}
	}
}
