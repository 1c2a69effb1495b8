package corefile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/dsecore/dsecore/internal/mmap"
	"github.com/dsecore/dsecore/internal/testsupport/testcore"
)

// sameRead reads n bytes at addr from both cores and fails unless they
// give the same count, bytes and error.
func sameRead(t *testing.T, got, want *Core, addr uint64, n int) {
	t.Helper()
	g, w := make([]byte, n), make([]byte, n)
	gn, gerr := got.ReadAt(g, addr)
	wn, werr := want.ReadAt(w, addr)
	if gn != wn || !bytes.Equal(g[:gn], w[:wn]) || fmt.Sprint(gerr) != fmt.Sprint(werr) {
		t.Fatalf("read %d at %#x: %d bytes, %v; mapped: %d bytes, %v\n got  %x\n want %x",
			n, addr, gn, gerr, wn, werr, g[:min(gn, 64)], w[:min(wn, 64)])
	}
}

// mapped is the core as it was read before the page cache: parse over the
// whole file mapped.
func mapped(t *testing.T, path string) *Core {
	t.Helper()
	data, err := mmap.File(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mmap.Unmap(data) })
	c, err := NewCore(path, data)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func openCache(t *testing.T, path string, budget int) *Core {
	t.Helper()
	c, err := OpenCache(path, budget)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestPagedReadsMatchMapping: reads of a real core through the page cache
// (the default budget and a cache of one page per shard, always evicting)
// equal the mapped file's bytes: across pages, across segment edges, into
// gaps and at random.
func TestPagedReadsMatchMapping(t *testing.T) {
	r := testcore.Make(t, testcore.NullDeref)
	want := mapped(t, r.Core)
	for _, budget := range []int{DefaultCacheBytes, 0} {
		t.Run(fmt.Sprint(budget), func(t *testing.T) {
			got := openCache(t, r.Core, budget)
			edges := 0
			for i, s := range want.Segments {
				for _, a := range []uint64{s.Vaddr, s.Vaddr + pageSize - 3, s.Vaddr + s.Memsz - 5} {
					sameRead(t, got, want, a, 8) // within a page, across two, across the segment's end
				}
				sameRead(t, got, want, s.Vaddr+100, 3*pageSize) // three pages
				if i > 0 && want.Segments[i-1].Vaddr+want.Segments[i-1].Memsz == s.Vaddr {
					sameRead(t, got, want, s.Vaddr-pageSize-10, 2*pageSize+20) // two segments, three pages
					edges++
				}
			}
			if edges == 0 {
				t.Fatal("no adjacent segments in the core")
			}
			rng := rand.New(rand.NewSource(1))
			for i := 0; i < 20000; i++ {
				s := want.Segments[rng.Intn(len(want.Segments))]
				a := s.Vaddr + uint64(rng.Int63n(int64(s.Memsz)+pageSize)) - pageSize/2
				sameRead(t, got, want, a, 1+rng.Intn(2*pageSize))
			}
			for i := range want.Threads {
				sameRead(t, got, want, want.Threads[i].Regs.Rsp, 512)
			}
		})
	}
}

type synthSeg struct{ vaddr, off, filesz, memsz uint64 }

// synthCore is an ELF core of size bytes with the given PT_LOAD segments,
// at any file offsets, filled with random bytes.
func synthCore(size int, segs []synthSeg) []byte {
	b := make([]byte, size)
	rand.New(rand.NewSource(int64(size))).Read(b)
	le := binary.LittleEndian
	copy(b, "\x7fELF\x02\x01\x01")
	clear(b[7:64])
	le.PutUint16(b[16:], 4)  // ET_CORE
	le.PutUint16(b[18:], 62) // EM_X86_64
	le.PutUint32(b[20:], 1)
	le.PutUint64(b[32:], 64) // e_phoff
	le.PutUint16(b[52:], 64)
	le.PutUint16(b[54:], 56)
	le.PutUint16(b[56:], uint16(len(segs)))
	for i, s := range segs {
		ph := b[64+56*i:]
		le.PutUint32(ph[0:], 1) // PT_LOAD
		le.PutUint32(ph[4:], 6) // rw
		le.PutUint64(ph[8:], s.off)
		le.PutUint64(ph[16:], s.vaddr)
		le.PutUint64(ph[24:], 0)
		le.PutUint64(ph[32:], s.filesz)
		le.PutUint64(ph[40:], s.memsz)
		le.PutUint64(ph[48:], 1)
	}
	return b
}

// TestPagedOddCore: segments at file offsets that are not page-aligned, two
// adjacent in memory, one with a zero-filled tail, one cut by the end of a
// file whose size is not a multiple of the page: reads through the cache
// equal those of the same bytes in memory, errors included.
func TestPagedOddCore(t *testing.T) {
	const size = 0x9123
	data := synthCore(size, []synthSeg{
		{vaddr: 0x10000, off: 0x1003, filesz: 0x2100, memsz: 0x2100},
		{vaddr: 0x12100, off: 0x3ffd, filesz: 0x1800, memsz: 0x3000},        // anonymous tail: zeros
		{vaddr: 0x20000, off: size - 0x801, filesz: 0x2000, memsz: 0x2000},  // truncated
		{vaddr: 0x30000, off: size + 0x1000, filesz: 0x1000, memsz: 0x1000}, // wholly past the end
	})
	path := filepath.Join(t.TempDir(), "core")
	if err := os.WriteFile(path, data, 0o444); err != nil {
		t.Fatal(err)
	}
	want, err := NewCore(path, data)
	if err != nil {
		t.Fatal(err)
	}
	if len(want.Warnings) != 2 {
		t.Errorf("warnings %q, want the two truncated segments", want.Warnings)
	}
	for _, budget := range []int{DefaultCacheBytes, 0} {
		t.Run(fmt.Sprint(budget), func(t *testing.T) {
			got := openCache(t, path, budget)
			if fmt.Sprint(got.Segments, got.Warnings) != fmt.Sprint(want.Segments, want.Warnings) {
				t.Fatalf("segments %v %q, in memory %v %q", got.Segments, got.Warnings, want.Segments, want.Warnings)
			}
			sameRead(t, got, want, 0x10000, 0x2100+0x3000) // two segments and the zeros
			sameRead(t, got, want, 0x10ffd, 6)             // the file's page edge at 0x2000
			sameRead(t, got, want, 0x20000, 0x2000)        // up to the end of the file, then an error
			sameRead(t, got, want, 0x207ff, 3)             // the file's last two bytes and one past it
			sameRead(t, got, want, 0x30000, 8)
			rng := rand.New(rand.NewSource(2))
			for i := 0; i < 20000; i++ {
				sameRead(t, got, want, 0xf000+uint64(rng.Intn(0x23000)), 1+rng.Intn(0x3000))
			}
			var me *MemError
			if n, err := got.ReadAt(make([]byte, 3), 0x207ff); n != 2 || !errors.As(err, &me) || !errors.Is(err, ErrUnmapped) || me.Addr != 0x20801 {
				t.Errorf("read past the end of the file: %v", err)
			}
		})
	}
}

// TestPagedCoreShrinks: a core cut shorter while open (where a mapping
// would raise SIGBUS) reads as far as the file goes, then fails with a
// MemError.
func TestPagedCoreShrinks(t *testing.T) {
	data := synthCore(0x8000, []synthSeg{{vaddr: 0x10000, off: 0x1000, filesz: 0x7000, memsz: 0x7000}})
	path := filepath.Join(t.TempDir(), "core")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	c := openCache(t, path, DefaultCacheBytes)
	if v, err := c.ReadUint64(0x10000); err != nil || v != binary.LittleEndian.Uint64(data[0x1000:]) {
		t.Fatalf("first page: %#x %v", v, err)
	}
	if err := os.Truncate(path, 0x3800); err != nil {
		t.Fatal(err)
	}
	// The first page is cached; the file now ends in the middle of the third.
	p := make([]byte, 0x4000)
	n, err := c.ReadAt(p, 0x10000)
	var me *MemError
	if n != 0x2800 || !errors.As(err, &me) || !errors.Is(err, ErrUnmapped) || me.Addr != 0x12800 {
		t.Fatalf("read across the new end: n=%#x err=%v", n, err)
	}
	if !bytes.Equal(p[:n], data[0x1000:0x3800]) {
		t.Error("bytes before the new end differ")
	}
	if _, err := c.ReadUint64(0x16000); !errors.Is(err, ErrUnmapped) {
		t.Errorf("read past the new end: %v", err)
	}
}

// failingReader fails every read past ok bytes (EIO from a bad disk).
type failingReader struct {
	r  io.ReaderAt
	ok int64
}

func (f failingReader) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) <= f.ok {
		return f.r.ReadAt(p, off)
	}
	n := 0
	if off < f.ok {
		n, _ = f.r.ReadAt(p[:f.ok-off], off)
	}
	return n, syscall.EIO
}

func TestPagedReadError(t *testing.T) {
	data := synthCore(0x8000, []synthSeg{{vaddr: 0x10000, off: 0x1000, filesz: 0x7000, memsz: 0x7000}})
	c, err := NewCore("eio", data)
	if err != nil {
		t.Fatal(err)
	}
	c.pages = newPageCache("core", failingReader{bytes.NewReader(data), 0x3000}, int64(len(data)), DefaultCacheBytes)
	p := make([]byte, 0x3000)
	n, err := c.ReadAt(p, 0x10800)
	var me *MemError
	if n != 0x1800 || !errors.As(err, &me) || !errors.Is(err, ErrUnmapped) || !errors.Is(err, syscall.EIO) || me.Addr != 0x12000 {
		t.Fatalf("read into a failing page: n=%#x err=%v", n, err)
	}
	if !bytes.Equal(p[:n], data[0x1800:0x3000]) {
		t.Error("bytes before the failing page differ")
	}
	if pages, _ := c.pages.resident(); pages != 2 {
		t.Errorf("%d pages cached, want the 2 read whole", pages)
	}
}

// TestReadAfterClose: a closed core's reads fail (whether they hit the
// cache, miss it, or are zero fill), and Close gives back the descriptor.
func TestReadAfterClose(t *testing.T) {
	r := testcore.Make(t, testcore.NullDeref)
	fds := func() int {
		e, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err) // Linux has /proc
		}
		return len(e)
	}
	before := fds()
	c, err := Open(r.Core)
	if err != nil {
		t.Fatal(err)
	}
	if n := fds(); n != before+1 {
		t.Errorf("%d descriptors open, %d before Open: want the core's only", n, before)
	}
	s := c.Segments[0]
	if _, err := c.ReadUint64(s.Vaddr); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if n := fds(); n != before {
		t.Errorf("%d descriptors open after Close, %d before Open", n, before)
	}
	var me *MemError
	for _, a := range []uint64{s.Vaddr, s.Vaddr + s.Memsz - 8, c.Segments[len(c.Segments)-1].Vaddr} {
		if _, err := c.ReadUint64(a); !errors.As(err, &me) || !errors.Is(err, ErrUnmapped) || !errors.Is(err, os.ErrClosed) {
			t.Errorf("read at %#x after Close: %v", a, err)
		}
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// A core in memory too.
	m, err := NewCore("m", synthCore(0x3000, []synthSeg{{vaddr: 0x10000, off: 0x1000, filesz: 0x1000, memsz: 0x4000}}))
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	for _, a := range []uint64{0x10000, 0x12000} {
		if _, err := m.ReadUint64(a); !errors.Is(err, os.ErrClosed) {
			t.Errorf("in-memory core, read at %#x after Close: %v", a, err)
		}
	}
}

// TestCloseWhileReading: Close racing reads from many goroutines gives
// them errors, never a panic or bytes from elsewhere (go test -race).
func TestCloseWhileReading(t *testing.T) {
	data := synthCore(1<<20, []synthSeg{{vaddr: 0x100000, off: 0x1000, filesz: 1<<20 - 0x1000, memsz: 1<<20 - 0x1000}})
	path := filepath.Join(t.TempDir(), "core")
	if err := os.WriteFile(path, data, 0o444); err != nil {
		t.Fatal(err)
	}
	c, err := OpenCache(path, 64*pageSize)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(g)))
			p := make([]byte, 100)
			<-start
			for i := 0; i < 5000; i++ {
				off := uint64(0x1000 + rng.Intn(len(data)-0x1000-100))
				n, err := c.ReadAt(p, 0x100000+off-0x1000)
				if !bytes.Equal(p[:n], data[off:off+uint64(n)]) || (err == nil) != (n == len(p)) {
					t.Errorf("read at file offset %#x: n=%d err=%v, wrong bytes", off, n, err)
					return
				}
				if err != nil && !errors.Is(err, ErrUnmapped) {
					t.Errorf("read after Close: %v", err)
					return
				}
			}
		}(g)
	}
	close(start)
	c.Close()
	wg.Wait()
}

// TestPageCacheBudget: many goroutines reading at random through a small
// cache get the file's bytes, and the cache never holds (nor allocates)
// more pages than its budget (go test -race).
func TestPageCacheBudget(t *testing.T) {
	const size = 4<<20 + 123
	data := make([]byte, size)
	rand.New(rand.NewSource(3)).Read(data)
	for _, budget := range []int{0, 2 * cacheShards * pageSize, 5*cacheShards*pageSize + 77} {
		t.Run(fmt.Sprint(budget), func(t *testing.T) {
			pc := newPageCache("core", bytes.NewReader(data), size, budget)
			limit := max(1, budget/pageSize/cacheShards) * cacheShards
			if limit*pageSize > max(budget, cacheShards*pageSize) {
				t.Fatalf("%d pages for a budget of %d bytes", limit, budget)
			}
			check := func() {
				pages, bufs := pc.resident()
				if pages > limit || bufs > limit {
					t.Errorf("%d pages cached, %d buffers, budget %d pages", pages, bufs, limit)
				}
			}
			var wg sync.WaitGroup
			done := make(chan struct{})
			go func() { // the budget holds at every moment, not only at the end
				defer close(done)
				for i := 0; i < 200; i++ {
					check()
				}
			}()
			for g := 0; g < 16; g++ {
				wg.Add(1)
				go func(g int) {
					defer wg.Done()
					rng := rand.New(rand.NewSource(int64(g)))
					p := make([]byte, 3*pageSize)
					for i := 0; i < 3000; i++ {
						// Mostly a hot region (hits), sometimes anywhere (misses).
						off := int64(rng.Intn(size))
						if rng.Intn(4) != 0 {
							off = int64(rng.Intn(64 * pageSize))
						}
						q := p[:1+rng.Intn(len(p))]
						n, err := pc.readAt(q, off)
						end := min(off+int64(len(q)), size)
						if n != int(end-off) || !bytes.Equal(q[:n], data[off:end]) || (err == nil) != (end == off+int64(len(q))) {
							t.Errorf("read %d at %#x: n=%d err=%v", len(q), off, n, err)
							return
						}
					}
				}(g)
			}
			wg.Wait()
			<-done
			check()
			if pages, _ := pc.resident(); pages != limit {
				t.Errorf("%d pages cached after reading far more, want the budget's %d", pages, limit)
			}
		})
	}
}

// BenchmarkPageCache: an 8-byte read that hits, and one that misses (a
// preadv2 of a page the kernel has cached; the cache holds one page a
// shard and the reads stride through 64 MiB).
func BenchmarkPageCache(b *testing.B) {
	const size = 64 << 20
	path := filepath.Join(b.TempDir(), "file")
	if err := os.WriteFile(path, make([]byte, size), 0o444); err != nil {
		b.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	p := make([]byte, 8)
	b.Run("hit", func(b *testing.B) {
		pc := newPageCache("core", f, size, DefaultCacheBytes)
		for i := 0; i < b.N; i++ {
			pc.readAt(p, int64(i%512)*8)
		}
	})
	b.Run("miss", func(b *testing.B) {
		pc := newPageCache("core", newCoreFile(f), size, 0)
		for i := 0; i < b.N; i++ {
			pc.readAt(p, int64(i*pageSize)%size)
		}
	})
}

// countingReader counts the reads that reach the file.
type countingReader struct {
	r io.ReaderAt
	n *int
}

func (c countingReader) ReadAt(p []byte, off int64) (int, error) {
	*c.n++
	return c.r.ReadAt(p, off)
}

// TestDirectRead: a read of directRead bytes or more is one read of the
// file that caches nothing, with the bytes and errors of the page by page
// path: past the file's end, and from a file that fails part way (read
// again page by page, which caches the pages before the failing one).
func TestDirectRead(t *testing.T) {
	const size = 64*pageSize + 99
	data := make([]byte, size)
	rand.New(rand.NewSource(5)).Read(data)
	reads := 0
	pc := newPageCache("core", countingReader{bytes.NewReader(data), &reads}, size, DefaultCacheBytes)
	p := make([]byte, 16*pageSize)
	if n, err := pc.readAt(p, 3*pageSize+17); n != len(p) || err != nil || !bytes.Equal(p, data[3*pageSize+17:][:len(p)]) {
		t.Fatalf("direct read: n=%d err=%v (or bytes differ)", n, err)
	}
	if pages, _ := pc.resident(); reads != 1 || pages != 0 {
		t.Errorf("a read of 16 pages: %d reads of the file, %d pages cached; want 1 and 0", reads, pages)
	}
	off := int64(size - 10*pageSize)
	if n, err := pc.readAt(p, off); n != 10*pageSize || !errors.Is(err, io.ErrUnexpectedEOF) || !bytes.Equal(p[:n], data[off:]) {
		t.Errorf("read past the end: n=%d err=%v", n, err)
	}
	if n, err := pc.readAt(p[:directRead-1], 0); n != directRead-1 || err != nil {
		t.Errorf("a smaller read: n=%d err=%v", n, err)
	} else if pages, _ := pc.resident(); pages != directRead/pageSize {
		t.Errorf("a read of less than directRead bytes cached %d pages, want %d", pages, directRead/pageSize)
	}

	failing := newPageCache("core", failingReader{bytes.NewReader(data), 6 * pageSize}, size, DefaultCacheBytes)
	n, err := failing.readAt(p, 2*pageSize+5)
	if n != 4*pageSize-5 || !errors.Is(err, syscall.EIO) || !strings.Contains(err.Error(), fmt.Sprintf("at %#x", 6*pageSize)) || !bytes.Equal(p[:n], data[2*pageSize+5:6*pageSize]) {
		t.Errorf("read into a failing part: n=%#x err=%v", n, err)
	}
	if pages, _ := failing.resident(); pages != 4 {
		t.Errorf("%d pages cached, want the 4 read whole before the failing one", pages)
	}
}
