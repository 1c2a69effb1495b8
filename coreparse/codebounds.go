package coreparse

import (
	"fmt"

	"github.com/dsecore/dsecore/coreparse/disasm"
	"github.com/dsecore/dsecore/coreparse/symbols"
)

// FunctionBounds is the code of the function holding the runtime address
// pc: lo is a known instruction boundary at or before pc (the function's
// start, or the start of the part holding pc), hi its end (0 when
// unknown). The start comes from DWARF, else the ELF symbol table (a sized
// function symbol that contains pc), else the CFI (the FDE covering pc:
// stripped code, as ceph-mon's, still has .eh_frame), else an unsized
// symbol. ok is false when nothing says where the function starts.
func (p *Process) FunctionBounds(pc uint64) (lo, hi uint64, ok bool) {
	m := p.ModuleAt(pc)
	if m == nil {
		return 0, 0, false
	}
	var symLo uint64
	symOK := false
	if m.Syms != nil {
		if l, h, found := m.Syms.FunctionRange(pc - m.Bias); found {
			if h != 0 {
				return l + m.Bias, h + m.Bias, true
			}
			symLo, symOK = l+m.Bias, true
		}
	}
	if fde, err := m.FDEForPC(pc); err == nil && fde != nil && fde.Begin() <= pc && pc < fde.End() {
		return fde.Begin(), fde.End(), true
	}
	return symLo, 0, symOK
}

// prevBoundary is the start of the function before the code starting at
// addr: an instruction boundary the disassembler may start from when it
// proves (by decoding) that it reaches addr.
func (p *Process) prevBoundary(addr uint64) (uint64, bool) {
	if addr == 0 {
		return 0, false
	}
	lo, _, ok := p.FunctionBounds(addr - 1)
	return lo, ok && lo < addr
}

// disasmOptions are the window options at pc: symbols, source lines and
// the function's bounds.
func (p *Process) disasmOptions(pc uint64, before, after int) disasm.Options {
	o := disasm.Options{Before: before, After: after, Prev: p.prevBoundary}
	if m := p.ModuleAt(pc); m != nil && m.Syms != nil {
		// Each symbol demangled once per listing: a function's calls and
		// jumps name a few symbols many times over.
		type symKey struct {
			t     *symbols.Table
			start uint64
		}
		names := map[symKey]string{}
		o.Symbolize = func(addr uint64) (string, uint64, bool) {
			mm := p.ModuleAt(addr)
			if mm == nil || mm.Syms == nil {
				return "", 0, false
			}
			_, start, ok := mm.Syms.NearestSymbolLinkage(addr - mm.Bias)
			if !ok {
				return "", 0, false
			}
			k := symKey{mm.Syms, start}
			name, seen := names[k]
			if !seen {
				name, _, _ = mm.Syms.NearestSymbol(addr - mm.Bias)
				names[k] = name
			}
			return name, addr - mm.Bias - start, true
		}
		o.Source = tableSource(m.Syms, m.Bias)
	}
	if lo, _, ok := p.FunctionBounds(pc); ok {
		o.Start = lo
	}
	return o
}

// Disassemble returns the instructions around a runtime pc, from the
// process's memory (undumped text read from the module's file), with
// operands named by symbols and source lines interleaved. pc is an
// instruction boundary (a frame's exact pc, a fault's); the window starts
// at the function's start or at a boundary proven by decoding forward from
// one, never at pc - N: without one, at pc.
func (p *Process) Disassemble(pc uint64, before, after int) (*disasm.Listing, error) {
	return disasm.Window(p.Core, pc, p.disasmOptions(pc, before, after))
}

// DisassembleAt is Disassemble for an address that may lie inside an
// instruction (a caller frame's lookup pc, a client's address): decoded
// from the function's start, the instruction containing addr is the
// window's current one.
func (p *Process) DisassembleAt(addr uint64, before, after int) (*disasm.Listing, error) {
	o := p.disasmOptions(addr, before, after)
	o.Within = true
	return disasm.Window(p.Core, addr, o)
}

// DisassembleFrame is the window around a frame's current instruction:
// the pc of frame 0 (and of a frame a signal interrupted), else the call
// before the return address, decoded from the function's start as gdb's
// and objdump's listings decode it.
func (p *Process) DisassembleFrame(f *Frame, before, after int) (*disasm.Listing, error) {
	if f.LookupPC == f.PC {
		return p.Disassemble(f.PC, before, after)
	}
	return p.DisassembleAt(f.LookupPC, before, after)
}

// CurrentInstruction is the address of a frame's current instruction:
// its pc when it is exact, else the start of the call that the return
// address follows (when decoding from the function's start proves it),
// else the return address itself. Never an address inside an instruction.
func (p *Process) CurrentInstruction(f *Frame) uint64 {
	if f.LookupPC == f.PC || f.PC == 0 {
		return f.PC
	}
	if v, ok := p.curInst.Load(f.PC); ok {
		return v.(uint64)
	}
	at := p.currentInstruction(f)
	p.curInst.Store(f.PC, at)
	return at
}

// currentInstruction decodes as DisassembleAt does, only the instruction
// holding the lookup pc and without its text's symbols and source marks
// (a stack's frames each ask: the text was most of a DAP stackTrace).
func (p *Process) currentInstruction(f *Frame) uint64 {
	o := p.disasmOptions(f.LookupPC, -1, -1)
	o.Within, o.Source = true, nil
	if o.Start != 0 {
		o.Symbolize = nil // the boundary is known: names only label operands
	}
	l, err := disasm.Window(p.Core, f.LookupPC, o)
	if err != nil || l.PCIndex < 0 {
		return f.PC
	}
	in := l.Insts[l.PCIndex]
	if in.Addr+uint64(in.Len) != f.PC {
		return f.PC
	}
	return in.Addr
}

// FunctionDisassembly is the whole function (or function part) holding
// the runtime address addr, decoded from its start, with source marks;
// nil when its bounds are unknown.
func (p *Process) FunctionDisassembly(addr uint64) ([]disasm.Inst, error) {
	lo, hi, ok := p.FunctionBounds(addr)
	if !ok || hi == 0 || hi <= lo || hi-lo > 1<<20 {
		return nil, nil
	}
	o := p.disasmOptions(addr, 0, 0)
	return disasm.Range(p.Core, lo, hi, o.Symbolize, o.Source)
}

// DataSymbol labels an address as gdb's x command does: "sym+off" (the
// nearest symbol at or before it in its section, by its own name, the
// offset in decimal), "" outside every module's sections.
func (p *Process) DataSymbol(addr uint64) string {
	m := p.ModuleAt(addr)
	if m == nil || m.Syms == nil || addr < m.Bias {
		return ""
	}
	name, start, ok := m.Syms.NearestSymbolLinkage(addr - m.Bias)
	if !ok || name == "" {
		return ""
	}
	if off := addr - m.Bias - start; off != 0 {
		return fmt.Sprintf("%s+%d", name, off)
	}
	return name
}
