// Package session is one opened core for as long as something looks at it:
// a CLI command, a DAP connection, the gdb bridge's backend (the CLI run
// on gdb's files), one core of a summarize run. It is the only place that
// opens a core, and the only place that decides how its files are found,
// which coroutine and analysis profiles apply, and when the expensive steps
// run:
//
//   - Open reads the core's notes and finds its files (one policy: the
//     executable given, the sysroot, the solib search path, the path in the
//     core, then by build-id in the search directories and from debuginfod
//     servers, $DEBUGINFOD_URLS as gdb uses it); nothing is unwound;
//   - Runtime discovers the coroutine runtime on first call (the profile's
//     walk and the scan), once, for every caller;
//   - Analysis explains the fault on first call, once, with the runtime.
//
// Every face takes a *Session and none opens a core, loads a profile or
// runs discovery itself. The defaults of every option are in this file,
// and nothing else in dsecore keeps a setting of its own: the cache
// directory is handed down from here (a cachefile.Cache) to the symbol
// tables, the finder and the decompressed cores, as gopls hands its Cache
// to NewSession. Sessions of one run (summarize's cores) share what
// NewShared decided: the profiles, loaded once, the cache, the finder and
// the parsed symbol tables.
//
//	s, err := session.Open(session.Options{Core: "core", Exe: "bin/ceph-dse"})
//	if err != nil {
//		return err
//	}
//	defer s.Close()
//	p := s.Process()                   // the model: threads, modules, frames
//	frames, _ := p.Backtrace(p.CrashedThread())
//	rt := s.Runtime()                  // coroutines, discovered now (nil: none)
//	a := s.Analysis()                  // the fault explained, now
//	_, _, _ = frames, rt, a
//
// Methods are safe for concurrent use; the values they return are shared
// and must be treated as read-only.
package session

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dsecore/dsecore/analysis/coroutines"
	"github.com/dsecore/dsecore/analysis/fault"
	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/corestore"
	"github.com/dsecore/dsecore/coreparse/finder"
	"github.com/dsecore/dsecore/coreparse/symbols"
	"github.com/dsecore/dsecore/coreparse/values"
	"github.com/dsecore/dsecore/internal/cachefile"
	"github.com/dsecore/dsecore/internal/chaos"
	"github.com/dsecore/dsecore/internal/mmap"
	"github.com/dsecore/dsecore/internal/par"
)

// The defaults, in one place. A zero Options field means its default.
const (
	// DefaultCoroutineProfile is the coroutine runtime profile used when
	// none is named: ceph-dse's fork of libgo v3.
	DefaultCoroutineProfile = coroutines.DefaultProfile
	// DefaultAnalysisProfile is the fault-analysis profile: dcache.
	DefaultAnalysisProfile = fault.DefaultProfileName
	// DefaultMaxFrames bounds one stack's unwind.
	DefaultMaxFrames = 512
	// DefaultMaxElements bounds a list or array walked for display.
	DefaultMaxElements = 10000
	// DefaultDebuginfodTimeout bounds one debuginfod request (a dead
	// server costs it once per run: it is not asked again).
	DefaultDebuginfodTimeout = 10 * time.Second
	// DefaultConcurrencyWindowUS: the same step logged by two threads
	// within this many µs is concurrent.
	DefaultConcurrencyWindowUS = 1000
	// DefaultMaxCoreSize bounds a decompressed core.
	DefaultMaxCoreSize = corestore.DefaultMaxSize
)

// DefaultDebugFileDirs are the roots of separate debug files (Debian's
// -dbg packages install there).
func DefaultDebugFileDirs() []string { return []string{"/usr/lib/debug"} }

// DefaultCacheDir holds decompressed cores, debuginfod downloads and
// libraries' inflated DWARF: $XDG_CACHE_HOME/dsecore (~/.cache/dsecore;
// internal/cachefile's XDG rules), else a directory in the system's
// temporary directory.
func DefaultCacheDir() string {
	if d := cachefile.DefaultRoot(); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "dsecore-cache")
}

// Options are everything a session needs. Zero fields take the defaults
// above.
type Options struct {
	Core            string   // the core file; systemd-coredump's .zst/.lz4/.xz are decompressed into CacheDir
	Exe             string   // the executable; found from the core when empty
	SolibSearchPath []string // directories searched for libraries by name, then by build-id
	Sysroot         string   // prefix of every absolute path the core names
	DebugFileDirs   []string // separate debug file roots (default DefaultDebugFileDirs)

	// Debuginfod servers asked for files no directory has, by build-id:
	// nil means $DEBUGINFOD_URLS (as gdb reads it), an empty non-nil
	// slice none.
	DebuginfodURLs    []string
	DebuginfodTimeout time.Duration // per request
	DebuginfodMaxSize int64         // per file, bytes (default $DEBUGINFOD_MAXSIZE, as libdebuginfod reads it, else 4 GiB)
	CacheDir          string        // default DefaultCacheDir()
	MaxCoreSize       int64         // decompressed core, bytes

	CoroutineProfile string // built-in name or YAML file (default DefaultCoroutineProfile)
	AnalysisProfile  string // "dcache" or a YAML file (default DefaultAnalysisProfile)
	// FullScan sweeps all anonymous memory for saved task contexts even
	// when the runtime's queues account for every task.
	FullScan bool
	// NoConfirm leaves the contexts the profile's walk found unchecked
	// (`profile init` trying a profile it wrote); the sweep still runs
	// when the profile falls short of the scheduler's count or finds
	// nothing.
	NoConfirm bool
	// DeferConfirm checks those contexts on the first Runtime, not in
	// Discovered (the DAP server's choice: its thread list needs the walk
	// alone). The same checks, warnings and FoundBy either way.
	DeferConfirm bool
	// AnswerFirst: modules whose symbol layout is not cached yet answer
	// from their files' symbol tables and leave the layout to a
	// background fill (symbols.Resolver.AnswerFirst; Session.Deferred).
	AnswerFirst bool

	MaxFrames   int // per stack
	MaxElements int // per list or array shown

	// Evidence for the fault analysis.
	Logs                []string // log files or directories
	Dmesg               string   // a kernel segfault line, or a file of them
	ConcurrencyWindowUS int64

	// Progress, when set, hears when a step that takes a while starts
	// (done false) and ends (done true): "coroutines", "analysis" (which
	// includes the heap and the holder search). It runs inside the step:
	// it must not call the session's methods.
	Progress func(step string, done bool)

	// Shared, when set, is what the sessions of a run share (summarize's
	// cores of one build): its profiles, cache, file finder and symbol
	// tables, decided by NewShared from its own options (the fields above
	// that name them are then not looked at); it outlives the sessions.
	Shared *Shared
}

// WithDefaults returns o with every zero field set to its default.
func (o Options) WithDefaults() Options {
	if len(o.DebugFileDirs) == 0 {
		o.DebugFileDirs = DefaultDebugFileDirs()
	}
	if o.DebuginfodURLs == nil {
		o.DebuginfodURLs = strings.Fields(os.Getenv("DEBUGINFOD_URLS"))
	}
	if o.DebuginfodTimeout <= 0 {
		o.DebuginfodTimeout = debuginfodTimeoutFromEnv()
	}
	if o.DebuginfodMaxSize <= 0 {
		o.DebuginfodMaxSize = debuginfodMaxSizeFromEnv()
	}
	if o.CacheDir == "" {
		o.CacheDir = DefaultCacheDir()
	}
	if o.MaxCoreSize <= 0 {
		o.MaxCoreSize = DefaultMaxCoreSize
	}
	if o.CoroutineProfile == "" {
		o.CoroutineProfile = DefaultCoroutineProfile
	}
	if o.AnalysisProfile == "" {
		o.AnalysisProfile = DefaultAnalysisProfile
	}
	if o.MaxFrames <= 0 {
		o.MaxFrames = DefaultMaxFrames
	}
	if o.MaxElements <= 0 {
		o.MaxElements = DefaultMaxElements
	}
	if o.ConcurrencyWindowUS <= 0 {
		o.ConcurrencyWindowUS = DefaultConcurrencyWindowUS
	}
	return o
}

// debuginfodTimeoutFromEnv is $DEBUGINFOD_TIMEOUT (seconds, as
// libdebuginfod reads it) when set, else DefaultDebuginfodTimeout.
func debuginfodTimeoutFromEnv() time.Duration {
	if s := os.Getenv("DEBUGINFOD_TIMEOUT"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return time.Duration(n) * time.Second
		}
	}
	return DefaultDebuginfodTimeout
}

// debuginfodMaxSizeFromEnv is $DEBUGINFOD_MAXSIZE (bytes, as libdebuginfod
// reads it) when set, else 0: the finder's default.
func debuginfodMaxSizeFromEnv() int64 {
	if s := os.Getenv("DEBUGINFOD_MAXSIZE"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
			return n
		}
	}
	return 0
}

// Shared is what the sessions of one run share, decided once: the
// profiles, the cache, the file finder (its build-id index, its
// downloads, the debuginfod servers that failed) and, for a batch, the
// parsed symbol tables (by file).
type Shared struct {
	Tables *symbols.Cache // nil: each session opens and closes its own
	Finder *finder.Finder
	Cache  *cachefile.Cache

	coProf *coroutines.Profile
	// anProf is the fault-analysis profile: a file's, loaded by
	// newShared; the built-in one made when first asked for (it names its
	// element state in the catalog's English, and parsing the catalog
	// cost every first answer ~5 ms that never reads it).
	anProf func() *fault.Profile
}

// NewShared decides the settings of a run's sessions from o (its
// profiles, search paths, sysroot, debuginfod servers and cache), loading
// the profiles now: a profile that cannot be loaded is an error before
// any core is read. Its symbol tables live until Close.
func NewShared(o Options) (*Shared, error) {
	sh, err := newShared(o.WithDefaults())
	if err != nil {
		return nil, err
	}
	sh.Tables = symbols.NewCache()
	return sh, nil
}

// newShared is NewShared without shared symbol tables (o with defaults).
func newShared(o Options) (*Shared, error) {
	sh := &Shared{Cache: cachefile.New(o.CacheDir)}
	var err error
	if sh.coProf, err = coroutines.LoadProfile(o.CoroutineProfile); err != nil {
		return nil, err
	}
	if fault.IsBuiltin(o.AnalysisProfile) {
		sh.anProf = sync.OnceValue(fault.DefaultProfile)
	} else {
		prof, err := fault.LoadProfile(o.AnalysisProfile)
		if err != nil {
			return nil, err
		}
		sh.anProf = func() *fault.Profile { return prof }
	}
	// Files by build-id: the search path and the sysroot, then debuginfod.
	dirs := append([]string(nil), o.SolibSearchPath...)
	if o.Sysroot != "" {
		dirs = append(dirs, o.Sysroot)
	}
	sh.Finder = finder.New(finder.Options{Dirs: dirs, URLs: o.DebuginfodURLs, Cache: sh.Cache,
		Timeout: o.DebuginfodTimeout, MaxSize: o.DebuginfodMaxSize})
	return sh, nil
}

// CoroutineProfile is the run's coroutine runtime profile.
func (sh *Shared) CoroutineProfile() *coroutines.Profile { return sh.coProf }

// AnalysisProfile is the run's fault-analysis profile.
func (sh *Shared) AnalysisProfile() *fault.Profile { return sh.anProf() }

// Close releases the shared symbol tables.
func (sh *Shared) Close() {
	if sh != nil && sh.Tables != nil {
		sh.Tables.Close()
	}
}

// Session is one opened core.
type Session struct {
	o      Options
	path   string // the core as named
	p      *coreparse.Process
	shared *Shared
	vr     *values.Reader

	coProf *coroutines.Profile

	rtOnce par.Once
	rt     *coroutines.Runtime
	anOnce par.Once
	an     *fault.Analysis
	anMade atomic.Pointer[fault.Analysis] // an, once made

	mu       sync.Mutex
	warnings []string
	closed   bool
	changed  []string // Changed at Close

	waitsState // session/waits.go
}

// Open opens the core named in o with its files, with o.Shared's settings
// or, without, its own (decided here as NewShared decides them). A profile
// that cannot be loaded, a core that cannot be read, are errors; missing
// or mismatched files are warnings (Process().Warnings) and partial
// answers.
func Open(o Options) (*Session, error) {
	if o.Core == "" {
		return nil, errors.New("no core file given")
	}
	o = o.WithDefaults()
	s := &Session{o: o, path: o.Core, shared: o.Shared}
	var err error
	if s.shared == nil {
		if s.shared, err = newShared(o); err != nil {
			return nil, err
		}
	}
	s.coProf = s.shared.coProf
	plain, err := corestore.Plain(o.Core, s.shared.Cache, o.MaxCoreSize)
	if err != nil {
		return nil, err
	}
	fnd := s.shared.Finder
	debugDirs := append(append([]string(nil), o.DebugFileDirs...), fnd.DebugDir())
	s.p, err = coreparse.Open(coreparse.Options{Core: plain, Exe: o.Exe, SolibSearchPath: o.SolibSearchPath, Sysroot: o.Sysroot,
		DebugFileDirs: debugDirs, MaxFrames: o.MaxFrames, Tables: s.shared.Tables, Cache: s.shared.Cache,
		FindFile: fnd.Find, FindDebugFile: fnd.FindDebug, AnswerFirst: o.AnswerFirst})
	if err != nil {
		return nil, err
	}
	s.vr = values.NewReader(s.p)
	s.vr.MaxList = o.MaxElements
	chaos.At("opened") // the chaos tests' point: files open and mapped, nothing unwound
	return s, nil
}

// Deferred reports whether a module answered under AnswerFirst without
// its cache files: a background fill is to write them.
func (s *Session) Deferred() bool { return s.p.Deferred() }

// CacheDir is the session's cache directory.
func (s *Session) CacheDir() string { return s.o.CacheDir }

// Close releases the core (and the symbol tables unless they are shared).
// What Changed says is kept: it answers after Close.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.changed = s.p.Changed()
	s.closed = true
	return s.p.Close()
}

// Changed says which of the session's files (the core, its libraries and
// their debug and cache files) changed while the session read them, one
// line each, nil when none did: what was answered meanwhile may not be
// the files'. Every face warns with it at the end (the CLI) or when it
// reports (the DAP server's error event). After Close it is what was
// true at Close.
func (s *Session) Changed() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return s.changed
	}
	return s.p.Changed()
}

// Fault returns the error of a recovered panic value when it is a read of
// a file that changed under the session (a mapped file cut shorter:
// mmap.FaultError), or any panic while one of its files has changed (a
// decoder meeting bytes that are not the ones checked), else nil: a face
// ends the command or the DAP session with it instead of reporting an
// internal error. The goroutine must have called mmap.Guard for a fault
// to be a panic at all.
func (s *Session) Fault(r any) error {
	if fe := mmap.AsFault(r); fe != nil {
		return fe
	}
	if ch := s.Changed(); len(ch) > 0 {
		return fmt.Errorf("%s (and then: %v)", strings.Join(ch, "; "), r)
	}
	return nil
}

// Options are the session's options with their defaults.
func (s *Session) Options() Options { return s.o }

// CorePath is the core as it was named (before any decompression).
func (s *Session) CorePath() string { return s.path }

// Process is the model of the crashed process.
func (s *Session) Process() *coreparse.Process { return s.p }

// Values reads typed values from the core, with the session's bounds.
func (s *Session) Values() *values.Reader { return s.vr }

// CoroutineProfile is the coroutine runtime profile in use.
func (s *Session) CoroutineProfile() *coroutines.Profile { return s.coProf }

// AnalysisProfile is the fault-analysis profile in use.
func (s *Session) AnalysisProfile() *fault.Profile { return s.shared.AnalysisProfile() }

func (s *Session) progress(step string, done bool) {
	if s.o.Progress != nil {
		s.o.Progress(step, done)
	}
}

// Runtime is the coroutine runtime, discovered on the first call: the
// profile's walk of the scheduler's structures, each saved context checked
// where it is, and the memory sweep when the profile cannot account for
// every task (or FullScan). Processer threads are named after discovery.
// It never returns nil; a core without the runtime has no tasks and says
// why in its Warnings, or, when no module defines or calls a context
// switch routine (coroutines.Absent), in Absent without any discovery.
func (s *Session) Runtime() *coroutines.Runtime {
	rt := s.Discovered()
	rt.Confirm()
	return rt
}

// Discovered is the coroutine runtime as Runtime finds it, before the
// check of each saved context (coroutines.Runtime.Confirm, which unwinds
// every task): its tasks' ids, states, Processers and created-at data, the
// Processers' threads named. A debugger lists ten thousand tasks from it
// at once and unwinds each task when its stack is asked for; what reads
// FoundBy or the runtime's Warnings uses Runtime.
func (s *Session) Discovered() *coroutines.Runtime {
	s.rtOnce.Do(func() {
		// A core without any context switch routine has no runtime: it
		// pays for no type walk and no scan (the symbol names only).
		if why, absent := coroutines.Absent(s.p, s.coProf); absent {
			s.rt = coroutines.NoRuntime(s.p, s.coProf, why)
			return
		}
		s.progress("coroutines", false)
		defer s.progress("coroutines", true)
		s.rt = coroutines.Discover(s.p, s.coProf, coroutines.Options{FullScan: s.o.FullScan, NoConfirm: s.o.NoConfirm, DeferConfirm: s.o.DeferConfirm})
	})
	return s.rt
}

// RuntimeWith discovers the coroutine runtime with another profile, now,
// and keeps nothing: `profile init` trying the profile it wrote.
func (s *Session) RuntimeWith(p *coroutines.Profile) *coroutines.Runtime {
	return coroutines.Discover(s.p, p, coroutines.Options{FullScan: s.o.FullScan, NoConfirm: s.o.NoConfirm})
}

// Analysis is the fault analysis, made on the first call (it unwinds every
// thread and task).
func (s *Session) Analysis() *fault.Analysis {
	s.anOnce.Do(func() {
		rt := s.Runtime()
		s.progress("analysis", false)
		defer s.progress("analysis", true)
		w := s.Waits()
		s.an = fault.Analyze(s.p, rt, fault.Options{Profile: s.AnalysisProfile(), Logs: s.o.Logs, Dmesg: s.o.Dmesg,
			ConcurrencyWindowUS: s.o.ConcurrencyWindowUS, Values: s.vr, Waits: w, Stacks: s.Stacks})
		s.anMade.Store(s.an)
	})
	return s.an
}

// AnalysisIfMade is the fault analysis when it has been made, else nil: a
// face that only decorates with it (a holder's frame) never starts it.
func (s *Session) AnalysisIfMade() *fault.Analysis { return s.anMade.Load() }

// Warnings are the session's own: the core's and its files' (including
// debuginfod servers that failed). The runtime's and the analysis' are in
// Runtime().Warnings and Analysis().Warnings.
func (s *Session) Warnings() []string {
	out := append([]string(nil), s.p.Warnings...)
	out = append(out, s.p.SymbolWarnings()...)
	_, _, flog := s.shared.Finder.Report()
	out = append(out, flog...)
	s.mu.Lock()
	out = append(out, s.warnings...)
	s.mu.Unlock()
	return out
}

// Fetched lists the files downloaded from debuginfod ("ID/what from URL").
func (s *Session) Fetched() []string {
	fetched, _, _ := s.shared.Finder.Report()
	var out []string
	for k, u := range fetched {
		out = append(out, k+" from "+u)
	}
	return out
}

// OpenLibrary opens an ELF object with no core (symbolize): its separate
// debug file under o's debug-file directories, its symbol table keeping
// what it derives in o's cache.
func OpenLibrary(path string, o Options) (*coreparse.Library, error) {
	o = o.WithDefaults()
	return coreparse.OpenLibrary(path, o.DebugFileDirs, cachefile.New(o.CacheDir))
}
