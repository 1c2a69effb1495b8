package main

import (
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/dsecore/dsecore/internal/testsupport/gdboracle"
	"github.com/dsecore/dsecore/internal/testsupport/lldboracle"
	"github.com/dsecore/dsecore/report"
)

// The split-DWARF variants gdb 13 cannot read, held to lldb-16 instead.

// physical is one physical frame: its inline frames (innermost first)
// then the function they are inlined into.
type physical[F any] struct {
	pc     uint64
	frames []F
}

// compareLLDB holds a core's frames to lldb-16's (lldboracle, in gdb's
// terms) where gdb 13 cannot read the debug information: every physical
// frame's pc and kind (signal frame or not), and in the variant's own
// modules (own: ceph-dse, libdcache.so, whose split units are the test)
// every inline frame's function and source line. gdb's tail-call frames
// (rebuilt from DW_TAG_call_site, which lldb-16 does not do) and the null
// return address gdb and dsecore end a stack with are left out; names in
// the system's libraries are not compared (lldb names glibc's aliases
// otherwise: __clone3 for gdb's clone3).
func compareLLDB(t *testing.T, exe, core string, lthreads []gdboracle.Thread, own map[string]bool, flags ...string) {
	t.Helper()
	doc := runBt(t, exe, core, flags...)
	ours := map[int][]physical[report.Frame]{}
	for _, th := range doc.Threads {
		var ps []physical[report.Frame]
		open := false
		for i, f := range th.Frames {
			pc, err := strconv.ParseUint(f.PC, 0, 64)
			if err != nil {
				t.Fatalf("LWP %d: bad pc %q", th.LWP, f.PC)
			}
			if f.Tailcall || pc == 0 && i == len(th.Frames)-1 {
				continue
			}
			if !open {
				ps = append(ps, physical[report.Frame]{pc: pc})
			}
			ps[len(ps)-1].frames = append(ps[len(ps)-1].frames, f)
			open = f.Inline
		}
		ours[th.LWP] = ps
	}
	if len(doc.Threads) != len(lthreads) {
		t.Errorf("%d threads, lldb %d", len(doc.Threads), len(lthreads))
	}
	phys, samePhys, inl, sameInl, lines, sameLines := 0, 0, 0, 0, 0, 0
	for _, lt := range lthreads {
		var theirs []physical[gdboracle.Frame]
		open := false
		for _, f := range lt.Frames {
			if !open {
				theirs = append(theirs, physical[gdboracle.Frame]{pc: f.PC})
			}
			theirs[len(theirs)-1].frames = append(theirs[len(theirs)-1].frames, f)
			open = f.Inline
		}
		o, ok := ours[lt.LWP]
		if !ok {
			t.Errorf("thread LWP %d: missing (lldb has it)", lt.LWP)
			continue
		}
		if len(o) != len(theirs) {
			t.Errorf("LWP %d: %d physical frames, lldb %d", lt.LWP, len(o), len(theirs))
		}
		for i := 0; i < len(o) && i < len(theirs); i++ {
			a, b := o[i], theirs[i]
			phys++
			outer, bouter := a.frames[len(a.frames)-1], b.frames[len(b.frames)-1]
			if a.pc != b.pc || outer.Sigtramp != bouter.Sigtramp {
				t.Errorf("LWP %d physical frame %d: %#x %s (sigtramp %v), lldb %#x %s (sigtramp %v)", lt.LWP, i, a.pc, outer.Function, outer.Sigtramp, b.pc, bouter.Name, bouter.Sigtramp)
				break
			}
			samePhys++
			if !own[outer.Module] {
				continue
			}
			if len(a.frames) != len(b.frames) {
				t.Errorf("LWP %d physical frame %d (%#x): %d frames (inline ones included), lldb %d:\n  ours: %s\n  lldb: %s", lt.LWP, i, a.pc,
					len(a.frames), len(b.frames), names(a.frames, func(f report.Frame) string { return f.Function }), names(b.frames, func(f gdboracle.Frame) string { return f.Name }))
				continue
			}
			for j := range a.frames {
				x, y := a.frames[j], b.frames[j]
				inl++
				if lldbComparable(x.Function) != lldbComparable(y.Name) {
					t.Errorf("LWP %d %#x frame %d: function %q, lldb %q", lt.LWP, a.pc, j, x.Function, y.Name)
					continue
				}
				sameInl++
				lines++
				if filepath.Base(x.File) == y.File && x.Line == y.Line {
					sameLines++
				} else {
					t.Errorf("LWP %d %#x %s: line %s:%d, lldb %s:%d", lt.LWP, a.pc, x.Function, filepath.Base(x.File), x.Line, y.File, y.Line)
				}
			}
		}
	}
	t.Logf("%s: %d/%d physical frames equal to lldb's (pc, kind); in %v, %d/%d frames (inline ones included) by function and %d/%d by source line",
		filepath.Base(filepath.Dir(filepath.Dir(core))), samePhys, phys, mapKeys(own), sameInl, inl, sameLines, lines)
	if phys == 0 || inl == 0 {
		t.Errorf("nothing compared")
	}
}

// cephDseDwos counts ceph-dse's split units among a dwp4 variant's .dwo
// files (named <module>-<source>.dwo).
func cephDseDwos(dwos []string) int {
	n := 0
	for _, d := range dwos {
		if strings.HasPrefix(filepath.Base(d), "ceph-dse-") {
			n++
		}
	}
	return n
}

// lldbComparable is a function's name as both dsecore (gdb's spelling)
// and lldb-16 can be held to: lambdas as {lambda}, no template arguments,
// no trailing argument list or qualifiers, no return type. lldb spells
// what is inside template arguments its own way (a lambda is 'lambda'()
// where gdb says {lambda()#1}, ">>" for "> >", enable_if's ::type and the
// return type of a template function kept), so those are compared by the
// source line each frame names instead.
func lldbComparable(name string) string {
	n := strings.ReplaceAll(name, "(anonymous namespace)", "{anon}")
	n = lldbLambda.ReplaceAllString(n, "{lambda}")
	var b strings.Builder
	depth := 0
	for i := 0; i < len(n); i++ {
		switch {
		case n[i] == '<' && !strings.HasSuffix(n[:i], "operator"):
			depth++
		case n[i] == '>' && depth > 0:
			depth--
		case depth == 0:
			b.WriteByte(n[i])
		}
	}
	n = strings.TrimSpace(b.String())
	for _, q := range []string{" const", " &&", " &", " volatile"} {
		n = strings.TrimSuffix(n, q)
	}
	if strings.HasSuffix(n, ")") {
		d := 0
		for i := len(n) - 1; i >= 0; i-- {
			if n[i] == ')' {
				d++
			} else if n[i] == '(' {
				if d--; d == 0 {
					if !strings.HasSuffix(n[:i], "operator") {
						n = n[:i]
					}
					break
				}
			}
		}
	}
	d, cut := 0, -1
	for i := 0; i < len(n); i++ {
		switch n[i] {
		case '(':
			d++
		case ')':
			d--
		case ' ':
			if d == 0 {
				cut = i
			}
		}
	}
	return n[cut+1:]
}

var lldbLambda = regexp.MustCompile(`\{lambda\([^)]*\)#\d+\}|'lambda\d*'\([^)]*\)`)

func names[F any](fs []F, name func(F) string) string {
	var out []string
	for _, f := range fs {
		out = append(out, name(f))
	}
	return strings.Join(out, " ← ")
}

func mapKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestVariantDWP5MatchesLLDB: clang-16's DWARF 5 split units packaged by
// llvm-dwp-16, which gdb 13 cannot read (it dies of a segmentation fault)
// and eu-stack 0.188 cannot either (no .dwp support; with the .dwo files
// beside, it names no inline frame and no line of them): every thread's
// frames against lldb-16's.
func TestVariantDWP5MatchesLLDB(t *testing.T) {
	v := fixture.GetVariants(t).Variant(t, fixture.VariantDWP5)
	lthreads, err := lldboracle.Backtraces(v.Exe, v.Core, lldboracle.Options{})
	if err != nil {
		t.Fatal(err)
	}
	compareLLDB(t, v.Exe, v.Core, lthreads, map[string]bool{"ceph-dse": true, "libdcache.so": true}, variantFlags(v)...)
}

// TestLLDBComparable: lldb-16's spelling of the dwp5 frames' functions and
// gdb's meet; different functions stay different.
func TestLLDBComparable(t *testing.T) {
	for _, c := range []struct {
		ours, lldb string
		same       bool
	}{
		{"std::__invoke_impl<void, (anonymous namespace)::EngineMgr::destroy_engines(std::vector<int, std::allocator<int> >, int)::{lambda()#1}&>",
			"void std::__invoke_impl<void, (anonymous namespace)::EngineMgr::destroy_engines(std::vector<int, std::allocator<int>>, int)::'lambda'()&>(std::__invoke_other, (anonymous namespace)::EngineMgr::destroy_engines(std::vector<int, std::allocator<int>>, int)::'lambda'()&)", true},
		{"(anonymous namespace)::EngineMgr::destroy_engines(std::vector<int, std::allocator<int> >, int)::{lambda()#1}::operator()",
			"(anonymous namespace)::EngineMgr::destroy_engines(std::vector<int, std::allocator<int>>, int)::'lambda'()::operator()() const", true},
		{"std::condition_variable::wait<co::Processer::Process()::$_0>",
			"void std::condition_variable::wait<co::Processer::Process()::$_0>(std::unique_lock<std::mutex>&, co::Processer::Process()::$_0)", true},
		{"std::thread::_Invoker<std::tuple<co::Scheduler::Start(int, int)::$_0> >::_M_invoke<0UL>",
			"void std::thread::_Invoker<std::tuple<co::Scheduler::Start(int, int)::$_0>>::_M_invoke<0ul>(std::_Index_tuple<0ul>)", true},
		{"std::__invoke_r<void, (anonymous namespace)::EngineMgr::destroy_engines(std::vector<int, std::allocator<int> >, int)::{lambda()#1}&>",
			"std::enable_if<is_invocable_r_v<void, (anonymous namespace)::EngineMgr::destroy_engines(std::vector<int, std::allocator<int>>, int)::'lambda'()&>, void>::type std::__invoke_r<void, (anonymous namespace)::EngineMgr::destroy_engines(std::vector<int, std::allocator<int>>, int)::'lambda'()&>((anonymous namespace)::EngineMgr::destroy_engines(std::vector<int, std::allocator<int>>, int)::'lambda'()&)", true},
		{"dm_hash_node_t::clear", "dm_hash_node_t::clear()", true},
		{"dm_hash_node_t::clear", "dm_hash_node_t::release_obj(dm_obj_t*)", false},
		{"std::__invoke_r<void, X&>", "void std::__invoke_impl<void, X&>(X&)", false},
	} {
		if got := lldbComparable(c.ours) == lldbComparable(c.lldb); got != c.same {
			t.Errorf("%q (%q) vs %q (%q): same %v, want %v", c.ours, lldbComparable(c.ours), c.lldb, lldbComparable(c.lldb), got, c.same)
		}
	}
}
