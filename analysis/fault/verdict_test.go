package fault_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/analysis/fault"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/dsecore/dsecore/internal/testsupport/fixtureproc"
	"github.com/dsecore/dsecore/internal/testsupport/gdboracle"
	"github.com/dsecore/dsecore/internal/testsupport/testcore"
	"github.com/dsecore/dsecore/session"
)

// verdictCase is what one variant's verdict must say, and must not.
type verdictCase struct {
	name     string
	contains func(sc *fixture.Scenario) []string
	rules    []string // must fire
	never    []string // must not fire
	memRef   string   // an evidence Ref the verdict must point at
}

// TestVerdictUsesMemory: the one verdict names the strongest holder and how
// it holds the object (path, variable and type, frame), and the heap's
// rule with where the chunk sits; no rule fires that the variant's truth
// does not support.
func TestVerdictUsesMemory(t *testing.T) {
	set := fixture.Get(t)
	concurrent := []string{"shared-object", "verdict-concurrent-release"}
	heapRules := []string{"heap-use-after-free", "heap-double-free", "heap-corruption", "heap-invalid-free", "verdict-use-after-free", "verdict-double-free", "malloc-abort"}
	single := []string{"shared-object", "same-operation", "log-concurrent", "verdict-concurrent-release"}
	chunkText := func(sc *fixture.Scenario) string {
		h := sc.Expected["heap"].(map[string]any)
		return fmt.Sprintf("chunk %s (size %s)", h["chunk"], h["size"])
	}
	binText := func(sc *fixture.Scenario) string {
		h := sc.Expected["heap"].(map[string]any)
		return fmt.Sprintf("in thread LWP %v (%v)'s tcache bin %v", h["thread_lwp"], h["thread_name"], h["tcache_bin"])
	}
	cases := []verdictCase{
		{name: fixture.FieldCrash, contains: func(sc *fixture.Scenario) []string {
			return []string{
				fmt.Sprintf("Another path was on the same object: task %d (Processer %v, block) holds the owner dm_hash_node_t %s as `node` (parameter `node` of type dm_hash_node_t *, frame #3 (anonymous namespace)::release_wait ← lsm_release_all_csdobj ← lsm_destroy)",
					theOtherPath(t, sc), sc.Expected["racing_tasks"].([]any)[1].(map[string]any)["processer"], sc.Expected["node"]),
				fmt.Sprintf("Likely concurrent destruction (double release) of the objects of dm_hash_node_t %s by two paths: %s, and task %d (Processer %v, block) in (anonymous namespace)::release_wait ← lsm_release_all_csdobj ← lsm_destroy.",
					sc.Expected["node"], crashPath(t, sc), theOtherPath(t, sc), sc.Expected["racing_tasks"].([]any)[1].(map[string]any)["processer"]),
			}
		}, rules: concurrent, never: heapRules, memRef: "memory.holders[0]"},
		{name: fixture.PointerChain, contains: func(sc *fixture.Scenario) []string {
			h := sc.Expected["holder"].(map[string]any)
			p := h["paths"].([]any)[0].(map[string]any)
			return []string{
				fmt.Sprintf("Another path was on the same object: thread LWP %v", h["lwp"]),
				fmt.Sprintf("holds the owner dm_hash_node_t %s as `%s` (a pointer chain of 1 hop from parameter `%s` of type %s, frame #1 %s ← lsm_release_all_csdobj ← lsm_destroy)",
					h["object"], p["expr"], p["variable"], p["type"], p["function"]),
				// (the other thread is named after its entry routine: the core names it not)
				fmt.Sprintf("Likely concurrent destruction (double release) of the objects of dm_hash_node_t %s by two paths: %s, and thread LWP %v ",
					h["object"], crashPath(t, sc), h["lwp"]),
				fmt.Sprintf(") in %s ← lsm_release_all_csdobj ← lsm_destroy.", p["function"]),
			}
		}, rules: concurrent, never: heapRules, memRef: "memory.holders[0]"},
		{name: fixture.TcacheUAF, contains: func(sc *fixture.Scenario) []string {
			h := sc.Expected["heap"].(map[string]any)
			return []string{
				fmt.Sprintf("Use after free: %%rbx = %s is the tcache next word free() wrote into the freed object %s", h["next_word"], h["mem"]),
				chunkText(sc) + ", which is free, " + binText(sc),
				"Likely a use-after-free in this thread's own path",
			}
		}, rules: []string{"heap-use-after-free", "verdict-use-after-free"}, never: append(single, "heap-double-free", "malloc-abort", "heap-corruption"), memRef: "memory.heap[0]"},
		{name: fixture.DoubleFree, contains: func(sc *fixture.Scenario) []string {
			h := sc.Expected["heap"].(map[string]any)
			return []string{
				`abort() by glibc's malloc: "free(): double free detected in tcache 2".`,
				fmt.Sprintf("Double free: %s is freed again: %s is already free, %s", h["mem"], chunkText(sc), binText(sc)),
				"Likely a double free in this thread's own path",
			}
		}, rules: []string{"heap-double-free", "malloc-abort", "verdict-double-free"}, never: append(single, "heap-use-after-free", "verdict-use-after-free", "heap-corruption"), memRef: "memory.heap[0]"},
		{name: fixture.UseAfterFree, contains: func(*fixture.Scenario) []string {
			return []string{"poison byte 0x6b", "Likely a use-after-free in this thread's own path"}
		}, rules: []string{"verdict-use-after-free"}, never: append(single, "heap-double-free", "malloc-abort", "heap-corruption")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sc := set.Scenario(t, c.name)
			a := analyze(t, sc, fault.Options{})
			if a.Memory == nil || !a.Memory.HeapKnown {
				t.Fatalf("memory %+v", a.Memory)
			}
			for _, s := range c.contains(sc) {
				if !strings.Contains(a.Verdict, s) {
					t.Errorf("verdict lacks %q:\n%s", s, a.Verdict)
				}
			}
			for _, r := range c.rules {
				if !hasRule(a, r) {
					t.Errorf("rule %s did not fire: %v", r, a.Rules)
				}
			}
			for _, r := range c.never {
				if hasRule(a, r) {
					t.Errorf("rule %s fired: %v", r, a.Rules)
				}
			}
			if c.memRef != "" {
				found := false
				for _, e := range a.Evidence {
					found = found || e.Ref == c.memRef
				}
				if !found {
					t.Errorf("no evidence points at %s: %+v", c.memRef, a.Evidence)
				}
			}
		})
	}
}

// TestVerdictWhere: the verdict's first sentence says where the fault is
// as gdb does at the faulting pc: the inline chain innermost first, the
// innermost frame's file and line, and, when the chain spans more than
// one source position, the concrete frame's (the outermost inline call
// site). tcache-uaf faults in a function with nothing inlined at the pc:
// one position, said once.
func TestVerdictWhere(t *testing.T) {
	set := fixture.Get(t)
	for _, name := range []string{fixture.FieldCrash, fixture.NoHandler, fixture.UseAfterFree, fixture.TcacheUAF} {
		t.Run(name, func(t *testing.T) {
			sc := set.Scenario(t, name)
			a := analyze(t, sc, fault.Options{})
			threads, err := gdboracle.Backtraces(sc.Exe, sc.Core, gdboracle.Options{})
			if err != nil {
				t.Fatal(err)
			}
			lwp := int(sc.Expected["crash_lwp"].(float64))
			var at []gdboracle.Frame // gdb's frames at the fault pc: the inline chain, then the concrete frame
			for _, th := range threads {
				if th.LWP != lwp || len(th.Frames) == 0 {
					continue
				}
				pc := th.Frames[0].PC // without a handler the fault is frame #0
				if ip, ok := sc.Expected["fault_ip"]; ok {
					pc = fixture.Hex(t, ip)
				}
				for _, fr := range th.Frames {
					if fr.PC == pc && (len(at) == 0 || at[len(at)-1].Type == "INLINE") {
						at = append(at, fr)
					}
				}
			}
			if len(at) == 0 || at[len(at)-1].Type != "NORMAL" {
				t.Fatalf("gdb has no concrete frame at the fault of LWP %d: %+v", lwp, at)
			}
			in, out := at[0], at[len(at)-1]
			loc := fmt.Sprintf("%s:%d", in.File, in.Line)
			if out.File != in.File || out.Line != in.Line {
				loc += fmt.Sprintf("; %s:%d", out.File, out.Line)
			}
			want := fmt.Sprintf(" in %s (%s): ", out.Name, loc)
			if len(at) > 1 {
				want = fmt.Sprintf(" in %s inlined in ", in.Name)
				if n := strings.Count(a.Verdict, " inlined in "); n != len(at)-1 {
					t.Errorf("verdict names %d inline levels, gdb %d: %q", n, len(at)-1, a.Verdict)
				}
				if s := fmt.Sprintf(" inlined in %s (%s): ", out.Name, loc); !strings.Contains(a.Verdict, s) {
					t.Errorf("verdict lacks %q: %q", s, a.Verdict)
				}
			}
			if !strings.Contains(strings.SplitN(a.Verdict, ". ", 2)[0], want) {
				t.Errorf("verdict's first sentence lacks %q: %q", want, a.Verdict)
			}
		})
	}
}

// TestVerdictEvidence: the field crash's evidence lines and the verdict's
// middle sentences, against what the program wrote before crashing: the
// owner at the program's node; the container-of offset of its objects'
// hooks (hook − address in expected.json); the link the NULL (or the
// pool's poison) was loaded from, `mov (%rbx),%rbx` walking next_ as
// TestConcurrentRelease reads the instruction; the handler's line naming
// the crashed thread by the pthread and LWP the handler saw; the
// instrumentation rule only on the coverage build.
func TestVerdictEvidence(t *testing.T) {
	set := fixture.Get(t)
	for _, name := range []string{fixture.FieldCrash, fixture.NoHandler, fixture.Coverage, fixture.UseAfterFree, fixture.TcacheUAF} {
		t.Run(name, func(t *testing.T) {
			sc := set.Scenario(t, name)
			ex := sc.Expected
			a := analyze(t, sc, fault.Options{})
			ev := map[string][]string{}
			for _, e := range a.Evidence {
				ev[e.Rule] = append(ev[e.Rule], e.Text)
			}
			one := func(rule, want string) {
				t.Helper()
				if len(ev[rule]) != 1 || !strings.Contains(ev[rule][0], want) {
					t.Errorf("%s evidence %q, want one with %q", rule, ev[rule], want)
				}
			}
			none := func(rule string) {
				t.Helper()
				if len(ev[rule]) != 0 || hasRule(a, rule) {
					t.Errorf("%s fired: %q", rule, ev[rule])
				}
			}
			if name == fixture.TcacheUAF {
				// The release queue's walk loaded %rbx from a freed
				// request's next_: not NULL, not the pool's poison, but
				// the tcache's word; no owner object (the function is no
				// method).
				one("loaded-from-list-link", "%rbx was loaded from the previous node's next_")
				for _, r := range []string{"owner-object", "container-of", "instrumentation"} {
					none(r)
				}
				if strings.Contains(a.Verdict, "next_ link, which") {
					t.Errorf("verdict says the link was NULL or poison: %q", a.Verdict)
				}
				return
			}
			one("owner-object", fmt.Sprintf("dm_hash_node_t at %s ", ex["node"]))
			o := ex["objs"].([]any)[0].(map[string]any)
			off := fixture.Hex(t, o["hook"]) - fixture.Hex(t, o["address"])
			one("container-of", fmt.Sprintf("elements are dm_obj_t with the hook at %#x ", off))
			// The compiled walk subtracts the same offset from the hook
			// before the disposer's call: the code agrees with DWARF.
			one("container-of", fmt.Sprintf("the code agrees (code: sub    $%#x,%%", off))
			one("loaded-from-list-link", "%rbx was loaded from the previous node's next_")
			link := "%rbx came from the previous node's next_ link, which was NULL"
			if name == fixture.UseAfterFree {
				link = "%rbx came from the previous node's next_ link, which held poison"
			}
			if !strings.Contains(a.Verdict, link) {
				t.Errorf("verdict lacks %q: %q", link, a.Verdict)
			}
			if ex["handler"].(bool) {
				one("handler-thread", fmt.Sprintf("(pthread %s, LWP %v)", ex["crash_pthread"], ex["crash_lwp"]))
			} else {
				none("handler-thread")
			}
			if name == fixture.Coverage {
				if len(ev["instrumentation"]) != 1 {
					t.Errorf("instrumentation evidence %q", ev["instrumentation"])
				}
			} else {
				none("instrumentation")
			}
		})
	}
}

// TestVerdictSentences: which sentences the verdict is made of (by their
// catalog id), from what each program did: a single path (use-after-free,
// tcache-uaf, double-free, abort) says no other path and no concurrent
// release; the field crash and pointer-chain name the one other path
// holding the node, the size_ the double erase left (-1), and the
// concurrent release once; no program here aborted without a message.
func TestVerdictSentences(t *testing.T) {
	set := fixture.Get(t)
	for _, c := range []struct {
		name   string
		single bool
	}{
		{fixture.FieldCrash, false}, {fixture.NoHandler, false}, {fixture.PointerChain, false},
		{fixture.UseAfterFree, true}, {fixture.TcacheUAF, true}, {fixture.DoubleFree, true}, {fixture.Abort, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			sc := set.Scenario(t, c.name)
			a := analyze(t, sc, fault.Options{})
			n := map[string]int{}
			for _, s := range a.Sentences {
				n[s.ID]++
			}
			want := map[string]int{"verdict.another-path-object": 1, "verdict.another-path-operation": 0,
				"verdict.concurrent-release": 1, "verdict.size-underflow": 1, "verdict.abort-no-message": 0, "verdict.no-rule": 0}
			if c.single {
				want["verdict.another-path-object"], want["verdict.concurrent-release"], want["verdict.size-underflow"] = 0, 0, 0
			}
			for id, w := range want {
				if n[id] != w {
					t.Errorf("%d sentences %s, want %d: %q", n[id], id, w, a.Verdict)
				}
			}
			if c.single && strings.Contains(a.Verdict, "Another path") {
				t.Errorf("a single path's verdict names another: %q", a.Verdict)
			}
			if !c.single && !strings.Contains(a.Verdict, "The list's size_ underflowed to -1:") {
				t.Errorf("verdict lacks the size_ of -1: %q", a.Verdict)
			}
		})
	}
}

// TestAbortWithoutMessage: elfutils' backtrace test program (the
// frame-pointer fixture, fixtures/nocfi/backtrace.c) raises SIGABRT
// itself, with no ceph_assert and no malloc error before it: the verdict
// says abort() left no message, once, and nothing else explains it.
func TestAbortWithoutMessage(t *testing.T) {
	sc := fixture.NoCFI(t, fixture.NoCFIDynamic)
	op := fixtureproc.Shared(t, sc)
	a := fault.Analyze(op.P, op.RT, fault.Options{})
	if a.Fault == nil || a.Fault.Context.Real == nil || a.Fault.Context.Real.Signo != 6 ||
		a.Fault.Context.Thread.LWP != int(sc.Expected["crash_lwp"].(float64)) {
		t.Fatalf("fault %+v: not the SIGABRT the crasher LWP %v raised", a.Fault, sc.Expected["crash_lwp"])
	}
	var ids []string
	for _, s := range a.Sentences {
		ids = append(ids, s.ID)
	}
	if n := strings.Count(strings.Join(ids, " "), "verdict.abort-no-message"); n != 1 || a.Assertion != nil || hasRule(a, "malloc-abort") {
		t.Errorf("sentences %v (assertion %+v): want abort() with no message once", ids, a.Assertion)
	}
}

// TestVerdictPartialDebugInfo: the stale variant's libdcache.so finds
// another build's debug file through its debuglink (CRC mismatch: names
// only), and the fault is in it: the verdict says it rests on
// libdcache.so's incomplete debug information, once, the evidence points
// at the fault, and the confidence is a step lower than high (README:
// "a verdict resting on such a module says so with a confidence a step
// lower").
func TestVerdictPartialDebugInfo(t *testing.T) {
	v := fixture.GetVariants(t).Variant(t, fixture.VariantStale)
	s, err := session.Open(session.Options{Core: v.Core, Exe: v.Exe, DebugFileDirs: v.DebugDirs()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := s.Analysis()
	n := 0
	for _, m := range a.Sentences {
		if m.ID == "verdict.partial-debug-info" {
			n++
		}
	}
	var refs []string
	for _, e := range a.Evidence {
		if e.Rule == "partial-debug-info" {
			refs = append(refs, e.Ref)
			if !strings.Contains(e.Text, "libdcache.so") || !strings.Contains(e.Text, "CRC mismatch") {
				t.Errorf("evidence %q", e.Text)
			}
		}
	}
	if n != 1 || fmt.Sprint(refs) != "[fault]" || a.Confidence == "high" ||
		!strings.Contains(a.Verdict, "This rests on incomplete debug information of libdcache.so (debug file rejected: CRC mismatch") {
		t.Errorf("%d partial-debug-info sentences, evidence at %v, confidence %s: %q", n, refs, a.Confidence, a.Verdict)
	}
}

// TestHeapUnknown: without libc's debug information (a debug-file
// directory that has none) glibc's malloc state cannot be read: the field
// crash, which names heap objects (the owner and its list), says the heap
// cannot tell, once, and draws no heap rule; the abort, which names no
// heap object, says nothing of the heap.
func TestHeapUnknown(t *testing.T) {
	set := fixture.Get(t)
	for _, c := range []struct {
		name    string
		unknown int
	}{{fixture.FieldCrash, 1}, {fixture.Abort, 0}} {
		t.Run(c.name, func(t *testing.T) {
			sc := set.Scenario(t, c.name)
			s, err := session.Open(session.Options{Core: sc.Core, Exe: sc.Exe, DebugFileDirs: []string{t.TempDir()}})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			a := s.Analysis()
			if a.Memory == nil || a.Memory.HeapKnown {
				t.Fatalf("memory %+v: the heap known without libc's debug information", a.Memory)
			}
			var texts []string
			for _, e := range a.Evidence {
				if e.Rule == "heap-unknown" {
					texts = append(texts, e.Text)
				}
				if strings.HasPrefix(e.Rule, "heap-") && e.Rule != "heap-unknown" {
					t.Errorf("a heap rule without the heap: %s %q", e.Rule, e.Text)
				}
			}
			if len(texts) != c.unknown || c.unknown > 0 && !strings.HasPrefix(texts[0], "the heap cannot tell: ") {
				t.Errorf("heap-unknown evidence %q, want %d", texts, c.unknown)
			}
		})
	}
}

// nullWrite stores through a NULL link inside an inlined helper: the
// fault is a write, its inline chain two frames (set_hits inlined in
// bump).
var nullWrite = testcore.Program{
	Name: "nullwrite",
	Lang: "c",
	Source: `#include <stddef.h>
struct rec { long hits; struct rec *next; };
static inline void set_hits(struct rec *r, long n) { r->hits = n; /* the store */ }
__attribute__((noinline)) void bump(struct rec *r, long n) { set_hits(r->next, n); /* the call */ }
int main(int argc, char **argv) {
	struct rec r = {0, argc > 5 ? &r : NULL};
	bump(&r, argc);
	return (int)r.hits;
}
`,
}

// TestVerdictNullWrite: a NULL store is said to be a write, where the
// program's source has it: the helper's line, then the call's in the
// concrete function.
func TestVerdictNullWrite(t *testing.T) {
	r := testcore.Make(t, nullWrite)
	line := func(mark string) int {
		for i, l := range strings.Split(nullWrite.Source, "\n") {
			if strings.Contains(l, mark) {
				return i + 1
			}
		}
		t.Fatalf("no %q", mark)
		return 0
	}
	s, err := session.Open(session.Options{Core: r.Core, Exe: r.Exe})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := s.Analysis()
	want := fmt.Sprintf("NULL pointer write in set_hits inlined in bump (nullwrite.c:%d; nullwrite.c:%d): ", line("the store"), line("the call"))
	if !strings.HasPrefix(a.Verdict, want) || a.Fault == nil || a.Fault.Instruction == nil || !a.Fault.Instruction.Write {
		t.Errorf("verdict %q, want it to begin %q", a.Verdict, want)
	}
}

// TestLogsShowAnotherPath: the use-after-free core's memory shows one
// path, but a log in which Processer_6's thread begins lsm_destroy 400 µs
// after the crashed thread did (windowLog, inside the default window)
// shows another in the same step: the verdict does not call it this
// thread's own use-after-free.
func TestLogsShowAnotherPath(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.UseAfterFree)
	p, _, _ := windowLog(t, sc, 400, 10)
	a := analyze(t, sc, fault.Options{Logs: []string{p}})
	if !hasRule(a, "log-concurrent") || hasRule(a, "verdict-use-after-free") || strings.Contains(a.Verdict, "in this thread's own path") {
		t.Errorf("rules %v: %q", a.Rules, a.Verdict)
	}
}
