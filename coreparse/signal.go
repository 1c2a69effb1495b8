package coreparse

import (
	"errors"
	"fmt"

	"github.com/dsecore/dsecore/coreparse/corefile"
	"github.com/dsecore/dsecore/coreparse/unwind"
	"github.com/dsecore/dsecore/internal/l10n"
)

// Signal is one signal record: the core's own (NT_SIGINFO), the one the
// kernel pushed on the stack for a signal handler, or, when that frame has
// no siginfo, the one its sigcontext implies.
type Signal struct {
	Signo       int
	Name        string // "SIGSEGV"
	Description string // "Segmentation fault"
	Code        int
	CodeName    string   // "SEGV_MAPERR", "SI_TKILL"; "" when no siginfo says it
	Addr        uint64   // si_addr, meaningful when HasAddr
	HasAddr     bool     // a fault signal raised by the kernel: si_addr is the faulting address
	PID         int      // sender, for signals sent by a process (kill, tkill)
	Source      string   // "core (NT_SIGINFO)", "core (pr_cursig)", "signal frame at 0x…": SourceSaid in English
	SourceSaid  l10n.Msg // Source in the catalog's words
	// Sent: no instruction caused it (kill, raise, pthread_kill, abort).
	Sent bool
	// Derived: read from the sigcontext (trapno, err, cr2) and the handler's
	// signal number, not from a siginfo: PID and, for a sent signal, the code
	// are unknown.
	Derived bool
}

// String says it like gdb: "SIGSEGV (SEGV_MAPERR) at 0x0".
func (s *Signal) String() string {
	if s == nil {
		return "no signal"
	}
	out := s.Name
	if s.Signo == 0 {
		out = "an unknown signal"
	}
	if s.CodeName != "" {
		out += " (" + s.CodeName + ")"
	}
	switch {
	case s.HasAddr:
		out += fmt.Sprintf(" at %#x", s.Addr)
	case s.Derived && s.Sent:
		out += " sent (kill, raise or pthread_kill): no CPU exception in the signal frame"
	case s.Code == -6 || s.Code == 0:
		out += fmt.Sprintf(" sent by pid %d", s.PID)
	}
	return out
}

// DescriptionSaid is strsignal's text of a signal number (Description) in
// the catalog's words: glibc's own translations.
func DescriptionSaid(signo int) l10n.Msg {
	if signo > 0 && signo <= 31 {
		return l10n.T(fmt.Sprintf("strsignal.%d", signo))
	}
	if signo >= corefile.SigRTMin && signo <= corefile.SigRTMax {
		return l10n.T("strsignal.realtime", "Signo", signo-corefile.SigRTMin)
	}
	return l10n.T("strsignal.unknown", "Signo", signo)
}

// setSource sets where the signal record was read, in both forms.
func (s *Signal) setSource(m l10n.Msg) {
	s.SourceSaid = m
	s.Source = ""
	if !m.IsZero() {
		s.Source = m.String()
	}
}

func newSignal(si corefile.SigInfo, source l10n.Msg) *Signal {
	s := &Signal{Signo: int(si.Signo), Code: int(si.Code), Addr: si.Addr, PID: int(si.PID)}
	s.setSource(source)
	s.Name = corefile.SignalName(s.Signo)
	s.Description = corefile.SignalDescription(s.Signo)
	s.CodeName = si.CodeName()
	s.HasAddr = si.Code > 0 && (s.Signo == 11 || s.Signo == 7 || s.Signo == 4 || s.Signo == 8 || s.Signo == 5)
	s.Sent = si.Code <= 0
	return s
}

// FaultContext is where the fatal signal really happened. With a Ceph-style
// handler that re-raised the signal, the core's record is the re-raise
// (SI_TKILL from the handler) and the real fault lives in the rt_sigframe the
// kernel pushed for the handler; without one, both are the core's. When the
// handler itself faulted, the core's record is that second fault (Nested).
type FaultContext struct {
	Thread   *Thread
	Core     *Signal     // the core's own signal record
	Real     *Signal     // the signal that started it all
	Regs     unwind.Regs // registers at the faulting instruction
	PC       uint64
	Frame    int  // index of the faulting frame among the thread's physical frames
	ReRaised bool // the core's record is a re-raise by a handler
	// SigFrame is the kernel's signal frame holding Regs, nil without handler.
	SigFrame *unwind.SignalFrame
	// Handler is what that frame says (siginfo checked, exception, the
	// handler's signal number), nil without a handler.
	Handler *FrameSignal
	// Exception is the CPU exception behind Real (from the sigcontext, or,
	// without a handler, implied by the core's record); nil for a sent signal.
	Exception *Exception
	// Nested is the core's record when it is not the handler's re-raise but
	// a second fault inside the handler (or another signal the handler
	// raised): Real is the first, Nested the second, at NestedPC.
	Nested   *Signal
	NestedPC uint64
	// Wild is set when the faulting pc is not executable memory.
	Wild *WildPC
	// Cut says why the crashed thread's stack could not be followed to
	// its end when no signal frame was found on it: the core lacks its
	// memory (a core cut short). A signal frame may be further down: what
	// the signal's record alone suggests (sent, or caused) is unknown
	// then. "" when the stack was followed to its end.
	Cut string
}

// CoreSignal is the core's own signal record: NT_SIGINFO, else the crashing
// thread's pr_cursig.
func (p *Process) CoreSignal() *Signal {
	if p.Core.SigInfo != nil {
		return newSignal(*p.Core.SigInfo, l10n.T("coreparse.src-nt-siginfo"))
	}
	if t := p.CrashedThread(); t != nil && t.Core != nil && t.Core.CurSig != 0 {
		s := newSignal(corefile.SigInfo{Signo: int32(t.Core.CurSig)}, l10n.T("coreparse.src-pr-cursig"))
		s.CodeName, s.Sent = "", false
		return s
	}
	return nil
}

// Fault finds the real fault context of the crashed thread: the innermost
// signal frame on its stack, read as the kernel wrote it (its siginfo only
// when it checks out against the sigcontext), else the thread's own
// registers. Computed once per process.
func (p *Process) Fault() *FaultContext {
	p.faultOnce.Do(func() { p.fault = p.findFault() })
	return p.fault
}

func (p *Process) findFault() *FaultContext {
	t := p.CrashedThread()
	if t == nil {
		return nil
	}
	fc := &FaultContext{Thread: t, Core: p.CoreSignal(), Regs: t.Regs, PC: t.Regs.V[unwind.RIP]}
	fc.Real = fc.Core
	raw, uerr := p.Unwind(t.Regs)
	for i := range raw {
		sf := raw[i].SigFrame
		if !raw[i].Sigtramp || sf == nil {
			continue
		}
		// The core's record is the handler's re-raise when this thread sent
		// it to itself: its signal is then the handler's.
		expect, from := 0, l10n.Msg{}
		if c := fc.Core; c != nil && i > 0 && (c.Code == -6 || c.Code == 0) && p.Core.PSInfo != nil && c.PID == int(p.Core.PSInfo.PID) {
			expect, from = c.Signo, l10n.T("coreparse.handler-from-reraise")
		}
		fs := p.frameSignal(raw, i, expect, from)
		if expect != 0 && fs.HandlerSigno != expect {
			p.warnf("the handler's argument says signal %d, its re-raise %d", fs.HandlerSigno, expect)
		}
		fc.Handler = fs
		fc.Real = fs.Signal
		fc.Exception = fs.Exception
		fc.Regs = fs.Frame.Regs
		fc.PC = fs.Frame.Regs.V[unwind.RIP]
		fc.Frame = i + 1
		fc.SigFrame = sf
		fc.ReRaised = fc.Core != nil && fc.Core.Signo == fc.Real.Signo && fc.Core.Sent
		if fc.Core != nil && !fc.ReRaised && i > 0 {
			fc.Nested, fc.NestedPC = fc.Core, t.Regs.V[unwind.RIP]
		}
		break
	}
	if fc.SigFrame == nil && fc.Core != nil && !fc.Core.Sent {
		fc.Exception = coreException(fc.Core, fc.Regs)
	}
	var se *unwind.StopError
	if fc.SigFrame == nil && errors.As(uerr, &se) && se.Reason == unwind.StopMemory && len(raw) > 0 {
		// Stopped by memory the core should hold but does not: a mapped
		// stack page the file was cut before.
		at := raw[len(raw)-1].CFA - 8
		if seg, ok := p.Core.SegmentAt(at); ok && !p.Core.Dumped(at) && at-seg.Vaddr < seg.Filesz {
			last := "??"
			if fs := p.Symbolize(raw); len(fs) > 0 {
				last = fs[len(fs)-1].Function
			}
			fc.Cut = fmt.Sprintf("the stack of %s ends at frame #%d (%s): its memory at %#x (segment %#x-%#x) was cut from the core", t, len(raw)-1, last, at, seg.Vaddr, seg.Vaddr+seg.Memsz)
		}
	}
	fc.Wild = p.CheckWildPC(fc.Regs)
	return fc
}

// coreException is what a core's own record of a caused fault says about
// the exception, without a sigcontext: the kind and address only.
func coreException(s *Signal, regs unwind.Regs) *Exception {
	e := &Exception{Signo: s.Signo, Code: s.Code, Addr: s.Addr, FromCore: true}
	switch {
	case s.Signo == 11 && s.Code == 0x80:
		e.Trapno, e.Name = 13, trapNames[13]
	case s.Signo == 11 && s.Code >= 1 && s.Code <= 4, s.Signo == 7 && s.Code == 2:
		e.Trapno, e.Name, e.CR2 = 14, trapNames[14], s.Addr
		e.Protection = s.Code == 2 && s.Signo == 11
		e.User = true
		if s.Addr == regs.V[unwind.RIP] {
			e.Access = "instruction fetch"
		}
	case s.Signo == 8 && s.Code == 1:
		e.Trapno, e.Name = 0, trapNames[0]
	case s.Signo == 4:
		e.Trapno, e.Name = 6, trapNames[6]
	default:
		return nil
	}
	return e
}
