package corefile

import (
	"errors"
	"fmt"
	"io"
	"sync"
)

// The page cache serves the dumped bytes of an opened core with pread(2)
// instead of a mapping of the whole file. Mapped, every page an unwind
// touches brought its 64 KiB neighbourhood in with it (the kernel's fault
// around, which madvise cannot turn off), and all of it counted as the
// process's RSS: ~300 MB for a 10,000-task core. Here the process holds at
// most the cache's budget of the core, whatever the core's size.
const (
	pageShift = 12
	pageSize  = 1 << pageShift

	// cacheShards is how many independently locked parts the cache has:
	// unwinds run on every CPU (internal/par) and all read memory.
	cacheShardBits = 6
	cacheShards    = 1 << cacheShardBits

	// DefaultCacheBytes is the cache's budget. Reads have short-range
	// locality: an unwind reads a few pages of one stack, many times, then
	// moves on. Measured (bt --all --all-tasks, inspect): a 1,000-task core
	// touches ~1,250 pages (5 MiB), all of which 8 MiB holds (only
	// first-touch misses; 4 MiB doubles inspect's misses); a 10,000-task
	// core touches ~10,800 (42 MiB), mostly in two passes far apart, and
	// every budget from 2 to 16 MiB misses ~20,000 times (within 7%; a
	// miss is ~2.5 µs, a hit ~25 ns: BenchmarkPageCache). The budget is
	// RSS the core costs, so it is the knee, not the biggest working set.
	DefaultCacheBytes = 8 << 20
)

// errShrank is wrapped by the error of a read the file no longer has.
var errShrank = errors.New("file changed while being read")

// errCacheClosed is what a read of a closed cache gets.
var errCacheClosed = errors.New("core file closed")

// pageCache is a bounded cache of a file's 4 KiB pages, keyed by file
// offset. It is split in shards by a hash of the page number, each with its
// own lock, slots and clock hand; a miss evicts within its shard with the
// clock (second chance) algorithm. Pages are read whole (the file's last
// one up to its end); a read that fails or comes up short is not cached.
type pageCache struct {
	name     string // the file, for errors
	r        io.ReaderAt
	size     int64 // the file's size: no page is read past it
	perShard int   // slots per shard
	// slab holds every slot's bytes when the budget is at least a huge
	// page (the core's cache; see newPageCache), nil otherwise (a
	// mapped file's: slots allocated one by one). Unmapped by close.
	slab   *slab
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu     sync.Mutex
	index  map[int64]int32 // page number → slot
	page   []int64         // slot → page number, -1 when free
	ref    []bool          // slot → referenced since the hand last passed
	buf    [][]byte        // slot → its bytes, allocated (or taken from the slab) when first filled
	hand   int
	id     int // its index in shards
	closed bool
	_      [64]byte // keep neighbouring shards' locks off one cache line
}

// newPageCache caches r (of size bytes) in at most budget bytes (at least
// one page per shard).
//
// A budget of a huge page (2 MiB) or more is one anonymous mapping advised
// MADV_HUGEPAGE (slab_linux.go): its 4 KiB slots, allocated one by one from
// the Go heap, each cost the first read into it a page fault (~8 µs on
// this 2-CPU VM: ~2,000 of bt --all --all-tasks' 9,300 on the 10,000-task
// core, 18% of its CPU in page faults), where a huge page faults once for
// 512 of them (the kernel's transparent huge pages in "madvise" or
// "always" mode; otherwise it is 4 KiB pages as before). The slots are
// laid out rank by rank: slot s of shard h at (s*64 + h) pages, and the
// first 2 MiB (ranks 0-7) stay in 4 KiB pages: a small working set (a
// first answer fills 34-150 slots, at most 6 a shard) costs the pages it
// holds, as before, and only a cache that fills up takes huge pages (the
// 10,000-task core's: 3 faults for its last 6 MiB instead of 1,536).
func newPageCache(name string, r io.ReaderAt, size int64, budget int) *pageCache {
	pc := &pageCache{name: name, r: r, size: size, perShard: max(1, budget/pageSize/cacheShards)}
	if budget >= hugePage {
		pc.slab = newSlab(pc.perShard * cacheShards * pageSize)
	}
	for i := range pc.shards {
		pc.shards[i].id = i
	}
	return pc
}

// fill makes a shard's slots, at its first miss: a first answer fills a
// few slots of some shards (34-150 in all), and making all 64 shards'
// maps and slot lists up front was ~1.3 % of a warm ceph-mon bt.
func (sh *cacheShard) fill(n int) {
	sh.index = make(map[int64]int32, n)
	sh.page = make([]int64, n)
	sh.ref = make([]bool, n)
	sh.buf = make([][]byte, n)
	for j := range sh.page {
		sh.page[j] = -1
	}
}

// shardOf spreads page numbers over the shards with a multiplicative hash:
// stacks of the same size at aligned addresses would otherwise put the
// pages every unwind reads in a few shards.
func (pc *pageCache) shardOf(pn int64) *cacheShard {
	return &pc.shards[(uint64(pn)*0x9e3779b97f4a7c15)>>(64-cacheShardBits)]
}

// directRead is the size from which a read goes to the file in one pread
// rather than page by page through the cache: a window of 64 KiB of each
// thread's stack searched for the fatal-signal handler's message, the
// sweep of anonymous memory. Their pages are read once, and as 16 reads
// of a page each (and 16 pages evicted) they were 1,024 preads of the
// 10,000-task core's 64 threads before the first answer.
const directRead = 4 * pageSize

// readAt fills p from the file at off. It returns how many bytes it copied
// and, when that is short of len(p), why.
func (pc *pageCache) readAt(p []byte, off int64) (int, error) {
	n := 0
	if len(p) >= directRead && off >= 0 && off < pc.size {
		// The part within the file, in one read; a short or failed read
		// is done again page by page, for the cache's own errors.
		m := int(min(int64(len(p)), pc.size-off))
		if k, err := pc.r.ReadAt(p[:m], off); err == nil && k == m {
			n = m
		}
	}
	for n < len(p) {
		o := off + int64(n)
		if o < 0 || o >= pc.size {
			return n, io.ErrUnexpectedEOF
		}
		pn, in := o>>pageShift, int(o&(pageSize-1))
		sh := pc.shardOf(pn)
		sh.mu.Lock()
		b, err := pc.page(sh, pn)
		k := 0
		if in < len(b) {
			k = copy(p[n:], b[in:])
		}
		sh.mu.Unlock()
		n += k
		if err != nil {
			return n, err
		}
		if k == 0 {
			return n, io.ErrUnexpectedEOF
		}
	}
	return n, nil
}

// page returns the bytes of page pn, reading them on a miss. sh is locked;
// the bytes are valid while it stays locked. On an error it returns the
// bytes that were read (not cached).
func (pc *pageCache) page(sh *cacheShard, pn int64) ([]byte, error) {
	if sh.closed {
		return nil, errCacheClosed
	}
	if s, ok := sh.index[pn]; ok {
		sh.ref[s] = true
		return sh.buf[s], nil
	}
	if sh.page == nil {
		sh.fill(pc.perShard)
	}
	s := sh.victim()
	if old := sh.page[s]; old >= 0 {
		delete(sh.index, old)
		sh.page[s] = -1
	}
	if sh.buf[s] == nil {
		if pc.slab != nil {
			i := (s*cacheShards + sh.id) * pageSize
			sh.buf[s] = pc.slab.b[i : i+pageSize : i+pageSize]
		} else {
			sh.buf[s] = make([]byte, pageSize)
		}
	}
	want := int(min(pageSize, pc.size-pn<<pageShift)) // the file's last page may be short
	b := sh.buf[s][:want]
	sh.buf[s] = b
	// Read under the shard's lock: no two goroutines read the same page,
	// and Close (which takes every shard's lock) never closes the file
	// under a read. A read of another page of this shard waits meanwhile:
	// one pread from the kernel's page cache, or, for a core not in it,
	// one read from the disk (see coreFile).
	k, err := pc.r.ReadAt(b, pn<<pageShift)
	if k < want {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF // the file shrank since it was opened
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("%w: %s is shorter than when it was opened (%d bytes)", errShrank, pc.name, pc.size)
		}
		return b[:k], fmt.Errorf("reading %s at %#x: %w", pc.name, pn<<pageShift+int64(k), err)
	}
	sh.page[s], sh.ref[s] = pn, false
	sh.index[pn] = int32(s)
	return b, nil
}

// victim picks the slot to fill: a free one, else the first the clock hand
// finds not referenced since it last passed (clearing marks on its way).
func (sh *cacheShard) victim() int {
	for {
		s := sh.hand
		sh.hand++
		if sh.hand == len(sh.page) {
			sh.hand = 0
		}
		if sh.page[s] < 0 || !sh.ref[s] {
			return s
		}
		sh.ref[s] = false
	}
}

// close drops every page; reads from then on fail.
func (pc *pageCache) close() {
	for i := range pc.shards {
		sh := &pc.shards[i]
		sh.mu.Lock()
		sh.closed = true
		sh.index, sh.page, sh.ref, sh.buf = nil, nil, nil, nil
		sh.mu.Unlock()
	}
	// Every shard is closed: no read copies from a slot any more.
	pc.slab.free()
}

// resident counts the cached pages and the page buffers allocated (tests).
func (pc *pageCache) resident() (pages, bufs int) {
	for i := range pc.shards {
		sh := &pc.shards[i]
		sh.mu.Lock()
		pages += len(sh.index)
		for _, b := range sh.buf {
			if b != nil {
				bufs++
			}
		}
		sh.mu.Unlock()
	}
	return pages, bufs
}
