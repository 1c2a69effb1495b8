package cachefile

import (
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dsecore/dsecore/internal/mmap"
)

// A cache file checked whole once need not be checked whole by every run:
// a marker beside it (".NAME.verified": hidden, and matched by no glob
// of the cache's own names, "*.core-v2") records the file's stamp (device,
// inode, size, modification and change times) as it was when every byte
// checked out, and a later run that finds the file with that very stamp
// trusts it without reading it again. A write through the kernel (write,
// truncate, a writable mapping, a rename of another file over it) moves
// the change time, which no one can set back, so the stamp differs and
// the file is checked whole again. What the marker cannot see is a change
// below the file system (bit rot, a raw write to the disk); see
// docs/reliability.md for why that is left to the file system.
//
// A write in the same tick of the file system's clock as the file's last
// change leaves the change time as it was (racy: git's index meets the
// same problem with mtimes). So the marker is written only when the check
// began a racy window after the file's last change by this machine's
// clock: any write after the check then falls in a later tick. The
// kernel stamps a change with its coarse clock (one timer tick, at most
// 10 ms, behind the clock read here) cut to the file system's
// granularity: nanoseconds on ext4, XFS, btrfs and tmpfs, where 50 ms is
// the window; a whole second on ext3 and two on FAT, whose change times
// have no nanoseconds, as 1 in 10^9 of the others' by chance: 2 s then.

// racyFine and racyCoarse are the racy windows of a change time with
// nanoseconds and of one without.
var (
	racyFine   = 50 * time.Millisecond
	racyCoarse = 2 * time.Second
)

// racyWindow is the racy window of a file whose change time is ctime
// (nanoseconds since the epoch).
func racyWindow(ctime int64) time.Duration {
	if ctime%int64(time.Second) == 0 {
		return racyCoarse
	}
	return racyFine
}

// wholeChecks counts the whole checks made (a test's view of whether a
// marker was trusted).
var wholeChecks atomic.Int64

const vouchMagic = "dsecvok1"

// markerPath is the marker of the cache file at path.
func markerPath(path string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".verified")
}

func encodeStamp(s mmap.Stamp) []byte {
	le := binary.LittleEndian
	b := append([]byte(nil), vouchMagic...)
	for _, v := range []uint64{s.Dev, s.Ino, uint64(s.Size), uint64(s.Mtime), uint64(s.Ctime)} {
		b = le.AppendUint64(b, v)
	}
	return le.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// stampOf is the stamp of the open file f.
func stampOf(f *os.File) (mmap.Stamp, bool) {
	st, err := f.Stat()
	if err != nil {
		return mmap.Stamp{}, false
	}
	return mmap.StampOf(st), true
}

// vouched says whether a marker vouches for the file at path, open as f,
// as it is now; the file's stamp (ok false when it cannot be had).
func vouched(path string, f *os.File) (s mmap.Stamp, trusted, ok bool) {
	s, ok = stampOf(f)
	if !ok {
		return s, false, false
	}
	return s, readMarker(markerPath(path)) == string(encodeStamp(s)), true
}

// readMarker is the marker at path ("" when there is none), read with
// three system calls (os.ReadFile's file is registered with the poller
// and read twice: a warm run reads ~25 markers).
func readMarker(path string) string {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return ""
	}
	defer syscall.Close(fd)
	var b [2*len(vouchMagic) + 5*8 + 4]byte
	n, err := syscall.Pread(fd, b[:], 0)
	if err != nil || n < 0 {
		return ""
	}
	return string(b[:n])
}

// vouch writes the marker of the file at path, open as f, whose every
// byte checked out in a check that began at start when the file's stamp
// was before: only when the stamp did not change meanwhile and the check
// began racyWindow after the file's last change. A marker that cannot be
// written costs the next run a whole check, nothing else.
func vouch(path string, f *os.File, before mmap.Stamp, start time.Time) {
	after, ok := stampOf(f)
	if !ok || after != before || start.UnixNano()-before.Ctime < int64(racyWindow(before.Ctime)) {
		return
	}
	var c *Cache // the directory exists: nothing is made
	c.Write("marker", markerPath(path), false, encodeStamp(before))
}

// Checked runs check, a check of every byte of the cache file at path
// (open as f), unless a marker vouches for the file as it is; a check
// that passes leaves a marker for the next run (vouch). trusted says the
// marker was trusted (check not run).
func Checked(path string, f *os.File, check func() error) (trusted bool, err error) {
	start := time.Now()
	before, trusted, ok := vouched(path, f)
	if trusted {
		return true, nil
	}
	wholeChecks.Add(1)
	if err := check(); err != nil {
		return false, err
	}
	if ok {
		vouch(path, f, before, start)
	}
	return false, nil
}

// VerifyOpenOnce is VerifyOpen of the sealed cache file at path, open as
// f, unless a marker vouches for it: then only its trailer is read (its
// own checksum checked) for the contents' size.
func VerifyOpenOnce(path string, f *os.File) (int64, error) {
	var size int64
	trusted, err := Checked(path, f, func() (err error) {
		size, err = VerifyOpen(f)
		return err
	})
	if err != nil || !trusted {
		return size, err
	}
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size, _, err = trailerOf(preadAt(f), st.Size())
	return size, err
}

// Settled says whether the file at path last changed a racy window ago
// (a whole check beginning now may leave a marker): a test waits for it.
func Settled(path string) bool {
	s, err := mmap.StampFile(path)
	return err == nil && time.Now().UnixNano()-s.Ctime >= int64(racyWindow(s.Ctime))
}

// MarkerPath is where the marker of the cache file at path is kept.
func MarkerPath(path string) string { return markerPath(path) }
