package coreparse

import (
	"debug/elf"
	"fmt"
	"strings"

	"github.com/dsecore/dsecore/coreparse/corefile"
	"github.com/dsecore/dsecore/coreparse/disasm"
	"github.com/dsecore/dsecore/coreparse/unwind"
	"github.com/dsecore/dsecore/internal/l10n"
	"golang.org/x/arch/x86/x86asm"
)

// What the kernel really wrote when it delivered a signal to a handler.
//
// The rt_sigframe always holds uc_mcontext: the interrupted registers and
// the CPU exception that caused the signal, if one did (trapno, err, cr2:
// current->thread's trap_nr, error_code and cr2, copied by the kernel's
// setup_sigcontext). It holds a siginfo only when the handler was installed
// with SA_SIGINFO: Ceph installs its fatal-signal handler with sa_handler
// (src/global/signal_handler.cc, install_sighandler), so there the 128
// bytes after the ucontext are whatever the stack held before. A siginfo is
// therefore checked against the sigcontext and the handler's own signal
// number before it is believed.

// Exception is the CPU exception a signal frame's sigcontext records.
type Exception struct {
	Trapno, Err, CR2 uint64
	Name             string // "page fault", "general protection", "divide error", …
	// The signal the kernel sends for it (arch/x86/kernel/traps.c, fault.c).
	Signo, Code int
	Addr        uint64 // the si_addr the kernel gives: cr2 for a page fault, the pc for #DE/#UD/#MF/#XF, 0 for #GP
	// Page faults (trapno 14), from the error code's bits.
	Access     string // "read", "write", "instruction fetch"
	User       bool   // the access came from user mode
	Protection bool   // the page was present: a protection violation (else: not present)
	Reserved   bool   // a reserved bit was set in a paging entry
	PKey       bool   // a protection-key violation
	// FromCore: no sigcontext recorded it (the default action dumped the
	// core); the kind and address are the core's siginfo's, trapno and cr2
	// follow from them, the error code is unknown.
	FromCore bool
}

// The x86 exception vectors the kernel turns into signals.
var trapNames = map[uint64]string{
	0: "divide error", 1: "debug", 3: "breakpoint (int3)", 4: "overflow", 5: "bound range exceeded",
	6: "invalid opcode", 7: "device not available", 10: "invalid TSS", 11: "segment not present",
	12: "stack segment fault", 13: "general protection", 14: "page fault", 16: "x87 floating-point error",
	17: "alignment check", 19: "SIMD floating-point exception", 21: "control protection",
}

// DecodeException reads the exception out of a signal frame; nil when the
// sigcontext records none (trapno, err and cr2 all 0): the signal was sent
// (kill, raise, pthread_kill, abort), not caused by an instruction.
func DecodeException(sf *unwind.SignalFrame) *Exception {
	if sf == nil || sf.Trapno == 0 && sf.Err == 0 && sf.CR2 == 0 {
		return nil
	}
	e := &Exception{Trapno: sf.Trapno, Err: sf.Err, CR2: sf.CR2, Name: trapNames[sf.Trapno]}
	if e.Name == "" {
		e.Name = fmt.Sprintf("exception %d", sf.Trapno)
	}
	pc := sf.Regs.V[unwind.RIP]
	switch sf.Trapno {
	case 14:
		e.Protection = sf.Err&1 != 0
		e.User = sf.Err&4 != 0
		e.Reserved = sf.Err&8 != 0
		e.PKey = sf.Err&0x20 != 0
		switch {
		case sf.Err&0x10 != 0:
			e.Access = "instruction fetch"
		case sf.Err&2 != 0:
			e.Access = "write"
		default:
			e.Access = "read"
		}
		e.Signo, e.Addr = 11, sf.CR2
		switch {
		case e.PKey:
			e.Code = 4 // SEGV_PKUERR
		case e.Protection:
			e.Code = 2 // SEGV_ACCERR
		default:
			e.Code = 1 // SEGV_MAPERR
		}
	case 13:
		e.Signo, e.Code = 11, 0x80 // SI_KERNEL, si_addr 0
	case 0:
		e.Signo, e.Code, e.Addr = 8, 1, pc // FPE_INTDIV
	case 16, 19:
		e.Signo, e.Code, e.Addr = 8, 0, pc // the FPU's status decides the code
	case 6:
		e.Signo, e.Code, e.Addr = 4, 2, pc // ILL_ILLOPN
	case 17:
		e.Signo, e.Code, e.Addr = 7, 1, sf.CR2 // BUS_ADRALN
	case 11, 12:
		e.Signo, e.Code = 7, 0x80
	case 1, 3:
		e.Signo, e.Code, e.Addr = 5, 0x80, pc
	case 21:
		e.Signo, e.Code, e.Addr = 11, 10, pc // SEGV_CPERR
	default:
		e.Signo, e.Code = 11, 0x80
	}
	return e
}

// String says it in words: "page fault: user-mode read of a not-present page
// at 0x0 (trapno 14, err 0x4, cr2 0x0)".
func (e *Exception) String() string {
	if e == nil {
		return "no exception"
	}
	raw := fmt.Sprintf("trapno %d, err %#x, cr2 %#x", e.Trapno, e.Err, e.CR2)
	access := e.Access
	if e.FromCore {
		raw = "from the core's siginfo: no sigcontext, the error code unknown"
	}
	if access == "" {
		access = "access"
	}
	if e.Trapno != 14 {
		return fmt.Sprintf("%s (%s)", e.Name, raw)
	}
	mode := "kernel-mode"
	if e.User {
		mode = "user-mode"
	}
	page := "a not-present page"
	switch {
	case e.PKey:
		page = "a page its protection key forbids"
	case e.Protection:
		page = "a present page that does not allow it"
	}
	return fmt.Sprintf("page fault: %s %s of %s at %#x (%s)", mode, access, page, e.CR2, raw)
}

// Said is String in the catalog's words.
func (e *Exception) Said() l10n.Msg {
	if e == nil {
		return l10n.T("coreparse.exc-none")
	}
	raw := l10n.T("coreparse.exc-raw", "Trapno", e.Trapno, "Err", fmt.Sprintf("%#x", e.Err), "CR2", fmt.Sprintf("%#x", e.CR2))
	if e.FromCore {
		raw = l10n.T("coreparse.exc-from-core")
	}
	name := l10n.T("coreparse.exc-unknown", "Trapno", e.Trapno)
	if trapNames[e.Trapno] == e.Name {
		name = l10n.T(fmt.Sprintf("coreparse.trap-%d", e.Trapno))
	}
	if e.Trapno != 14 {
		return l10n.T("coreparse.exc", "Name", name, "Raw", raw)
	}
	mode := l10n.T("coreparse.pf-kernel")
	if e.User {
		mode = l10n.T("coreparse.pf-user")
	}
	access := l10n.T("coreparse.pf-access")
	switch e.Access {
	case "read":
		access = l10n.T("access.read")
	case "write":
		access = l10n.T("access.write")
	case "instruction fetch":
		access = l10n.T("coreparse.pf-fetch")
	}
	page := l10n.T("coreparse.pf-not-present")
	switch {
	case e.PKey:
		page = l10n.T("coreparse.pf-pkey")
	case e.Protection:
		page = l10n.T("coreparse.pf-protection")
	}
	return l10n.T("coreparse.page-fault", "Mode", mode, "Access", access, "Page", page, "CR2", fmt.Sprintf("%#x", e.CR2), "Raw", raw)
}

// FrameSignal is what one signal frame says about the signal its handler
// was running for.
type FrameSignal struct {
	Frame     *unwind.SignalFrame
	Index     int     // the raw frame interrupted by the signal (the trampoline's caller)
	Signal    *Signal // the signal: the frame's siginfo when it checks out, else derived from the sigcontext
	Exception *Exception
	// SigInfo is the frame's siginfo as read; SigInfoValid whether it was
	// believed, SigInfoNote why not.
	SigInfo      *Signal
	SigInfoValid bool
	SigInfoNote  string
	SigInfoSaid  l10n.Msg // SigInfoNote in the catalog's words
	// HandlerSigno is the handler's own signal number (its argument, or the
	// signal it re-raised), 0 when unknown; HandlerSignoFrom says how it
	// was found.
	HandlerSigno     int
	HandlerSignoFrom string
	HandlerFromSaid  l10n.Msg // HandlerSignoFrom in the catalog's words
	// HandlerFrames is how many physical frames run above the trampoline
	// (the handler and what it called): 0 when the thread is at the
	// trampoline itself.
	HandlerFrames int
}

// NoSigInfoNote is what dsecore says of a frame whose siginfo is stale.
// (coreparse.no-siginfo in the catalog says it with the reason why.)
const NoSigInfoNote = "the handler was installed without SA_SIGINFO: no siginfo in the frame"

// frameSignal decides the signal of the signal frame at raw[tramp] (a
// __restore_rt frame). expect is the handler's signal number when another
// source knows it (0 when not).
func (p *Process) frameSignal(raw []unwind.Frame, tramp int, expect int, expectFrom l10n.Msg) *FrameSignal {
	sf := raw[tramp].SigFrame
	fs := &FrameSignal{Frame: sf, Index: tramp + 1, HandlerFrames: tramp, Exception: DecodeException(sf)}
	if expect == 0 {
		if n, from := p.handlerArgument(raw, tramp); n != 0 {
			expect, expectFrom = n, from
		}
	}
	fs.HandlerSigno, fs.HandlerFromSaid = expect, expectFrom
	if expect != 0 {
		fs.HandlerSignoFrom = expectFrom.String()
	}
	src := l10n.T("coreparse.src-frame", "Addr", fmt.Sprintf("%#x", sf.UContext))
	si, err := sf.ReadSigInfo(p.Core)
	if err == nil {
		fs.SigInfo = newSignal(corefile.SigInfo{Signo: si.Signo, Errno: si.Errno, Code: si.Code, Addr: si.Addr, PID: si.PID, UID: si.UID}, l10n.T("coreparse.src-frame-siginfo", "Frame", src))
		fs.SigInfoSaid = checkSigInfo(fs.SigInfo, fs.Exception, expect, p.Core.PSInfo)
		fs.SigInfoValid = fs.SigInfoSaid.IsZero()
	} else {
		fs.SigInfoSaid = l10n.T("coreparse.siginfo-unreadable", "Err", l10n.Untranslated(err.Error()))
	}
	if fs.SigInfoValid {
		fs.Signal = fs.SigInfo
		fs.Signal.setSource(src)
		fs.Signal.Sent = fs.Signal.Code <= 0
		return fs
	}
	fs.SigInfoSaid = l10n.T("coreparse.no-siginfo", "Why", fs.SigInfoSaid)
	fs.SigInfoNote = fs.SigInfoSaid.String()
	fs.Signal = deriveSignal(fs.Exception, expect)
	fs.Signal.setSource(l10n.T("coreparse.src-frame-sigcontext", "Frame", src, "Trapno", sf.Trapno, "Err", fmt.Sprintf("%#x", sf.Err), "CR2", fmt.Sprintf("%#x", sf.CR2)))
	return fs
}

// checkSigInfo says why a frame's siginfo cannot be the kernel's, "" when
// it can: the signal number in range and the handler's, a known si_code
// for it, the code agreeing with the sigcontext's exception (caused or
// sent), si_addr equal to cr2 for a page fault.
func checkSigInfo(s *Signal, ex *Exception, expect int, ps *corefile.PSInfo) l10n.Msg {
	switch {
	case s.Signo < 1 || s.Signo > 64:
		return l10n.T("coreparse.si-signo-bad", "Signo", s.Signo)
	case expect != 0 && s.Signo != expect:
		return l10n.T("coreparse.si-signo-not-handlers", "Signo", s.Signo, "Expect", expect)
	case strings.HasPrefix(s.CodeName, "code "):
		return l10n.T("coreparse.si-code-unknown", "Code", s.Code, "Signal", s.Name)
	}
	caused := s.Code > 0
	switch {
	case ex == nil && caused && s.Code != 0x80:
		return l10n.T("coreparse.si-code-fault-no-exception", "Code", s.CodeName)
	case ex != nil && !caused:
		return l10n.T("coreparse.si-code-sent-exception", "Code", s.CodeName, "Exception", ex.Name)
	case ex != nil && ex.Signo != s.Signo && !(ex.Trapno == 14 && s.Signo == 7):
		return l10n.T("coreparse.si-signo-not-from", "Signal", s.Name, "Exception", ex.Name)
	case ex != nil && ex.Trapno == 14 && s.Addr != ex.CR2:
		return l10n.T("coreparse.si-addr-not-cr2", "Addr", fmt.Sprintf("%#x", s.Addr), "CR2", fmt.Sprintf("%#x", ex.CR2))
	case !caused && s.PID < 0:
		return l10n.T("coreparse.si-pid", "PID", s.PID)
	}
	return l10n.Msg{}
}

// deriveSignal is the signal the kernel sent for a sigcontext's exception,
// or the handler's signal sent by a process when there was none.
func deriveSignal(ex *Exception, expect int) *Signal {
	if ex == nil {
		s := newSignal(corefile.SigInfo{Signo: int32(expect)}, l10n.Msg{})
		s.Code, s.CodeName, s.PID, s.HasAddr = 0, "", 0, false
		s.Derived, s.Sent = true, true
		return s
	}
	signo, code := ex.Signo, ex.Code
	if ex.Trapno == 14 && expect == 7 {
		signo, code = 7, 2 // BUS_ADRERR: a page fault past the end of a mapped file
	}
	s := newSignal(corefile.SigInfo{Signo: int32(signo), Code: int32(code), Addr: ex.Addr}, l10n.Msg{})
	if code == 0 {
		s.CodeName = ""
	}
	s.HasAddr = code > 0
	s.Derived = true
	return s
}

// handlerArgument finds the signal number a handler was called with, from
// its entry registers: at the handler's first instruction it is %edi;
// later, the register its prologue copied %edi into (a callee-saved one,
// which the unwinder recovers for the handler's frame), provided nothing
// writes that register again before the frame's pc. DWARF's view of the
// parameter is the analysis layer's (coreparse/values).
func (p *Process) handlerArgument(raw []unwind.Frame, tramp int) (int, l10n.Msg) {
	if tramp < 1 {
		return 0, l10n.Msg{}
	}
	h := &raw[tramp-1]
	fde, err := p.findFDE(h.LookupPC())
	if err != nil || fde == nil {
		return 0, l10n.Msg{}
	}
	entry, pc := fde.Begin(), h.PC
	if h.Exact && pc == entry {
		if v, ok := h.Regs.Get(unwind.RDI); ok && v >= 1 && v <= 64 {
			return int(v), l10n.T("coreparse.handler-from-rdi")
		}
		return 0, l10n.Msg{}
	}
	if pc <= entry || pc-entry > 1<<16 {
		return 0, l10n.Msg{}
	}
	code := make([]byte, pc-entry)
	if n, err := p.Core.ReadAt(code, entry); err != nil || n != len(code) {
		return 0, l10n.Msg{}
	}
	saved := -1
	for _, in := range disasm.DecodeAll(code, entry, nil) {
		if in.Bad || in.Addr+uint64(in.Len) > pc {
			break
		}
		if saved < 0 {
			if in.Raw.Op == x86asm.MOV && len(in.Raw.Args) > 1 {
				dst, ok1 := in.Raw.Args[0].(x86asm.Reg)
				src, ok2 := in.Raw.Args[1].(x86asm.Reg)
				if ok1 && ok2 && (src == x86asm.EDI || src == x86asm.RDI) {
					if n := unwind.RegNumber(regFamily(dst)); n >= 0 && unwind.CalleeSaved(n) {
						saved = n
					}
				}
			}
			continue
		}
		if writesReg(in, saved) {
			return 0, l10n.Msg{}
		}
	}
	if saved < 0 {
		return 0, l10n.Msg{}
	}
	v, ok := h.Regs.Get(saved)
	if !ok || uint32(v) < 1 || uint32(v) > 64 {
		return 0, l10n.Msg{}
	}
	return int(uint32(v)), l10n.T("coreparse.handler-from-prologue", "Reg", unwind.RegName(saved))
}

// regFamily is the 64-bit register of an x86asm register ("r15" for R15L, "rbx" for EBX).
func regFamily(r x86asm.Reg) string {
	switch {
	case r >= x86asm.RAX && r <= x86asm.R15:
		return strings.ToLower(r.String())
	case r >= x86asm.EAX && r <= x86asm.R15L:
		return strings.ToLower((r - x86asm.EAX + x86asm.RAX).String())
	}
	return ""
}

// writesReg: the instruction may write the register (any width), or is a
// call (which a callee-saved register survives) — conservatively, any
// destination operand naming it, and the implicit writers.
func writesReg(in disasm.Inst, n int) bool {
	switch in.Raw.Op {
	case x86asm.CALL, x86asm.JMP, x86asm.CMP, x86asm.TEST, x86asm.PUSH, x86asm.NOP:
		return false
	case x86asm.POP, x86asm.XCHG, x86asm.CMPXCHG:
	}
	if len(in.Raw.Args) == 0 || in.Raw.Args[0] == nil {
		return false
	}
	if r, ok := in.Raw.Args[0].(x86asm.Reg); ok {
		fam := regFamily(r)
		if fam == "" && r >= x86asm.AX && r <= x86asm.R15W {
			fam = strings.ToLower((r - x86asm.AX + x86asm.RAX).String())
		}
		return fam != "" && unwind.RegNumber(fam) == n
	}
	return false
}

// HandlingThread is a thread, other than the crashed one, caught in the
// handling of a signal of its own: inside a handler (frames above a signal
// trampoline), or at an instruction that faults (waiting for its signal, or
// spinning on it: Ceph's oneshot handler returns at once to a thread that
// faults while another is handling, and the instruction faults again).
type HandlingThread struct {
	Thread *Thread
	// Signal is its innermost signal frame's signal, nil when it has none.
	Signal *FrameSignal
	// InHandler: frames run above the trampoline (the handler, or what it
	// called); else the thread is at the trampoline or at the instruction.
	InHandler bool
	// AtFault says why the thread's own pc faults, "" when it does not
	// (the pc is not executable, or the memory operand is not mapped).
	AtFault string
	PC      uint64 // the faulting pc: the signal frame's, else the thread's
}

// HandlingThreads finds the other threads in the handling of a signal of
// their own, in the core's thread order. Computed once per process.
func (p *Process) HandlingThreads() []HandlingThread {
	p.handlingOnce.Do(func() {
		crashed := p.CrashedThread()
		for _, t := range p.Threads {
			if t == crashed {
				continue
			}
			raw, _ := p.Unwind(t.Regs)
			h := HandlingThread{Thread: t, PC: t.Regs.V[unwind.RIP]}
			for i := range raw {
				if raw[i].Sigtramp && raw[i].SigFrame != nil {
					h.Signal = p.frameSignal(raw, i, 0, l10n.Msg{})
					h.InHandler = i > 0
					h.PC = h.Signal.Frame.Regs.V[unwind.RIP]
					break
				}
			}
			if h.Signal == nil {
				h.AtFault = p.faultsAt(t.Regs)
				if h.AtFault == "" {
					continue
				}
			} else if h.Signal.Exception == nil && !h.InHandler {
				continue
			}
			p.handling = append(p.handling, h)
		}
	})
	return p.handling
}

// faultsAt says why executing the instruction at regs' pc faults, "" when
// nothing shows it would: the pc is not executable memory, or its memory
// operand's address is unmapped (or, for a write, read-only), or it divides
// by a zero register.
func (p *Process) faultsAt(regs unwind.Regs) string {
	if w := p.CheckWildPC(regs); w != nil {
		return fmt.Sprintf("its pc %#x is %s", w.PC, w.Why)
	}
	pc := regs.V[unwind.RIP]
	code := make([]byte, 16)
	n, _ := p.Core.ReadAt(code, pc)
	in, err := disasm.Decode(code[:n], pc, nil)
	if err != nil || in.Bad {
		return ""
	}
	reg := func(name string) (uint64, bool) {
		if k := unwind.RegNumber(name); k >= 0 {
			return regs.Get(k)
		}
		return 0, false
	}
	if in.Mem != nil && !in.Mem.RIPRelative && in.Raw.Op != x86asm.LEA && in.Raw.Op != x86asm.NOP && !strings.HasPrefix(in.Op, "prefetch") {
		if a, ok := in.Mem.EffectiveAddress(reg); ok {
			s, mapped := p.Core.SegmentAt(a)
			write := in.Mem.Operand == 0 && in.Raw.Op != x86asm.CMP && in.Raw.Op != x86asm.TEST && in.Raw.Op != x86asm.PUSH
			switch {
			case !mapped:
				return fmt.Sprintf("%s: its memory operand is at %#x, which is not mapped", in.ATT, a)
			case write && s.Flags&elf.PF_W == 0:
				return fmt.Sprintf("%s: it writes %#x, which is read-only", in.ATT, a)
			case !write && s.Flags&elf.PF_R == 0:
				return fmt.Sprintf("%s: it reads %#x, which is not readable", in.ATT, a)
			}
		}
	}
	if (in.Raw.Op == x86asm.DIV || in.Raw.Op == x86asm.IDIV) && len(in.Raw.Args) > 0 {
		if r, ok := in.Raw.Args[0].(x86asm.Reg); ok {
			if v, ok := reg(regFamily(r)); ok && v&regMask(r) == 0 {
				return fmt.Sprintf("%s: it divides by %%%s = 0", in.ATT, strings.ToLower(r.String()))
			}
		}
	}
	return ""
}

// regMask is the part of the 64-bit register an operand reads.
func regMask(r x86asm.Reg) uint64 {
	switch {
	case r >= x86asm.EAX && r <= x86asm.R15L:
		return 0xffffffff
	case r >= x86asm.AX && r <= x86asm.R15W:
		return 0xffff
	case r >= x86asm.AL && r <= x86asm.R15B:
		return 0xff
	}
	return ^uint64(0)
}
