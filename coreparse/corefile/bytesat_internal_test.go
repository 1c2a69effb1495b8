package corefile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
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
			b, err := src.at(nil, c.off, c.n)
			if err != nil || !bytes.Equal(b, []byte(c.want)) {
				t.Errorf("%T: at(%d, %d) = %q, %v; want %q", src, c.off, c.n, b, err, c.want)
			}
		}
	}
}

// TestFileBytesShrank: a core file shorter than when it was opened (a
// read stops at its new end) is an error saying so, at the offset where
// the read stopped; a read that fails otherwise (the file closed) keeps
// its own error.
func TestFileBytesShrank(t *testing.T) {
	p := filepath.Join(t.TempDir(), "core")
	if err := os.WriteFile(p, []byte("0123456789abcdef"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	fb := &fileBytes{f: f, n: 32} // opened at 32 bytes, now 16
	if b, err := fb.at(nil, 10, 20); !errors.Is(err, errShrank) || !strings.Contains(err.Error(), " at 0x10:") || b != nil {
		t.Errorf("at(10, 20) of a file cut to 16 bytes: %q, %v", b, err)
	}
	if b, err := fb.at(nil, 0, 16); err != nil || string(b) != "0123456789abcdef" {
		t.Errorf("at(0, 16): %q, %v", b, err)
	}
	// Into the caller's buffer when it has room (parse's chunks of
	// program headers), a fresh one when it has not.
	buf := make([]byte, 8)
	if b, err := fb.at(buf, 4, 6); err != nil || string(b) != "456789" || &b[0] != &buf[0] {
		t.Errorf("at(buf, 4, 6): %q, %v, into buf: %v", b, err, err == nil && &b[0] == &buf[0])
	}
	if b, err := fb.at(buf, 2, 12); err != nil || string(b) != "23456789abcd" || &b[0] == &buf[0] {
		t.Errorf("at(buf, 2, 12): %q, %v", b, err)
	}
	f.Close()
	if _, err := fb.at(nil, 0, 4); !errors.Is(err, os.ErrClosed) || errors.Is(err, errShrank) {
		t.Errorf("at(0, 4) of a closed file: %v", err)
	}
}
