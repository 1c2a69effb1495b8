package corefile

import (
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/dsecore/dsecore/internal/testsupport/testenv"
)

// TestSlabCache: the core's page cache (the default budget, 8 MiB) keeps
// its slots in one anonymous mapping (the slab: its first 2 MiB advised
// MADV_NOHUGEPAGE, the rest MADV_HUGEPAGE), slot s of shard h at page
// s*64+h, and reads through it, evicting all
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
	// The advice: the first 2 MiB (ranks 0-7) in 4 KiB pages ("nh"), the
	// rest in huge pages ("hg").
	if _, err := os.Stat("/sys/kernel/mm/transparent_hugepage"); err != nil {
		testenv.SkipOrFail(t, "this kernel has no transparent huge pages: the slab's advice is not tested")
	}
	for _, c := range []struct {
		at   uintptr
		flag string
	}{{base, "nh"}, {base + hugePage, "hg"}, {base + DefaultCacheBytes - 1, "hg"}} {
		if flags := vmFlags(t, c.at); !slices.Contains(flags, c.flag) {
			t.Errorf("slab offset %#x: VmFlags %v, want %q", c.at-base, flags, c.flag)
		}
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

// vmFlags are the VmFlags of the mapping holding addr (/proc/self/smaps).
func vmFlags(t *testing.T, addr uintptr) []string {
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	in := false
	for _, ln := range strings.Split(string(b), "\n") {
		var lo, hi uintptr
		if r, _, ok := strings.Cut(ln, " "); ok && strings.Contains(r, "-") {
			if _, err := fmt.Sscanf(r, "%x-%x", &lo, &hi); err == nil {
				in = addr >= lo && addr < hi
				continue
			}
		}
		if f, ok := strings.CutPrefix(ln, "VmFlags:"); ok && in {
			return strings.Fields(f)
		}
	}
	return nil
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
