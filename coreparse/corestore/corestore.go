// Package corestore finds core files: in paths, directories (recursively),
// globs and systemd-coredump's store, compressed or not, and gives each a
// plain local file to open, decompressing into a cache, never beside the
// original.
package corestore

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dsecore/dsecore/internal/cachefile"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
)

// Input is one core file found.
type Input struct {
	Path        string    // as found
	Size        int64     // of the file as found (compressed size when compressed)
	MTime       time.Time // of the file as found
	Time        time.Time // when the process crashed: systemd-coredump's timestamp, else MTime
	Compression string    // "", "zst", "lz4", "xz"
	Node        string    // the node directory the core was found under, if any
}

// Options filter what Collect returns.
type Options struct {
	Since, Until time.Time // zero: no bound
}

var compressed = map[string]string{".zst": "zst", ".lz4": "lz4", ".xz": "xz"}

// systemd-coredump: core.COMM.UID.BOOTID.PID.USEC[.zst|.lz4|.xz]
var systemdName = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^core\.(.+)\.(\d+)\.([0-9a-f]{32})\.(\d+)\.(\d{10,19})(\.(zst|lz4|xz))?$`)
})

// Collect finds the cores named by args. Problems with one argument (a
// missing path, an unreadable directory) are returned as errors beside the
// inputs found; a directory that holds no core is not an error.
func Collect(args []string, o Options) ([]Input, []error) {
	var out []Input
	var errs []error
	seen := map[string]bool{}
	add := func(path, root string) {
		abs, err := filepath.Abs(path)
		if err != nil || seen[abs] {
			return
		}
		in, ok, err := inspect(abs)
		if err != nil {
			errs = append(errs, err)
			return
		}
		if !ok {
			return
		}
		seen[abs] = true
		if root != "" {
			if rel, err := filepath.Rel(root, abs); err == nil {
				if parts := strings.Split(rel, string(filepath.Separator)); len(parts) > 1 {
					in.Node = parts[0]
				}
			}
		}
		if !o.Since.IsZero() && in.Time.Before(o.Since) || !o.Until.IsZero() && in.Time.After(o.Until) {
			return
		}
		out = append(out, in)
	}
	for _, a := range args {
		paths := []string{a}
		if _, err := os.Stat(a); err != nil && strings.ContainsAny(a, "*?[") {
			m, gerr := filepath.Glob(a)
			if gerr != nil {
				errs = append(errs, fmt.Errorf("%s: %v", a, gerr))
				continue
			}
			if len(m) == 0 {
				errs = append(errs, fmt.Errorf("%s: no file matches", a))
				continue
			}
			paths = m
		}
		for _, p := range paths {
			st, err := os.Stat(p)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if !st.IsDir() {
				add(p, "")
				continue
			}
			root, _ := filepath.Abs(p)
			walk(p, func(q string) { add(q, root) }, func(err error) { errs = append(errs, err) })
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, errs
}

// maxWalkDepth bounds how deep walk goes below a directory given.
const maxWalkDepth = 64

// walk calls file for every regular file under dir, following symbolic
// links to files and to directories (a core directory is often a tree of
// links to where the cores are) with loop protection: a directory already
// walked (by device and inode) is not walked again.
func walk(dir string, file func(string), fail func(error)) {
	seen := map[[2]uint64]bool{}
	var rec func(d string, depth int)
	rec = func(d string, depth int) {
		st, err := os.Stat(d)
		if err != nil {
			fail(err)
			return
		}
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			k := [2]uint64{uint64(sys.Dev), sys.Ino}
			if seen[k] {
				return // a loop, or a directory reached twice
			}
			seen[k] = true
		}
		if depth > maxWalkDepth {
			fail(fmt.Errorf("%s: more than %d directories deep: not searched", d, maxWalkDepth))
			return
		}
		ents, err := os.ReadDir(d)
		if err != nil {
			fail(err)
			return
		}
		for _, e := range ents {
			q := filepath.Join(d, e.Name())
			typ := e.Type()
			if typ&fs.ModeSymlink != 0 {
				st, err := os.Stat(q)
				if err != nil {
					continue // a dangling link
				}
				typ = st.Mode().Type()
			}
			switch {
			case typ.IsDir():
				rec(q, depth+1)
			case typ.IsRegular():
				file(q)
			}
		}
	}
	rec(dir, 0)
}

// inspect says whether path is a core: an ELF core, or a compressed file
// named like one (core*, *.core.*, systemd-coredump's names).
func inspect(path string) (Input, bool, error) {
	st, err := os.Stat(path)
	if err != nil {
		return Input{}, false, err
	}
	in := Input{Path: path, Size: st.Size(), MTime: st.ModTime(), Time: st.ModTime()}
	base := filepath.Base(path)
	if m := systemdName().FindStringSubmatch(base); m != nil {
		if us, err := strconv.ParseInt(m[5], 10, 64); err == nil {
			in.Time = time.UnixMicro(us)
		}
	}
	if c, ok := compressed[filepath.Ext(base)]; ok {
		if !strings.HasPrefix(base, "core") && !strings.Contains(base, ".core") {
			return in, false, nil
		}
		in.Compression = c
		return in, true, nil
	}
	f, err := os.Open(path)
	if err != nil {
		// An unreadable file named like a core is reported; others are not
		// ours to judge.
		if strings.HasPrefix(base, "core") {
			return in, false, err
		}
		return in, false, nil
	}
	defer f.Close()
	var hdr [18]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		if strings.HasPrefix(base, "core") {
			return in, true, nil // a truncated core: the summary says what is wrong
		}
		return in, false, nil
	}
	if bytes.Equal(hdr[:4], []byte("\x7fELF")) {
		typ := uint16(hdr[16]) | uint16(hdr[17])<<8
		if hdr[5] == 2 {
			typ = uint16(hdr[16])<<8 | uint16(hdr[17])
		}
		return in, typ == 4, nil // ET_CORE
	}
	// Named like a core but not ELF: reported by the summary, not skipped.
	return in, base == "core" || strings.HasPrefix(base, "core."), nil
}

// ErrTooLarge is returned when a decompressed core exceeds the limit.
var ErrTooLarge = errors.New("decompressed core exceeds the size limit")

// Local returns a plain file for the input: the file itself, or its
// decompressed copy in the cache's cores directory (made once, reused
// while the original's size and time are unchanged), at most maxSize
// bytes (0: no limit).
func (in Input) Local(cache *cachefile.Cache, maxSize int64) (string, error) {
	if in.Compression == "" {
		return in.Path, nil
	}
	if cache == nil {
		return "", fmt.Errorf("%s: a compressed core needs a cache directory", in.Path)
	}
	key := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%d\x00%d", in.Path, in.Size, in.MTime.UnixNano())))
	dir := cache.Dir("cores")
	// Sealed (v2): the core, then its blocks' checksums (internal/cachefile),
	// all checked before it is used; a copy that does not check out is
	// decompressed again, with a warning.
	dst := filepath.Join(dir, hex.EncodeToString(key[:12])+".core-v2")
	if st, err := os.Stat(dst); err == nil && st.Mode().IsRegular() {
		if _, err := cachefile.VerifyFile(dst); err == nil {
			return dst, nil
		} else {
			cachefile.Warnf(dst, err)
		}
	}
	src, err := os.Open(in.Path)
	if err != nil {
		return "", err
	}
	defer src.Close()
	w, err := cache.Create("core", dst, true, 0)
	if err != nil {
		return "", err
	}
	if err := inflateInto(w, src, in.Compression, maxSize); err != nil {
		w.Abort()
		return "", fmt.Errorf("%s: %w", in.Path, err)
	}
	if err := w.Commit(); err != nil {
		return "", err
	}
	return dst, nil
}

// Decompress writes what src inflates to (compression "zst", "lz4" or
// "xz") into a new file in dir, at most maxSize bytes (0: no limit), and
// returns its name; nothing is left behind on an error. (The node agent's
// analysis child: a file of its own work directory, not the cache.)
func Decompress(src io.Reader, compression, dir string, maxSize int64) (string, error) {
	tmp, err := os.CreateTemp(dir, ".partial-*")
	if err != nil {
		return "", err
	}
	err = inflateInto(tmp, src, compression, maxSize)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	return tmp.Name(), nil
}

// inflateInto writes what src inflates to (compression "zst", "lz4" or
// "xz") into w, at most maxSize bytes (0: no limit; more is ErrTooLarge).
func inflateInto(w io.Writer, src io.Reader, compression string, maxSize int64) error {
	var r io.Reader
	switch compression {
	case "zst":
		d, err := zstd.NewReader(src, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<30))
		if err != nil {
			return fmt.Errorf("zstd: %w", err)
		}
		defer d.Close()
		r = d
	case "lz4":
		r = lz4.NewReader(src)
	case "xz":
		x, err := xz.NewReader(src)
		if err != nil {
			return fmt.Errorf("xz: %w", err)
		}
		r = x
	default:
		return fmt.Errorf("unknown compression %q", compression)
	}
	limit := maxSize
	if limit <= 0 {
		limit = 1 << 62
	}
	n, err := io.Copy(w, io.LimitReader(r, limit+1))
	switch {
	case err != nil:
		return fmt.Errorf("decompressing (%s): %w", compression, err)
	case n > limit:
		return fmt.Errorf("%w (%d bytes)", ErrTooLarge, limit)
	}
	return nil
}

// DefaultMaxSize bounds a decompressed core.
const DefaultMaxSize = 64 << 30

// Plain returns a path to open for a core given on a command line: the
// path itself, or for a .zst/.lz4/.xz core (systemd-coredump's) its
// decompressed copy in the cache.
func Plain(path string, cache *cachefile.Cache, maxSize int64) (string, error) {
	c, ok := compressed[filepath.Ext(path)]
	if !ok {
		return path, nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%s: not a regular file", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	in := Input{Path: abs, Size: st.Size(), MTime: st.ModTime(), Time: st.ModTime(), Compression: c}
	return in.Local(cache, maxSize)
}
