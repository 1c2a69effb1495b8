package corefile

import (
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"
)

// TestSlabCache: the core's page cache (the default budget, 8 MiB) keeps
// its slots in one anonymous mapping (the slab, advised MADV_HUGEPAGE),
// slot s of shard h at page s*64+h, and reads through it, evicting all
// the time (3× the budget read at random), equal the file's bytes. A
// mapped file's cache (1 MiB, under a huge page) has no slab. Close unmaps
// the slab (it leaves the process's mappings) and later reads fail.
func TestSlabCache(t *testing.T) {
	const size = 24 << 20
	data := synthCore(size, []synthSeg{{vaddr: 0x1000000, off: 0x1000, filesz: size - 0x1000, memsz: size - 0x1000}})
	path := filepath.Join(t.TempDir(), "core")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	want, err := NewCore(path, data)
	if err != nil {
		t.Fatal(err)
	}
	got := openCache(t, path, DefaultCacheBytes)
	pc := got.pages
	if pc.slab == nil {
		t.Fatal("the core's cache has no slab")
	}
	if n := len(pc.slab.b); n != DefaultCacheBytes {
		t.Errorf("slab of %d bytes, want the budget, %d", n, DefaultCacheBytes)
	}
	r := rand.New(rand.NewSource(7))
	for i := 0; i < 3*DefaultCacheBytes/pageSize; i++ {
		off := uint64(r.Intn(size - 0x1000 - 64))
		sameRead(t, got, want, 0x1000000+off, 1+r.Intn(64))
	}
	base := uintptr(unsafe.Pointer(&pc.slab.b[0]))
	filled := 0
	for h := range pc.shards {
		sh := &pc.shards[h]
		for s, b := range sh.buf {
			if b == nil {
				continue
			}
			filled++
			if at := uintptr(unsafe.Pointer(&b[:1][0])) - base; at != uintptr((s*cacheShards+h)*pageSize) {
				t.Fatalf("shard %d slot %d at slab offset %#x, want %#x", h, s, at, (s*cacheShards+h)*pageSize)
			}
		}
	}
	if filled != DefaultCacheBytes/pageSize {
		t.Errorf("%d slots filled after reading 3× the budget, want all %d", filled, DefaultCacheBytes/pageSize)
	}
	if !mappedAt(t, base) {
		t.Fatalf("the slab at %#x is not among the process's mappings", base)
	}
	if small := newPageCache("f", nil, size, mappedFileCacheBytes); small.slab != nil {
		t.Errorf("a %d-byte cache has a slab", mappedFileCacheBytes)
	}
	got.Close()
	if mappedAt(t, base) {
		t.Errorf("the slab at %#x is still mapped after Close", base)
	}
	if _, err := got.ReadAt(make([]byte, 8), 0x1000000); !errors.Is(err, os.ErrClosed) {
		t.Errorf("a read after Close: %v, want os.ErrClosed", err)
	}
}

// mappedAt says whether addr is in one of the process's mappings.
func mappedAt(t *testing.T, addr uintptr) bool {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	for _, ln := range strings.Split(string(b), "\n") {
		var lo, hi uintptr
		if r, _, ok := strings.Cut(ln, " "); ok {
			if _, err := fmt.Sscanf(r, "%x-%x", &lo, &hi); err == nil && addr >= lo && addr < hi {
				return true
			}
		}
	}
	return false
}
