// Package cachefile is how dsecore writes and trusts its cache (inflated
// DWARF sections, symbol layouts and indexes, decompressed cores,
// debuginfod downloads, summarize's results), in one place:
//
//   - Where: under one root, a Cache handed in by whoever decides the
//     settings (session); by default the XDG base-directory rules
//     ($XDG_CACHE_HOME/dsecore when that is an absolute path, a relative
//     one is ignored; else $HOME/.cache/dsecore, DefaultRoot), and
//     nothing is created outside the root: a missing $HOME is not made
//     (Cache.MkdirAll).
//   - How: a file is written to a temporary file beside it (".tmp-*"),
//     locked (flock) while it is written, and renamed when whole: a
//     reader never sees half a file. A run killed meanwhile leaves its
//     temporary file unlocked, and the next run that reads or writes in
//     that directory removes it (CleanTemps); a live writer's is locked
//     and kept.
//   - Trust: a sealed file ends with a trailer holding the CRC-32C of
//     each 1 MiB block of its contents (Verify); one that does not check
//     out is not used, it is rebuilt from its source, and the run says so
//     once (Warnf, Warnings). (The symbol layout and the DWARF indexes
//     carry their own CRC-32: they are written plain.) A file checked
//     whole once is not checked whole again while its stamp is the one
//     its marker recorded (Checked, VerifyOpenOnce).
//
// The chaos tests stop a run in the middle of a write: each write passes
// the point "cache-write:KIND" (internal/chaos) when half of it is written.
package cachefile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/dsecore/dsecore/internal/chaos"
)

// DefaultRoot is the cache root of the XDG base-directory specification:
// $XDG_CACHE_HOME/dsecore when $XDG_CACHE_HOME is set to an absolute path
// (the specification says a relative one is invalid and to be ignored),
// else $HOME/.cache/dsecore when $HOME is absolute, else "" (no cache).
func DefaultRoot() string {
	if x := os.Getenv("XDG_CACHE_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "dsecore")
	}
	if h := os.Getenv("HOME"); filepath.IsAbs(h) {
		return filepath.Join(h, ".cache", "dsecore")
	}
	return ""
}

// base is the directory that must already exist for root to be made:
// for the default root, the home directory (~/.cache is made when
// missing, as the specification says, never $HOME) or the parent of
// $XDG_CACHE_HOME; for another root, its parent.
func base(root string) string {
	if x := os.Getenv("XDG_CACHE_HOME"); filepath.IsAbs(x) {
		if root == filepath.Join(x, "dsecore") {
			return filepath.Dir(filepath.Clean(x))
		}
	} else if h := os.Getenv("HOME"); filepath.IsAbs(h) && root == filepath.Join(h, ".cache", "dsecore") {
		return filepath.Clean(h)
	}
	return filepath.Dir(root)
}

// Cache is one cache root, decided by whoever makes it (a session, from
// its options: a command's --cache-dir, else DefaultRoot) and handed to
// the packages that write under it. Its directories may be made inside
// it, and it itself when its parent exists; nothing above it. A nil
// *Cache is no cache: Dir is "" and nothing is written.
type Cache struct {
	root string
}

// New returns the cache rooted at root (nil when root is "").
func New(root string) *Cache {
	if root == "" {
		return nil
	}
	return &Cache{root: filepath.Clean(root)}
}

// Root is the cache's root directory ("" for no cache).
func (c *Cache) Root() string {
	if c == nil {
		return ""
	}
	return c.root
}

// Dir is the directory elem under the root ("" for no cache).
func (c *Cache) Dir(elem ...string) string {
	if c == nil {
		return ""
	}
	return filepath.Join(append([]string{c.root}, elem...)...)
}

// inside says whether dir is the root or below it.
func (c *Cache) inside(dir string) bool {
	return c != nil && (dir == c.root || strings.HasPrefix(dir, c.root+string(filepath.Separator)))
}

// MkdirAll creates a directory of the cache (mode 0700 for the root, as
// the XDG specification says, 0755 below it). It creates nothing outside
// the cache's root: the directory above the root (for the default root,
// the home directory) must exist, and a directory outside the root is
// refused unless it exists.
func (c *Cache) MkdirAll(dir string) error {
	dir = filepath.Clean(dir)
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return nil
	}
	if !c.inside(dir) {
		return fmt.Errorf("%s: not in a cache directory: not created", dir)
	}
	root := c.root
	b := base(root)
	if st, err := os.Stat(b); err != nil || !st.IsDir() {
		return fmt.Errorf("cache %s: %s does not exist: nothing is created there", root, b)
	}
	rel, err := filepath.Rel(b, dir)
	if err != nil {
		return err
	}
	cur := b
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		cur = filepath.Join(cur, part)
		mode := os.FileMode(0o755)
		if len(cur) <= len(root) {
			mode = 0o700
		}
		if err := os.Mkdir(cur, mode); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	return nil
}

// tempPrefixes name the temporary files of the cache's writers (".partial-"
// is what earlier versions wrote decompressed cores and downloads to).
var tempPrefixes = []string{".tmp-", ".partial-"}

var cleaned sync.Map // dir → *sync.Once: CleanTemps runs (ran) there

// CleanTemps removes, once per directory in a run, the temporary files a
// killed run left in dir: those no live writer holds locked. A caller that
// comes while another cleans dir waits until it is done: a writer of this
// run creates its temporary file only then (Create), never in the moment
// between its create and its lock while the cleaning could take the file
// for a killed run's. (libc's sections, inflated on both CPUs into one
// directory, lost one that way under load: TestSectionCache.)
func CleanTemps(dir string) {
	if dir == "" {
		return
	}
	o, _ := cleaned.LoadOrStore(dir, new(sync.Once))
	o.(*sync.Once).Do(func() { cleanTemps(dir) })
}

func cleanTemps(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || !slices.ContainsFunc(tempPrefixes, func(p string) bool { return strings.HasPrefix(e.Name(), p) }) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		// A writer holds its file locked until it renames it: a lock
		// taken here means its writer is gone (flock locks end with
		// their process, kill -9 included).
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			os.Remove(p)
		}
		f.Close()
	}
}

// Writer writes one cache file: to a locked temporary file beside it,
// renamed by Commit.
type Writer struct {
	kind, path string
	f          *os.File
	seal       *sealer // nil: plain
	half       int64   // chaos point after this many bytes (-1: passed)
	n          int64
}

// Create starts writing the cache file at path; kind names it for the
// chaos point ("section", "core", ...). A sealed file gets the trailer of
// its blocks' checksums (Verify reads it). expect, when known, is how
// many bytes will be written (the chaos point is at half of them; 0: after
// the first write).
func (c *Cache) Create(kind, path string, sealed bool, expect int64) (*Writer, error) {
	dir := filepath.Dir(path)
	if err := c.MkdirAll(dir); err != nil {
		return nil, err
	}
	CleanTemps(dir)
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return nil, err
	}
	// Locked until renamed: CleanTemps of another run keeps it. (Between
	// the create and the lock another run may take it for a killed run's
	// and remove it: this write is then lost, the rename fails.)
	syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
	w := &Writer{kind: kind, path: path, f: f, half: expect / 2}
	if sealed {
		w.seal = &sealer{}
	}
	return w, nil
}

// Write writes p to the file.
func (w *Writer) Write(p []byte) (int, error) {
	if w.half >= 0 && w.n+int64(len(p)) > w.half && chaos.Armed() {
		// The chaos tests' point: half of the file written.
		k := max(0, w.half-w.n)
		n, err := w.write(p[:k])
		if err != nil {
			return n, err
		}
		w.half = -1
		chaos.At("cache-write:" + w.kind)
		m, err := w.write(p[k:])
		return n + m, err
	}
	return w.write(p)
}

func (w *Writer) write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if w.seal != nil {
		w.seal.add(p[:n])
	}
	w.n += int64(n)
	return n, err
}

// Commit ends the file (its trailer when sealed) and puts it in place.
func (w *Writer) Commit() error {
	var err error
	if w.seal != nil {
		_, err = w.f.Write(w.seal.trailer())
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(w.f.Name(), w.path)
	}
	if err != nil {
		os.Remove(w.f.Name())
	}
	return err
}

// Name is the temporary file's name (what is written so far can be read
// there before Commit).
func (w *Writer) Name() string { return w.f.Name() }

// Abort drops the file.
func (w *Writer) Abort() {
	w.f.Close()
	os.Remove(w.f.Name())
}

// Write writes parts, one after the other, as the cache file at path.
func (c *Cache) Write(kind, path string, sealed bool, parts ...[]byte) error {
	var n int64
	for _, b := range parts {
		n += int64(len(b))
	}
	w, err := c.Create(kind, path, sealed, n)
	if err != nil {
		return err
	}
	for _, b := range parts {
		if _, err := w.Write(b); err != nil {
			w.Abort()
			return err
		}
	}
	return w.Commit()
}

// BlockSize is the size of the blocks a sealed file checksums one by one.
const BlockSize = 1 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// The trailer of a sealed file, after its contents:
//
//	u32 CRC-32C of each BlockSize block of the contents (the last may be short)
//	u64 size of the contents
//	u32 BlockSize
//	u32 CRC-32C of the trailer up to here
//	"dsecsum1"
const trailerMagic = "dsecsum1"

type sealer struct {
	sums []uint32
	cur  uint32
	in   int // bytes of the current block
}

func (s *sealer) add(p []byte) {
	for len(p) > 0 {
		k := min(len(p), BlockSize-s.in)
		s.cur = crc32.Update(s.cur, castagnoli, p[:k])
		s.in += k
		p = p[k:]
		if s.in == BlockSize {
			s.sums = append(s.sums, s.cur)
			s.cur, s.in = 0, 0
		}
	}
}

func (s *sealer) trailer() []byte {
	sums := s.sums
	size := uint64(len(sums)) * BlockSize
	if s.in > 0 {
		sums = append(sums, s.cur)
		size += uint64(s.in)
	}
	le := binary.LittleEndian
	var b []byte
	for _, c := range sums {
		b = le.AppendUint32(b, c)
	}
	b = le.AppendUint64(b, size)
	b = le.AppendUint32(b, BlockSize)
	b = le.AppendUint32(b, crc32.Checksum(b, castagnoli))
	return append(b, trailerMagic...)
}

// ErrDamaged is wrapped by every error of a sealed file that does not
// check out.
var ErrDamaged = errors.New("damaged cache file")

// trailerOf reads the trailer at the end of a sealed file of n bytes
// through at: the contents' size and its blocks' checksums.
func trailerOf(at func(off, n int64) ([]byte, error), n int64) (size int64, sums []uint32, err error) {
	const fixed = 8 + 4 + 4 + len(trailerMagic)
	if n < int64(fixed) {
		return 0, nil, fmt.Errorf("%w: %d bytes, no trailer", ErrDamaged, n)
	}
	tail, err := at(n-int64(fixed), int64(fixed))
	if err != nil {
		return 0, nil, err
	}
	le := binary.LittleEndian
	if string(tail[16:]) != trailerMagic {
		return 0, nil, fmt.Errorf("%w: no trailer", ErrDamaged)
	}
	size, bs := int64(le.Uint64(tail)), int64(le.Uint32(tail[8:]))
	if bs != BlockSize || size < 0 || size > n {
		return 0, nil, fmt.Errorf("%w: bad trailer", ErrDamaged)
	}
	nb := (size + BlockSize - 1) / BlockSize
	if size+4*nb+int64(fixed) != n {
		return 0, nil, fmt.Errorf("%w: %d bytes, the trailer says %d", ErrDamaged, n, size+4*nb+int64(fixed))
	}
	raw, err := at(size, 4*nb+12)
	if err != nil {
		return 0, nil, err
	}
	if crc32.Checksum(raw, castagnoli) != le.Uint32(tail[12:]) {
		return 0, nil, fmt.Errorf("%w: trailer checksum", ErrDamaged)
	}
	sums = make([]uint32, nb)
	for i := range sums {
		sums[i] = le.Uint32(raw[4*i:])
	}
	return size, sums, nil
}

// ContentSize is the size of a sealed file's contents when f is one whose
// trailer checks out (its blocks unchecked), else ok is false: a reader of
// a decompressed core stops there.
func ContentSize(f *os.File) (size int64, ok bool) {
	st, err := f.Stat()
	if err != nil {
		return 0, false
	}
	size, _, err = trailerOf(preadAt(f), st.Size())
	return size, err == nil
}

// Blocks is a sealed file's contents and its blocks' checksums.
type Blocks struct {
	Data []byte
	sums []uint32
}

// Sealed reads the trailer of a sealed file held in b (a mapping):
// the contents and their blocks' checksums, not yet verified.
func Sealed(b []byte) (*Blocks, error) {
	at := func(off, n int64) ([]byte, error) { return b[off : off+n], nil }
	size, sums, err := trailerOf(at, int64(len(b)))
	if err != nil {
		return nil, err
	}
	return &Blocks{Data: b[:size], sums: sums}, nil
}

// Verify checks block i's checksum.
func (bl *Blocks) Verify(i int) error {
	lo := int64(i) * BlockSize
	hi := min(lo+BlockSize, int64(len(bl.Data)))
	if crc32.Checksum(bl.Data[lo:hi], castagnoli) != bl.sums[i] {
		return fmt.Errorf("%w: block %d (bytes %#x-%#x) does not match its checksum", ErrDamaged, i, lo, hi)
	}
	return nil
}

// Len is the number of blocks.
func (bl *Blocks) Len() int { return len(bl.sums) }

// ReadSealed reads a small sealed file whole and returns its verified
// contents.
func ReadSealed(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	CleanTemps(filepath.Dir(path))
	bl, err := Sealed(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for i := 0; i < bl.Len(); i++ {
		if err := bl.Verify(i); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return bl.Data, nil
}

// VerifyFile checks a sealed file block by block with pread (a
// decompressed core, a download: never mapped, never read whole into
// memory), unless a marker vouches for it (VerifyOpenOnce), and returns
// the size of its contents; errors name the file.
func VerifyFile(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	CleanTemps(filepath.Dir(path))
	size, err := VerifyOpenOnce(path, f)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return size, nil
}

// preadAt reads n bytes of f at off for trailerOf; a short read is damage.
func preadAt(f *os.File) func(off, n int64) ([]byte, error) {
	return func(off, n int64) ([]byte, error) {
		b := make([]byte, n)
		if _, err := f.ReadAt(b, off); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrDamaged, err)
		}
		return b, nil
	}
}

// verifyBufs are VerifyOpen's read buffers (a quarter block: the bytes
// read are checksummed while in the CPU's cache).
var verifyBufs = sync.Pool{New: func() any { b := make([]byte, BlockSize/4); return &b }}

// VerifyOpen checks an open sealed file as Sealed and every Blocks.Verify
// of its mapping would, with the same errors, and returns its contents'
// size: the contents are read with pread into a reused buffer, so a
// caller that maps the file afterwards has touched none of its pages
// (checking a mapping faults every page in, and letting them go costs
// the TLB: libc's 9 MiB of inflated sections cost a warm first answer
// ~8 ms so).
func VerifyOpen(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size, sums, err := trailerOf(preadAt(f), st.Size())
	if err != nil {
		return 0, err
	}
	pb := verifyBufs.Get().(*[]byte)
	defer verifyBufs.Put(pb)
	buf := *pb
	for i, want := range sums {
		lo := int64(i) * BlockSize
		hi := min(lo+BlockSize, size)
		var sum uint32
		for off := lo; off < hi; {
			n, err := f.ReadAt(buf[:min(int64(len(buf)), hi-off)], off)
			if n == 0 {
				return 0, fmt.Errorf("%w: %v", ErrDamaged, err)
			}
			sum = crc32.Update(sum, castagnoli, buf[:n])
			off += int64(n)
		}
		if sum != want {
			return 0, fmt.Errorf("%w: block %d (bytes %#x-%#x) does not match its checksum", ErrDamaged, i, lo, hi)
		}
	}
	return size, nil
}

var warned struct {
	sync.Mutex
	seen map[string]bool
	l    []string
}

// Warnf records that a cache file did not check out and is rebuilt: once
// per file in a run (Warnings lists them for a face to show).
func Warnf(path string, err error) {
	warned.Lock()
	defer warned.Unlock()
	if warned.seen == nil {
		warned.seen = map[string]bool{}
	}
	if warned.seen[path] {
		return
	}
	warned.seen[path] = true
	msg := err.Error()
	if !strings.Contains(msg, path) {
		msg = path + ": " + msg
	}
	warned.l = append(warned.l, "cache file "+msg+": rebuilt from its source")
}

// Warnings are the cache files found damaged in this run.
func Warnings() []string {
	warned.Lock()
	defer warned.Unlock()
	return append([]string(nil), warned.l...)
}
