package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dsecore/dsecore/internal/cachefile"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/google/go-dap"
	"github.com/klauspost/compress/zstd"
)

// The chaos suite: what a file, the machine or a killed run does to
// dsecore, each fault injected at a chosen point of a run (DSECORE_CHAOS,
// internal/chaos), never raced for. Every try is counted per kind; the
// suite fails on any panic, any fatal error (a Go runtime crash, SIGBUS)
// and any output that differs from the reference without a warning or an
// error naming the file. The counts are logged (go test -v -run Chaos).

// chaosRig is one copy of the field crash's files (executable, library,
// the system's debug files, the core) and its own cache, so the tests may
// cut and overwrite them.
type chaosRig struct {
	t                     *testing.T
	dir                   string
	core, exe, lib, debug string
	cache                 string // XDG_CACHE_HOME
	ref                   string // inspect's output on intact files and a warm cache

	mu     sync.Mutex
	counts map[string]*chaosCount
}

type chaosCount struct{ tries, panics, fatals, wrong int }

func newChaosRig(t *testing.T) *chaosRig {
	t.Helper()
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	dir := t.TempDir()
	r := &chaosRig{t: t, dir: dir, core: filepath.Join(dir, "core"), exe: filepath.Join(dir, "bin", "ceph-dse"),
		lib: filepath.Join(dir, "bin", "libdcache.so"), debug: filepath.Join(dir, "debug"), cache: filepath.Join(dir, "cache"),
		counts: map[string]*chaosCount{}}
	os.MkdirAll(filepath.Join(dir, "bin"), 0o755)
	copyFile(t, sc.Exe, r.exe)
	copyFile(t, sc.Lib, r.lib)
	copyFile(t, sc.Core, r.core)
	// libc6-dbg's debug files (compressed sections: the inflated cache).
	if err := exec.Command("cp", "-a", "/usr/lib/debug/.build-id", filepath.Join(r.debug, ".build-id")).Run(); err != nil {
		os.MkdirAll(r.debug, 0o755)
		if err := exec.Command("cp", "-a", "/usr/lib/debug/.build-id", r.debug).Run(); err != nil {
			t.Fatalf("copying /usr/lib/debug/.build-id (libc6-dbg): %v", err)
		}
	}
	code, out, errs := r.run(nil, r.core)
	if code != 0 {
		t.Fatalf("reference run: exit %d\n%s", code, errs)
	}
	code, r.ref, errs = r.run(nil, r.core)
	if code != 0 || out != r.ref || errs != "" {
		t.Fatalf("reference runs differ (cold and warm) or warn: exit %d\n%s", code, errs)
	}
	if !strings.Contains(r.ref, "malloc_chunk") && !strings.Contains(r.ref, "dm_hash_node_t::clear") {
		t.Fatalf("reference output lacks the crash:\n%s", r.ref)
	}
	t.Cleanup(r.report)
	return r
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// args is the command every try runs: the whole report (unwinding, DWARF
// types, the heap analysis, coroutines) from the rig's copies.
func (r *chaosRig) args(core string) []string {
	return []string{"inspect", core, "--exe", r.exe, "--solib-search-path", filepath.Dir(r.lib), "--debug-file-directory", r.debug}
}

// run runs dsecore with the rig's cache and env added.
func (r *chaosRig) run(env []string, core string, extra ...string) (int, string, string) {
	return r.runArgs(env, append(r.args(core), extra...)...)
}

func (r *chaosRig) runArgs(env []string, args ...string) (int, string, string) {
	return r.exec(env, dsecoreBin, args...)
}

// exec runs name (dsecore, or a shell running it) with the rig's cache.
func (r *chaosRig) exec(env []string, name string, args ...string) (int, string, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(chaosBaseEnv(r.cache), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		r.t.Fatalf("%s %s: no answer in 120 s", name, strings.Join(args, " "))
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = -int(ws.Signal())
		}
	} else if err != nil {
		r.t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

func chaosBaseEnv(cache string) []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "XDG_CACHE_HOME=") && (!strings.HasPrefix(e, "DSECORE_") || strings.HasPrefix(e, fillEnv+"=")) {
			env = append(env, e)
		}
	}
	return append(env, "XDG_CACHE_HOME="+cache)
}

// judge counts one try of kind: a panic, a fatal error (a signal, the
// runtime's crash), or an output other than the reference that neither
// a warning nor the error names file for.
func (r *chaosRig) judge(kind, file string, code int, out, errs string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.counts[kind]
	if c == nil {
		c = &chaosCount{}
		r.counts[kind] = c
	}
	c.tries++
	first, _, _ := strings.Cut(strings.TrimSpace(errs), "\n")
	r.t.Logf("%s: exit %d, same output %v: %s", kind, code, out == r.ref, first)
	switch {
	case strings.Contains(errs, "panic:") || strings.Contains(errs, "goroutine "):
		c.panics++
		r.t.Errorf("%s %s: panic (exit %d):\n%s", kind, file, code, lastOf(errs))
	case code < 0 || code == 2 || strings.Contains(errs, "fatal error:") || strings.Contains(errs, "SIGBUS"):
		c.fatals++
		r.t.Errorf("%s %s: fatal (exit %d):\n%s", kind, file, code, lastOf(errs))
	case out != r.ref && !(strings.Contains(errs, file) && (code == 1 || strings.Contains(errs, "warning:"))):
		c.wrong++
		r.t.Errorf("%s %s: output differs from the reference with no warning or error naming the file (exit %d):\n%s", kind, file, code, lastOf(errs))
	}
}

func lastOf(s string) string {
	if len(s) > 2000 {
		return "…" + s[len(s)-2000:]
	}
	return s
}

// report logs the counts: tries / panics / fatal errors / wrong, per kind.
func (r *chaosRig) report() {
	r.mu.Lock()
	defer r.mu.Unlock()
	var kinds []string
	for k := range r.counts {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var b strings.Builder
	fmt.Fprintf(&b, "chaos counts (tries / panics / fatal / wrong):\n")
	for _, k := range kinds {
		c := r.counts[k]
		fmt.Fprintf(&b, "  %-34s %3d / %d / %d / %d\n", k, c.tries, c.panics, c.fatals, c.wrong)
	}
	r.t.Log(b.String())
}

// cacheFiles lists the rig's cache files (not temporary ones).
func (r *chaosRig) cacheFiles() []string {
	var out []string
	filepath.WalkDir(r.cache, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && !strings.HasPrefix(d.Name(), ".") {
			out = append(out, p)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// temps lists temporary files left in the cache.
func (r *chaosRig) temps() []string {
	var out []string
	filepath.WalkDir(r.cache, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && (strings.HasPrefix(d.Name(), ".tmp-") || strings.HasPrefix(d.Name(), ".partial-")) {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// restore puts the rig's original files back after a try cut one.
func (r *chaosRig) restore(sc *fixture.Scenario) {
	copyFile(r.t, sc.Exe, r.exe)
	copyFile(r.t, sc.Lib, r.lib)
	copyFile(r.t, sc.Core, r.core)
}

// TestChaosFilesChangeWhileRead: every kind of file the run reads (the
// core, the executable, the library, the separate debug file, the
// inflated-section, symbol-layout and unit-index cache files) cut short or
// replaced with other bytes in place (cp over it) once the first stack
// is read, with its mappings live. Before: SIGBUS (library cp, cache
// truncation), slice-bounds panics, or a changed core's output with no
// warning.
func TestChaosFilesChangeWhileRead(t *testing.T) {
	r := newChaosRig(t)
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	libcDebug := findOne(t, r.debug, "93/ac61ec5a8eb1396f9fbd350e3169a558528a40.debug", ".debug")
	libcCache := filepath.Dir(findCache(t, r, "sections-v2/debug_info"))
	files := map[string]string{
		"core":          r.core,
		"executable":    r.exe,
		"library":       r.lib,
		"debug file":    libcDebug,
		"cache section": filepath.Join(libcCache, "debug_info"),
		"cache symtab":  findCache(t, r, "symtab-v3"),
		"cache unit":    findCache(t, r, "/unit-"),
	}
	other := filepath.Join(r.dir, "other")
	copyFile(t, "/bin/true", other) // a smaller, different file for cp
	for _, kind := range []string{"core", "executable", "library", "debug file", "cache section", "cache symtab", "cache unit"} {
		file := files[kind]
		orig, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, act := range []string{"truncate " + file + " 4096", "truncate " + file + " " + fmt.Sprint(len(orig)/2), "replace " + file + " " + other} {
			code, out, errs := r.run([]string{"DSECORE_CHAOS=stack " + act}, r.core)
			r.judge("changed "+kind+" ("+strings.Fields(act)[0]+")", file, code, out, errs)
			if err := os.WriteFile(file, orig, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	r.restore(sc)
	// Intact again: the reference, with no warning.
	if code, out, errs := r.run(nil, r.core); code != 0 || out != r.ref {
		t.Errorf("after the tries: exit %d, same output %v\n%s", code, out == r.ref, errs)
	}
}

func findOne(t *testing.T, dir, suffix, ext string) string {
	t.Helper()
	var found string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, suffix) {
			found = p
		}
		return nil
	})
	if found == "" {
		t.Fatalf("no %s under %s", suffix, dir)
	}
	return found
}

// findCache is the first cache file whose path contains part (of the
// biggest: the ones a run reads most of).
func findCache(t *testing.T, r *chaosRig, part string) string {
	t.Helper()
	best, size := "", int64(-1)
	for _, p := range r.cacheFiles() {
		if st, err := os.Stat(p); err == nil && strings.Contains(p, part) && st.Size() > size {
			best, size = p, st.Size()
		}
	}
	if best == "" {
		t.Fatalf("no cache file %s in %s", part, r.cache)
	}
	return best
}

// TestChaosCacheGarbage: each cache file overwritten with random bytes of
// its size: the run answers as before, with one warning naming the file,
// and rebuilds it (the next run has no warning). Before: libc's inflated
// .debug_info so damaged was trusted forever (the heap analysis gone).
//
// Each file is damaged after a run left its marker (cachefile.Checked:
// checked whole once, then trusted by its stamp): the garbage is caught
// because the write moved the file's change time.
func TestChaosCacheGarbage(t *testing.T) {
	r := newChaosRig(t)
	for _, file := range r.cacheFiles() {
		for !cachefile.Settled(file) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if code, out, errs := r.run(nil, r.core); code != 0 || out != r.ref || errs != "" {
		t.Fatalf("the run that leaves the markers: exit %d, same output %v\n%s", code, out == r.ref, errs)
	}
	vouched := map[string]int{}
	for _, file := range r.cacheFiles() {
		if _, err := os.Stat(cachefile.MarkerPath(file)); err == nil {
			vouched[strings.Fields(cacheKind(file))[0]]++
		}
	}
	if vouched["section"] == 0 || vouched["symtab"] == 0 {
		t.Fatalf("markers after a warm run, by kind: %v (want sections and symbol layouts)", vouched)
	}
	t.Logf("markers by kind: %v", vouched)
	for i, file := range r.cacheFiles() {
		st, _ := os.Stat(file)
		b := make([]byte, st.Size())
		rand.New(rand.NewSource(int64(i))).Read(b)
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Fatal(err)
		}
		kind := "garbage " + cacheKind(file)
		code, out, errs := r.run(nil, r.core)
		r.judge(kind, file, code, out, errs)
		// One warning, or none when the run did not read the file (an
		// index's .debug_aranges, read only when the index is built): a
		// file not read is not trusted either.
		if n := strings.Count(errs, "cache file "+file); out != r.ref || n > 1 || code != 0 {
			r.mu.Lock()
			r.counts[kind].wrong++
			r.mu.Unlock()
			t.Errorf("%s: same output %v, warnings:\n%s", file, out == r.ref, errs)
		} else if n == 0 {
			t.Logf("%s: not read by this run", file)
		}
		if code, out, errs := r.run(nil, r.core); code != 0 || out != r.ref || errs != "" {
			t.Errorf("%s: the run after the rebuild: exit %d, same output %v\n%s", file, code, out == r.ref, errs)
		}
	}
}

func cacheKind(p string) string {
	switch b := filepath.Base(p); {
	case strings.Contains(p, "sections-v2"):
		return "section " + b
	case strings.HasPrefix(b, "symtab"):
		return "symtab"
	case strings.HasPrefix(b, "unit-"):
		return "unit"
	default:
		return "index " + b
	}
}

// TestChaosKilledWrites: a cold run killed (SIGKILL) in the middle of
// each kind of cache write (a warm run's for the markers of files checked
// whole) leaves a temporary file; the next run answers as the reference
// and removes it. Before: .tmp-* files (up to 2.7 MB)
// stayed for good.
func TestChaosKilledWrites(t *testing.T) {
	r := newChaosRig(t)
	// A systemd-coredump core (.zst): decompressed into the cache.
	zst := filepath.Join(r.dir, "core.zst")
	raw, err := os.ReadFile(r.core)
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := zstd.NewWriter(nil)
	if err := os.WriteFile(zst, enc.EncodeAll(raw, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	ref := r.ref
	for _, kind := range []string{"section", "symtab", "index", "unit", "core", "marker"} {
		os.RemoveAll(r.cache)
		core := r.core
		r.ref = ref
		if kind == "marker" {
			// A marker is written by a run after the one that wrote
			// the cache, once its files have settled (cachefile.Checked).
			if code, _, errs := r.run(nil, core); code != 0 {
				t.Fatalf("%s: the cold run: exit %d\n%s", kind, code, errs)
			}
			for _, file := range r.cacheFiles() {
				for !cachefile.Settled(file) {
					time.Sleep(10 * time.Millisecond)
				}
			}
		}
		if kind == "core" {
			core = zst
			// The report names the core as given: its own reference.
			code, out, errs := r.run(nil, core)
			if code != 0 || errs != "" {
				t.Fatalf("%s: exit %d\n%s", zst, code, errs)
			}
			r.ref = out
			os.RemoveAll(r.cache)
		}
		code, _, errs := r.run([]string{"DSECORE_CHAOS=cache-write:" + kind + " kill"}, core)
		if code != -int(syscall.SIGKILL) {
			t.Fatalf("%s: the run was not killed at its write (exit %d): the point was not reached\n%s", kind, code, lastOf(errs))
		}
		left := r.temps()
		if len(left) == 0 {
			t.Errorf("%s: killed mid-write, no temporary file left: the write was not in progress", kind)
		}
		code, out, errs := r.run(nil, core)
		r.judge("killed mid-write "+kind, kind, code, out, errs)
		if l := r.temps(); len(l) > 0 {
			r.mu.Lock()
			r.counts["killed mid-write "+kind].wrong++
			r.mu.Unlock()
			t.Errorf("%s: temporary files of the killed run still there after the next: %v", kind, l)
		}
	}
}

// TestChaosConcurrentColdRuns: runs sharing one empty cache, all at once,
// answer alike.
func TestChaosConcurrentColdRuns(t *testing.T) {
	r := newChaosRig(t)
	os.RemoveAll(r.cache)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, out, errs := r.run(nil, r.core)
			r.judge("concurrent cold runs", "", code, out, errs)
			if errs != "" {
				t.Errorf("a concurrent cold run warned:\n%s", errs)
			}
		}()
	}
	wg.Wait()
	if l := r.temps(); len(l) > 0 {
		t.Errorf("temporary files left: %v", l)
	}
}

// TestChaosAddressSpace: every fixture core (the 10,000-task large one
// and the scale fixture included) answered under ulimit -v 1G as without
// a limit; under the floor, one line says what is missing. Before: every
// command said only "cannot allocate memory" under 1-1.5 GiB (the whole
// core mapped at once, cgo threads' stacks and malloc arenas).
func TestChaosAddressSpace(t *testing.T) {
	set := fixture.Get(t)
	r := &chaosRig{t: t, cache: filepath.Join(t.TempDir(), "cache"), counts: map[string]*chaosCount{}}
	t.Cleanup(r.report)
	for _, name := range fixture.All {
		sc := set.Scenario(t, name)
		for _, args := range [][]string{{"inspect", sc.Core, "--exe", sc.Exe}, {"bt", sc.Core, "--exe", sc.Exe, "--all", "--all-tasks"}} {
			_, want, _ := r.runArgs(nil, args...)
			r.ref = want
			code, out, errs := r.limited(1<<20, args...)
			r.judge("ulimit -v 1G "+args[0], sc.Core, code, out, errs)
			if code != 0 || out != want {
				t.Errorf("%s %s under ulimit -v 1G: exit %d, same output %v\n%s", args[0], name, code, out == want, lastOf(errs))
			}
		}
	}
	sc := set.Scenario(t, fixture.FieldCrash)
	code, _, errs := r.limited(780<<10, "inspect", sc.Core, "--exe", sc.Exe)
	lines := strings.Split(strings.TrimSpace(errs), "\n")
	if code != 1 || len(lines) != 1 || !strings.Contains(errs, "ulimit -v") || !strings.Contains(errs, "MiB") {
		t.Errorf("under the floor: exit %d, want one line saying what is missing:\n%s", code, lastOf(errs))
	}
}

// limited runs dsecore under ulimit -v kib.
func (r *chaosRig) limited(kib int, args ...string) (int, string, string) {
	return r.exec(nil, "bash", append([]string{"-c", fmt.Sprintf(`ulimit -v %d && exec "$0" "$@"`, kib), dsecoreBin}, args...)...)
}

// launchCopies copies the field crash's program and library into a
// directory of the test's, launches a DAP session on them (its own
// cache), and has it stopped with the crashed thread's first frames read:
// the files are mapped.
func launchCopies(t *testing.T) (c *dapClient, exe, lib string, stopped *dap.StoppedEvent) {
	t.Helper()
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	dir := t.TempDir()
	exe, lib = filepath.Join(dir, "ceph-dse"), filepath.Join(dir, "libdcache.so")
	copyFile(t, sc.Exe, exe)
	copyFile(t, sc.Lib, lib)
	c = startDAP(t, "XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
	c.ok("initialize", map[string]any{"adapterID": "dsecore"})
	c.ok("launch", map[string]any{"coreFile": sc.Core, "program": exe, "solibSearchPath": []string{dir}})
	c.waitEvent("initialized")
	c.ok("configurationDone", nil)
	stopped = c.waitEvent("stopped").(*dap.StoppedEvent)
	c.ok("stackTrace", map[string]any{"threadId": stopped.Body.ThreadId, "levels": 3})
	return c, exe, lib, stopped
}

// TestDAPLibraryReplacedDuringSession: a cp of a smaller build over the
// library and the executable while a DAP session has them mapped. Before:
// the next request touching their pages ended the server with SIGBUS
// (3/3). Now requests are answered until one meets the change: its error
// names the file, and the session ends with an error event (its files
// can no longer be trusted; TestDAPFilesFail: other sessions go on).
func TestDAPLibraryReplacedDuringSession(t *testing.T) {
	c, exe, lib, stopped := launchCopies(t)
	// cp of a smaller build over both (in place: the same inode, cut).
	small, _ := os.ReadFile("/bin/true")
	for _, f := range []string{lib, exe} {
		if err := os.WriteFile(f, small, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	untilFilesFail(t, c, stopped.Body.ThreadId, lib, exe)
}

// TestDAPFileChangedWarned: a cp of the same build over the library while
// a DAP session has it open. No read faults (the bytes are the same), so
// the session goes on, but what it answers may no longer be the file's:
// the client is told once, in an important output event naming the file,
// after the request that first sees it; nothing is said before the
// change. Before: nothing was said until a read faulted, and a rebuild of
// the same size never faults (dapmon saw frames lose their names and CFI
// with no word).
func TestDAPFileChangedWarned(t *testing.T) {
	c, _, lib, stopped := launchCopies(t)
	warnings := func() (out []string) {
		for _, e := range c.events {
			if o, ok := e.(*dap.OutputEvent); ok && strings.Contains(o.Body.Output, "changed while being read") {
				if o.Body.Category != "important" {
					t.Errorf("warning in category %q, want important: %s", o.Body.Category, o.Body.Output)
				}
				out = append(out, o.Body.Output)
			}
		}
		return out
	}
	c.ok("threads", nil) // any event of the requests before is read
	if w := warnings(); len(w) > 0 {
		t.Fatalf("warned before any change: %q", w)
	}
	// In place, not truncated first (os.WriteFile): a read in between
	// would find it cut to 0 bytes and fault, ending the session.
	same, err := os.ReadFile(lib)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(lib, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(same, 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	c.ok("threads", nil) // sees the change: the warning follows its response
	for i := 0; i < 2; i++ {
		c.ok("stackTrace", map[string]any{"threadId": stopped.Body.ThreadId, "levels": 3})
	}
	w := warnings()
	if len(w) != 1 || !strings.HasPrefix(w[0], "dsecore: warning: "+lib+": changed while being read (it was modified)") {
		t.Fatalf("warnings after the library was rewritten: %q, want one naming %s", w, lib)
	}
}

// TestPathLists: a library found only through --solib-search-path, in
// directories named with ',', '"', a space and non-ASCII letters, given
// as a flag, as a ':'-separated flag value beside another directory, as
// $DSECORE_SOLIB_SEARCH_PATH and as a YAML list. Before: a ',' split the
// directory (libdcache's frames lost), a '"' was `bare " in
// non-quoted-field`.
func TestPathLists(t *testing.T) {
	set := fixture.Get(t)
	sc := set.Scenario(t, "missing-lib")
	lib := set.Scenario(t, fixture.FieldCrash).Lib
	base := t.TempDir()
	cache := filepath.Join(base, "cache")
	r := &chaosRig{t: t, cache: cache, counts: map[string]*chaosCount{}}
	for _, name := range []string{"a,b", `q"uote`, "sp ace", "ünïcödé"} {
		dir := filepath.Join(base, name)
		os.MkdirAll(dir, 0o755)
		copyFile(t, lib, filepath.Join(dir, "libdcache.so"))
		cfg := filepath.Join(base, "cfg.yaml")
		yamlDir := strings.ReplaceAll(dir, `"`, `\"`)
		os.WriteFile(cfg, []byte("solib-search-path:\n  - \"/nonexistent\"\n  - \""+yamlDir+"\"\n"), 0o644)
		for how, c := range map[string]struct {
			env  []string
			args []string
		}{
			"flag":          {nil, []string{"--solib-search-path", dir}},
			"flag a:b":      {nil, []string{"--solib-search-path", "/nonexistent:" + dir}},
			"repeated flag": {nil, []string{"--solib-search-path", "/nonexistent", "--solib-search-path", dir}},
			"environment":   {[]string{"DSECORE_SOLIB_SEARCH_PATH=/nonexistent:" + dir}, nil},
			"YAML list":     {[]string{"DSECORE_CONFIG=" + cfg}, nil},
		} {
			args := append([]string{"bt", sc.Core, "--exe", sc.Exe}, c.args...)
			code, out, errs := r.exec(c.env, dsecoreBin, args...)
			if code != 0 || !strings.Contains(out, "dm_hash_node_t::clear at") {
				t.Errorf("%s %q: exit %d, libdcache's frames found %v\n%s", how, name, code, strings.Contains(out, "dm_hash_node_t::clear at"), lastOf(errs))
			}
		}
	}
}
