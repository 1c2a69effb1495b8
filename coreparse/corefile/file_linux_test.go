package corefile

import (
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/testenv"
	"golang.org/x/sys/unix"
)

// TestPagedColdCore: a core the kernel no longer holds in its page cache
// reads the same, through the cold path (preadv2 says EAGAIN, the window is
// read around the page); of two pages at the ends of a window only the
// first has the window read (the second, read or still in flight, is
// waited for: the kernel reads the window asynchronously, so a page of it
// may not be there yet). (The kernel's own readahead may read the
// window too, so this does not show the window's worth: the cold runs of
// bt --all-tasks on the 10,000-task core do.)
func TestPagedColdCore(t *testing.T) {
	const size = 16 << 20
	data := synthCore(size, []synthSeg{{vaddr: 0x1000000, off: 0x1000, filesz: size - 0x1000, memsz: size - 0x1000}})
	path := filepath.Join(t.TempDir(), "core")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(data)
	f.Sync() // clean pages: FADV_DONTNEED drops only those
	unix.Fadvise(int(f.Fd()), 0, size, unix.FADV_DONTNEED)
	f.Close()
	want, err := NewCore(path, data)
	if err != nil {
		t.Fatal(err)
	}
	got := openCache(t, path, DefaultCacheBytes)
	windows := rand.New(rand.NewSource(4)).Perm(size / int(readAround))
	for _, w := range windows[1:] { // not the first: it holds the headers, read at Open
		for _, in := range []int{2 * pageSize, int(readAround) - 2*pageSize} {
			sameRead(t, got, want, 0x1000000+uint64(w*int(readAround)+in-0x1000), 16)
		}
	}
	cf := got.pages.r.(*coreFile)
	if !cf.noWait.Load() {
		testenv.SkipOrFail(t, "preadv2(RWF_NOWAIT) is not supported on %s's filesystem: every miss is a plain pread, the cold path is not tested", path)
	}
	if n := cf.cold.Load(); n == 0 || n > int64(len(windows)) {
		t.Errorf("%d of %d reads found their page not in the page cache: want one a window, %d", n, 2*(len(windows)-1), len(windows)-1)
	}
}
