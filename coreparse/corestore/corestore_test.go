package corestore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dsecore/dsecore/internal/cachefile"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
)

// elfHeader is the first bytes of a 64-bit ELF file of type typ (4:
// ET_CORE), little- or big-endian.
func elfHeader(typ uint16, big bool) []byte {
	h := make([]byte, 64)
	copy(h, "\x7fELF")
	h[4] = 2 // ELFCLASS64
	h[5] = 1
	if big {
		h[5] = 2
		binary.BigEndian.PutUint16(h[16:], typ)
	} else {
		binary.LittleEndian.PutUint16(h[16:], typ)
	}
	return h
}

// compress is data in one of the formats systemd-coredump writes.
func compress(t *testing.T, kind string, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch kind {
	case "zst":
		w, err := zstd.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		w.Close()
	case "lz4":
		w := lz4.NewWriter(&buf)
		w.Write(data)
		w.Close()
	case "xz":
		w, err := xz.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		w.Close()
	}
	return buf.Bytes()
}

// content is a decompressed copy's contents: the sealed file checks out
// (internal/cachefile), and its contents are the core.
func content(t *testing.T, path string) []byte {
	t.Helper()
	n, err := cachefile.VerifyFile(path)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return nil
	}
	b, _ := os.ReadFile(path)
	return b[:n]
}

func write(t *testing.T, path string, data []byte, mtime time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if !mtime.IsZero() {
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCollect: what is a core (an ELF core, a compressed file named like
// one, a file named "core" or "core.*" that is not ELF), what is not (an
// executable, a text file, a compressed file with another name), where it
// was found (the node directory), when it crashed (systemd-coredump's
// timestamp), and the errors of missing paths and globs that match
// nothing, beside the cores found.
func TestCollect(t *testing.T) {
	dir := t.TempDir()
	old := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	core := append(elfHeader(4, false), make([]byte, 100)...)
	const usec = 1764590400123456 // 2025-12-01 12:00:00.123456 UTC
	sysd := "core.ceph-dse.0." + strings.Repeat("ab", 16) + ".4242.1764590400123456.zst"
	write(t, filepath.Join(dir, "node1", "core.1234"), core, old)
	write(t, filepath.Join(dir, "node1", "sub", "big-endian.core"), elfHeader(4, true), old)
	write(t, filepath.Join(dir, "node2", sysd), compress(t, "zst", core), old)
	write(t, filepath.Join(dir, "node2", "ceph-dse.core.lz4"), compress(t, "lz4", core), old)
	write(t, filepath.Join(dir, "node2", "core"), []byte("not elf, but named core"), old)
	write(t, filepath.Join(dir, "node2", "core.short"), []byte("\x7fEL"), old)
	write(t, filepath.Join(dir, "top-level.core"), core, old)
	// Not cores.
	write(t, filepath.Join(dir, "node1", "ceph-dse"), elfHeader(2, false), old)      // ET_EXEC
	write(t, filepath.Join(dir, "node1", "be-exec"), elfHeader(2, true), old)        // ET_EXEC, big-endian
	write(t, filepath.Join(dir, "node1", "notes.txt"), []byte("hello\n"), old)       // text
	write(t, filepath.Join(dir, "node1", "logs.zst"), compress(t, "zst", core), old) // not named like a core
	write(t, filepath.Join(dir, "node1", "short"), []byte("ab"), old)                // shorter than a header

	ins, errs := Collect([]string{dir, filepath.Join(dir, "no-such-dir"), filepath.Join(dir, "nothing-*.core")}, Options{})
	got := map[string]Input{}
	var names []string
	for _, in := range ins {
		rel, _ := filepath.Rel(dir, in.Path)
		got[rel] = in
		names = append(names, rel)
	}
	want := []string{"node1/core.1234", "node1/sub/big-endian.core", "node2/ceph-dse.core.lz4", "node2/core", "node2/" + sysd, "node2/core.short", "top-level.core"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("cores, in path order:\n %v\nwant\n %v", names, want)
	}
	for rel, node := range map[string]string{"node1/core.1234": "node1", "node1/sub/big-endian.core": "node1", "node2/" + sysd: "node2", "top-level.core": ""} {
		if got[rel].Node != node {
			t.Errorf("%s: node %q, want %q", rel, got[rel].Node, node)
		}
	}
	if s := got["node2/"+sysd]; s.Compression != "zst" || !s.Time.Equal(time.UnixMicro(usec)) || !s.MTime.Equal(old) || s.Size != int64(len(compress(t, "zst", core))) {
		t.Errorf("systemd-coredump's core: %+v", s)
	}
	if c := got["node1/core.1234"]; c.Compression != "" || !c.Time.Equal(old) || c.Size != int64(len(core)) || !filepath.IsAbs(c.Path) {
		t.Errorf("plain core: %+v", c)
	}
	if got["node2/ceph-dse.core.lz4"].Compression != "lz4" {
		t.Errorf("lz4 core: %+v", got["node2/ceph-dse.core.lz4"])
	}
	var es []string
	for _, e := range errs {
		es = append(es, e.Error())
	}
	if len(errs) != 2 || !strings.Contains(es[0], "no-such-dir: no such file or directory") || !strings.Contains(es[1], "nothing-*.core: no file matches") {
		t.Errorf("errors: %q", es)
	}

	// A file named on its own; the same core twice is one input; a glob.
	ins, errs = Collect([]string{filepath.Join(dir, "top-level.core"), filepath.Join(dir, "top-level.core"), filepath.Join(dir, "node1", "core.*")}, Options{})
	if len(errs) != 0 || len(ins) != 2 || filepath.Base(ins[0].Path) != "core.1234" || ins[0].Node != "" || filepath.Base(ins[1].Path) != "top-level.core" {
		t.Errorf("by name and glob: %+v %v", ins, errs)
	}
	// A malformed glob is an error.
	if _, errs := Collect([]string{filepath.Join(dir, "[")}, Options{}); len(errs) != 1 {
		t.Errorf("malformed glob: %v", errs)
	}
}

// TestCollectSinceUntil: the crash time bounds which cores are kept, both
// ends inclusive.
func TestCollectSinceUntil(t *testing.T) {
	dir := t.TempDir()
	core := elfHeader(4, false)
	t1 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i, name := range []string{"core.1", "core.2", "core.3"} {
		write(t, filepath.Join(dir, name), core, t1.Add(time.Duration(i)*time.Hour))
	}
	for _, c := range []struct {
		since, until time.Time
		want         string
	}{
		{time.Time{}, time.Time{}, "core.1 core.2 core.3"},
		{t1.Add(time.Hour), time.Time{}, "core.2 core.3"},
		{time.Time{}, t1.Add(time.Hour), "core.1 core.2"},
		{t1.Add(time.Hour), t1.Add(time.Hour), "core.2"},
		{t1.Add(time.Hour + 1), t1.Add(2*time.Hour - 1), ""},
	} {
		ins, _ := Collect([]string{dir}, Options{Since: c.since, Until: c.until})
		var names []string
		for _, in := range ins {
			names = append(names, filepath.Base(in.Path))
		}
		if strings.Join(names, " ") != c.want {
			t.Errorf("since %v until %v: %v, want %q", c.since, c.until, names, c.want)
		}
	}
}

// TestLocal: a compressed core is decompressed once into the cache (never
// beside the original) and reused while the original's size and time are
// unchanged; a changed original is decompressed again; a plain core is
// itself.
func TestLocal(t *testing.T) {
	for _, kind := range []string{"zst", "lz4", "xz"} {
		t.Run(kind, func(t *testing.T) {
			dir, cache := t.TempDir(), t.TempDir()
			core := append(elfHeader(4, false), bytes.Repeat([]byte("stack"), 1000)...)
			p := filepath.Join(dir, "core.ceph-dse."+kind)
			mt := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
			write(t, p, compress(t, kind, core), mt)
			ins, _ := Collect([]string{p}, Options{})
			if len(ins) != 1 || ins[0].Compression != kind {
				t.Fatalf("collected %+v", ins)
			}
			local, err := ins[0].Local(cachefile.New(cache), 0)
			if err != nil {
				t.Fatal(err)
			}
			if b := content(t, local); !bytes.Equal(b, core) || filepath.Dir(local) != filepath.Join(cache, "cores") {
				t.Errorf("decompressed into %s: %d bytes, want %d", local, len(b), len(core))
			}
			if e, _ := os.ReadDir(dir); len(e) != 1 {
				t.Errorf("%d files beside the original", len(e)-1)
			}
			// Reused: the copy is not made again (the same file, untouched).
			old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
			os.Chtimes(local, old, old)
			again, err := ins[0].Local(cachefile.New(cache), 0)
			if st, _ := os.Stat(again); err != nil || again != local || !st.ModTime().Equal(old) {
				t.Errorf("second Local: %s %v, rewritten: %v", again, err, st.ModTime())
			}
			// A copy that does not check out is made again.
			f, _ := os.OpenFile(local, os.O_WRONLY, 0)
			f.WriteAt([]byte("XX"), 100)
			f.Close()
			if again, err := ins[0].Local(cachefile.New(cache), 0); err != nil || again != local || !bytes.Equal(content(t, again), core) {
				t.Errorf("a damaged copy: %s %v", again, err)
			}
			// The original changes (same name): another copy, of it.
			core2 := append(elfHeader(4, false), bytes.Repeat([]byte("heap"), 3000)...)
			write(t, p, compress(t, kind, core2), mt.Add(time.Second))
			ins2, _ := Collect([]string{p}, Options{})
			fresh, err := ins2[0].Local(cachefile.New(cache), 0)
			if err != nil || fresh == local || !bytes.Equal(content(t, fresh), core2) {
				t.Errorf("after the original changed: %s (was %s) %v", fresh, local, err)
			}
			// Only the time changes: decompressed again too.
			os.Chtimes(p, mt.Add(2*time.Second), mt.Add(2*time.Second))
			ins3, _ := Collect([]string{p}, Options{})
			if again, _ := ins3[0].Local(cachefile.New(cache), 0); again == fresh {
				t.Errorf("a new mtime reused the copy")
			} else if !bytes.Equal(content(t, again), core2) {
				t.Errorf("after a new mtime: %s", again)
			}
			// Plain resolves a command line's path the same way.
			plain, err := Plain(p, cachefile.New(cache), 0)
			if err != nil || !bytes.Equal(content(t, plain), core2) {
				t.Errorf("Plain: %s %v", plain, err)
			}
		})
	}
}

// TestLocalSizeLimit: a core that decompresses to more than the limit is
// refused with ErrTooLarge (and leaves nothing in the cache); exactly the
// limit is accepted; 0 is no limit.
func TestLocalSizeLimit(t *testing.T) {
	dir := t.TempDir()
	core := append(elfHeader(4, false), make([]byte, 4096-64)...)
	p := filepath.Join(dir, "core.x.zst")
	write(t, p, compress(t, "zst", core), time.Time{})
	for _, c := range []struct {
		limit int64
		ok    bool
	}{{4095, false}, {1, false}, {4096, true}, {0, true}} {
		cache := t.TempDir()
		local, err := Plain(p, cachefile.New(cache), c.limit)
		switch {
		case c.ok && err != nil:
			t.Errorf("limit %d: %v", c.limit, err)
		case c.ok:
			if b := content(t, local); !bytes.Equal(b, core) {
				t.Errorf("limit %d: %d bytes", c.limit, len(b))
			}
		case !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), p) || local != "":
			t.Errorf("limit %d: %q %v, want ErrTooLarge naming %s", c.limit, local, err, p)
		default:
			if left, _ := filepath.Glob(filepath.Join(cache, "cores", "*")); len(left) != 0 {
				t.Errorf("limit %d: left %v in the cache", c.limit, left)
			}
		}
	}
}

// TestLocalErrors: a compressed core without a cache directory, corrupt
// compressed data, a directory named like a compressed core, a missing
// one: errors naming the file. A plain core needs no cache.
func TestLocalErrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "core.1.zst")
	write(t, p, compress(t, "zst", elfHeader(4, false)), time.Time{})
	if _, err := Plain(p, nil, 0); err == nil || !strings.Contains(err.Error(), "needs a cache directory") {
		t.Errorf("no cache directory: %v", err)
	}
	for _, kind := range []string{"zst", "lz4", "xz"} {
		bad := filepath.Join(dir, "core.bad."+kind)
		write(t, bad, []byte("this is not "+kind+" data at all, not at all"), time.Time{})
		if _, err := Plain(bad, cachefile.New(t.TempDir()), 0); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("corrupt %s: %v", kind, err)
		}
	}
	d := filepath.Join(dir, "core.dir.xz")
	os.Mkdir(d, 0o755)
	if _, err := Plain(d, cachefile.New(t.TempDir()), 0); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: %v", err)
	}
	if _, err := Plain(filepath.Join(dir, "core.gone.lz4"), cachefile.New(t.TempDir()), 0); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
	plain := filepath.Join(dir, "core.2")
	if got, err := Plain(plain, nil, 0); got != plain || err != nil {
		t.Errorf("plain core: %q %v", got, err)
	}
	if got, err := (Input{Path: plain}).Local(nil, 0); got != plain || err != nil {
		t.Errorf("plain input: %q %v", got, err)
	}
}

// TestDefaultMaxSize: 64 GiB.
func TestDefaultMaxSize(t *testing.T) {
	if DefaultMaxSize != 64<<30 {
		t.Errorf("DefaultMaxSize %d", DefaultMaxSize)
	}
}
