package fault

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/corefile"
	"github.com/dsecore/dsecore/coreparse/unwind"
	"github.com/dsecore/dsecore/internal/l10n"
)

// The facts about the signal itself, beyond the faulting instruction: how
// dsecore knows what the kernel delivered (a checked siginfo or the
// sigcontext), whether an instruction caused it, a second fault inside the
// handler, a pc that is no code, and other threads caught in the handling
// of faults of their own. Each is a fact; conclude's rules turn them into
// evidence and words.

// Nested is a second fault (or signal) inside the handler: the core's own
// record when it is not the handler's re-raise of the first.
type Nested struct {
	Signal *coreparse.Signal
	PC     uint64
	// Frames: the thread's frames from the second fault down to the signal
	// trampoline (the handler and what it called), innermost first.
	Frames []coreparse.Frame
	// ReadsWildPC: the second fault's address is the first fault's wild pc
	// (an unwinder reading the code bytes there).
	ReadsWildPC bool
	Description string   // Said in English
	Said        l10n.Msg // Description in the catalog's words
}

// Handling is another thread caught in the handling of a signal of its own.
type Handling struct {
	Thread    *coreparse.Thread
	Signal    *coreparse.Signal // nil when the thread has no signal frame (it is at its faulting instruction)
	Exception *coreparse.Exception
	PC        uint64
	Function  string // at PC
	InHandler bool
	AtFault   string
	// Role: "first-fault" (it was inside the handler when the crashed
	// thread's fault, finding the default action, killed the process) or
	// "spinning" (it faulted while the crashed thread was handling its
	// own: the handler sent it back to the faulting instruction).
	Role string
	Text string   // Said in English
	Said l10n.Msg // Text in the catalog's words
}

// signalFacts fills Nested and Handling.
func (a *Analysis) signalFacts(fc *coreparse.FaultContext) {
	p := a.p
	if fc.Nested != nil {
		n := &Nested{Signal: fc.Nested, PC: fc.NestedPC}
		raw, _ := p.Unwind(fc.Thread.Regs)
		if fc.Frame-1 <= len(raw) && fc.Frame >= 1 {
			n.Frames = p.Symbolize(raw[:fc.Frame-1])
		}
		n.ReadsWildPC = fc.Wild != nil && fc.Nested.HasAddr && fc.Nested.Addr == fc.Wild.PC
		var path []string
		for _, f := range n.Frames {
			if f.Inline {
				continue
			}
			name := f.Function
			if name == "" || name == "??" {
				name = "?? (" + orQ(f.Module) + ")"
			}
			path = append(path, name)
		}
		n.Said = l10n.T("nested.again", "Signal", SignalMsg(fc.Nested), "PC", fmt.Sprintf("%#x", fc.NestedPC), "Path", strings.Join(path, " ← "))
		if n.ReadsWildPC {
			n.Said = l10n.T("nested.reads-wild-pc", "Fault", n.Said, "PC", fmt.Sprintf("%#x", fc.Wild.PC))
		}
		if !fc.Nested.Sent {
			n.Said = l10n.T("nested.fatal", "Fault", n.Said)
		}
		n.Description = n.Said.String()
		a.Nested = n
	}
	crashedHandling := fc.Handler != nil && fc.Handler.HandlerFrames > 0
	for _, h := range p.HandlingThreads() {
		x := Handling{Thread: h.Thread, PC: h.PC, InHandler: h.InHandler, AtFault: h.AtFault}
		if h.Signal != nil {
			x.Signal, x.Exception = h.Signal.Signal, h.Signal.Exception
		}
		if fs := p.Symbolize([]unwind.Frame{{PC: h.PC, Exact: true}}); len(fs) > 0 {
			x.Function = fs[0].Function
			if x.Function == "??" && fs[0].Module != "" {
				x.Function = "?? (" + fs[0].Module + ")"
			}
		}
		what := l10n.Untranslated(x.AtFault)
		if x.Signal != nil {
			what = SignalMsg(x.Signal)
			if x.Exception != nil {
				what = l10n.T("handling.what", "Signal", what, "Exception", x.Exception.Said())
			}
		}
		args := []any{"Thread", threadMsg(h.Thread), "Crashed", threadMsg(fc.Thread), "What", what, "PC", fmt.Sprintf("%#x", x.PC), "Function", x.Function}
		switch {
		case crashedHandling:
			x.Role = "spinning"
			where := l10n.T("handling.where-fault")
			if x.InHandler {
				where = l10n.T("handling.where-handler")
			}
			x.Said = l10n.T("handling.spinning", append(args, "Where", where)...)
		case x.InHandler && x.Signal != nil && !x.Signal.Sent:
			x.Role = "first-fault"
			x.Said = l10n.T("handling.first-fault", args...)
		default:
			x.Role = "spinning"
			x.Said = l10n.T("handling.own-fault", args...)
		}
		x.Text = x.Said.String()
		a.Handling = append(a.Handling, x)
	}
}

func orQ(s string) string {
	if s == "" {
		return "?"
	}
	return s
}

// sentFault is the fault of a signal no instruction caused: nothing to
// decode, only where the thread was, and whether the thread raised it
// itself (abort, raise, pthread_kill on its own stack).
func (a *Analysis) sentFault(f *Fault) {
	fc := f.Context
	where := "??"
	if len(f.Frames) > 0 {
		where = f.Frames[len(f.Frames)-1].Function
	}
	f.Kind = "sent"
	raw, _ := a.p.UnwindN(fc.Regs, 12)
	var path []string
	raiser := ""
	for _, fr := range a.p.Symbolize(raw) {
		if fr.Inline || fr.Sigtramp {
			continue
		}
		n := strings.TrimPrefix(strings.TrimPrefix(fr.Function, "__GI_"), "__GI___")
		path = append(path, fr.Function)
		switch n {
		case "abort", "raise", "gsignal", "pthread_kill", "__pthread_kill_implementation", "__pthread_kill_internal", "tgkill", "kill":
			if raiser == "" || n == "abort" {
				raiser = n
			}
			continue
		}
		if raiser != "" {
			break
		}
	}
	how := l10n.T("fault.sent-outside")
	if raiser != "" {
		f.Raiser = raiser
		how = l10n.T("fault.sent-raised", "Path", strings.Join(path, " ← "))
	}
	f.Said = l10n.T("fault.sent", "Signal", fc.Real.Name, "Thread", threadMsg(fc.Thread), "PC", fmt.Sprintf("%#x", fc.PC), "Where", where, "How", how)
	f.Description = f.Said.String()
	if w, err := a.p.Disassemble(fc.PC, 10, 6); err == nil {
		f.Window = w
	}
}

// accessSaid is a page fault's access (Exception.Access) in the catalog's
// words.
func accessSaid(access string) l10n.Msg {
	switch access {
	case "read", "write", "instruction fetch":
		return l10n.T("wild.access-" + strings.ReplaceAll(access, " ", "-"))
	}
	return l10n.Verbatim(access)
}

// wildFault is the fault of a pc that is no code.
func (a *Analysis) wildFault(f *Fault) {
	fc := f.Context
	w := fc.Wild
	f.Kind = "wild-pc"
	how := l10n.T("wild.how-any")
	if w.Recovered {
		how = l10n.T("wild.how-call")
	}
	rest := l10n.T("wild.pc-is", "PC", fmt.Sprintf("%#x", w.PC), "Why", w.WhySaid)
	if ex := fc.Exception; ex != nil && ex.Trapno == 14 {
		rest = l10n.T("wild.cpu-faulted", "Fault", rest, "Access", accessSaid(ex.Access), "CR2", fmt.Sprintf("%#x", ex.CR2))
	}
	if w.Recovered {
		caller := "??"
		if fs := a.p.Symbolize([]unwind.Frame{{PC: w.ReturnAddr}}); len(fs) > 0 {
			caller = fs[len(fs)-1].Function
		}
		rest = l10n.T("wild.called-from", "Fault", rest, "Caller", caller, "Ret", fmt.Sprintf("%#x", w.ReturnAddr), "Call", w.Call, "CallPC", fmt.Sprintf("%#x", w.CallPC))
		if w.TargetReg != "" {
			rest = l10n.T("wild.reg-holds", "Fault", rest, "Reg", w.TargetReg)
		} else if w.HasTarget {
			rest = l10n.T("wild.direct-call", "Fault", rest, "Target", fmt.Sprintf("%#x", w.Target))
		}
	} else if !w.NoteSaid.IsZero() {
		rest = l10n.T("wild.note", "Fault", rest, "Note", w.NoteSaid)
	}
	f.Said = l10n.T("wild.to", "How", how, "Rest", rest)
	f.Description = f.Said.String()
	if w.Recovered {
		f.wildRest = rest // the verdict says "a call" itself
	}

}

// concludeSignal adds the signal facts' evidence and words to the verdict.
func (a *Analysis) concludeSignal(fc *coreparse.FaultContext, para []l10n.Msg) []l10n.Msg {
	f := a.Fault
	if h := fc.Handler; h != nil {
		if !h.SigInfoValid {
			a.say("no-siginfo", "fault", h.SigInfoSaid)
		}
		if ex := h.Exception; ex != nil {
			a.say("sigcontext", "fault", l10n.T("evidence.sigcontext", "Exception", ex.Said()))
		} else {
			a.say("sigcontext", "fault", l10n.T("evidence.sigcontext-none"))
		}
		if h.HandlerSigno != 0 {
			a.say("handler-signal", "fault", l10n.T("evidence.handler-ran", "Signo", h.HandlerSigno, "Name", corefile.SignalName(h.HandlerSigno), "From", h.HandlerFromSaid))
		}
	}
	if l := a.Logs; l != nil && l.HandlerSigno != 0 {
		if fc.Real != nil && l.HandlerSigno == fc.Real.Signo {
			a.say("handler-signal", "logs.handler", l10n.T("evidence.handler-log-says", "Signal", strconv.Quote(l.HandlerSignal), "Name", fc.Real.Name))
		} else if fc.Real != nil {
			a.warnf("the handler's log line says %q, the core's real fault is %s", l.HandlerSignal, fc.Real.Name)
		}
	}
	switch f.Kind {
	case "sent":
		if fc.Cut != "" {
			// What the core cannot show is not concluded: the signal
			// frame, if any, is in the part of the stack that is gone.
			a.evidence("stack-cut", "fault", "%s", fc.Cut)
			a.warnf("%s", fc.Cut)
			para = append(para, l10n.T("verdict.stack-cut", "Cut", l10n.Untranslated(fc.Cut), "Signal", fc.Real.Name, "Core", SignalMsg(fc.Core)))
			break
		}
		a.say("sent-signal", "fault", f.Said)
		if f.Raiser != "" {
			para = append(para, l10n.T("verdict.raised", "Signal", fc.Real.Name, "Raiser", f.Raiser))
		} else {
			para = append(para, l10n.T("verdict.sent", "Signal", fc.Real.Name))
		}
	case "wild-pc":
		a.say("wild-pc", "fault", f.Said)
		if fc.Wild.Recovered {
			a.evidence("recovered-caller", "fault", "the caller of the wild pc was recovered from the return address %#x at rsp (it follows `%s`)", fc.Wild.ReturnAddr, fc.Wild.Call)
		}
		desc := f.Said
		if !f.wildRest.IsZero() {
			desc = f.wildRest
		}
		para = append(para, l10n.T("verdict.wild-pc", "Desc", desc))
	}
	if n := a.Nested; n != nil {
		a.say("nested-fault", "nested", n.Said)
		para = append(para, l10n.T("verdict.then", "Desc", n.Said))
	}
	for i, h := range a.Handling {
		rule := "spinning-thread"
		if h.Role == "first-fault" {
			rule = "fault-during-handler"
			para = append(para, l10n.T("verdict.two-faults", "Text", h.Said))
		}
		a.say(rule, fmt.Sprintf("handling[%d]", i), h.Said)
	}
	return para
}

// SignalMsg says a signal record as Signal.String does, in the catalog's
// words: "SIGSEGV (SEGV_MAPERR) at 0x0".
func SignalMsg(s *coreparse.Signal) l10n.Msg {
	if s == nil {
		return l10n.T("signal.none")
	}
	sig := l10n.Verbatim(s.Name)
	if s.Signo == 0 {
		sig = l10n.T("signal.unknown")
	}
	if s.CodeName != "" {
		sig = l10n.T("signal.code", "Signal", sig, "Code", s.CodeName)
	}
	switch {
	case s.HasAddr:
		return l10n.T("signal.at", "Signal", sig, "Addr", fmt.Sprintf("%#x", s.Addr))
	case s.Derived && s.Sent:
		return l10n.T("signal.sent-derived", "Signal", sig)
	case s.Code == -6 || s.Code == 0:
		return l10n.T("signal.sent-by", "Signal", sig, "PID", s.PID)
	}
	return sig
}
