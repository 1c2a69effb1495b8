package coreparse

import (
	"fmt"

	"github.com/dsecore/dsecore/coreparse/corefile"
	"github.com/dsecore/dsecore/coreparse/unwind"
)

// Signal is one signal record: the core's own (NT_SIGINFO) or the one the
// kernel pushed on the stack for a signal handler.
type Signal struct {
	Signo       int
	Name        string // "SIGSEGV"
	Description string // "Segmentation fault"
	Code        int
	CodeName    string // "SEGV_MAPERR", "SI_TKILL"
	Addr        uint64 // si_addr, meaningful when HasAddr
	HasAddr     bool   // a fault signal raised by the kernel: si_addr is the faulting address
	PID         int    // sender, for signals sent by a process (kill, tkill)
	Source      string // "core (NT_SIGINFO)", "core (pr_cursig)", "signal frame at 0x…"
}

// String says it like gdb: "SIGSEGV (SEGV_MAPERR) at 0x0".
func (s *Signal) String() string {
	if s == nil {
		return "no signal"
	}
	out := s.Name
	if s.CodeName != "" {
		out += " (" + s.CodeName + ")"
	}
	if s.HasAddr {
		out += fmt.Sprintf(" at %#x", s.Addr)
	} else if s.Code == -6 || s.Code == 0 {
		out += fmt.Sprintf(" sent by pid %d", s.PID)
	}
	return out
}

func newSignal(si corefile.SigInfo, source string) *Signal {
	s := &Signal{Signo: int(si.Signo), Code: int(si.Code), Addr: si.Addr, PID: int(si.PID), Source: source}
	s.Name = corefile.SignalName(s.Signo)
	s.Description = corefile.SignalDescription(s.Signo)
	s.CodeName = si.CodeName()
	s.HasAddr = si.Code > 0 && (s.Signo == 11 || s.Signo == 7 || s.Signo == 4 || s.Signo == 8 || s.Signo == 5)
	return s
}

// FaultContext is where the fatal signal really happened. With a Ceph-style
// handler that re-raised the signal, the core's record is the re-raise
// (SI_TKILL from the handler) and the real fault lives in the rt_sigframe the
// kernel pushed for the handler; without one, both are the core's.
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
}

// CoreSignal is the core's own signal record: NT_SIGINFO, else the crashing
// thread's pr_cursig.
func (p *Process) CoreSignal() *Signal {
	if p.Core.SigInfo != nil {
		return newSignal(*p.Core.SigInfo, "core (NT_SIGINFO)")
	}
	if t := p.CrashedThread(); t != nil && t.Core != nil && t.Core.CurSig != 0 {
		return newSignal(corefile.SigInfo{Signo: int32(t.Core.CurSig)}, "core (pr_cursig)")
	}
	return nil
}

// Fault finds the real fault context of the crashed thread: the innermost
// signal frame on its stack whose signal is the one that killed the process
// (or any fault signal), else the thread's own registers.
func (p *Process) Fault() *FaultContext {
	t := p.CrashedThread()
	if t == nil {
		return nil
	}
	fc := &FaultContext{Thread: t, Core: p.CoreSignal(), Regs: t.Regs, PC: t.Regs.V[unwind.RIP]}
	fc.Real = fc.Core
	raw, _ := p.Unwind(t.Regs)
	for i := range raw {
		sf := raw[i].SigFrame
		if !raw[i].Sigtramp || sf == nil {
			continue
		}
		si, err := sf.ReadSigInfo(p.Core)
		if err != nil {
			p.warnf("signal frame at %#x: siginfo unreadable: %v", sf.UContext, err)
			continue
		}
		fc.Real = newSignal(corefile.SigInfo{Signo: si.Signo, Errno: si.Errno, Code: si.Code, Addr: si.Addr, PID: si.PID, UID: si.UID},
			fmt.Sprintf("signal frame at %#x", sf.UContext))
		fc.Regs = sf.Regs
		fc.PC = sf.Regs.V[unwind.RIP]
		fc.Frame = i + 1
		fc.SigFrame = sf
		fc.ReRaised = fc.Core != nil && fc.Core.Signo == fc.Real.Signo && fc.Core.Code <= 0
		break
	}
	return fc
}
