package unwind

import (
	"bytes"
	"fmt"
)

// Frames without CFI: Boost.Context's jump_fcontext/make_fcontext (hand
// written assembly without .cfi directives), JIT code, stripped code.
//
// gdb unwinds them with its amd64 prologue analyser (amd64_frame_cache):
// it looks at the first instructions of the function (from the symbol
// table) for "[endbr64] push %rbp; mov %rsp,%rbp". When the pc is past
// them the frame has a frame pointer: the caller's rbp is at [rbp], its pc
// at [rbp+8], its rsp is rbp+16. Otherwise the function is taken to be
// "frameless": the return address is at rsp (rsp+8 after the push). Without
// a symbol it assumes a frameless function at its very start, which is
// exactly right for a call through a bad function pointer (pc 0).
//
// unwindNoCFI does the same when Unwinder.FuncStart knows the function.
// When nothing knows it: for a call through a bad pointer (pc 0 or
// unreadable) the return address is at rsp, as gdb guesses; otherwise the
// frame pointer chain is followed when rbp plausibly points into the stack
// above rsp; failing that, an interrupted frame (frame 0, or above a
// signal frame) gets gdb's frameless guess, and a return address into
// unknown code stops the unwind (gdb would read a return address at rsp,
// which mid-function is garbage).

var (
	endbr64    = []byte{0xf3, 0x0f, 0x1e, 0xfa}
	movRspRbp1 = []byte{0x48, 0x89, 0xe5}
	movRspRbp2 = []byte{0x48, 0x8b, 0xec}
	movEspEbp1 = []byte{0x89, 0xe5}
	movEspEbp2 = []byte{0x8b, 0xec}
)

// maxFPDistance bounds how far above rsp a frame pointer may be.
const maxFPDistance = 64 << 20

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

func (u *Unwinder) unwindNoCFI(cur *Frame, lookup uint64) (Frame, StopReason, error) {
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
	case haveSP && haveBP && rbp >= rsp && rbp-rsp < maxFPDistance && rbp%8 == 0 && u.readable(rbp+15):
		p = prologue{framed: true, rbpSaved: true}
	case cur.Exact:
		// Interrupted in unknown code that keeps no frame pointer, e.g.
		// right after the syscall of an assembly stub whose CFI ends
		// before it (glibc's clone3): gdb's frameless guess.
		p = prologue{spOffset: -8}
	default:
		return Frame{}, StopNoUnwindInfo, fmt.Errorf("no CFI for pc %#x and no frame pointer", cur.PC)
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
	cur.CFA = base + 16
	ra, err := u.Mem.ReadUint64(base + 8)
	if err != nil {
		return Frame{}, StopMemory, fmt.Errorf("reading the return address at %#x: %w", base+8, err)
	}
	next := Frame{PC: ra, Kind: kind, pcSlot: base + 8}
	for n := 0; n < NumRegs; n++ {
		u.defaultRule(&next.Regs, &cur.Regs, n)
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
