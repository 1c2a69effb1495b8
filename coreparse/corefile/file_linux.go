package corefile

import (
	"errors"
	"os"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// readAround is how much of the core around a page the kernel does not
// hold yet is read from the disk with it (an aligned window). Measured on
// the 10,000-task core evicted from the page cache, bt --all --all-tasks,
// median of 7 on a busy 2-CPU machine: without it 1.53 s (47 MiB read from
// the disk, 4 KiB at a time); 128 KiB 1.34 s (329 MiB); 512 KiB 0.93 s
// (354 MiB); 2 MiB 0.87 s (452 MiB); 8 MiB 1.00 s (the whole core); the
// mapping 1.27 s (the whole core). 512 KiB: nearly the best time for a
// quarter less reading than 2 MiB.
const readAround int64 = 512 << 10

// coreFile is the core file as the page cache reads it: pread(2), except
// that a page not yet in the kernel's page cache (a core just copied in, or
// evicted) is read with the readAround bytes around it, as the kernel reads
// around a fault of a mapping. Without it every first touch of a cold core
// would be a 4 KiB read from the disk of its own.
type coreFile struct {
	f      *os.File
	rc     syscall.RawConn
	noWait atomic.Bool  // preadv2(RWF_NOWAIT) works on this file
	cold   atomic.Int64 // windows read from the disk around a page (tests)
	// advised remembers the windows lately asked for (window number + 1,
	// direct-mapped): a page of a window whose read is still in flight
	// (the kernel reads it asynchronously) is waited for, not asked for
	// again.
	advised [64]atomic.Int64
}

func newCoreFile(f *os.File) *coreFile {
	cf := &coreFile{f: f}
	if rc, err := f.SyscallConn(); err == nil {
		cf.rc = rc
		cf.noWait.Store(readAround > 0)
	}
	return cf
}

func (cf *coreFile) ReadAt(p []byte, off int64) (int, error) {
	if cf.noWait.Load() {
		// Without waiting for the disk: a page the kernel holds (the usual
		// case) is read by this one call.
		// (Control, not Read: RawConn.Read holds the descriptor's read
		// lock, which would serialize the unwinds' reads.)
		n, err := -1, error(nil)
		cerr := cf.rc.Control(func(fd uintptr) {
			n, err = unix.Preadv2(int(fd), [][]byte{p}, off, unix.RWF_NOWAIT)
		})
		switch {
		case cerr != nil:
			return 0, cerr // closed
		case err == nil && n == len(p):
			return n, nil
		case err == nil || errors.Is(err, syscall.EAGAIN):
			// Not (all) in the page cache: have the kernel read the
			// neighbourhood, then wait for this page below.
			w := off / readAround
			if slot := &cf.advised[w%int64(len(cf.advised))]; slot.Swap(w+1) != w+1 {
				cf.cold.Add(1)
				cf.rc.Control(func(fd uintptr) {
					unix.Fadvise(int(fd), w*readAround, readAround, unix.FADV_WILLNEED)
				})
			}
		case errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOSYS):
			cf.noWait.Store(false) // an old kernel, a file system without it
		}
	}
	return cf.f.ReadAt(p, off)
}
