package signature

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/coreparse"
)

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"boost::intrusive::list_node_traits<void*>::get_next": "boost::intrusive::list_node_traits::get_next",
		"boost::intrusive::list_impl<boost::intrusive::mhtraits<dm_obj_t, X, &dm_obj_t::hook>, long unsigned int, true, void>::erase_and_dispose<dm_hash_node_t::delete_dm_obj_t>": "boost::intrusive::list_impl::erase_and_dispose",
		"dm_hash_node_t::clear()":                              "dm_hash_node_t::clear",
		"(anonymous namespace)::release_wait(dm_hash_node_t*)": "(anonymous namespace)::release_wait",
		"lsm_destroy+0x1c":                                     "lsm_destroy",
		"smart_ptr<T>::operator->()":                           "smart_ptr::operator->",
		"bool operator>(a const&, a const&)":                   "bool operator>",
		"lsm_destroy+0x1c+0x2":                                 "lsm_destroy",
		"lsm_destroy +0xAB ":                                   "lsm_destroy",
		"0+0x+0x":                                              "0+0x+0x",
		"lsm+0xzz":                                             "lsm+0xzz",
		"+0x10":                                                "+0x10",
		"f<int>+0x1c(x)":                                       "f",
		"std::function<void()>::operator()":                    "std::function::operator",
		"bool operator<<int>(int const&, int const&)":          "bool operator<",
		"std::vector<int, std::allocator<int> >::_M_realloc_insert": "std::vector::_M_realloc_insert",
		"std::basic_ostream<char, std::char_traits<char> >& std::__ostream_insert<char, std::char_traits<char> >(std::basic_ostream<char, std::char_traits<char> >&, char const*, long)": "std::__ostream_insert",
		"void std::__insertion_sort<int*, __gnu_cxx::__ops::_Iter_less_iter>(int*, int*, __gnu_cxx::__ops::_Iter_less_iter)":                                                             "std::__insertion_sort",
		"unsigned long (anonymous namespace)::count<int>(int)":        "(anonymous namespace)::count",
		"virtual thunk to std::basic_ostream<char>::~basic_ostream()": "virtual thunk to std::basic_ostream::~basic_ostream",
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDistance(t *testing.T) {
	a := []string{"f", "g", "h", "i", "j"}
	if d := Distance(a, []string{"f", "g", "h", "x", "y"}); d != 2 {
		t.Errorf("distance %d", d)
	}
	if d := Distance(a, a[:3]); d != 2 {
		t.Errorf("distance to a prefix %d", d)
	}
	if d := Distance(a[:3], a); d != 2 {
		t.Errorf("distance from a prefix %d", d)
	}
}

// TestNormalizeSpaces: blanks around a name change nothing (a name cut
// from gdb's or a log's text may keep them), a template function's
// return type included.
func TestNormalizeSpaces(t *testing.T) {
	for _, n := range []string{"a<int> b(x)", "unsigned long (anonymous namespace)::count<int>(int)", "dm_hash_node_t::clear()", "f<int>+0x1c(x)"} {
		if got, want := Normalize(" "+n+" "), Normalize(n); got != want {
			t.Errorf("Normalize(%q) = %q, Normalize(%q) = %q", " "+n+" ", got, n, want)
		}
	}
}

// TestFirstFrame: the first frame a signature hashes, counted in the
// whole stack: below the signal frame, past the raising machinery; -1
// when no frame is the application's.
func TestFirstFrame(t *testing.T) {
	app := &coreparse.Module{Name: "/opt/ceph-dse/lib/libdcache.so"}
	libc := &coreparse.Module{Name: "/lib/x86_64-linux-gnu/libc.so.6"}
	for _, c := range []struct {
		frames []coreparse.Frame
		want   int
	}{
		{[]coreparse.Frame{{Function: "handler", Mod: app}, {Sigtramp: true}, {Function: "abort", Mod: app}, {Function: "raise", Mod: app}, {Function: "dm_hash_node_t::clear()", Mod: app}}, 4},
		{[]coreparse.Frame{{Function: "memcpy", Mod: libc}, {Function: "lsm_destroy", Mod: app}}, 1},
		{[]coreparse.Frame{{Function: "abort", Mod: app}, {Function: "x", Mod: libc}}, -1},
		{nil, -1},
	} {
		if got := FirstFrame(c.frames); got != c.want {
			t.Errorf("FirstFrame(%+v) = %d, want %d", c.frames, got, c.want)
		}
	}
}

// TestHang: a hang's shape, its parts joined by " + ", is its frames
// (blank parts dropped), hashed with the hang version.
func TestHang(t *testing.T) {
	s := Hang("watchdog: a + deadlock: b ← c")
	want := []string{"watchdog: a", "deadlock: b ← c"}
	sum := sha256.Sum256([]byte("hang-v1\nwatchdog: a\ndeadlock: b ← c"))
	if strings.Join(s.Frames, "|") != strings.Join(want, "|") || strings.Join(s.Raw, "|") != strings.Join(want, "|") || s.Version != HangVersion || s.Hash != hex.EncodeToString(sum[:]) {
		t.Errorf("Hang: %+v", s)
	}
	if o := Hang(" watchdog: a +  + deadlock: b ← c "); o.Hash != s.Hash || len(o.Frames) != 2 {
		t.Errorf("the same shape with blanks: %+v", o)
	}
	if o := Hang("watchdog: a"); o.Hash == s.Hash {
		t.Errorf("another shape, the same hash %s", o.Hash)
	}
	if e := Hang(" + "); len(e.Frames) != 0 {
		t.Errorf("an empty shape: %+v", e)
	}
}

// TestCompute: the frames hashed are the real fault's (below the signal
// frame), without the C library's abort machinery, the coroutine
// trampolines, system libraries and scheduler boundaries; names
// normalized, Raw keeping template arguments; a frame without a symbol is
// its module and offset (the signature degraded); the first n, hashed as
// the package says.
func TestCompute(t *testing.T) {
	app := &coreparse.Module{Name: "/opt/ceph-dse/lib/libdcache.so", Bias: 0x7f0000000000}
	exe := &coreparse.Module{Name: "/opt/ceph-dse/bin/ceph-dse", Bias: 0x555500000000}
	libc := &coreparse.Module{Name: "/lib/x86_64-linux-gnu/libc.so.6"}
	frames := []coreparse.Frame{
		{Function: "__pthread_kill_implementation", Mod: libc},
		{Function: "ceph_sig::handle_fatal_signal(int)", Mod: exe},
		{Function: "<signal handler called>", Sigtramp: true},
		{Function: "boost::intrusive::list_node_traits<void*>::get_next", Mod: app, Inline: true},
		{Function: "raise", Mod: app},
		{Function: "dm_hash_node_t::clear()", Mod: app},
		{Function: "", PC: 0x7f0000001234, Mod: app},
		{Boundary: true},
		{Function: "co::Task::StaticRun", Mod: exe},
		{Function: "memcpy", Mod: libc},
		{Function: "??", PC: 0x99, Mod: libc},
		{Function: "lsm_destroy(lsm_t*)", Mod: exe},
		{Function: "main", Mod: exe},
		{Function: "after_the_fifth", Mod: exe},
	}
	s := Compute(frames, 0)
	want := []string{"boost::intrusive::list_node_traits::get_next", "dm_hash_node_t::clear", "libdcache.so+0x1234", "lsm_destroy", "main"}
	raw := []string{"boost::intrusive::list_node_traits<void*>::get_next", "dm_hash_node_t::clear", "libdcache.so+0x1234", "lsm_destroy", "main"}
	if strings.Join(s.Frames, "|") != strings.Join(want, "|") || strings.Join(s.Raw, "|") != strings.Join(raw, "|") || !s.Degraded || s.Version != "v1" {
		t.Errorf("Compute: %+v", s)
	}
	sum := sha256.Sum256([]byte(strings.Join(want, "\n")))
	if s.Hash != hex.EncodeToString(sum[:]) || s.ID() != "v1:"+s.Hash {
		t.Errorf("hash %s, want sha256 of the frames joined by newlines", s.ID())
	}
	// n frames; a stack without a signal frame starts at frame 0.
	two := Compute(frames[3:], 2)
	if strings.Join(two.Frames, "|") != strings.Join(want[:2], "|") || two.Degraded {
		t.Errorf("Compute(n=2): %+v", two)
	}
	if none := Compute([]coreparse.Frame{{Function: "abort", Mod: exe}, {Function: "x", Mod: libc}}, 0); len(none.Frames) != 0 || none.Hash != hex.EncodeToString(sha256.New().Sum(nil)) {
		t.Errorf("no application frame: %+v", none)
	}
	if DefaultFrames != 5 || Version != "v1" {
		t.Errorf("DefaultFrames %d, Version %s", DefaultFrames, Version)
	}
}

// TestStripParams: only the argument list goes.
func TestStripParams(t *testing.T) {
	for in, want := range map[string]string{
		"a<int>::b(c)":                  "a<int>::b",
		"f<void(int)>::g(int)":          "f<void(int)>::g",
		"(anonymous namespace)::f(int)": "(anonymous namespace)::f",
		"g":                             "g",
		"x> y(":                         "x> y",
	} {
		if got := stripParams(in); got != want {
			t.Errorf("stripParams(%q) = %q, want %q", in, got, want)
		}
	}
}
