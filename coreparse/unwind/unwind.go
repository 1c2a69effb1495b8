package unwind

import (
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/dsecore/dsecore/internal/slab"
	"sync"

	"github.com/dsecore/dsecore/internal/mmap"
	"github.com/go-delve/delve/pkg/dwarf/frame"
	"github.com/go-delve/delve/pkg/dwarf/op"
)

// Memory is the crashed process's address space (runtime addresses). Code
// must be readable too: signal trampolines are recognised by their bytes
// and the prologue heuristics read instructions.
type Memory interface {
	ReadAt(p []byte, addr uint64) (int, error)
	ReadUint64(addr uint64) (uint64, error)
}

// FDEFinder returns the FDE covering a runtime pc, or an error (any error,
// typically *frame.ErrNoFDEForPC) when there is none.
type FDEFinder func(pc uint64) (*frame.FrameDescriptionEntry, error)

// Kind says how a frame's registers were recovered.
type Kind int

const (
	KindInitial      Kind = iota // frame 0: the registers the unwind started from (a thread's, or a task's saved context)
	KindCFI                      // from the callee's call frame information
	KindSignal                   // from the kernel's signal frame (struct ucontext on the stack)
	KindFramePointer             // no CFI: from the rbp chain (saved rbp at [rbp], return address at [rbp+8])
	KindHeuristic                // no CFI, no frame pointer: gdb's frameless prologue guess (return address near rsp)
)

// String is how the frame was found, as documents say it: "saved context",
// "cfi", "signal frame", "frame pointer", "scan" (a return address taken
// from the top of the stack).
func (k Kind) String() string {
	switch k {
	case KindInitial:
		return "saved context"
	case KindCFI:
		return "cfi"
	case KindSignal:
		return "signal frame"
	case KindFramePointer:
		return "frame pointer"
	case KindHeuristic:
		return "scan"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Weak reports whether frames of this kind may be wrong on a correct
// stack: found without CFI, from the rbp chain or a return address on the
// stack (documents mark them).
func (k Kind) Weak() bool { return k == KindFramePointer || k == KindHeuristic }

// Frame is one physical frame. Inline frames are the symbolizer's business.
type Frame struct {
	PC       uint64 // frame 0: the register pc; callers: the return address (gdb's frame.pc())
	Exact    bool   // PC is the address of an interrupted instruction (frame 0, or a frame above a signal frame); else look up PC-1
	CFA      uint64 // this frame's canonical frame address (the caller's rsp); 0 when it could not be computed
	Regs     Regs   // registers of this frame as recovered
	Kind     Kind   // how this frame's registers were recovered
	Sigtramp bool   // this frame is a signal trampoline (__restore_rt); its caller is the interrupted context
	SigFrame *SignalFrame

	// FDE is the CFI entry used to unwind this frame to its caller, nil when
	// the frame was unwound without CFI.
	FDE *frame.FrameDescriptionEntry

	funcKey uint64 // function identity for gdb's frame id: FDE begin, function start or pc
	pcSlot  uint64 // stack address this frame's PC was read from, 0 when not from memory
}

// framePool holds UnwindStop's buffers.
var framePool = sync.Pool{New: func() any { b := make([]Frame, 0, 32); return &b }}

// frameSlab holds UnwindStop's results: ten thousand task stacks of a few
// frames each are one allocation per 2,048 frames (the allocation of
// each stack's own slice was 28% of the unwinding's CPU on the
// 10,000-task core).
var frameSlab = slab.Slab[Frame]{Block: 2048}

// LookupPC is the address to symbolize and to look CFI up for: PC for
// exact frames, PC-1 (inside the call instruction) for return addresses.
func (f *Frame) LookupPC() uint64 {
	if f.Exact || f.PC == 0 {
		return f.PC
	}
	return f.PC - 1
}

// StopReason says why an unwind ended, in gdb's terms where gdb has one.
type StopReason int

const (
	StopNone         StopReason = iota
	StopOutermost               // the return address is undefined in CFI (_start, clone3): the last frame is the outermost
	StopZeroPC                  // a caller's pc is 0: gdb shows that frame and goes no further
	StopNoUnwindInfo            // no CFI for the pc and no usable fallback
	StopMemory                  // memory needed to unwind could not be read
	StopBadCFI                  // the CFI could not be evaluated
	StopNoPC                    // the pc (or the return address rule) is unknown
	StopInnerCFA                // gdb: "previous frame inner to this frame (corrupt stack?)"
	StopSameID                  // gdb: "previous frame identical to this frame (corrupt stack?)"
	StopNoSavedPC               // gdb: "frame did not save the PC"
	StopMaxFrames               // Unwinder.MaxFrames reached
)

func (r StopReason) String() string {
	switch r {
	case StopNone:
		return "no reason"
	case StopOutermost:
		return "outermost"
	case StopZeroPC:
		return "zero PC"
	case StopNoUnwindInfo:
		return "no unwind information"
	case StopMemory:
		return "cannot access memory"
	case StopBadCFI:
		return "bad call frame information"
	case StopNoPC:
		return "pc unknown"
	case StopInnerCFA:
		return "previous frame inner to this frame (corrupt stack?)"
	case StopSameID:
		return "previous frame identical to this frame (corrupt stack?)"
	case StopNoSavedPC:
		return "frame did not save the PC"
	case StopMaxFrames:
		return "too many frames"
	}
	return fmt.Sprintf("StopReason(%d)", int(r))
}

// Normal reports whether the reason is an expected end of a stack rather
// than a problem (gdb prints "Backtrace stopped: …" for the others).
func (r StopReason) Normal() bool { return r == StopOutermost || r == StopZeroPC }

// StopError is returned by Unwind when the stack ended abnormally; the
// frames returned with it are all valid.
type StopError struct {
	Reason StopReason
	Frame  int    // index of the last frame returned
	PC     uint64 // its pc
	Err    error  // underlying error, may be nil
}

func (e *StopError) Error() string {
	s := fmt.Sprintf("unwind stopped after frame #%d (pc %#x): %v", e.Frame, e.PC, e.Reason)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *StopError) Unwrap() error { return e.Err }

// DefaultMaxFrames bounds an unwind when Unwinder.MaxFrames is 0.
const DefaultMaxFrames = 512

// Unwinder walks stacks. Mem and FindFDE are required; the rest is optional.
type Unwinder struct {
	Mem       Memory
	FindFDE   FDEFinder
	MaxFrames int // default 512

	// Rules, when set, remembers the CFA and register rules established
	// at each pc, and whether the code at a pc is the signal trampoline,
	// shared by the unwinders of one process (of one Mem): thousands of
	// task stacks return through the same few dozen addresses.
	Rules *RuleCache

	// FuncStart returns the start of the function containing pc (from the
	// symbol table). Used only for code without CFI, to analyse the
	// prologue the way gdb's amd64 unwinder does. Without it such frames
	// are unwound through the frame-pointer chain, or not at all.
	FuncStart func(pc uint64) (start uint64, ok bool)

	// MappingAt returns the mapping holding addr. The frame-pointer chain
	// (code without CFI) is followed only inside the mapping of the
	// frame's stack, to return addresses in executable code. Without it
	// rbp must be within 64 MiB above rsp and return addresses only need
	// to follow a call instruction.
	MappingAt func(addr uint64) (Mapping, bool)

	// AllowStackSwitch accepts a caller whose CFA is below its callee's
	// (a switch to another stack, e.g. from a coroutine stack to the
	// thread's). gdb stops there ("previous frame inner to this frame");
	// so does Unwind by default. Progress is then guaranteed only by the
	// frame ids never repeating and MaxFrames.
	AllowStackSwitch bool

	// SameValueCallerSaved keeps caller-saved registers (rax, rcx, rdx,
	// rsi, rdi, r8-r11) that the CFI has no rule for in callers, as gdb
	// does (it treats DWARF's "unspecified" as "same value"). By default
	// they are invalid in callers: their values there are unknowable.
	SameValueCallerSaved bool
}

type frameID struct{ cfa, fn uint64 }

// frameIDs is a set of frame ids: a few in a slice (most stacks), a map
// past them.
type frameIDs struct {
	few  [16]frameID
	n    int
	many map[frameID]bool
}

func (s *frameIDs) has(id frameID) bool {
	for _, x := range s.few[:s.n] {
		if x == id {
			return true
		}
	}
	return s.many[id]
}

func (s *frameIDs) add(id frameID) {
	if s.n < len(s.few) {
		s.few[s.n] = id
		s.n++
		return
	}
	if s.many == nil {
		s.many = map[frameID]bool{}
	}
	s.many[id] = true
}

// Unwind returns the physical frames of the stack whose innermost
// registers are start, innermost first. It stops where gdb stops (see
// StopReason). The error is nil for a normal end (StopOutermost,
// StopZeroPC) and a *StopError otherwise; frames are returned either way.
func (u *Unwinder) Unwind(start Regs) ([]Frame, error) {
	frames, reason, err := u.UnwindStop(start)
	if reason.Normal() {
		return frames, nil
	}
	return frames, err
}

// UnwindStop is Unwind that also says why the unwind ended.
func (u *Unwinder) UnwindStop(start Regs) ([]Frame, StopReason, error) {
	// Frames are collected in a pooled buffer and handed out in a slice of
	// their own size: ten thousand task stacks keep theirs, and a frame is
	// a few hundred bytes.
	scratch := framePool.Get().(*[]Frame)
	frames, reason, err := u.UnwindInto((*scratch)[:0], start)
	var out []Frame // nil when no frame was made
	if len(frames) > 0 {
		out = frameSlab.Copy(frames)
	}
	clear(frames)
	*scratch = frames[:0] // a grown buffer is the one reused
	framePool.Put(scratch)
	return out, reason, err
}

// UnwindInto is UnwindStop with the frames appended to buf[:0], a buffer
// the caller reuses: a pass over ten thousand stacks that is done with
// each stack before the next keeps no frame (its memory is the same few
// pages, not fresh ones per stack).
func (u *Unwinder) UnwindInto(buf []Frame, start Regs) (frames []Frame, reason StopReason, err error) {
	frames = buf[:0]
	stop := func(r StopReason, e error) {
		reason = r
		last := len(frames) - 1
		var pc uint64
		if last >= 0 {
			pc = frames[last].PC
		}
		err = &StopError{Reason: r, Frame: last, PC: pc, Err: e}
	}
	defer func() {
		if p := recover(); p != nil {
			mmap.Repanic(p) // a file that changed under the reader is the command's error, not this decoder's
			stop(StopBadCFI, fmt.Errorf("panic while unwinding: %v", p))
		}
	}()
	if u.Mem == nil {
		stop(StopMemory, errors.New("no memory"))
		return
	}
	if !start.Has(RIP) {
		stop(StopNoPC, errors.New("start registers have no rip"))
		return
	}
	max := u.MaxFrames
	if max <= 0 {
		max = DefaultMaxFrames
	}
	cur := Frame{PC: start.V[RIP], Exact: true, Regs: start, Kind: KindInitial}
	var seen frameIDs
	for {
		k := len(frames)
		next, r, e := u.analyze(&cur)

		// gdb computes a frame's id (CFA, function) when it creates the
		// frame and drops a frame whose id it has already seen.
		if cur.CFA != 0 {
			id := frameID{cur.CFA, cur.funcKey}
			if k > 0 && seen.has(id) {
				stop(StopSameID, nil)
				return
			}
			seen.add(id)
		}
		frames = append(frames, cur)
		var younger *Frame
		if k > 0 {
			younger = &frames[k-1]
		}
		normal := !cur.Sigtramp && (younger == nil || !younger.Sigtramp)

		// A zero pc in a caller of a normal frame: gdb shows the frame and
		// stops (get_prev_frame, "zero PC"). Frame 0 at pc 0 (a call
		// through a NULL pointer) and a zero pc interrupted by a signal
		// are unwound further.
		if k > 0 && cur.PC == 0 && normal {
			reason = StopZeroPC
			return
		}
		if r != StopNone {
			if r.Normal() {
				reason = r
				return
			}
			stop(r, e)
			return
		}
		if younger != nil && normal {
			if !u.AllowStackSwitch && cur.CFA != 0 && younger.CFA != 0 && cur.CFA < younger.CFA {
				stop(StopInnerCFA, nil)
				return
			}
			if next.pcSlot != 0 && next.pcSlot == cur.pcSlot {
				stop(StopNoSavedPC, nil)
				return
			}
		}
		if len(frames) >= max {
			stop(StopMaxFrames, fmt.Errorf("more than %d frames", max))
			return
		}
		cur = next
	}
}

// analyze finds how cur unwinds: it sets cur.CFA, cur.Sigtramp,
// cur.SigFrame, cur.FDE and cur.funcKey and returns the caller frame, or a
// reason to stop after cur.
func (u *Unwinder) analyze(cur *Frame) (Frame, StopReason, error) {
	cur.funcKey = cur.PC
	if cur.Kind != KindInitial && cur.PC == 0 && !cur.Exact {
		return Frame{}, StopZeroPC, nil
	}
	// 1. The kernel's signal trampoline, recognised by its code (gdb's
	// amd64_linux_sigtramp_p). Its caller is the interrupted context.
	if tramp, ok := u.sigtrampStart(cur.PC); ok {
		cur.Sigtramp = true
		cur.funcKey = tramp
		sp, ok := cur.Regs.Get(RSP)
		if !ok {
			return Frame{}, StopNoUnwindInfo, errors.New("signal trampoline frame without rsp")
		}
		sf, err := ReadSignalFrame(u.Mem, sp)
		if err != nil {
			return Frame{}, StopMemory, err
		}
		cur.SigFrame = sf
		cur.CFA = sf.Regs.V[RSP]
		next := Frame{PC: sf.Regs.V[RIP], Exact: true, Regs: sf.Regs, Kind: KindSignal, pcSlot: sf.UContext + ucMcontext + scRIP}
		return next, StopNone, nil
	}
	lookup := cur.LookupPC()
	// 2. CFI.
	if u.FindFDE != nil {
		if fde, err := u.FindFDE(lookup); err == nil && fde != nil {
			cur.FDE = fde
			return u.unwindCFI(cur, fde, lookup)
		}
		// gdb's signal-frame sniffer looks the pc itself up: a trampoline
		// whose FDE starts at its first instruction (glibc starts its FDE
		// a byte earlier so that pc-1 works too).
		if lookup != cur.PC {
			if fde, err := u.FindFDE(cur.PC); err == nil && fde != nil && IsSignalFrameFDE(fde) {
				cur.FDE = fde
				return u.unwindCFI(cur, fde, cur.PC)
			}
		}
	}
	// 3. No CFI.
	return u.unwindNoCFI(cur, lookup)
}

// establish runs the FDE's CFA program up to pc, panic-free.
func establish(fde *frame.FrameDescriptionEntry, pc uint64) (fc *frame.FrameContext, err error) {
	defer func() {
		if p := recover(); p != nil {
			mmap.Repanic(p) // a file that changed under the reader is the command's error, not this decoder's
			fc, err = nil, fmt.Errorf("CFA program of FDE %#x-%#x: %v", fde.Begin(), fde.End(), p)
		}
	}()
	return fde.EstablishFrame(pc)
}

// RuleCache holds established frame contexts by FDE and pc, and which pcs
// are in the signal trampoline. Safe for concurrent use; a context is only
// read once established.
type RuleCache struct {
	m     sync.Map
	tramp sync.Map // pc → trampResult
}

type trampResult struct {
	start uint64
	ok    bool
}

// sigtrampStart is SigtrampStart, remembered per pc in Rules (the code of
// a core never changes).
func (u *Unwinder) sigtrampStart(pc uint64) (uint64, bool) {
	if u.Rules == nil {
		return SigtrampStart(u.Mem, pc)
	}
	if v, ok := u.Rules.tramp.Load(pc); ok {
		r := v.(trampResult)
		return r.start, r.ok
	}
	start, ok := SigtrampStart(u.Mem, pc)
	u.Rules.tramp.Store(pc, trampResult{start, ok})
	return start, ok
}

type ruleKey struct {
	fde *frame.FrameDescriptionEntry
	pc  uint64
}

type ruleVal struct {
	fc  *frame.FrameContext
	err error
}

func (u *Unwinder) establish(fde *frame.FrameDescriptionEntry, pc uint64) (*frame.FrameContext, error) {
	if u.Rules == nil {
		return establish(fde, pc)
	}
	k := ruleKey{fde, pc}
	if v, ok := u.Rules.m.Load(k); ok {
		r := v.(ruleVal)
		return r.fc, r.err
	}
	fc, err := establish(fde, pc)
	u.Rules.m.Store(k, ruleVal{fc, err})
	return fc, err
}

func (u *Unwinder) unwindCFI(cur *Frame, fde *frame.FrameDescriptionEntry, lookup uint64) (Frame, StopReason, error) {
	cur.funcKey = fde.Begin()
	fc, err := u.establish(fde, lookup)
	if err != nil {
		return Frame{}, StopBadCFI, err
	}
	cfa, err := u.cfa(fc, &cur.Regs)
	if err != nil {
		var me *memError
		if errors.As(err, &me) {
			return Frame{}, StopMemory, err
		}
		return Frame{}, StopBadCFI, err
	}
	cur.CFA = cfa
	signal := IsSignalFrameFDE(fde)
	if signal {
		cur.Sigtramp = true
	}
	ra := fc.RetAddrReg
	raRule, ok := fc.Regs[ra]
	if !ok {
		return Frame{}, StopNoPC, fmt.Errorf("no rule for the return address column %d", ra)
	}
	if raRule.Rule == frame.RuleUndefined {
		// .cfi_undefined rip: the outermost frame (_start, clone3).
		// delve also maps DW_CFA_restore of a column without a CIE rule to
		// "undefined"; for the return address column that does not occur.
		return Frame{}, StopOutermost, nil
	}
	next := Frame{Kind: KindCFI, Exact: signal}
	for n := 0; n < NumRegs; n++ {
		if uint64(n) == ra {
			continue
		}
		rule, has := fc.Regs[uint64(n)]
		if !has || rule.Rule == frame.RuleUndefined {
			// No rule, or DW_CFA_restore/undefined (delve reports both as
			// undefined): DWARF's "unspecified".
			if n == RSP {
				next.Regs.Set(RSP, cfa)
			} else {
				u.defaultRule(&next.Regs, &cur.Regs, n)
			}
			continue
		}
		if v, _, ok := u.applyRule(n, rule, cfa, &cur.Regs); ok {
			next.Regs.Set(n, v)
		}
	}
	v, slot, ok := u.applyRule(int(ra), raRule, cfa, &cur.Regs)
	if !ok {
		if raRule.Rule == frame.RuleOffset || raRule.Rule == frame.RuleExpression {
			return Frame{}, StopMemory, fmt.Errorf("cannot read the return address of frame at pc %#x (CFA %#x)", cur.PC, cfa)
		}
		return Frame{}, StopNoPC, fmt.Errorf("cannot recover the return address of frame at pc %#x", cur.PC)
	}
	if ra < NumRegs && ra != RIP {
		next.Regs.Set(int(ra), v)
	}
	next.Regs.Set(RIP, v)
	next.PC = v
	next.pcSlot = slot
	return next, StopNone, nil
}

// defaultRule fills register n of a caller that has no CFI rule for it:
// callee-saved registers keep their value, caller-saved ones are lost.
func (u *Unwinder) defaultRule(next, cur *Regs, n int) {
	if CalleeSaved(n) || u.SameValueCallerSaved {
		if v, ok := cur.Get(n); ok {
			next.Set(n, v)
		}
	}
}

// applyRule evaluates the rule of register n; slot is the memory address the
// value was read from (0 when not from memory).
func (u *Unwinder) applyRule(n int, rule frame.DWRule, cfa uint64, regs *Regs) (v, slot uint64, ok bool) {
	switch rule.Rule {
	case frame.RuleSameVal:
		x, ok := regs.Get(n)
		return x, 0, ok
	case frame.RuleOffset:
		addr := cfa + uint64(rule.Offset)
		x, err := u.Mem.ReadUint64(addr)
		if err != nil {
			return 0, 0, false
		}
		return x, addr, true
	case frame.RuleValOffset:
		return cfa + uint64(rule.Offset), 0, true
	case frame.RuleRegister:
		x, ok := regs.Get(int(rule.Reg))
		return x, 0, ok
	case frame.RuleExpression:
		addr, err := u.eval(rule.Expression, regs, cfa, true)
		if err != nil {
			return 0, 0, false
		}
		x, err := u.Mem.ReadUint64(addr)
		if err != nil {
			return 0, 0, false
		}
		return x, addr, true
	case frame.RuleValExpression:
		x, err := u.eval(rule.Expression, regs, cfa, true)
		if err != nil {
			return 0, 0, false
		}
		return x, 0, true
	}
	return 0, 0, false
}

// cfa computes the canonical frame address of a row.
func (u *Unwinder) cfa(fc *frame.FrameContext, regs *Regs) (uint64, error) {
	switch fc.CFA.Rule {
	case frame.RuleCFA:
		v, ok := regs.Get(int(fc.CFA.Reg))
		if !ok {
			return 0, fmt.Errorf("CFA register %s unknown", RegName(int(fc.CFA.Reg)))
		}
		return v + uint64(fc.CFA.Offset), nil
	case frame.RuleExpression:
		return u.eval(fc.CFA.Expression, regs, 0, false)
	}
	return 0, fmt.Errorf("no CFA rule (rule %d)", fc.CFA.Rule)
}

type memError struct{ err error }

func (e *memError) Error() string { return e.err.Error() }
func (e *memError) Unwrap() error { return e.err }

// eval runs a DWARF expression with delve's op package. For register
// rules DWARF pushes the CFA before running the expression.
func (u *Unwinder) eval(expr []byte, regs *Regs, cfa uint64, pushCFA bool) (v uint64, err error) {
	defer func() {
		if p := recover(); p != nil {
			mmap.Repanic(p) // a file that changed under the reader is the command's error, not this decoder's
			v, err = 0, fmt.Errorf("DWARF expression %x: %v", expr, p)
		}
	}()
	prog := expr
	if pushCFA {
		prog = make([]byte, 9, 9+len(expr))
		prog[0] = byte(op.DW_OP_const8u)
		binary.LittleEndian.PutUint64(prog[1:], cfa)
		prog = append(prog, expr...)
	}
	dr := op.NewDwarfRegisters(0, nil, binary.LittleEndian, RIP, RSP, RBP, 0)
	for n := 0; n < NumRegs; n++ {
		if x, ok := regs.Get(n); ok {
			dr.AddReg(uint64(n), op.DwarfRegisterFromUint64(x))
		}
	}
	dr.CFA = int64(cfa)
	var merr error
	read := func(buf []byte, addr uint64) (int, error) {
		n, err := u.Mem.ReadAt(buf, addr)
		if err == nil && n < len(buf) {
			err = fmt.Errorf("short read at %#x", addr)
		}
		if err != nil {
			merr = &memError{err}
		}
		return n, err
	}
	x, pieces, err := op.ExecuteStackProgram(*dr, prog, 8, read)
	if err != nil {
		if merr != nil {
			return 0, merr
		}
		return 0, fmt.Errorf("DWARF expression %x: %w", expr, err)
	}
	if pieces != nil {
		return 0, fmt.Errorf("DWARF expression %x is not an address", expr)
	}
	return uint64(x), nil
}
