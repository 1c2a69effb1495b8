package unwind_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/coreparse/unwind"
	"github.com/dsecore/dsecore/internal/testsupport/gdboracle"
	"github.com/dsecore/dsecore/internal/testsupport/testcore"
)

// cephReraise is testcore.Reraise with the handler installed the way Ceph
// installs it (SA_NODEFER): the re-raised signal is delivered inside the
// handler, so the core holds pthread_kill internals → handle_fatal_signal
// → <signal handler called> → follow → crash_here → main. Without
// SA_NODEFER (testcore.Reraise as is) SIGSEGV is blocked in the handler,
// the re-raise stays pending until sigreturn, and the kernel dumps the
// restored context: the core's stack starts at follow with no signal frame.
var cephReraise = func() testcore.Program {
	p := testcore.Reraise
	p.Name = "reraise-nodefer"
	p.Source = strings.Replace(p.Source, "sa.sa_flags = SA_SIGINFO;", "sa.sa_flags = SA_SIGINFO | SA_NODEFER;", 1)
	if p.Source == testcore.Reraise.Source {
		panic("testcore.Reraise changed: cannot add SA_NODEFER")
	}
	return p
}()

// callNull calls through a NULL function pointer: frame 0 has pc 0.
var callNull = testcore.Program{
	Name: "callnull",
	Lang: "c",
	Source: `#include <stdio.h>
typedef void (*fn)(int);
fn volatile target;
__attribute__((noinline)) void dispatch(int x) { target(x); printf("unreachable\n"); }
int main(void) { dispatch(42); return 0; }
`,
}

// noCFI crashes in a function called from hand-written assembly that has
// no CFI (like Boost.Context's jump_fcontext): gdb and the unwinder must
// get through it with the prologue analysis (push %rbp; mov %rsp,%rbp).
var noCFI = testcore.Program{
	Name: "nocfi",
	Lang: "c",
	Source: `#include <stdio.h>
__asm__(".text\n.globl asm_trampoline\n.type asm_trampoline,@function\n"
	"asm_trampoline:\n\tpush %rbp\n\tmov %rsp,%rbp\n\tpush %rbx\n\tsub $8,%rsp\n\tmov %rsi,%rbx\n\tcall *%rdi\n"
	"\tadd $8,%rsp\n\tpop %rbx\n\tpop %rbp\n\tret\n.size asm_trampoline,.-asm_trampoline\n");
void asm_trampoline(void (*f)(long *), long *p);
__attribute__((noinline)) void victim(long *p) { *p = 1; }
__attribute__((noinline)) void caller(long *p) { asm_trampoline(victim, p); printf("unreachable\n"); }
int main(void) { caller((long *)8); return 0; }
`,
}

// boostFiber crashes inside a Boost.Context fiber: the coroutine's stack
// ends in make_fcontext's trampoline, assembly without CFI, where gdb's
// prologue analysis finds a zero return address.
var boostFiber = testcore.Program{
	Name:  "boostfiber",
	Lang:  "c++",
	Flags: []string{"-O2", "-g", "-Wl,--no-as-needed", "-lboost_context"},
	Source: `#include <boost/context/fiber.hpp>
#include <cstdio>
namespace ctx = boost::context;
long *volatile target = (long *)16;
__attribute__((noinline)) void crash_in_coroutine(long *p) { *p = 42; }
__attribute__((noinline)) ctx::fiber body(ctx::fiber &&sink) {
	crash_in_coroutine(target);
	return std::move(sink);
}
int main() {
	ctx::fiber f{body};
	f = std::move(f).resume();
	std::printf("unreachable\n");
	return 0;
}
`,
}

// cppAbort: threads blocked in sleep, a condition variable and read(2),
// while main dies of an uncaught exception (std::terminate → abort →
// raise) under a 100-deep recursion.
var cppAbort = testcore.Program{
	Name: "cppabort",
	Lang: "c++",
	Source: `#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unistd.h>
std::mutex mu;
std::condition_variable cv;
int fds[2];
__attribute__((noinline)) void deep(int n) {
	if (n == 0) throw std::runtime_error("boom");
	deep(n - 1);
	asm volatile("" ::: "memory");
}
int main() {
	if (pipe(fds) != 0) return 1;
	std::thread a([] { std::this_thread::sleep_for(std::chrono::hours(1)); });
	std::thread b([] { std::unique_lock<std::mutex> l(mu); cv.wait(l); });
	std::thread c([] { char ch; (void)!read(fds[0], &ch, 1); });
	std::this_thread::sleep_for(std::chrono::milliseconds(200));
	deep(100);
	a.join(); b.join(); c.join();
}
`,
}

type coreCase struct {
	prog    testcore.Program
	threads int
}

var realCases = []coreCase{
	{testcore.NullDeref, 2},
	{testcore.Reraise, 1},
	{cephReraise, 1},
	{callNull, 1},
	{noCFI, 1},
	{boostFiber, 1},
	{debugFrameOnly, 1},
	{debugFrameV4, 1},
	{cppAbort, 4},
}

func gdbReg(f gdboracle.Frame, n int) (uint64, bool) {
	if n >= len(f.Regs) || f.Regs[n] == nil {
		return 0, false
	}
	return *f.Regs[n], true
}

// compareWithGDB unwinds every thread of a core and checks it against
// gdb's physical frames. It returns the number of frames compared.
func compareWithGDB(t *testing.T, r *testcore.Result, sameValue bool) (frames int) {
	t.Helper()
	oracle := gdbOracle(t, r.Exe, r.Core)
	c := openTestCore(t, r.Core)
	if len(c.threads) != len(oracle) {
		t.Fatalf("core has %d threads, gdb sees %d", len(c.threads), len(oracle))
	}
	for _, th := range c.threads {
		var g *gdboracle.Thread
		for i := range oracle {
			if oracle[i].LWP == th.lwp {
				g = &oracle[i]
			}
		}
		if g == nil {
			t.Fatalf("thread %d: not in gdb's output", th.lwp)
		}
		u := c.unwinder()
		u.SameValueCallerSaved = sameValue
		got, reason, err := u.UnwindStop(th.regs)
		want := physical(*g)
		var b strings.Builder
		for i := 0; i < max(len(got), len(want)); i++ {
			fmt.Fprintf(&b, "  #%d", i)
			if i < len(got) {
				fmt.Fprintf(&b, "  ours %#x %v sig=%v", got[i].PC, got[i].Kind, got[i].Sigtramp)
			}
			if i < len(want) {
				fmt.Fprintf(&b, "  gdb %#x %s %s %s", want[i].PC, want[i].Type, want[i].Name, want[i].Stop)
			}
			b.WriteByte('\n')
		}
		if len(got) != len(want) {
			t.Errorf("thread %d: %d frames, gdb has %d physical frames (stop %v, %v)\n%s", th.lwp, len(got), len(want), reason, err, b.String())
			continue
		}
		lost := false // a frame-pointer step above: callee-saved registers it could not recover
		for i := range want {
			gf, wf := got[i], want[i]
			if gf.Kind == unwind.KindFramePointer {
				lost = true
				for _, n := range []int{unwind.RBX, unwind.R12, unwind.R13, unwind.R14, unwind.R15} {
					if gf.Regs.Has(n) {
						t.Errorf("thread %d frame %d: found by frame pointer, %s known (%#x): the chain does not recover it", th.lwp, i, unwind.RegName(n), gf.Regs.V[n])
					}
				}
			}
			if gf.PC != wf.PC {
				t.Errorf("thread %d frame %d: pc %#x, gdb %#x\n%s", th.lwp, i, gf.PC, wf.PC, b.String())
			}
			if gf.Sigtramp != (wf.Type == "SIGTRAMP") {
				t.Errorf("thread %d frame %d: sigtramp %v, gdb type %s", th.lwp, i, gf.Sigtramp, wf.Type)
			}
			// Frame 0 and a frame interrupted by a signal have every
			// register; others the callee-saved ones (all with sameValue).
			for n := 0; n < unwind.NumRegs; n++ {
				full := i == 0 || gf.Kind == unwind.KindSignal || sameValue
				if !full && !unwind.CalleeSaved(n) {
					if gf.Regs.Has(n) {
						t.Errorf("thread %d frame %d: caller-saved %s valid in a caller", th.lwp, i, unwind.RegName(n))
					}
					continue
				}
				wv, wok := gdbReg(wf, n)
				v, ok := gf.Regs.Get(n)
				if lost && !ok && wok && n != unwind.RBP && n != unwind.RSP && n != unwind.RIP {
					// gdb's prologue analysis says "same value" for the
					// registers it does not see saved: a guess we never
					// make (rbx may be saved right after rbp).
					continue
				}
				if wok != ok || (ok && v != wv) {
					t.Errorf("thread %d frame %d (%s): %s = %#x (valid %v), gdb %#x (valid %v)", th.lwp, i, wf.Name, unwind.RegName(n), v, ok, wv, wok)
				}
			}
			frames++
		}
		last := want[len(want)-1]
		switch {
		case last.Stop == "outermost":
			if reason != unwind.StopOutermost || err != nil {
				t.Errorf("thread %d: stop %v (%v), gdb: outermost", th.lwp, reason, err)
			}
		case last.Stop == "no reason":
			// gdb ends silently where the caller's pc is 0 (the end of a
			// boost fiber's stack): zero PC to us.
			if reason != unwind.StopZeroPC || err != nil {
				t.Errorf("thread %d: stop %v (%v), gdb: no reason (a zero caller pc)", th.lwp, reason, err)
			}
		case last.Stop == reason.String():
			// gdb's own words for the stops it has: ours says the same.
		default:
			t.Errorf("thread %d: gdb stop %q, ours %v (%v)", th.lwp, last.Stop, reason, err)
		}
	}
	return frames
}

func TestUnwindMatchesGDB(t *testing.T) {
	total, threads := 0, 0
	for _, cc := range realCases {
		t.Run(cc.prog.Name, func(t *testing.T) {
			r := testcore.Make(t, cc.prog)
			total += compareWithGDB(t, r, false)
			compareWithGDB(t, r, true)
			threads += cc.threads
		})
	}
	t.Logf("%d physical frames of %d threads in %d cores compared with gdb (pc, frame type, registers), "+
		"with caller-saved registers invalid in callers and again as gdb shows them", total, threads, len(realCases))
}

// TestNullDerefThreads checks the worker thread's stack end (clone3, whose
// CFI marks rip undefined) and the exact pc of frame 0.
func TestNullDerefThreads(t *testing.T) {
	r := testcore.Make(t, testcore.NullDeref)
	c := openTestCore(t, r.Core)
	for _, th := range c.threads {
		frames, reason, err := c.unwinder().UnwindStop(th.regs)
		if err != nil && !reason.Normal() {
			t.Fatalf("thread %d: %v", th.lwp, err)
		}
		if reason != unwind.StopOutermost {
			t.Errorf("thread %d: stop %v, want outermost", th.lwp, reason)
		}
		if !frames[0].Exact || frames[0].Kind != unwind.KindInitial || frames[0].PC != th.regs.V[unwind.RIP] {
			t.Errorf("thread %d: bad frame 0 %+v", th.lwp, frames[0])
		}
		for i, f := range frames[1:] {
			// Kind is CFI, except in a race where the main thread is still
			// in clone3's syscall, which glibc leaves without CFI: gdb's
			// frameless guess (TestUnwindMatchesGDB compares it with gdb).
			heuristic := i == 0 && f.Kind == unwind.KindHeuristic && frames[0].FDE == nil
			if f.Exact || (f.Kind != unwind.KindCFI && !heuristic) || f.Sigtramp {
				t.Errorf("thread %d frame %d: %+v", th.lwp, i+1, f)
			}
			if f.CFA <= frames[i].CFA {
				t.Errorf("thread %d frame %d: CFA %#x not above %#x", th.lwp, i+1, f.CFA, frames[i].CFA)
			}
		}
	}
}

func coreSigInfo(t *testing.T, c *testCore) unwind.SigInfo {
	t.Helper()
	if len(c.siginfo) < 24 {
		t.Fatalf("core has no NT_SIGINFO")
	}
	return unwind.DecodeSigInfo(c.siginfo)
}

// TestCephStyleSignalFrame: the signal frame in a Ceph-style re-raise.
func TestCephStyleSignalFrame(t *testing.T) {
	r := testcore.Make(t, cephReraise)
	c := openTestCore(t, r.Core)
	if len(c.threads) != 1 {
		t.Fatalf("%d threads", len(c.threads))
	}
	frames, err := c.unwinder().Unwind(c.threads[0].regs)
	if err != nil {
		t.Fatal(err)
	}
	sig := -1
	for i, f := range frames {
		if f.Sigtramp {
			if sig >= 0 {
				t.Fatalf("two signal frames: %d and %d", sig, i)
			}
			sig = i
		}
	}
	if sig < 1 || sig+1 >= len(frames) {
		t.Fatalf("no signal frame between the handler and the interrupted code (index %d of %d)", sig, len(frames))
	}
	sf := frames[sig].SigFrame
	if sf == nil {
		t.Fatalf("signal frame without SigFrame")
	}
	if sf.UContext != frames[sig].Regs.V[unwind.RSP] || sf.SigInfo != sf.UContext+304 {
		t.Errorf("ucontext %#x siginfo %#x, trampoline rsp %#x", sf.UContext, sf.SigInfo, frames[sig].Regs.V[unwind.RSP])
	}
	in := frames[sig+1]
	if !in.Exact || in.Kind != unwind.KindSignal {
		t.Errorf("interrupted frame: exact %v kind %v", in.Exact, in.Kind)
	}
	if in.PC != sf.Regs.V[unwind.RIP] || in.Regs != sf.Regs || sf.Regs.Valid != 1<<unwind.NumRegs-1 {
		t.Errorf("interrupted frame pc %#x regs %v; ucontext %v", in.PC, in.Regs, sf.Regs)
	}
	// The faulting instruction is in follow: check it with gdb.
	out := gdbEval(t, r.Exe, r.Core, fmt.Sprintf("info symbol %#x", in.PC))
	if !strings.Contains(out, "follow") {
		t.Errorf("interrupted pc %#x is not in follow: %s", in.PC, out)
	}
	// The trampoline is libc's __restore_rt, `mov $0xf,%rax; syscall`
	// (gdb's disassembly): recognised at its first instruction and at
	// its syscall (pc+7, where a thread interrupted in it stands), not
	// one byte into either.
	tramp := frames[sig].PC
	out = gdbEval(t, r.Exe, r.Core, fmt.Sprintf("x/2i %#x", tramp))
	if !regexp.MustCompile(`(?s)mov +\$0xf,%rax.*\n.*syscall`).MatchString(out) {
		t.Fatalf("gdb's disassembly at the trampoline %#x:\n%s", tramp, out)
	}
	for _, c2 := range []struct {
		pc   uint64
		want bool
	}{{tramp, true}, {tramp + 7, true}, {tramp + 1, false}, {tramp + 8, false}, {tramp + 9, false}, {3, false}} {
		start, ok := unwind.SigtrampStart(c, c2.pc)
		if ok != c2.want || (ok && start != tramp) {
			t.Errorf("SigtrampStart(%#x) = %#x, %v; the trampoline is at %#x", c2.pc, start, ok, tramp)
		}
	}

	// The kernel's siginfo on the stack says why the handler ran; the
	// core's own NT_SIGINFO says why the process died (the re-raise).
	si, err := sf.ReadSigInfo(c)
	if err != nil {
		t.Fatal(err)
	}
	// follow((struct obj *)0x10) reads o->next at 0x10 + 38*8.
	const faultAddr = 0x10 + 38*8
	if si.Signo != unwind.SIGSEGV || si.Code != unwind.SEGV_MAPERR || si.Addr != faultAddr {
		t.Errorf("on-stack siginfo %+v, want SIGSEGV SEGV_MAPERR addr %#x", si, faultAddr)
	}
	if sf.CR2 != faultAddr || sf.Trapno != 14 {
		t.Errorf("sigcontext cr2 %#x trapno %d, want %#x and 14 (page fault)", sf.CR2, sf.Trapno, faultAddr)
	}
	if sf.Err&4 == 0 || sf.Err&2 != 0 {
		t.Errorf("page-fault error code %#x: want a user-mode read", sf.Err)
	}
	core := coreSigInfo(t, c)
	if core.Signo != unwind.SIGSEGV || core.Code != unwind.SI_TKILL || core.PID == 0 {
		t.Errorf("NT_SIGINFO %+v, want SIGSEGV SI_TKILL from the process itself", core)
	}
	// gdb's $_siginfo is the core's record, not the on-stack one.
	out = gdbEval(t, r.Exe, r.Core, "p $_siginfo.si_code", fmt.Sprintf("p/x *(int*)%#x", sf.SigInfo+8), fmt.Sprintf("p/x *(long*)%#x", sf.SigInfo+16))
	if !strings.Contains(out, "= -6") || !strings.Contains(out, "= 0x1\n") || !strings.Contains(out, fmt.Sprintf("= %#x", faultAddr)) {
		t.Errorf("gdb disagrees on the siginfo records:\n%s", out)
	}
}

// TestReraiseWithoutNodefer: testcore.Reraise as written; the core holds
// the restored context, no signal frame, and still SI_TKILL.
func TestReraiseWithoutNodefer(t *testing.T) {
	r := testcore.Make(t, testcore.Reraise)
	c := openTestCore(t, r.Core)
	frames, err := c.unwinder().Unwind(c.threads[0].regs)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		if f.Sigtramp {
			t.Errorf("unexpected signal frame at %#x", f.PC)
		}
	}
	if si := coreSigInfo(t, c); si.Code != unwind.SI_TKILL {
		t.Errorf("NT_SIGINFO code %d, want SI_TKILL", si.Code)
	}
}

func TestCallThroughNull(t *testing.T) {
	r := testcore.Make(t, callNull)
	c := openTestCore(t, r.Core)
	frames, err := c.unwinder().Unwind(c.threads[0].regs)
	if err != nil {
		t.Fatal(err)
	}
	if frames[0].PC != 0 || len(frames) < 3 || frames[1].Kind != unwind.KindHeuristic {
		t.Fatalf("frames %+v", frames)
	}
	// The guessed caller is marked weak (documents flag it); the
	// registers the crash left and the CFI steps above it are not.
	for i, f := range frames {
		if f.Kind.Weak() != (i == 1) {
			t.Errorf("frame %d (%v): weak %v", i, f.Kind, f.Kind.Weak())
		}
	}
}

func TestNoCFIFramePointer(t *testing.T) {
	r := testcore.Make(t, noCFI)
	c := openTestCore(t, r.Core)
	frames, err := c.unwinder().Unwind(c.threads[0].regs)
	if err != nil {
		t.Fatal(err)
	}
	fp := 0
	for i, f := range frames {
		if f.Kind == unwind.KindFramePointer {
			fp++
		}
		// Only the frame found by the rbp chain is weak.
		if f.Kind.Weak() != (f.Kind == unwind.KindFramePointer) || (i > 0 && f.Kind != unwind.KindFramePointer && f.Kind != unwind.KindCFI) {
			t.Errorf("frame %d (%v): weak %v", i, f.Kind, f.Kind.Weak())
		}
	}
	if fp != 1 {
		t.Errorf("%d frame-pointer frames, want 1 (the caller of asm_trampoline)", fp)
	}
	// Without FuncStart the rbp chain is followed: same frames.
	u := c.unwinder()
	u.FuncStart = nil
	frames2, err := u.Unwind(c.threads[0].regs)
	if err != nil {
		t.Fatal(err)
	}
	if len(frames2) != len(frames) {
		t.Fatalf("without symbols: %d frames, with: %d", len(frames2), len(frames))
	}
	for i := range frames {
		if frames[i].PC != frames2[i].PC {
			t.Errorf("frame %d: %#x without symbols, %#x with", i, frames2[i].PC, frames[i].PC)
		}
	}
}

// TestGarbageRegisters: whatever the registers, Unwind terminates within
// MaxFrames without panicking, on real memory and CFI.
func TestGarbageRegisters(t *testing.T) {
	r := testcore.Make(t, cephReraise)
	c := openTestCore(t, r.Core)
	u := c.unwinder()
	u.MaxFrames = 64
	var cand []uint64
	for _, s := range c.segs {
		cand = append(cand, s.vaddr, s.vaddr+8, s.vaddr+s.memsz-8, s.vaddr+s.memsz/2)
	}
	for _, m := range c.mods {
		cand = append(cand, m.start, m.start+0x1000, m.end-1)
	}
	cand = append(cand, 0, 1, ^uint64(0), ^uint64(0)-7, 0x7fffffffffff, 0x8000000000000000)
	seed := uint64(0x9e3779b97f4a7c15)
	next := func() uint64 {
		seed ^= seed << 13
		seed ^= seed >> 7
		seed ^= seed << 17
		return seed
	}
	stops := map[unwind.StopReason]int{}
	for i := 0; i < 3000; i++ {
		var regs unwind.Regs
		for n := 0; n < unwind.NumRegs; n++ {
			if next()%5 == 0 {
				continue // unknown register
			}
			v := cand[next()%uint64(len(cand))] + next()%64
			if next()%4 == 0 {
				v = next()
			}
			regs.Set(n, v)
		}
		if i%3 == 0 { // a real stack with garbage pc
			regs = c.threads[0].regs
			regs.Set(unwind.RIP, cand[next()%uint64(len(cand))]+next()%4096)
		}
		frames, reason, err := u.UnwindStop(regs)
		stops[reason]++
		if reason == unwind.StopBadCFI && testing.Verbose() && stops[reason] < 4 {
			t.Logf("bad CFI: %v", err)
		}
		if len(frames) > u.MaxFrames {
			t.Fatalf("%d frames > MaxFrames", len(frames))
		}
		var se *unwind.StopError
		if err != nil && !errors.As(err, &se) {
			t.Fatalf("error of type %T: %v", err, err)
		}
	}
	t.Logf("stop reasons: %v", stops)
}

// TestSignalFrameLayout decodes a hand-made ucontext.
func TestSignalFrameLayout(t *testing.T) {
	m := newFakeMem()
	const uc = 0x7000_0000
	b := make([]byte, 304+128)
	for i := 0; i < 18; i++ {
		binary.LittleEndian.PutUint64(b[40+8*i:], uint64(0x1000+i))
	}
	binary.LittleEndian.PutUint64(b[40+152:], 6)     // err
	binary.LittleEndian.PutUint64(b[40+160:], 14)    // trapno
	binary.LittleEndian.PutUint64(b[40+176:], 0xbad) // cr2
	// The rest of uapi asm/sigcontext.h's x86-64 struct sigcontext: cs,
	// gs, fs, ss (__u16 each) after eflags, oldmask after trapno, fpstate
	// after cr2; then struct ucontext's uc_sigmask after the 256-byte
	// uc_mcontext.
	binary.LittleEndian.PutUint16(b[40+144:], 0x33)        // cs
	binary.LittleEndian.PutUint16(b[40+146:], 0x63)        // gs
	binary.LittleEndian.PutUint16(b[40+148:], 0x53)        // fs
	binary.LittleEndian.PutUint16(b[40+150:], 0x2b)        // ss
	binary.LittleEndian.PutUint64(b[40+168:], 0x4000)      // oldmask
	binary.LittleEndian.PutUint64(b[40+184:], 0x7000_1000) // fpstate
	binary.LittleEndian.PutUint64(b[296:], 1<<(11-1)|1<<5) // uc_sigmask
	binary.LittleEndian.PutUint32(b[304:], 11)
	binary.LittleEndian.PutUint32(b[304+8:], 2)
	binary.LittleEndian.PutUint64(b[304+16:], 0xbad)
	m.put(uc, b)
	sf, err := unwind.ReadSignalFrame(m, uc)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]uint64{unwind.R8: 0x1000, unwind.R15: 0x1007, unwind.RDI: 0x1008, unwind.RSI: 0x1009,
		unwind.RBP: 0x100a, unwind.RBX: 0x100b, unwind.RDX: 0x100c, unwind.RAX: 0x100d, unwind.RCX: 0x100e,
		unwind.RSP: 0x100f, unwind.RIP: 0x1010}
	for n, v := range want {
		if got, _ := sf.Regs.Get(n); got != v {
			t.Errorf("%s = %#x, want %#x", unwind.RegName(n), got, v)
		}
	}
	if sf.Eflags != 0x1011 || sf.Err != 6 || sf.Trapno != 14 || sf.CR2 != 0xbad {
		t.Errorf("sigcontext %+v", sf)
	}
	if sf.CS != 0x33 || sf.GS != 0x63 || sf.FS != 0x53 || sf.SS != 0x2b || sf.Oldmask != 0x4000 || sf.FPState != 0x7000_1000 ||
		sf.Sigmask != 1<<(11-1)|1<<5 || sf.UContext != uc || sf.SigInfo != uc+304 {
		t.Errorf("segments, masks, fpstate, addresses: %+v", sf)
	}
	si, err := sf.ReadSigInfo(m)
	if err != nil || si != (unwind.SigInfo{Signo: 11, Code: unwind.SEGV_ACCERR, Addr: 0xbad}) {
		t.Errorf("siginfo %+v %v", si, err)
	}
}
