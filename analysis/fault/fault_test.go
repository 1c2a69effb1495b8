package fault_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/analysis/fault"
	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/disasm"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/dsecore/dsecore/internal/testsupport/fixtureproc"
	"github.com/dsecore/dsecore/internal/testsupport/gdboracle"
)

var disasmOpts = disasm.FormatOptions{RawBytes: true}

// TestMain closes the cores the tests share (fixtureproc.Shared: each
// scenario's core is opened and its DWARF read once per test binary, not
// once per test).
func TestMain(m *testing.M) {
	code := m.Run()
	fixtureproc.CloseShared()
	os.Exit(code)
}

func analyze(t testing.TB, sc *fixture.Scenario, o fault.Options) *fault.Analysis {
	t.Helper()
	op := fixtureproc.Shared(t, sc)
	if len(o.Logs) == 0 {
		for _, l := range sc.Expected["logs"].([]any) {
			o.Logs = append(o.Logs, filepath.Join(sc.Dir, l.(string)))
		}
	}
	return fault.Analyze(op.P, op.RT, o)
}

// sourceLine is the line of the fixture source that contains text.
func sourceLine(t testing.TB, rel, text string) int {
	t.Helper()
	f, err := os.Open(filepath.Join(fixture.RepoRoot(), "fixtures", rel))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for n := 1; s.Scan(); n++ {
		if strings.Contains(s.Text(), text) {
			return n
		}
	}
	t.Fatalf("%s has no %q", rel, text)
	return 0
}

func hasRule(a *fault.Analysis, rule string) bool {
	for _, r := range a.Rules {
		if r == rule {
			return true
		}
	}
	return false
}

// theOtherPath is the fixture's task that released the same objects first:
// the blocked task on the racing Processer.
func theOtherPath(t testing.TB, sc *fixture.Scenario) int64 {
	t.Helper()
	proc := -1.0
	for _, r := range sc.Expected["racing_tasks"].([]any) {
		m := r.(map[string]any)
		if strings.Contains(m["role"].(string), "released") {
			proc = m["processer"].(float64)
		}
	}
	for _, x := range sc.Expected["tasks"].([]any) {
		m := x.(map[string]any)
		if m["processer"].(float64) == proc && m["state"] == "block" && m["func"] == "destroy_engines" {
			return int64(m["id"].(float64))
		}
	}
	t.Fatalf("the fixture names no second shutdown path")
	return 0
}

// crashPath is the crashed thread's path as the verdict names it, from
// what the program knew: its LWP and name, the task it was running, the
// operations it was in.
func crashPath(t testing.TB, sc *fixture.Scenario) string {
	t.Helper()
	lwp, name, proc, task := sc.Expected["crash_lwp"], "", any(nil), -1.0
	for _, x := range sc.Expected["threads"].([]any) {
		if m := x.(map[string]any); m["lwp"] == lwp {
			name, proc = m["name"].(string), m["processer_id"]
		}
	}
	for _, x := range sc.Expected["tasks"].([]any) {
		if m := x.(map[string]any); m["running"] == true && m["processer"] == proc {
			task = m["id"].(float64)
		}
	}
	if name == "" || task < 0 {
		t.Fatalf("expected.json names no crashed thread %v or its running task", lwp)
	}
	return fmt.Sprintf("thread LWP %v (%s), running task %v in dm_hash_node_t::clear ← lsm_release_all_csdobj ← lsm_destroy", lwp, name, task)
}

// TestConcurrentRelease: the field crash and its variants, every step of
// the report's manual analysis checked against what the program knew.
func TestConcurrentRelease(t *testing.T) {
	set := fixture.Get(t)
	clearLine := sourceLine(t, "dcache/dm.cc", "objs.erase_and_dispose(")
	for _, name := range []string{fixture.FieldCrash, fixture.FieldCrashSigInfo, fixture.SecondFault, fixture.NoHandler, fixture.Coverage, fixture.Large} {
		t.Run(name, func(t *testing.T) {
			sc := set.Scenario(t, name)
			ex := sc.Expected
			a := analyze(t, sc, fault.Options{})
			f := a.Fault
			if f == nil || f.Instruction == nil {
				t.Fatalf("no fault analysed: %v", a.Warnings)
			}
			// The fault context: the real one, from the signal frame when a handler re-raised.
			ip := f.Context.PC // the handler records the ip; without one, the library offset must still be the walk's
			if ex["fault_ip"] != nil {
				ip = fixture.Hex(t, ex["fault_ip"])
			}
			if f.Context.PC != ip || f.Context.Real == nil || f.Context.Real.CodeName != "SEGV_MAPERR" ||
				f.Context.Real.Addr != fixture.Hex(t, ex["fault_addr"]) || f.Context.Thread.LWP != int(ex["crash_lwp"].(float64)) {
				t.Errorf("fault context pc %#x real %+v thread %v; the program saw ip %v addr %v on LWP %v",
					f.Context.PC, f.Context.Real, f.Context.Thread, ex["fault_ip"], ex["fault_addr"], ex["crash_lwp"])
			}
			if got := hasRule(a, "reraised-by-handler"); got != ex["handler"].(bool) {
				t.Errorf("reraised-by-handler %v, handler %v", got, ex["handler"])
			}
			// What the kernel wrote: Ceph's handler (sa_handler) gets no
			// siginfo, so the fault comes from the sigcontext; the
			// SA_SIGINFO variant's siginfo checks out against it.
			if ex["handler"].(bool) {
				h := f.Context.Handler
				if h == nil || h.Exception == nil {
					t.Fatalf("no signal frame read: %+v", f.Context)
				}
				if e := h.Exception; e.Trapno != uint64(ex["fault_trapno"].(float64)) || e.Err != fixture.Hex(t, ex["fault_err"]) || e.CR2 != fixture.Hex(t, ex["fault_cr2"]) ||
					e.Access != "read" || !e.User || e.Protection {
					t.Errorf("exception %+v; the handler saw trapno %v err %v cr2 %v", e, ex["fault_trapno"], ex["fault_err"], ex["fault_cr2"])
				}
				if h.HandlerSigno != int(ex["handler_signo"].(float64)) {
					t.Errorf("handler's signal %d (%s), the handler ran for %v", h.HandlerSigno, h.HandlerSignoFrom, ex["handler_signo"])
				}
				switch ex["handler_kind"] {
				case "siginfo":
					if !h.SigInfoValid || f.Context.Real.Derived || f.Context.Real.Code != int(ex["fault_si_code"].(float64)) {
						t.Errorf("SA_SIGINFO handler: siginfo valid %v (%s), real %+v, the handler saw si_code %v", h.SigInfoValid, h.SigInfoNote, f.Context.Real, ex["fault_si_code"])
					}
				default:
					if h.SigInfoValid || !strings.HasPrefix(h.SigInfoNote, coreparse.NoSigInfoNote) || !f.Context.Real.Derived || !hasRule(a, "no-siginfo") {
						t.Errorf("Ceph's handler: siginfo valid %v (%q), real %+v", h.SigInfoValid, h.SigInfoNote, f.Context.Real)
					}
				}
			}
			// The watchdog that wrote through NULL while the handler ran
			// spins on its fault.
			if lwp, ok := ex["spinner_lwp"].(float64); ok {
				var spin *fault.Handling
				for i := range a.Handling {
					if a.Handling[i].Thread.LWP == int(lwp) {
						spin = &a.Handling[i]
					}
				}
				switch {
				case spin == nil:
					t.Errorf("the spinning watchdog LWP %v is not named: %+v", lwp, a.Handling)
				case spin.Role != "spinning" || !hasRule(a, "spinning-thread"):
					t.Errorf("watchdog %+v", spin)
				case spin.Exception != nil && (spin.Exception.Access != ex["spinner_access"] || spin.Exception.CR2 != fixture.Hex(t, ex["spinner_fault_addr"])):
					t.Errorf("watchdog's fault %+v, it wrote through %v", spin.Exception, ex["spinner_fault_addr"])
				case spin.Exception == nil && !strings.Contains(spin.AtFault, "not mapped"):
					t.Errorf("watchdog at %q", spin.AtFault)
				}
			} else if len(a.Handling) != 0 {
				t.Errorf("threads handling faults of their own in %s: %+v", name, a.Handling)
			}
			// The instruction and the register that made it fault.
			in := f.Instruction
			regs, _ := ex["fault_regs"].(map[string]any) // absent without a handler
			if in.ATT != "mov    (%rbx),%rbx" || in.Intel != "mov rbx, qword ptr [rbx]" || in.Base != "rbx" || in.Write {
				t.Errorf("instruction %q / %q base %q write %v", in.ATT, in.Intel, in.Base, in.Write)
			}
			if regs != nil && f.BadValue != fixture.Hex(t, regs[f.BadRegister]) {
				t.Errorf("%%%s = %#x, the handler saw %v", f.BadRegister, f.BadValue, regs[f.BadRegister])
			}
			if f.BadRegister != in.Base || f.BadValue != 0 || f.Kind != "null" ||
				!in.HasAddr || in.Address != f.Context.Real.Addr {
				t.Errorf("bad register %%%s = %#x (%s), computed address %#x; the program's registers %v", f.BadRegister, f.BadValue, f.Kind, in.Address, regs)
			}
			if !strings.Contains(f.Description, "%rbx = 0x0") || !strings.Contains(f.Description, "next_") || !strings.Contains(f.Description, "NULL") {
				t.Errorf("description %q", f.Description)
			}
			// The inline chain at the fault, and the source line of the walk.
			var chain []string
			for _, fr := range f.Frames {
				chain = append(chain, fr.Function)
			}
			want := []string{"boost::intrusive::list_node_traits<void*>::get_next", "erase_and_dispose<dm_hash_node_t::delete_dm_obj_t>", "dm_hash_node_t::clear"}
			if len(chain) != 3 || chain[0] != want[0] || !strings.Contains(chain[1], want[1]) || chain[2] != want[2] {
				t.Errorf("inline chain %q", chain)
			} else if last := f.Frames[2]; !strings.HasSuffix(last.File, "dm.cc") || last.Line != clearLine {
				t.Errorf("clear() at %s:%d, the walk is dm.cc:%d", last.File, last.Line, clearLine)
			}
			// Where %rbx came from: the previous iteration's next_ load.
			if len(f.Origin) == 0 || !f.Origin[0].LoopBack || f.Origin[0].Register != "rbx" || !strings.Contains(f.Origin[0].Text, "previous node's next_") {
				t.Errorf("origin %+v", f.Origin)
			}
			if name == fixture.Coverage {
				if f.Skipped == 0 || !hasRule(a, "instrumentation") {
					t.Errorf("coverage build: %d gcov counters stepped over", f.Skipped)
				}
			} else if f.Skipped != 0 {
				t.Errorf("%d instrumentation instructions in a build without any", f.Skipped)
			}
			if f.Window == nil || !strings.Contains(f.Window.Format(disasmOpts), "=> ") {
				t.Errorf("no instruction window")
			}
			// The owner object and its list.
			node := fixture.Hex(t, ex["node"])
			var owner *fault.Object
			for i := range a.Objects {
				if a.Objects[i].Role == "owner" {
					owner = &a.Objects[i]
				}
			}
			if owner == nil || owner.Type != "dm_hash_node_t" || owner.Address != node {
				t.Fatalf("owner %+v, the program's node %#x", owner, node)
			}
			w := a.ListWalk
			if w == nil || w.Element != "dm_obj_t" || w.HookOffset != 0x130 || !strings.HasPrefix(w.HookHow, "DWARF") ||
				!strings.Contains(w.HookHow, "sub    $0x130") || w.Header != node+0x20 {
				t.Fatalf("list walk %+v", w)
			}
			if !w.SizeUnderflow || w.SizeSigned != -1 || !hasRule(a, "size-underflow") {
				t.Errorf("size_ %d underflow %v", w.SizeSigned, w.SizeUnderflow)
			}
			hooks := map[uint64]bool{}
			for _, o := range ex["objs"].([]any) {
				hooks[fixture.Hex(t, o.(map[string]any)["hook"])] = true
			}
			found := false
			for _, fd := range w.Findings {
				if strings.Contains(fd, "inconsistent") {
					for h := range hooks {
						found = found || strings.Contains(fd, fmt.Sprintf("%#x", h))
					}
				}
			}
			if !found {
				t.Errorf("walk findings %q name none of the program's hooks", w.Findings)
			}
			// The other shutdown path, found holding the same node.
			other := theOtherPath(t, sc)
			held := false
			for _, h := range a.Others {
				if h.TaskID == other && h.Address == node && strings.Contains(h.Path, "lsm_release_all_csdobj") && strings.HasPrefix(h.Where, "register") {
					held = true
				}
				if h.TaskID == -1 && h.LWP == f.Context.Thread.LWP {
					t.Errorf("the crashing thread itself counted as another holder: %+v", h)
				}
			}
			if !held {
				t.Errorf("task %d not found holding node %#x in lsm_release_all_csdobj: %+v", other, node, a.Others)
			}
			same := false
			for _, s := range a.SameCode {
				same = same || (s.TaskID == other && strings.Contains(strings.Join(s.Functions, " "), "lsm_destroy"))
			}
			if !same {
				t.Errorf("same code: %+v", a.SameCode)
			}
			// The logs: both engines' lines, the concurrent step, the handler.
			l := a.Logs
			if l == nil || l.Unmatched != 0 || len(l.Concurrent) == 0 {
				t.Fatalf("logs %+v", l)
			}
			crashLWP := int(ex["crash_lwp"].(float64))
			otherLWP := 0
			for _, p := range ex["processers"].([]any) {
				m := p.(map[string]any)
				for _, r := range ex["racing_tasks"].([]any) {
					if rm := r.(map[string]any); strings.Contains(rm["role"].(string), "released") && rm["processer"] == m["id"] {
						otherLWP = int(m["lwp"].(float64))
					}
				}
			}
			pair := false
			for _, c := range l.Concurrent {
				lwps := map[int]bool{c[0].LWP: true, c[1].LWP: true}
				pair = pair || (lwps[crashLWP] && lwps[otherLWP] && strings.Contains(c[0].Message, "lsm"))
			}
			if !pair {
				t.Errorf("no concurrent lsm step of LWP %d and LWP %d: %+v", crashLWP, otherLWP, l.Concurrent)
			}
			if ex["handler"].(bool) {
				if len(l.Handler) == 0 || l.Handler[0].LWP != crashLWP || l.HandlerOK == nil || !*l.HandlerOK {
					t.Errorf("handler lines %+v ok %v", l.Handler, l.HandlerOK)
				}
				// The signal the handler's "*** Caught signal (…) **" line
				// names: the one the handler ran for.
				if l.HandlerSigno != int(ex["handler_signo"].(float64)) {
					t.Errorf("the handler's line names signal %d (%q), the handler ran for %v", l.HandlerSigno, l.HandlerSignal, ex["handler_signo"])
				}
			}
			// The program wrote each line's pthread and LWP together: no
			// line disagrees with the core.
			if len(l.Notes) != 0 {
				t.Errorf("log notes %q", l.Notes)
			}
			if len(l.PerThread[crashLWP]) == 0 || len(l.PerThread[otherLWP]) == 0 {
				t.Errorf("per-thread lines for %d and %d: %v", crashLWP, otherLWP, l.PerThread)
			}
			for _, r := range []string{"null-pointer", "loaded-from-list-link", "shared-object", "log-concurrent", "verdict-concurrent-release"} {
				if !hasRule(a, r) {
					t.Errorf("rule %s missing from %v", r, a.Rules)
				}
			}
			// The verdict names both paths, as the program knew them.
			paths := fmt.Sprintf("Likely concurrent destruction (double release) of the objects of dm_hash_node_t %#x by two paths: %s, and task %d (Processer ",
				node, crashPath(t, sc), other)
			if a.Confidence != "high" || !strings.Contains(a.Verdict, paths) {
				t.Errorf("verdict (%s) %q lacks %q", a.Confidence, a.Verdict, paths)
			}
			for _, e := range a.Evidence {
				if e.Text == "" || e.Ref == "" {
					t.Errorf("empty evidence %+v", e)
				}
			}
		})
	}
}

// TestThisFromDWARF: the owner is `this` of dm_hash_node_t::clear() read
// from its DWARF location (not the register guess), says so, and is what
// gdb's `p this` prints in that frame.
func TestThisFromDWARF(t *testing.T) {
	set := fixture.Get(t)
	for _, name := range []string{fixture.FieldCrash, fixture.NoHandler, fixture.Coverage, fixture.Large} {
		t.Run(name, func(t *testing.T) {
			sc := set.Scenario(t, name)
			a := analyze(t, sc, fault.Options{})
			var owner *fault.Object
			for i := range a.Objects {
				if a.Objects[i].Role == "owner" {
					owner = &a.Objects[i]
				}
			}
			if owner == nil {
				t.Fatalf("no owner: %+v %v", a.Objects, a.Warnings)
			}
			if !owner.FromDWARF || !strings.Contains(owner.How, "`this` of dm_hash_node_t::clear(), from its DWARF location") || strings.Contains(owner.How, "FALLBACK") {
				t.Errorf("owner found %q (from DWARF %v)", owner.How, owner.FromDWARF)
			}
			lwp := int(sc.Expected["crash_lwp"].(float64))
			g, err := gdboracle.FrameValue(sc.Exe, sc.Core, gdboracle.Options{}, lwp, "dm_hash_node_t::clear", "this")
			if err != nil {
				t.Fatal(err)
			}
			if g.OptimizedOut || g.Value == 0 || owner.Address != g.Value {
				t.Errorf("owner %#x; gdb's p this in dm_hash_node_t::clear: %s (%#x)", owner.Address, g.Text, g.Value)
			}
			// The list is the member that is `this` of the inlined
			// erase_and_dispose (DWARF), not a guess among the members.
			found := false
			for _, o := range a.Objects {
				found = found || o.Role == "list header" && o.Type == "dm_hash_node_t::objs" &&
					strings.Contains(o.How, "it is `this` of the inlined boost::intrusive::list_impl<…>::erase_and_dispose")
			}
			if !found {
				t.Errorf("list header not found as erase_and_dispose's this: %+v", a.Objects)
			}
		})
	}
}

// TestThisFallback: when DWARF has no `this`, the owner comes from the
// register/stack guess, is the program's node all the same, and says it
// is a fallback (FromDWARF false, "FALLBACK guess" and why in how); the
// list walk and the verdict do not change.
func TestThisFallback(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	node := fixture.Hex(t, sc.Expected["node"])
	for _, withhold := range []bool{false, true} {
		var o fault.Options
		if withhold {
			fault.WithholdThis(&o)
		}
		a := analyze(t, sc, o)
		var owner *fault.Object
		for i := range a.Objects {
			if a.Objects[i].Role == "owner" {
				owner = &a.Objects[i]
			}
		}
		if owner == nil || owner.Address != node {
			t.Fatalf("withhold %v: owner %+v, the program's node %#x", withhold, owner, node)
		}
		fallback := strings.Contains(owner.How, "FALLBACK guess") && strings.Contains(owner.How, "optimized out")
		if owner.FromDWARF == withhold || fallback != withhold {
			t.Errorf("withhold %v: from DWARF %v, how %q", withhold, owner.FromDWARF, owner.How)
		}
		if w := a.ListWalk; w == nil || w.Header != node+0x20 || !w.SizeUnderflow {
			t.Errorf("withhold %v: list walk %+v", withhold, w)
		}
		if !strings.Contains(a.Verdict, "concurrent destruction") {
			t.Errorf("withhold %v: verdict %q", withhold, a.Verdict)
		}
	}
}

// TestUseAfterFree: a single path, the pool's poison in the link; no rule
// about a second path may fire.
func TestUseAfterFree(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.UseAfterFree)
	a := analyze(t, sc, fault.Options{})
	f := a.Fault
	if f == nil || f.Kind != "poison" || f.BadValue != 0x6b6b6b6b6b6b || f.BadValue != fixture.Hex(t, sc.Expected["fault_regs"].(map[string]any)[f.BadRegister]) {
		t.Fatalf("fault %+v", f)
	}
	if f.Context.Real == nil || f.Context.Real.Addr != fixture.Hex(t, sc.Expected["fault_addr"]) {
		t.Errorf("si_addr %+v, the program saw %v", f.Context.Real, sc.Expected["fault_addr"])
	}
	for _, r := range []string{"shared-object", "same-operation", "log-concurrent", "verdict-concurrent-release", "size-underflow"} {
		if hasRule(a, r) {
			t.Errorf("rule %s fired on a single-path use-after-free: %v", r, a.Rules)
		}
	}
	if len(a.Others) != 0 {
		t.Errorf("others %+v", a.Others)
	}
	if !hasRule(a, "verdict-use-after-free") || !strings.Contains(a.Verdict, "use-after-free") || !strings.Contains(a.Verdict, "poison byte 0x6b") {
		t.Errorf("verdict %q rules %v", a.Verdict, a.Rules)
	}
}

// TestAssertion: abort() after a failed ceph_assert: the assertion quoted
// from the core, at the source line that holds it.
func TestAssertion(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.Abort)
	a := analyze(t, sc, fault.Options{})
	x := a.Assertion
	line := sourceLine(t, "dcache/lsm.cc", "ceph_assert(entries >= 0")
	if x == nil || x.Text != "FAILED ceph_assert(entries >= 0)" || x.Function != "journal_replay" || !strings.HasSuffix(x.File, "dcache/lsm.cc") || x.Line != line {
		t.Fatalf("assertion %+v, the source has it at lsm.cc:%d", x, line)
	}
	// abort() raised the SIGABRT: a sent signal, no instruction to decode.
	if a.Fault == nil || a.Fault.Kind != "sent" || a.Fault.Raiser != "abort" || a.Fault.Instruction != nil || a.ListWalk != nil {
		t.Errorf("an abort analysed as a memory fault: %+v", a.Fault)
	}
	want := fmt.Sprintf("failed assertion in journal_replay() at lsm.cc:%d", line)
	// On the thread that asserted, named as the program knew it.
	on := fmt.Sprintf("entries >= 0), on LWP %v (%s).", sc.Expected["crash_lwp"], sc.Expected["crash_thread_name"])
	if !hasRule(a, "assertion") || !strings.Contains(a.Verdict, want) || !strings.Contains(a.Verdict, on) {
		t.Errorf("verdict %q (want %q, %q)", a.Verdict, want, on)
	}
}

// TestDmesg: the kernel's line for this crash matches the core; one for
// another thread and address is told apart.
func TestDmesg(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	p := fixtureproc.Shared(t, sc).P
	ip := fixture.Hex(t, sc.Expected["fault_ip"])
	m, ok := p.Core.FileAt(ip)
	if !ok {
		t.Fatalf("no file mapping at %#x", ip)
	}
	lwp := int(sc.Expected["crash_lwp"].(float64))
	line := fmt.Sprintf("[Tue Nov 24 10:00:00 2026] Processer_5[%d]: segfault at 0 ip %016x sp %v error 4 in libdcache.so[%x+%x]",
		lwp, ip, strings.TrimPrefix(sc.Expected["fault_sp"].(string), "0x"), m.Start, m.End-m.Start)
	a := analyze(t, sc, fault.Options{Dmesg: line})
	d := a.Dmesg
	if d == nil || !d.IPMatches || !d.BaseOK || !d.SameThread {
		t.Fatalf("matching line: %+v", d)
	}
	if !strings.Contains(strings.Join(d.Notes, " "), "read") {
		t.Errorf("error 4 not explained: %q", d.Notes)
	}
	otherLWP := lwp + 1
	other := fmt.Sprintf("Processer_6[%d]: segfault at 8 ip %016x sp 00007f0000001000 error 6 in libdcache.so[%x+%x]", otherLWP, ip+3, m.Start+0x1000, m.End-m.Start)
	a = analyze(t, sc, fault.Options{Dmesg: other})
	d = a.Dmesg
	if d == nil || d.IPMatches || d.BaseOK || d.SameThread || len(d.Notes) < 3 {
		t.Fatalf("another crash's line: %+v", d)
	}
	if !strings.Contains(strings.Join(d.Notes, "\n"), "not the core's fault pc") {
		t.Errorf("notes %q", d.Notes)
	}
}
