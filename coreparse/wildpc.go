package coreparse

import (
	"debug/elf"
	"fmt"

	"github.com/dsecore/dsecore/coreparse/disasm"
	"github.com/dsecore/dsecore/coreparse/unwind"
	"github.com/dsecore/dsecore/internal/l10n"
	"golang.org/x/arch/x86/x86asm"
)

// WildPC is a pc that is not executable memory: a jump, call or return to
// a wild address. The CPU faulted fetching the instruction, so the stack
// is as the transfer left it: after a call, the return address is at rsp.
type WildPC struct {
	PC  uint64
	Why string // "unmapped", "non-canonical", "in the kernel half", "not executable"
	// WhySaid is Why in the catalog's words.
	WhySaid l10n.Msg
	// ReturnAddr is the word at rsp. Recovered is set when it follows a
	// call instruction in executable memory (decoded and checked): the
	// caller is then known, and Call is that instruction.
	ReturnAddr uint64
	Recovered  bool
	CallPC     uint64
	Call       string // AT&T
	// Direct calls: the target the instruction names. Indirect calls
	// through a register that still holds PC: that register.
	Target    uint64
	HasTarget bool
	TargetReg string
	Note      string   // why the caller could not be recovered
	NoteSaid  l10n.Msg // Note in the catalog's words
}

// CheckWildPC reports on regs' pc when it is not executable memory, nil
// when it is.
func (p *Process) CheckWildPC(regs unwind.Regs) *WildPC {
	pc, ok := regs.Get(unwind.RIP)
	if !ok {
		return nil
	}
	w := &WildPC{PC: pc}
	switch {
	case pc >= 1<<47 && pc < 0xffff800000000000:
		w.Why, w.WhySaid = "non-canonical", l10n.T("wild.why-non-canonical")
	case pc >= 0xffff800000000000:
		w.Why, w.WhySaid = "in the kernel half", l10n.T("wild.why-kernel-half")
	default:
		s, ok := p.Core.SegmentAt(pc)
		switch {
		case !ok:
			w.Why, w.WhySaid = "unmapped", l10n.T("wild.why-unmapped")
		case s.Flags&elf.PF_X == 0:
			w.Why, w.WhySaid = "not executable", l10n.T("wild.why-not-executable")
		default:
			return nil
		}
	}
	if _, ok := unwind.SigtrampStart(p.Core, pc); ok {
		return nil
	}
	rsp, ok := regs.Get(unwind.RSP)
	if !ok {
		w.NoteSaid = l10n.T("wild.note-no-rsp")
		w.Note = w.NoteSaid.String()
		return w
	}
	ret, err := p.Core.ReadUint64(rsp)
	if err != nil {
		w.NoteSaid = l10n.T("wild.note-stack-unreadable", "RSP", fmt.Sprintf("%#x", rsp))
		w.Note = w.NoteSaid.String()
		return w
	}
	w.ReturnAddr = ret
	in, ok := p.callBefore(ret)
	if !ok {
		w.NoteSaid = l10n.T("wild.note-no-call", "Ret", fmt.Sprintf("%#x", ret))
		w.Note = w.NoteSaid.String()
		return w
	}
	w.Recovered, w.CallPC, w.Call = true, in.Addr, in.ATT
	if in.HasTarget {
		w.Target, w.HasTarget = in.Target, true
	} else if len(in.Raw.Args) > 0 {
		if r, ok := in.Raw.Args[0].(x86asm.Reg); ok {
			if n := unwind.RegNumber(regFamily(r)); n >= 0 {
				if v, ok := regs.Get(n); ok && v == pc {
					w.TargetReg = unwind.RegName(n)
				}
			}
		}
	}
	return w
}

// callBefore finds a call instruction in executable memory that ends
// exactly at ret (a return address): x86 calls are 2 to 7 bytes long.
func (p *Process) callBefore(ret uint64) (disasm.Inst, bool) {
	s, ok := p.Core.SegmentAt(ret - 1)
	if !ok || s.Flags&elf.PF_X == 0 || ret < 8 {
		return disasm.Inst{}, false
	}
	start, ok := unwind.CallBefore(p.Core, ret)
	if !ok {
		return disasm.Inst{}, false
	}
	code := make([]byte, ret-start)
	if n, err := p.Core.ReadAt(code, start); err != nil || n != len(code) {
		return disasm.Inst{}, false
	}
	in, err := disasm.Decode(code, start, func(a uint64) (string, uint64, bool) { return p.Symbol(a) })
	if err != nil || in.Bad || in.Len != len(code) {
		return disasm.Inst{}, false
	}
	return in, true
}
