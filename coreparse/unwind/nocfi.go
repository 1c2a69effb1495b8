package unwind

import (
	"bytes"
	"errors"
	"fmt"

	"golang.org/x/arch/x86/x86asm"
)

// Frames without CFI: Boost.Context's jump_fcontext/make_fcontext (hand
// written assembly without .cfi directives), JIT code, programs built with
// -fno-asynchronous-unwind-tables, stripped code.
//
// Two unwinders know such frames, and each is right where the other is
// wrong:
//
//   - gdb's amd64 prologue analyser (amd64_frame_cache) looks at the first
//     instructions of the function (from the symbol table) for "[endbr64]
//     push %rbp; mov %rsp,%rbp". When the pc is past them the frame has a
//     frame pointer: the caller's rbp is at [rbp], its pc at [rbp+8], its
//     rsp is rbp+16. Otherwise the function is taken to be "frameless": the
//     return address is at rsp (rsp+8 after the push). Without a symbol it
//     assumes a frameless function at its very start, which is exactly
//     right for a call through a bad function pointer (pc 0) and for
//     assembly stubs that never set up a frame. It is wrong for gcc -O2's
//     scheduled prologues ("push %rbp; mov $0xc,%edi; mov %rsp,%rbp"): it
//     takes a local variable for the return address and shows garbage
//     ("0x0000000000000010 in ?? ()").
//   - elfutils' x86_64 fallback (backends/x86_64_unwind.c, called by
//     libdwfl's __libdwfl_frame_unwind when no .eh_frame or .debug_frame
//     entry covers the pc) follows the frame-pointer chain whatever the
//     code: return address at [rbp+8], caller's rbp at [rbp] (0 when
//     unreadable), caller's rsp rbp+16, nothing else known; it gives up
//     when rbp is 0 or unreadable or the new rsp is not above the old. It
//     gets scheduled prologues right and skips a frame in code that keeps
//     no frame pointer.
//
// unwindNoCFI takes gdb's frame when its return address is believable (it
// follows a call instruction in executable code: gdb's frames are kept
// wherever gdb has them), else the frame-pointer chain when that is (see
// framePointer for its checks), else gdb's frame anyway (gdb shows it, and
// it is marked as found by scanning), else it stops and says why the chain
// ends.

var (
	endbr64    = []byte{0xf3, 0x0f, 0x1e, 0xfa}
	movRspRbp1 = []byte{0x48, 0x89, 0xe5}
	movRspRbp2 = []byte{0x48, 0x8b, 0xec}
	movEspEbp1 = []byte{0x89, 0xe5}
	movEspEbp2 = []byte{0x8b, 0xec}
)

// maxFPDistance bounds how far above rsp a frame pointer may be when the
// stack's mapping is unknown (Unwinder.MappingAt nil).
const maxFPDistance = 64 << 20

// Mapping is one mapping of the process's address space, as the
// frame-pointer chain's checks need it.
type Mapping struct {
	Lo, Hi uint64 // [Lo, Hi)
	Exec   bool
}

// prologue is the result of gdb's amd64_analyze_prologue.
type prologue struct {
	framed   bool  // push %rbp; mov %rsp,%rbp executed: rbp is the frame base
	rbpSaved bool  // push %rbp executed
	spOffset int64 // frameless: base = rsp + spOffset
}

func (u *Unwinder) analyzePrologue(start, pc uint64) prologue {
	p := prologue{spOffset: -8}
	if pc <= start {
		return p
	}
	code := make([]byte, 16)
	n, _ := u.Mem.ReadAt(code, start)
	code = code[:n]
	at := 0
	if start+4 <= pc && bytes.HasPrefix(code, endbr64) {
		at = 4
		if pc <= start+4 {
			return p
		}
	}
	if at >= len(code) || code[at] != 0x55 { // push %rbp
		return p
	}
	p.rbpSaved = true
	p.spOffset += 8
	if pc <= start+uint64(at)+1 {
		return p
	}
	rest := code[at+1:]
	if bytes.HasPrefix(rest, movRspRbp1) || bytes.HasPrefix(rest, movRspRbp2) ||
		bytes.HasPrefix(rest, movEspEbp1) || bytes.HasPrefix(rest, movEspEbp2) {
		p.framed = true
	}
	return p
}

func (u *Unwinder) readable(addr uint64) bool {
	var b [1]byte
	n, err := u.Mem.ReadAt(b[:], addr)
	return err == nil && n == 1
}

// ErrFramePointer wraps every reason the frame-pointer chain ends early
// (the Err of a StopFramePointer).
var ErrFramePointer = errors.New("the frame-pointer chain ends")

func fpErr(format string, args ...any) error {
	return &fpError{format, args}
}

// fpError is why the chain ends (ErrFramePointer and the reason), its
// text made only when read: the chain is tried below the outermost frame
// of every task stack, where the reason is seldom shown.
type fpError struct {
	format string
	args   []any
}

func (e *fpError) Error() string {
	return ErrFramePointer.Error() + ": " + fmt.Sprintf(e.format, e.args...)
}

func (e *fpError) Unwrap() error { return ErrFramePointer }

func (u *Unwinder) unwindNoCFI(cur *Frame, lookup uint64) (Frame, StopReason, error) {
	g, greason, gerr := u.gdbFrame(cur, lookup)
	gcfa := cur.CFA
	if gerr == nil && u.believable(&g) {
		if g.Kind == KindHeuristic {
			// gdb guessed where the return address is; when the chain
			// finds the same frame, the frame pointer confirms it.
			if f, cfa, err := u.framePointer(cur); err == nil && f.PC == g.PC && cfa == gcfa {
				return f, StopNone, nil
			}
		}
		return g, StopNone, nil
	}
	if gerr != nil || g.Kind != KindFramePointer {
		// gdb's frame, when there is one, is not believable; the chain's
		// may be. (A framed gdb frame is the chain's step already.)
		f, cfa, err := u.framePointer(cur)
		if err == nil {
			cur.CFA = cfa
			return f, StopNone, nil
		}
		if gerr != nil && greason == StopNoUnwindInfo {
			return Frame{}, StopNoUnwindInfo, fmt.Errorf("no CFI for pc %#x: %v, and %w", cur.PC, gerr, err)
		}
	}
	if gerr != nil {
		return Frame{}, greason, gerr
	}
	return g, StopNone, nil
}

// believable reports whether a frame found without CFI has a pc that
// follows a call instruction in executable code, or is the signal
// trampoline (where a handler returns to).
func (u *Unwinder) believable(f *Frame) bool {
	return u.returnAddress(f.PC)
}

// returnAddress reports whether ra can be a return address: it follows a
// call instruction in executable code, or it is the first instruction of
// the signal trampoline (the kernel's return address for a handler).
func (u *Unwinder) returnAddress(ra uint64) bool {
	if u.afterCall(ra) {
		return true
	}
	start, ok := u.sigtrampStart(ra)
	return ok && start == ra
}

// afterCall reports whether ret follows a call instruction in executable
// memory (of any module: the process's mappings when MappingAt is set).
func (u *Unwinder) afterCall(ret uint64) bool {
	if ret < 8 {
		return false
	}
	if u.MappingAt != nil {
		m, ok := u.MappingAt(ret - 1)
		if !ok || !m.Exec {
			return false
		}
	}
	_, ok := CallBefore(u.Mem, ret)
	return ok
}

// CallBefore finds the call instruction that ends exactly at ret (a return
// address) and returns its address: x86-64 calls are 2 to 7 bytes long
// (e8 rel32; ff /2 with ModRM, SIB, displacement and a REX prefix). Whether
// the bytes are executable is the caller's business.
func CallBefore(m Memory, ret uint64) (uint64, bool) {
	const max = 7
	if ret < max {
		return 0, false
	}
	var code [max]byte
	if n, err := m.ReadAt(code[:], ret-max); err != nil || n != max {
		return 0, false
	}
	for l := 2; l <= max; l++ {
		in, err := x86asm.Decode(code[max-l:], 64)
		if err == nil && in.Len == l && in.Op == x86asm.CALL {
			return ret - uint64(l), true
		}
	}
	return 0, false
}

// framePointer is elfutils' x86_64 fallback with checks elfutils leaves
// out: rbp must lie in the mapping of the frame's stack (the one holding
// rsp: the thread's or the task's), at or above rsp, so that the caller's
// rsp (rbp+16) moves toward the stack's base and stays in it; the return
// address at [rbp+8] must follow a call instruction in executable code.
// The caller gets rip, rsp and rbp (from [rbp]; unknown when unreadable);
// every other register, callee-saved ones included, is unknown: the chain
// does not say where the function saved them.
func (u *Unwinder) framePointer(cur *Frame) (next Frame, cfa uint64, err error) {
	next, err = u.framePointerStep(cur)
	return next, next.Regs.V[RSP], err
}

func (u *Unwinder) framePointerStep(cur *Frame) (Frame, error) {
	rbp, ok := cur.Regs.Get(RBP)
	if !ok {
		return Frame{}, fpErr("rbp is unknown")
	}
	if rbp == 0 {
		return Frame{}, fpErr("rbp is 0")
	}
	rsp, ok := cur.Regs.Get(RSP)
	if !ok {
		return Frame{}, fpErr("rsp is unknown")
	}
	if rbp%8 != 0 {
		return Frame{}, fpErr("rbp %#x is not 8-byte aligned", rbp)
	}
	if rbp < rsp {
		return Frame{}, fpErr("rbp %#x is below rsp %#x", rbp, rsp)
	}
	if u.MappingAt != nil {
		m, ok := u.MappingAt(rsp)
		if !ok {
			return Frame{}, fpErr("rsp %#x is in no mapping", rsp)
		}
		if rbp+16 > m.Hi || rbp+16 < rbp {
			return Frame{}, fpErr("rbp %#x is outside the stack's mapping %#x-%#x", rbp, m.Lo, m.Hi)
		}
	} else if rbp-rsp >= maxFPDistance {
		return Frame{}, fpErr("rbp %#x is %d bytes above rsp %#x", rbp, rbp-rsp, rsp)
	}
	ra, err := u.Mem.ReadUint64(rbp + 8)
	if err != nil {
		return Frame{}, fpErr("reading the return address at %#x: %v", rbp+8, err)
	}
	if !u.returnAddress(ra) {
		return Frame{}, fpErr("the word at rbp+8 (%#x) does not follow a call instruction", ra)
	}
	next := Frame{PC: ra, Kind: KindFramePointer, pcSlot: rbp + 8}
	next.Regs.Set(RIP, ra)
	next.Regs.Set(RSP, rbp+16)
	if v, err := u.Mem.ReadUint64(rbp); err == nil {
		next.Regs.Set(RBP, v)
	}
	return next, nil
}

// gdbFrame is the caller gdb's amd64 prologue analysis finds (see the
// comment at the top), or a reason why there is none.
func (u *Unwinder) gdbFrame(cur *Frame, lookup uint64) (Frame, StopReason, error) {
	rsp, haveSP := cur.Regs.Get(RSP)
	rbp, haveBP := cur.Regs.Get(RBP)
	var p prologue
	switch start, ok := u.funcStart(lookup); {
	case ok:
		cur.funcKey = start
		p = u.analyzePrologue(start, cur.PC)
	case cur.Exact && (cur.PC == 0 || !u.readable(cur.PC)):
		// A call through a bad pointer (frame 0, or interrupted by a
		// signal): the return address is on top of the stack (gdb's
		// frameless guess with no function).
		p = prologue{spOffset: -8}
	case cur.Exact:
		// Interrupted in unknown code, e.g. right after the syscall of an
		// assembly stub whose CFI ends before it (glibc's clone3): gdb's
		// frameless guess.
		p = prologue{spOffset: -8}
	default:
		return Frame{}, StopNoUnwindInfo, errors.New("no symbol for its function")
	}
	var base uint64
	kind := KindHeuristic
	if p.framed {
		if !haveBP {
			return Frame{}, StopNoUnwindInfo, fmt.Errorf("frame at pc %#x: rbp unknown", cur.PC)
		}
		base = rbp
		kind = KindFramePointer
	} else {
		if !haveSP {
			return Frame{}, StopNoUnwindInfo, fmt.Errorf("frame at pc %#x: rsp unknown", cur.PC)
		}
		base = rsp + uint64(p.spOffset)
	}
	ra, err := u.Mem.ReadUint64(base + 8)
	if err != nil {
		return Frame{}, StopMemory, fmt.Errorf("reading the return address at %#x: %w", base+8, err)
	}
	cur.CFA = base + 16
	next := Frame{PC: ra, Kind: kind, pcSlot: base + 8}
	if kind == KindHeuristic {
		// gdb's frameless frame: the registers it does not see saved keep
		// their value (for a call through a bad pointer, exactly right).
		for n := 0; n < NumRegs; n++ {
			u.defaultRule(&next.Regs, &cur.Regs, n)
		}
	}
	next.Regs.Set(RIP, ra)
	next.Regs.Set(RSP, base+16)
	if p.rbpSaved {
		if v, err := u.Mem.ReadUint64(base); err == nil {
			next.Regs.Set(RBP, v)
		} else {
			next.Regs.Invalidate(RBP)
		}
	}
	return next, StopNone, nil
}

func (u *Unwinder) funcStart(pc uint64) (uint64, bool) {
	if u.FuncStart == nil {
		return 0, false
	}
	s, ok := u.FuncStart(pc)
	if !ok || s > pc || pc-s > 16<<20 {
		return 0, false
	}
	return s, true
}
