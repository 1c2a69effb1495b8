package main

import (
	"debug/elf"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/unwind"
	"github.com/dsecore/dsecore/internal/testsupport/eustack"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/dsecore/dsecore/internal/testsupport/gdboracle"
	"github.com/dsecore/dsecore/report"
	"github.com/google/go-dap"
)

// The frame-pointer fixtures (fixtures/nocfi): code that keeps frame
// pointers but has no unwind tables. gdb's prologue analysis stops early in
// them; elfutils follows the rbp chain. dsecore must show gdb's frames
// wherever gdb has them and eu-stack's where gdb goes wrong.

// returnAddress reports whether pc can be a caller's pc: it follows a call
// instruction in an executable mapping of the core, or it is the signal
// trampoline (where the kernel makes a handler return to). A frame whose pc
// is neither is garbage, whoever shows it.
func returnAddress(p *coreparse.Process, pc uint64) bool {
	if start, ok := unwind.SigtrampStart(p.Core, pc); ok && start == pc {
		return true
	}
	s, ok := p.Core.SegmentAt(pc - 1)
	if !ok || s.Flags&elf.PF_X == 0 {
		return false
	}
	_, ok = unwind.CallBefore(p.Core, pc)
	return ok
}

type pcFrame struct {
	pc   uint64
	name string
	kind string // ours: found_by
	sig  bool   // gdb: a SIGTRAMP frame (its caller's pc is the interrupted one)
}

func (f pcFrame) String() string { return fmt.Sprintf("%#x %s %s", f.pc, f.name, f.kind) }

// physicalFrames are our frames without inline and tail-call frames (which
// eu-stack does not show and gdb shows apart).
func physicalFrames(t *testing.T, th report.Thread) []pcFrame {
	var out []pcFrame
	for _, f := range th.Frames {
		if f.Inline || f.Tailcall || f.Boundary {
			continue
		}
		pc, err := strconv.ParseUint(f.PC, 0, 64)
		if err != nil {
			t.Fatalf("bad pc %q", f.PC)
		}
		out = append(out, pcFrame{pc: pc, name: f.Function, kind: f.FoundBy})
	}
	return out
}

// compareBeyondGdb checks one thread: our frames are gdb's up to gdb's first
// frame that is garbage (its pc is no return address), and from there a run
// of eu-stack's frames. Frames at the end that are garbage on either side
// (eu-stack reading code as a stack, a zero pc) are not compared, but ours
// must be marked as found by scanning. It returns how many of our frames
// gdb has and how many only eu-stack has.
func compareBeyondGdb(t *testing.T, p *coreparse.Process, lwp int, ours, gdb, eu []pcFrame) (fromGdb, fromEu int) {
	t.Helper()
	show := func() string {
		var b strings.Builder
		for i := 0; i < max(len(ours), len(gdb), len(eu)); i++ {
			fmt.Fprintf(&b, "  #%-2d", i)
			for _, l := range [][]pcFrame{ours, gdb, eu} {
				s := "-"
				if i < len(l) {
					s = l[i].String()
				}
				fmt.Fprintf(&b, " | %-52.52s", s)
			}
			b.WriteByte('\n')
		}
		return "  ours | gdb | eu-stack\n" + b.String()
	}
	// Frame 0 and a frame a signal interrupted have exact pcs; the others
	// return addresses.
	k := 0
	for k < len(gdb) && (k == 0 || gdb[k-1].sig || returnAddress(p, gdb[k].pc)) {
		k++
	}
	for i := 0; i < k && i < len(ours); i++ {
		if ours[i].pc != gdb[i].pc {
			t.Errorf("LWP %d frame #%d: pc %#x, gdb %#x (gdb's frames are believable to here)\n%s", lwp, i, ours[i].pc, gdb[i].pc, show())
			return
		}
	}
	if k == len(gdb) {
		if len(ours) != len(gdb) {
			t.Errorf("LWP %d: %d frames, gdb %d, and gdb's are all believable\n%s", lwp, len(ours), len(gdb), show())
		}
		return len(ours), 0
	}
	if len(ours) < k {
		t.Errorf("LWP %d: %d frames, gdb has %d believable ones\n%s", lwp, len(ours), k, show())
		return
	}
	// Where gdb went wrong: the rest is eu-stack's.
	rest := ours[k:]
	if len(rest) == 0 {
		// Our chain ended where gdb's frames turn to garbage: so must
		// eu-stack's.
		for _, f := range eu[min(k, len(eu)):] {
			if returnAddress(p, f.pc) {
				t.Errorf("LWP %d: eu-stack goes on to %v after our last frame\n%s", lwp, f, show())
			}
		}
		return k, 0
	}
	j := -1
	for i, f := range eu {
		if len(rest) > 0 && f.pc == rest[0].pc {
			j = i
			break
		}
	}
	if len(rest) == 0 || j < 0 {
		t.Errorf("LWP %d: gdb's frame #%d (%#x) is garbage, and our frame there is not eu-stack's\n%s", lwp, k, gdb[k].pc, show())
		return
	}
	n := 0
	for n < len(rest) && j+n < len(eu) && rest[n].pc == eu[j+n].pc {
		n++
	}
	for _, f := range rest[n:] {
		if returnAddress(p, f.pc) || f.kind != "scan" {
			t.Errorf("LWP %d: frame %v beyond eu-stack's is not garbage found by scanning\n%s", lwp, f, show())
		}
	}
	if j+n < len(eu) {
		last := ours[len(ours)-1]
		if n == len(rest) && last.name != "main" && returnAddress(p, eu[j+n].pc) {
			t.Errorf("LWP %d: eu-stack goes on to %v after our last frame %v\n%s", lwp, eu[j+n], last, show())
		}
	}
	return k, n
}

func TestFramePointerBeyondGdb(t *testing.T) {
	for _, name := range []string{fixture.NoCFIStatic, fixture.NoCFIDynamic, fixture.NoCFISplit, fixture.NoCFICoroutines} {
		t.Run(name, func(t *testing.T) {
			c := fixture.NoCFI(t, name)
			p, err := coreparse.Open(coreparse.Options{Core: c.Core, Exe: c.Exe})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			gdbThreads, err := gdboracle.Backtraces(c.Exe, c.Core, gdboracle.Options{})
			if err != nil {
				t.Fatal(err)
			}
			euThreads, err := eustack.Backtraces(c.Exe, c.Core)
			if err != nil {
				t.Fatal(err)
			}
			doc := runBt(t, c.Exe, c.Core)
			if len(doc.Threads) != len(gdbThreads) || len(doc.Threads) != len(euThreads) {
				t.Fatalf("%d threads, gdb %d, eu-stack %d", len(doc.Threads), len(gdbThreads), len(euThreads))
			}
			gdbBy := map[int][]pcFrame{}
			for _, g := range gdbThreads {
				for _, f := range g.Frames {
					if f.Type != "INLINE" && f.Type != "TAILCALL" {
						gdbBy[g.LWP] = append(gdbBy[g.LWP], pcFrame{pc: f.PC, name: f.Name, sig: f.Type == "SIGTRAMP"})
					}
				}
			}
			euBy := map[int][]pcFrame{}
			for _, e := range euThreads {
				for _, f := range e.Frames {
					euBy[e.TID] = append(euBy[e.TID], pcFrame{pc: f.PC, name: f.Name})
				}
			}
			total, beyond := 0, 0
			for _, th := range doc.Threads {
				ours := physicalFrames(t, th)
				g, e := compareBeyondGdb(t, p, th.LWP, ours, gdbBy[th.LWP], euBy[th.LWP])
				total += len(ours)
				beyond += e
				_ = g
			}
			t.Logf("%s: %d frames of %d threads; %d where gdb's are garbage, each equal to eu-stack's", name, total, len(doc.Threads), beyond)
			if beyond == 0 && name != fixture.NoCFISplit {
				t.Errorf("no frame beyond gdb's: the fixture does not exercise the frame-pointer chain")
			}
		})
	}
}

// withoutCFI checks with eu-readelf which of the functions have no FDE in
// the executable's .eh_frame/.debug_frame, and that the others have one.
func withoutCFI(t *testing.T, exe string, without, with []string) {
	t.Helper()
	out, err := exec.Command("eu-readelf", "--debug-dump=frames", exe).CombinedOutput()
	if err != nil {
		t.Fatalf("eu-readelf --debug-dump=frames %s: %v\n%.2000s", exe, err, out)
	}
	re := regexp.MustCompile(`initial_location:\s+\+?0x([0-9a-f]+)[^\n]*\n\s+address_range:\s+0x([0-9a-f]+)`)
	var fdes [][2]uint64
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		lo, _ := strconv.ParseUint(m[1], 16, 64)
		n, _ := strconv.ParseUint(m[2], 16, 64)
		fdes = append(fdes, [2]uint64{lo, lo + n})
	}
	f, err := elf.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, sym := range syms {
		if elf.ST_TYPE(sym.Info) != elf.STT_FUNC || sym.Value == 0 {
			continue
		}
		for _, r := range fdes {
			if sym.Value >= r[0] && sym.Value < r[1] {
				covered[sym.Name] = true
			}
		}
		if _, ok := covered[sym.Name]; !ok {
			covered[sym.Name] = false
		}
	}
	for _, fn := range without {
		if c, ok := covered[fn]; !ok || c {
			t.Errorf("%s: %s has CFI (eu-readelf: %d FDEs) or no symbol (%v)", exe, fn, len(fdes), ok)
		}
	}
	for _, fn := range with {
		if !covered[fn] {
			t.Errorf("%s: %s has no CFI", exe, fn)
		}
	}
}

// TestDebugFrameInDebugFile: the program's CFI is in its separate debug
// file only (.debug_frame, split off with the debug sections), the
// executable keeping the crt's .eh_frame: gdb reads both and has every
// frame; so does dsecore, each of the program's frames found by CFI.
func TestDebugFrameInDebugFile(t *testing.T) {
	c := fixture.NoCFI(t, fixture.NoCFISplit)
	withoutCFI(t, c.Exe, []string{"sigusr2", "stdarg", "backtracegen", "start", "spin", "spinner", "wait_forever", "main"}, nil)
	withoutCFI(t, c.Exe+".debug", nil, []string{"sigusr2", "stdarg", "backtracegen", "start", "spin", "spinner", "wait_forever", "main"})
	doc := runBt(t, c.Exe, c.Core)
	for _, key := range []string{"crash_lwp", "spinner_lwp", "main_lwp"} {
		th := threadOf(t, doc, intField(t, c.Expected, key))
		fs := physicalFrames(t, th)
		for i, f := range fs[1:] {
			if f.kind != "cfi" && f.kind != "signal frame" {
				t.Errorf("%s frame %d %s: found by %q, want cfi (the debug file's .debug_frame)", key, i+1, f.name, f.kind)
			}
		}
		if th.Error != "" || len(fs) < 3 {
			t.Errorf("%s: %v, error %q", key, fs, th.Error)
		}
	}
}

// threadOf finds a thread of a backtrace document.
func threadOf(t *testing.T, doc report.Backtrace, lwp int) report.Thread {
	t.Helper()
	for _, th := range doc.Threads {
		if th.LWP == lwp {
			return th
		}
	}
	t.Fatalf("no thread LWP %d", lwp)
	return report.Thread{}
}

// TestFramePointerKinds: the backtrace program's stacks, function by
// function as the program wrote them, each frame found as it must be: the
// table-less functions through the rbp chain (gdb's prologue guess where
// the chain confirms it or a frameless leaf needs it), libc's by CFI, the
// interrupted spin from the signal frame; in JSON, text and the DAP.
func TestFramePointerKinds(t *testing.T) {
	for _, name := range []string{fixture.NoCFIStatic, fixture.NoCFIDynamic} {
		t.Run(name, func(t *testing.T) {
			c := fixture.NoCFI(t, name)
			var libc []string
			if name == fixture.NoCFIStatic {
				libc = []string{"raise", "start_thread", "pause"} // libc.a's objects keep their unwind tables
			}
			withoutCFI(t, c.Exe, []string{"sigusr2", "stdarg", "backtracegen", "start", "onusr1", "spin", "spinner", "wait_forever", "main"}, libc)
			doc := runBt(t, c.Exe, c.Core)
			type want struct{ function, foundBy string }
			check := func(who string, lwp int, from string, w []want) {
				th := threadOf(t, doc, lwp)
				if th.Error != "" {
					t.Errorf("%s: unwind error %q", who, th.Error)
				}
				fs := physicalFrames(t, th)
				i := 0
				for i < len(fs) && !strings.HasSuffix(fs[i].name, from) {
					i++
				}
				if len(fs)-i < len(w) {
					t.Fatalf("%s: no %v from %s in %v", who, w, from, fs)
				}
				for k, x := range w {
					f := fs[i+k]
					if !strings.HasSuffix(f.name, x.function) && !(x.function == "<signal handler called>" && f.name == "__restore_rt") || f.kind != x.foundBy {
						t.Errorf("%s frame %d: %s found by %q, want %s found by %q (%v)", who, i+k, f.name, f.kind, x.function, x.foundBy, fs)
					}
				}
				if fs[0].kind != "saved context" {
					t.Errorf("%s frame 0: found by %q", who, fs[0].kind)
				}
			}
			names := func(key string) []string {
				var out []string
				for _, v := range c.Expected[key].([]any) {
					out = append(out, v.(string))
				}
				return out
			}
			crash := names("crash_stack")
			if strings.Join(crash, " ") != "raise sigusr2 stdarg backtracegen start start_thread" {
				t.Fatalf("truth: crash_stack %v", crash)
			}
			// raise's CFI finds sigusr2; sigusr2's step is gdb's guess
			// (push %rbp, then the call) confirmed by the chain; stdarg,
			// whose prologue gdb misreads, and its callers only through
			// the chain; start_thread has CFI again.
			check("crasher", intField(t, c.Expected, "crash_lwp"), "raise", []want{
				{"raise", "cfi"}, {"sigusr2", "cfi"}, {"stdarg", "frame pointer"}, {"backtracegen", "frame pointer"},
				{"start", "frame pointer"}, {"start_thread", "frame pointer"}, {"clone3", "cfi"}})
			// The handler returns to the trampoline (found through
			// onusr1's frame pointer); spin, a leaf that keeps no frame
			// pointer, is the signal frame's; its caller is at its rsp
			// (eu-stack's chain skips spinner here).
			check("spinner", intField(t, c.Expected, "spinner_lwp"), "onusr1", []want{
				{"onusr1", "cfi"}, {"<signal handler called>", "frame pointer"}, {"spin", "signal frame"},
				{"spinner", "scan"}, {"start_thread", "frame pointer"}, {"clone3", "cfi"}})
			check("main", intField(t, c.Expected, "main_lwp"), "wait_forever", []want{{"wait_forever", "cfi"}, {"main", "frame pointer"}})

			// Generated code that uses rbp as a plain register: its
			// inner function's return address is on top of the stack;
			// there the chain ends, and the stack says why.
			jitLWP := intField(t, c.Expected, "jit_lwp")
			jit := threadOf(t, doc, jitLWP)
			why := "the frame-pointer chain ends: rbp " + c.Expected["jit_rbp"].(string) + " is below rsp"
			if fs := physicalFrames(t, jit); len(fs) != 2 || fs[0].kind != "saved context" || fs[1].kind != "scan" || !strings.Contains(jit.Error, why) {
				t.Errorf("jit thread: %v, error %q; want two frames and %q", fs, jit.Error, why)
			}

			// Text: a function's frame found without CFI says so.
			code, out, stderr := runBounded(t, nil, "bt", c.Core, "--exe", c.Exe, "--thread", strconv.Itoa(intField(t, c.Expected, "crash_lwp")))
			if code != 0 {
				t.Fatalf("bt: exit %d: %s", code, stderr)
			}
			for _, fn := range []string{"stdarg", "backtracegen", "start", "start_thread"} {
				if !strings.Contains(out, " in "+fn+" from backtrace [found by frame pointer]\n") && !strings.Contains(out, " in "+fn+" at ") {
					t.Errorf("bt text: no %q frame found by frame pointer:\n%s", fn, out)
				}
			}
			if strings.Contains(out, "raise from backtrace [found") || strings.Contains(out, "sigusr2 from backtrace [found") {
				t.Errorf("bt text: a CFI frame marked:\n%s", out)
			}

			// The DAP: the same frames, named and deemphasized.
			d := startDAP(t)
			d.ok("initialize", map[string]any{"adapterID": "dsecore"})
			d.ok("launch", map[string]any{"coreFile": c.Core, "program": c.Exe})
			d.ok("configurationDone", nil)
			st := d.ok("stackTrace", map[string]any{"threadId": intField(t, c.Expected, "crash_lwp")}).(*dap.StackTraceResponse)
			byName := map[string]dap.StackFrame{}
			for _, f := range st.Body.StackFrames {
				byName[strings.TrimSuffix(f.Name, " [found by frame pointer]")] = f
			}
			for _, fn := range []string{"stdarg", "backtracegen", "start"} {
				f, ok := byName[fn]
				if !ok || f.Name != fn+" [found by frame pointer]" || f.PresentationHint != "subtle" {
					t.Errorf("DAP frame %s: %+v (frames %+v)", fn, f, st.Body.StackFrames)
				}
			}
			// Found by CFI: not deemphasized ("normal" as the frame the
			// session stops on — the raise's caller —, or no hint).
			if f := byName["sigusr2"]; f.Name != "sigusr2" || f.PresentationHint != "" && f.PresentationHint != "normal" {
				t.Errorf("DAP frame sigusr2 (found by CFI): %+v", f)
			}
			if n := len(st.Body.StackFrames); st.Body.TotalFrames != n || st.Body.StackFrames[n-1].PresentationHint == "label" {
				t.Errorf("DAP: the crasher's stack ends normally, yet %d of %d frames, the last %+v", n, st.Body.TotalFrames, st.Body.StackFrames[n-1])
			}
			st = d.ok("stackTrace", map[string]any{"threadId": jitLWP}).(*dap.StackTraceResponse)
			if fr := st.Body.StackFrames; len(fr) != 3 || st.Body.TotalFrames != 3 || fr[1].Name != "?? [found by scan]" ||
				fr[2].PresentationHint != "label" || !strings.HasPrefix(fr[2].Name, "unwinding stopped: ") || !strings.Contains(fr[2].Name, why) {
				t.Errorf("DAP: the jit thread's stack: %+v (total %d)", fr, st.Body.TotalFrames)
			}
			st = d.ok("stackTrace", map[string]any{"threadId": jitLWP, "startFrame": 0, "levels": 2}).(*dap.StackTraceResponse)
			if len(st.Body.StackFrames) != 2 || st.Body.TotalFrames != 3 {
				t.Errorf("DAP: the jit thread's first two frames: %+v (total %d)", st.Body.StackFrames, st.Body.TotalFrames)
			}
			st = d.ok("stackTrace", map[string]any{"threadId": jitLWP, "startFrame": 2, "levels": 5}).(*dap.StackTraceResponse)
			if len(st.Body.StackFrames) != 1 || st.Body.StackFrames[0].PresentationHint != "label" {
				t.Errorf("DAP: the jit thread's frames from #2: %+v", st.Body.StackFrames)
			}
		})
	}
}

// TestTasksWithoutCFI: the field crash built without unwind tables (its
// coroutine runtime, tasks and library; Boost.Context's switch has none
// anyway) against the same crash built with them: every task's stack,
// from its saved context (or its thread, then the scheduler's) down to the
// entry trampoline, is the same function for function, and the switched-out
// ones are found through the frame-pointer chain.
func TestTasksWithoutCFI(t *testing.T) {
	c := fixture.NoCFI(t, fixture.NoCFICoroutines)
	withCFI := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	type task struct {
		state string
		fns   []string
		kinds []string
	}
	tasks := func(exe, core string) map[int64]task {
		doc := runBt(t, exe, core, "--all-tasks")
		out := map[int64]task{}
		for _, x := range doc.Tasks {
			var tk task
			tk.state = x.State
			for _, f := range x.Frames {
				tk.fns = append(tk.fns, f.Function)
				kind := f.FoundBy
				if f.Inline || f.Tailcall {
					kind = "" // its function's
				}
				tk.kinds = append(tk.kinds, kind)
			}
			out[x.ID] = tk
		}
		return out
	}
	ours, want := tasks(c.Exe, c.Core), tasks(withCFI.Exe, withCFI.Core)
	if n := len(c.Expected["tasks"].([]any)); len(ours) != n || len(want) != n {
		t.Fatalf("%d tasks without CFI, %d with, the program made %d", len(ours), len(want), n)
	}
	fp, stacks := 0, 0
	for id, w := range want {
		o := ours[id]
		if o.state != w.state || strings.Join(o.fns, " > ") != strings.Join(w.fns, " > ") {
			t.Errorf("task %d without CFI: %s %s\n  with CFI: %s %s", id, o.state, strings.Join(o.fns, " > "), w.state, strings.Join(w.fns, " > "))
			continue
		}
		if len(o.fns) == 0 {
			continue
		}
		stacks++
		for i, k := range o.kinds {
			if o.fns[i] == "make_fcontext" {
				break // the entry trampoline: below it is the scheduler's stack
			}
			switch {
			case k == "frame pointer":
				fp++
			case k == "cfi" && !strings.HasPrefix(o.fns[i], "co::") && !strings.HasPrefix(o.fns[i], "(anonymous") && !strings.HasPrefix(o.fns[i], "lsm_"):
				// libc's and libstdc++'s frames keep their CFI
			case k != "" && k != "saved context" && k != "signal frame":
				t.Errorf("task %d frame %d %s: found by %q", id, i, o.fns[i], k)
			}
		}
	}
	t.Logf("%d task stacks equal to the CFI build's, %d frames found through the frame-pointer chain", stacks, fp)
	live := 0 // the tasks the program made that have a stack
	for _, x := range c.Expected["tasks"].([]any) {
		if st := x.(map[string]any)["state"]; st != "done" && st != "new" {
			live++
		}
	}
	if stacks != live || fp < stacks {
		t.Errorf("%d task stacks (the program has %d tasks with one), %d frame-pointer frames", stacks, live, fp)
	}
}
