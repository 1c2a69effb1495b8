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
	"time"

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
			werr := filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
				if err != nil {
					errs = append(errs, err)
					if d != nil && d.IsDir() {
						return fs.SkipDir
					}
					return nil
				}
				if d.Type().IsRegular() {
					add(q, root)
				}
				return nil
			})
			if werr != nil {
				errs = append(errs, werr)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, errs
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
// decompressed copy in cacheDir (made once, reused while the original's
// size and time are unchanged), at most maxSize bytes (0: no limit).
func (in Input) Local(cacheDir string, maxSize int64) (string, error) {
	if in.Compression == "" {
		return in.Path, nil
	}
	if cacheDir == "" {
		return "", fmt.Errorf("%s: a compressed core needs a cache directory", in.Path)
	}
	key := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%d\x00%d", in.Path, in.Size, in.MTime.UnixNano())))
	dir := filepath.Join(cacheDir, "cores")
	dst := filepath.Join(dir, hex.EncodeToString(key[:12])+".core")
	if st, err := os.Stat(dst); err == nil && st.Mode().IsRegular() {
		return dst, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	src, err := os.Open(in.Path)
	if err != nil {
		return "", err
	}
	defer src.Close()
	tmp, err := Decompress(src, in.Compression, dir, maxSize)
	if err != nil {
		return "", fmt.Errorf("%s: %w", in.Path, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return dst, nil
}

// Decompress writes what src inflates to (compression "zst", "lz4" or
// "xz") into a new file in dir, at most maxSize bytes (0: no limit), and
// returns its name; nothing is left behind on an error.
func Decompress(src io.Reader, compression, dir string, maxSize int64) (string, error) {
	var r io.Reader
	switch compression {
	case "zst":
		d, err := zstd.NewReader(src, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<30))
		if err != nil {
			return "", fmt.Errorf("zstd: %w", err)
		}
		defer d.Close()
		r = d
	case "lz4":
		r = lz4.NewReader(src)
	case "xz":
		x, err := xz.NewReader(src)
		if err != nil {
			return "", fmt.Errorf("xz: %w", err)
		}
		r = x
	default:
		return "", fmt.Errorf("unknown compression %q", compression)
	}
	tmp, err := os.CreateTemp(dir, ".partial-*")
	if err != nil {
		return "", err
	}
	limit := maxSize
	if limit <= 0 {
		limit = 1 << 62
	}
	n, err := io.Copy(tmp, io.LimitReader(r, limit+1))
	cerr := tmp.Close()
	switch {
	case err != nil:
		err = fmt.Errorf("decompressing (%s): %w", compression, err)
	case cerr != nil:
		err = cerr
	case n > limit:
		err = fmt.Errorf("%w (%d bytes)", ErrTooLarge, limit)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	return tmp.Name(), nil
}

// DefaultCacheDir is where decompressed cores go unless told otherwise:
// $XDG_CACHE_HOME/dsecore (~/.cache/dsecore).
func DefaultCacheDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "dsecore")
	}
	return filepath.Join(os.TempDir(), "dsecore-cache")
}

// DefaultMaxSize bounds a decompressed core.
const DefaultMaxSize = 64 << 30

// Plain returns a path to open for a core given on a command line: the
// path itself, or for a .zst/.lz4/.xz core (systemd-coredump's) its
// decompressed copy in cacheDir.
func Plain(path, cacheDir string, maxSize int64) (string, error) {
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
	return in.Local(cacheDir, maxSize)
}
