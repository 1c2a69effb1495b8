package coreparse

import (
	"encoding/binary"

	"github.com/dsecore/dsecore/coreparse/unwind"
)

// TailCallTargetAt is the runtime entry of the function the tail call
// site whose return address is returnPC (in module m) jumps to, from DWARF
// call sites (DW_AT_call_tail_call): what a tail-call frame's callee was
// entered from. ok is false when DWARF does not say.
func (p *Process) TailCallTargetAt(m *Module, returnPC uint64) (uint64, bool) {
	if m == nil || m.Syms == nil || returnPC <= m.Bias {
		return 0, false
	}
	rel := returnPC - m.Bias
	for _, s := range m.Syms.TailCallSites(rel - 1) {
		if s.ReturnPC == rel {
			t := p.callTarget(m, s)
			return t, t != 0
		}
	}
	return 0, false
}

// tailCalls finds the functions that tail-called their way from caller's
// call to callee's function, as gdb does from DWARF call sites
// (DW_TAG_call_site with DW_AT_call_tail_call): the call site at caller's
// return address names the function called; when that is not callee's
// function, a unique chain of tail calls from it to callee gives the
// missing frames. It returns their pcs (the return address of each tail
// call site), innermost first; nil when there is none or it is ambiguous.
func (p *Process) tailCalls(callee, caller *unwind.Frame) []uint64 {
	k := [3]uint64{callee.PC, 0, caller.PC}
	if callee.Exact {
		k[1] = 1
	}
	if v, ok := p.tailMemo.Load(k); ok {
		return v.([]uint64)
	}
	out := p.tailCallsUncached(callee, caller)
	p.tailMemo.Store(k, out)
	return out
}

func (p *Process) tailCallsUncached(callee, caller *unwind.Frame) []uint64 {
	lookup := callee.PC
	if !callee.Exact && lookup > 0 {
		lookup--
	}
	if p.callEntered(caller.PC, lookup) {
		return nil
	}
	return p.tailCallsFromSites(lookup, caller.PC)
}

// tailCallsFromSites is tailCalls from DWARF's call sites: lookup is an
// address in the callee's function, ret the caller's return address.
func (p *Process) tailCallsFromSites(lookup, ret uint64) []uint64 {
	caller := &unwind.Frame{PC: ret}
	cm := p.ModuleAt(caller.PC - 1)
	if cm == nil || cm.Syms == nil || caller.PC < cm.Bias {
		return nil
	}
	s, ok := cm.Syms.CallSiteAt(caller.PC - cm.Bias)
	if !ok {
		return nil
	}
	target := p.callTarget(cm, s)
	if target == 0 {
		return nil
	}
	em := p.ModuleAt(lookup)
	if em == nil || em.Syms == nil {
		return nil
	}
	entry, ok := em.Syms.FunctionEntry(lookup - em.Bias)
	if !ok {
		return nil
	}
	entry += em.Bias
	if target == entry {
		return nil
	}
	var chains [][]uint64
	seen := map[uint64]bool{}
	var walk func(fn uint64, path []uint64)
	walk = func(fn uint64, path []uint64) {
		if len(path) >= 8 || seen[fn] || len(chains) > 1 {
			return
		}
		seen[fn] = true
		defer delete(seen, fn)
		m := p.ModuleAt(fn)
		if m == nil || m.Syms == nil {
			return
		}
		for _, s := range m.Syms.TailCallSites(fn - m.Bias) {
			t := p.callTarget(m, s)
			if t == 0 {
				continue
			}
			next := append(append([]uint64(nil), path...), s.ReturnPC+m.Bias)
			if t == entry {
				chains = append(chains, next)
				continue
			}
			walk(t, next)
		}
	}
	walk(target, nil)
	if len(chains) != 1 {
		return nil
	}
	c := chains[0]
	out := make([]uint64, len(c))
	for i := range c {
		out[i] = c[len(c)-1-i]
	}
	return out
}

// callEntered reports whether the code itself shows that the call
// returning to ret entered the function holding pc at its ELF symbol's
// start: the instruction before ret (no shorter call ends at ret) is a
// direct call (e8 rel32) to that start or to a PLT stub whose GOT slot
// holds it, or a call through a GOT slot (ff 15 disp32) that holds it. No tail call can then lie between the two frames, whatever
// DWARF's call sites would say, and reading them (a unit's function bodies
// restored) is spared: most frames of a stack are such calls. false when
// the code does not show it (an indirect call, a lazy PLT slot, unreadable
// bytes): the call sites then decide.
func (p *Process) callEntered(ret, pc uint64) bool {
	_, off, ok := p.Symbol(pc)
	if !ok {
		return false
	}
	entry := pc - off
	at, ok := unwind.CallBefore(p.Core, ret)
	if !ok || at+6 < ret {
		return false
	}
	var b [6]byte
	if n, err := p.Core.ReadAt(b[:], ret-6); err != nil || n != len(b) {
		return false
	}
	disp := uint64(int64(int32(binary.LittleEndian.Uint32(b[2:]))))
	var slot uint64
	switch {
	case at == ret-5 && b[1] == 0xe8: // call rel32
		t := ret + disp
		if t == entry {
			return true
		}
		if slot, ok = p.pltSlot(t); !ok {
			return false
		}
	case at == ret-6 && b[0] == 0xff && b[1] == 0x15: // call *slot(%rip): -fno-plt
		slot = ret + disp
	default:
		return false
	}
	var g [8]byte
	if n, err := p.Core.ReadAt(g[:], slot); err != nil || n != len(g) {
		return false
	}
	return binary.LittleEndian.Uint64(g[:]) == entry
}

// pltSlot reads a PLT stub at addr, "jmp *slot(%rip)" (ff 25 disp32),
// after an endbr64 and a bnd prefix where the linker put them (.plt.sec,
// .plt.got, lazy .plt entries), and returns the GOT slot it jumps through.
func (p *Process) pltSlot(addr uint64) (uint64, bool) {
	var b [11]byte
	if n, err := p.Core.ReadAt(b[:], addr); err != nil || n != len(b) {
		return 0, false
	}
	i := 0
	if b[0] == 0xf3 && b[1] == 0x0f && b[2] == 0x1e && b[3] == 0xfa { // endbr64
		i = 4
	}
	if b[i] == 0xf2 { // bnd
		i++
	}
	if b[i] != 0xff || b[i+1] != 0x25 {
		return 0, false
	}
	next := addr + uint64(i+6)
	return next + uint64(int64(int32(binary.LittleEndian.Uint32(b[i+2:])))), true
}
