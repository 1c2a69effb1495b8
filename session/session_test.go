package session_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/dsecore/dsecore/session"
)

// steps records the session's lazy steps as they start.
type steps struct {
	mu      sync.Mutex
	started []string
}

func (s *steps) hook(step string, done bool) {
	if !done {
		s.mu.Lock()
		s.started = append(s.started, step)
		s.mu.Unlock()
	}
}

func (s *steps) list() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.started, ",")
}

// TestLazySteps: opening a session and unwinding the crashing thread runs
// neither coroutine discovery nor the analysis; the first callers of
// Analysis (several at once) share one discovery and one analysis.
func TestLazySteps(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	var st steps
	s, err := session.Open(session.Options{Core: sc.Core, Exe: sc.Exe, Progress: st.hook})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := s.Process()
	fs, err := p.Backtrace(p.CrashedThread())
	if len(fs) < 10 {
		t.Fatalf("crashing stack: %d frames (%v)", len(fs), err)
	}
	if got := st.list(); got != "" {
		t.Errorf("a thread's backtrace ran %q", got)
	}
	const n = 4
	var wg sync.WaitGroup
	got := make([]any, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); got[i] = s.Analysis() }()
	}
	wg.Wait()
	for i := 1; i < n; i++ {
		if got[i] != got[0] {
			t.Errorf("caller %d got another analysis", i)
		}
	}
	if got := st.list(); got != "coroutines,analysis" {
		t.Errorf("steps %q, want one discovery then one analysis", got)
	}
	rt := s.Runtime()
	if len(rt.Tasks) != len(sc.Expected["tasks"].([]any)) || st.list() != "coroutines,analysis" {
		t.Errorf("runtime: %d tasks, steps %q", len(rt.Tasks), st.list())
	}
	if s.Analysis().Verdict == "" {
		t.Error("no verdict")
	}
}

// TestDefaults: the defaults are applied in one place, and a session says
// which profiles it uses.
func TestDefaults(t *testing.T) {
	o := session.Options{}.WithDefaults()
	if o.CoroutineProfile != session.DefaultCoroutineProfile || o.AnalysisProfile != session.DefaultAnalysisProfile ||
		o.MaxFrames != session.DefaultMaxFrames || o.MaxElements != session.DefaultMaxElements ||
		o.ConcurrencyWindowUS != session.DefaultConcurrencyWindowUS || len(o.DebugFileDirs) != 1 || o.DebugFileDirs[0] != "/usr/lib/debug" ||
		o.CacheDir == "" || o.MaxCoreSize != session.DefaultMaxCoreSize {
		t.Errorf("defaults %+v", o)
	}
	if session.DefaultCoroutineProfile != "ceph-dse" || session.DefaultAnalysisProfile != "dcache" {
		t.Errorf("default profiles %q, %q", session.DefaultCoroutineProfile, session.DefaultAnalysisProfile)
	}
	t.Setenv("XDG_CACHE_HOME", "/somewhere/cache")
	if d := session.DefaultCacheDir(); d != "/somewhere/cache/dsecore" {
		t.Errorf("DefaultCacheDir %q", d)
	}
	t.Setenv("DEBUGINFOD_TIMEOUT", "")
	if d := (session.Options{}).WithDefaults().DebuginfodTimeout; d != 10*time.Second {
		t.Errorf("default debuginfod timeout %v, the documented one is 10 s", d)
	}
	t.Setenv("DEBUGINFOD_TIMEOUT", "0") // not a timeout: the default
	if d := (session.Options{}).WithDefaults().DebuginfodTimeout; d != 10*time.Second {
		t.Errorf("DEBUGINFOD_TIMEOUT=0: timeout %v, want the default 10 s", d)
	}
	t.Setenv("DEBUGINFOD_TIMEOUT", "3")
	if d := (session.Options{}).WithDefaults().DebuginfodTimeout; d.Seconds() != 3 {
		t.Errorf("DEBUGINFOD_TIMEOUT=3: timeout %v", d)
	}
	// The debuginfod servers and size bound, from libdebuginfod's
	// variables when the options leave them unset; set (even to no
	// server), the options' own.
	t.Setenv("DEBUGINFOD_URLS", "https://a.example https://b.example")
	t.Setenv("DEBUGINFOD_MAXSIZE", "1000")
	o = session.Options{}.WithDefaults()
	if strings.Join(o.DebuginfodURLs, " ") != "https://a.example https://b.example" || o.DebuginfodMaxSize != 1000 {
		t.Errorf("from the environment: servers %q, max size %d", o.DebuginfodURLs, o.DebuginfodMaxSize)
	}
	o = session.Options{DebuginfodURLs: []string{}, DebuginfodMaxSize: 5}.WithDefaults()
	if o.DebuginfodURLs == nil || len(o.DebuginfodURLs) != 0 || o.DebuginfodMaxSize != 5 {
		t.Errorf("set in the options: servers %q, max size %d", o.DebuginfodURLs, o.DebuginfodMaxSize)
	}
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	s, err := session.Open(session.Options{Core: sc.Core, Exe: sc.Exe})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.CoroutineProfile().Name != "ceph-dse" || s.AnalysisProfile().Name != "dcache" || s.Values().MaxList != session.DefaultMaxElements {
		t.Errorf("profiles %s, %s; list bound %d", s.CoroutineProfile().Name, s.AnalysisProfile().Name, s.Values().MaxList)
	}
}

// TestProfilesReachTheAnalysis: an analysis profile named in the options is
// the one the analysis uses (its element states name the disposed node);
// a profile that cannot be loaded fails Open.
func TestProfilesReachTheAnalysis(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	prof := filepath.Join(t.TempDir(), "pool.yaml")
	os.WriteFile(prof, []byte("name: pool\nelement_state_field: state\nelement_states: {0xdead: RECYCLED-BY-THE-POOL}\n"), 0o644)
	s, err := session.Open(session.Options{Core: sc.Core, Exe: sc.Exe, AnalysisProfile: prof})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w := s.Analysis().ListWalk
	if w == nil || !strings.Contains(strings.Join(w.Findings, " "), "RECYCLED-BY-THE-POOL") {
		t.Errorf("the profile's state name is not in the walk: %+v", w)
	}
	for _, o := range []session.Options{{Core: sc.Core, CoroutineProfile: "no-such-profile"}, {Core: sc.Core, AnalysisProfile: "/no/such.yaml"}} {
		if s, err := session.Open(o); err == nil || !strings.Contains(err.Error(), "no") {
			t.Errorf("Open(%+v): %v", o, err)
			if s != nil {
				s.Close()
			}
		}
	}
}

// TestForkProfile: the coroutine profile is the session's option, and the
// runtime every face gets says which it used: on the fork fixture the
// default profile is adapted (four runtime keys and three of the sync
// primitives' — the fork renames libgo's routine_sync too —, each with its
// profile line), a
// profile file fits as written, a profile that cannot be loaded fails Open
// naming the file; RuntimeWith tries another profile without replacing the
// session's runtime.
func TestForkProfile(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.Fork)
	want := len(sc.Expected["tasks"].([]any))
	def, err := session.Open(session.Options{Core: sc.Core, Exe: sc.Exe})
	if err != nil {
		t.Fatal(err)
	}
	defer def.Close()
	rt := def.Runtime()
	if def.CoroutineProfile().Name != session.DefaultCoroutineProfile || rt.DescribeProfile() != "ceph-dse (built-in)" ||
		len(rt.Tasks) != want || rt.Resolution == nil || rt.Resolution.Count("adapted") != 7 || len(rt.Resolution.Lines()) != 7 {
		t.Errorf("default profile: %q, %d tasks (want %d), resolution %+v", rt.DescribeProfile(), len(rt.Tasks), want, rt.Resolution)
	}
	prof := filepath.Join(t.TempDir(), "fork.yaml")
	os.WriteFile(prof, []byte("base: ceph-dse\nname: ceph-dse-fork\nrunning: curTask_\ntask_count: nTasks_\n"+
		"hook_type: co::LinkedQueueHook\nqueues: {runnableQueue_: runnable, blockQueue_: block, newQueue_: new, gcQueue_: done}\n"+
		"waiter_rutex: waitingOn_\nrutex_waiters: sleepers_.head_\n"+
		`sync_types: {"libgo::Mutex": co_mutex, "libgo::RWMutexImpl": co_rwmutex, "libgo::ConditionVariable": co_condvar, "libgo::ChannelImplWithSignal": co_chan}`+"\n"), 0o644)
	s, err := session.Open(session.Options{Core: sc.Core, Exe: sc.Exe, CoroutineProfile: prof})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rt = s.Runtime()
	if rt.DescribeProfile() != "ceph-dse-fork ("+prof+")" || len(rt.Tasks) != want || rt.Resolution.Count("adapted") != 0 {
		t.Errorf("hand-written profile: %q, %d tasks (want %d), %d adapted", rt.DescribeProfile(), len(rt.Tasks), want, rt.Resolution.Count("adapted"))
	}
	if other := s.RuntimeWith(def.CoroutineProfile()); other.Resolution.Count("adapted") != 7 || s.Runtime() != rt {
		t.Errorf("RuntimeWith: %d adapted; the session's runtime replaced: %v", other.Resolution.Count("adapted"), s.Runtime() != rt)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("base: ceph-dse\nrunnning: curTask_\n"), 0o644)
	if _, err := session.Open(session.Options{Core: sc.Core, Exe: sc.Exe, CoroutineProfile: bad}); err == nil ||
		!strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "runnning") {
		t.Errorf("a profile with an unknown key: %v", err)
	}
}

// TestConcurrencyWindowReachesTheAnalysis: the session's window is the one
// the analysis uses: two threads logging "lsm_destroy start" 400 µs apart
// (each moving on 10 µs later) are concurrent with the default window
// (1000 µs, also when the option is 0) and not with 300 µs.
func TestConcurrencyWindowReachesTheAnalysis(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	var pthread [2]string
	var lwp [2]int
	for _, x := range sc.Expected["threads"].([]any) {
		m := x.(map[string]any)
		i := -1
		switch {
		case m["lwp"] == sc.Expected["crash_lwp"]:
			i = 0
		case m["name"] == "Processer_6":
			i = 1
		}
		if i >= 0 {
			pthread[i], lwp[i] = strings.TrimPrefix(m["pthread"].(string), "0x"), int(m["lwp"].(float64))
		}
	}
	var b strings.Builder
	for _, l := range []struct {
		us  int
		who int
		msg string
	}{{0, 0, "lsm_destroy start"}, {10, 0, "lsm 4 released"}, {400, 1, "lsm_destroy start"}, {410, 1, "lsm 5 released"}} {
		fmt.Fprintf(&b, "2026-12-07 01:34:02.%06d %s %d 13  INFO Dcache_lsm:%s\n", l.us, pthread[l.who], lwp[l.who], l.msg)
	}
	log := filepath.Join(t.TempDir(), "ceph-dse.engine.64.9.log")
	if err := os.WriteFile(log, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		window int64
		want   int
	}{{0, 1}, {session.DefaultConcurrencyWindowUS, 1}, {300, 0}} {
		s, err := session.Open(session.Options{Core: sc.Core, Exe: sc.Exe, Logs: []string{log}, ConcurrencyWindowUS: c.window})
		if err != nil {
			t.Fatal(err)
		}
		l := s.Analysis().Logs
		s.Close()
		if l == nil || l.Lines != 4 || len(l.Concurrent) != c.want {
			t.Errorf("window %d µs: %+v, want %d concurrent pair", c.window, l, c.want)
		}
	}
	if session.DefaultConcurrencyWindowUS != 1000 {
		t.Errorf("default window %d µs, the documented one is 1000", session.DefaultConcurrencyWindowUS)
	}
}

// TestSessionAccessors: a session says what it was opened with (the core
// as named, the options with defaults), makes the analysis only when
// asked (AnalysisIfMade is nil before), shares one table cache between
// sessions of a Shared (the same library parsed once), and its warnings
// are the core's.
func TestSessionAccessors(t *testing.T) {
	set := fixture.Get(t)
	sc := set.Scenario(t, fixture.FieldCrash)
	miss := set.Scenario(t, "missing-lib")
	sh, err := session.NewShared(session.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	s, err := session.Open(session.Options{Core: sc.Core, Exe: sc.Exe, Shared: sh, MaxElements: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.CorePath() != sc.Core || s.Options().MaxElements != 7 || s.Options().MaxFrames != session.DefaultMaxFrames || s.Options().Shared != sh {
		t.Errorf("core %q options %+v", s.CorePath(), s.Options())
	}
	if s.AnalysisIfMade() != nil {
		t.Error("the analysis was made before it was asked for")
	}
	a := s.Analysis()
	if s.AnalysisIfMade() != a || a == nil {
		t.Error("AnalysisIfMade is not the analysis made")
	}
	if len(s.Warnings()) != 0 || len(s.Fetched()) != 0 {
		t.Errorf("warnings %q, fetched %q", s.Warnings(), s.Fetched())
	}
	// A second session of the same build shares the parsed tables.
	s2, err := session.Open(session.Options{Core: sc.Core, Exe: sc.Exe, Shared: sh})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	lib := func(s *session.Session) any {
		for _, m := range s.Process().Modules {
			if m.BaseName() == "libdcache.so" {
				return m.Syms
			}
		}
		return nil
	}
	if lib(s) == nil || lib(s) != lib(s2) {
		t.Errorf("libdcache.so's tables not shared: %p, %p", lib(s), lib(s2))
	}
	// The missing library: the core's warning, in Warnings.
	s3, err := session.Open(session.Options{Core: miss.Core})
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if w := strings.Join(s3.Warnings(), "\n"); !strings.Contains(w, "libdcache.so: no local file found") {
		t.Errorf("missing library's warnings: %s", w)
	}
	if _, err := session.Open(session.Options{}); err == nil || !strings.Contains(err.Error(), "no core file given") {
		t.Errorf("no core: %v", err)
	}
	if _, err := session.Open(session.Options{Core: sc.Core, CoroutineProfile: "no-such-profile"}); err == nil {
		t.Error("an unknown coroutine profile opened")
	}
}

// TestCacheDirHandedIn: the cache directory of the options is where the
// session's files keep what they derive (libc's inflated debug sections,
// symbol layouts, indexes, under dwarf/), and nothing is written to the
// default cache ($XDG_CACHE_HOME); sessions opened with a Shared use its
// settings (its profiles, loaded once by NewShared, which fails on a
// profile it cannot load before any core is read).
func TestCacheDirHandedIn(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	xdg := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", xdg)
	dir := filepath.Join(t.TempDir(), "cache")
	s, err := session.Open(session.Options{Core: sc.Core, Exe: sc.Exe, CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	p := s.Process()
	if _, err := p.Backtrace(p.CrashedThread()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	derived, _ := filepath.Glob(filepath.Join(dir, "dwarf", "*", "*"))
	if len(derived) == 0 {
		t.Errorf("nothing derived in the cache directory given (%s)", dir)
	}
	if ents, _ := os.ReadDir(xdg); len(ents) != 0 {
		t.Errorf("the default cache was written: %v", ents)
	}

	if _, err := session.NewShared(session.Options{CoroutineProfile: "no-such-profile"}); err == nil || !strings.Contains(err.Error(), "no-such-profile") {
		t.Errorf("NewShared with a profile that cannot be loaded: %v", err)
	}
	prof := filepath.Join(t.TempDir(), "pool.yaml")
	os.WriteFile(prof, []byte("name: pool\n"), 0o644)
	sh, err := session.NewShared(session.Options{AnalysisProfile: prof, CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	os.Remove(prof) // loaded once: the sessions do not read it again
	s, err = session.Open(session.Options{Core: sc.Core, Exe: sc.Exe, Shared: sh})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.AnalysisProfile() != sh.AnalysisProfile() || s.AnalysisProfile().Name != "pool" || s.CoroutineProfile() != sh.CoroutineProfile() {
		t.Errorf("the session's profiles are not the shared ones: %s, %s", s.AnalysisProfile().Name, s.CoroutineProfile().Name)
	}
}
