// Package values reads typed program values from a core: a frame's DWARF
// parameters and variables (location expressions, location lists, entry
// values from call sites), members, elements and pointees with their C++
// types, and readable children for the library containers a ceph-dse
// crash is full of (boost::intrusive::list, std::string, std::vector,
// smart pointers, std::atomic, std::function).
package values

import (
	"bytes"
	"debug/dwarf"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/symbols"
	"github.com/dsecore/dsecore/coreparse/unwind"
	"github.com/dsecore/dsecore/internal/mmap"
	"github.com/go-delve/delve/pkg/dwarf/op"
)

// Frame is what evaluating a frame's variables needs.
type Frame struct {
	Mod       *coreparse.Module
	PC        uint64 // lookup pc (runtime address)
	Regs      unwind.Regs
	CFA       uint64
	Scope, CU dwarf.Offset
	// CallPC is the return address into the physical caller (Caller):
	// DW_OP_entry_value is read from the caller's call-site parameters.
	// TailCaller says the caller is a function that tail-called this one
	// (a tail-call frame): CallPC is its tail call site's return address.
	CallPC     uint64
	TailCaller bool
	// Unsaved has bit n set for a caller-saved register that the unwind
	// did not restore in this frame and that holds, as gdb reads it
	// ("same value"), its value in the frame below: a variable read from
	// it says so (Value.Unsaved).
	Unsaved uint32

	mu         sync.Mutex // guards what is made on first need:
	machineSet bool
	machine    op.DwarfRegisters // (machine)
	// The caller's frame is made when first asked for (Caller): most
	// frames' variables need no entry value.
	p         *coreparse.Process
	frames    []coreparse.Frame
	callerAt  int // its index in frames + 1, 0 when none
	depth     int
	callerSet bool
	caller    *Frame
}

// Caller is the physical caller's frame, nil when there is none (the
// outermost frame, below a signal frame or a coroutine's seam, or more
// than four calls out from the frame FrameOf made).
func (f *Frame) Caller() *Frame {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.callerSet {
		if f.callerAt > 0 {
			f.caller = frameOf(f.p, f.frames, f.callerAt-1, f.depth+1)
		}
		f.callerSet = true
	}
	return f.caller
}

// FrameOf builds the Frame of frames[i] (a symbolized stack, innermost
// first): its registers, CFA, DWARF scope, and its physical caller.
func FrameOf(p *coreparse.Process, frames []coreparse.Frame, i int) *Frame {
	return frameOf(p, frames, i, 0)
}

func frameOf(p *coreparse.Process, frames []coreparse.Frame, i, depth int) *Frame {
	if i < 0 || i >= len(frames) || frames[i].Raw == nil || frames[i].Mod == nil {
		return nil
	}
	f := frames[i]
	fr := &Frame{Mod: f.Mod, PC: f.LookupPC, Regs: f.Raw.Regs, CFA: f.Raw.CFA, p: p, frames: frames, depth: depth}
	lvl := 0
	if f.Tailcall {
		// A function that tail-called the frame below has no frame of its
		// own: as gdb's TAILCALL frames, its registers are its physical
		// caller's (what the callee's CFI restores), its pc the tail call
		// site's, its scope the innermost at that pc.
		for j := i + 1; j < len(frames); j++ {
			if g := frames[j]; g.Raw != nil && g.Raw != f.Raw && !g.Tailcall {
				if !g.Sigtramp && !g.Boundary {
					fr.Regs = g.Raw.Regs
				}
				break
			}
		}
		fr.Regs.Set(unwind.RIP, f.PC)
	} else {
		// The frame's level in the inline chain: count the inline frames
		// sharing its physical frame before it.
		for j := i - 1; j >= 0 && frames[j].Raw == f.Raw && !frames[j].Tailcall; j-- {
			lvl++
		}
		fr.Regs, fr.Unsaved = sameValue(frames, i)
	}
	if m := f.Mod; m.Syms != nil {
		fr.Scope, fr.CU = m.Syms.ScopeAt(f.LookupPC-m.Bias, lvl)
	}
	if depth < 4 {
		// The caller: the next frame out that is another function's frame
		// (a physical frame, or a tail-call frame), not the inline frames
		// sharing this one. Below a signal frame or a coroutine's seam
		// there is no call.
		for j := i + 1; j < len(frames); j++ {
			g := frames[j]
			if g.Raw == nil || g.Sigtramp || g.Boundary {
				break
			}
			if g.Tailcall || g.Raw != f.Raw {
				fr.callerAt = j + 1
				fr.CallPC, fr.TailCaller = g.PC, g.Tailcall
				break
			}
		}
	}
	return fr
}

// sameValue is the registers of physical frame frames[i] as gdb reads
// variables with them: those the unwind recovered, and each caller-saved
// register it did not, with its value in the frame below (gdb treats a
// register the CFI says nothing of as unchanged by the call), back to the
// innermost frame, a signal frame's interrupted context or a task's saved
// context (a context saved by a switch restores only what it saved).
func sameValue(frames []coreparse.Frame, i int) (unwind.Regs, uint32) {
	var chain []*unwind.Frame // physical frames from i inwards
	for j := i; j >= 0; j-- {
		g := frames[j]
		if g.Raw == nil || g.Boundary {
			break
		}
		if g.Tailcall || len(chain) > 0 && chain[len(chain)-1] == g.Raw {
			continue
		}
		if g.Sigtramp {
			break
		}
		chain = append(chain, g.Raw)
		if g.Raw.Kind == unwind.KindInitial || j > 0 && frames[j-1].Sigtramp {
			break // all its registers are known: the chain starts here
		}
	}
	if len(chain) == 0 {
		return frames[i].Raw.Regs, 0
	}
	// From the innermost frame of the chain out to frames[i].
	regs := chain[len(chain)-1].Regs
	var unsaved uint32
	for k := len(chain) - 2; k >= 0; k-- {
		next := chain[k].Regs
		unsaved = 0
		for n := 0; n < unwind.NumRegs; n++ {
			if unwind.CalleeSaved(n) || next.Has(n) {
				continue
			}
			if v, ok := regs.Get(n); ok {
				next.Set(n, v)
				unsaved |= 1 << n
			}
		}
		regs = next
	}
	return regs, unsaved
}

// Value is a typed value: in memory at Addr (KindReference), held in
// Bytes (KindValue: a register, a constant, an implicit or computed
// value), or absent (KindAbsent: Absence says why, Err what went wrong),
// as drgn's objects are (libdrgn/drgn.h: drgn_object_kind,
// drgn_absence_reason).
type Value struct {
	Name    string
	Mod     *coreparse.Module // whose DWARF the type belongs to
	Type    dwarf.Offset
	Kind    Kind
	Addr    uint64 // KindReference
	Bytes   []byte // KindValue
	Absence Absence
	Err     error  // KindAbsent: ErrOptimizedOut, ErrSyntheticPointer, or why the location could not be read
	Where   string // how the location was found: "register rbx", "entry value of rdi", "stack", …
	Param   bool
	// Unsaved: read from a caller-saved register the unwind did not
	// restore, at its value in the frame below, as gdb reads it (right
	// when the callee left it alone, which nothing proves).
	Unsaved bool
	// Bit fields: the value is BitSize bits at BitOffset of the storage.
	BitSize, BitOffset int64
}

// Kind is what a Value holds (drgn's enum drgn_object_kind).
type Kind int

const (
	// KindValue: the value's bytes are in Bytes.
	KindValue Kind = iota
	// KindReference: the value is in the process's memory at Addr.
	KindReference
	// KindAbsent: there is no value (Absence, Err).
	KindAbsent
)

// Absence is why a value is absent (drgn's enum drgn_absence_reason).
type Absence int

const (
	// Present: the value is not absent.
	Present Absence = iota
	// OptimizedOut: the DWARF has no location at the pc, or the location
	// needs a register the unwind did not recover.
	OptimizedOut
	// SyntheticPointer: an implicit pointer (DW_OP_implicit_pointer), a
	// pointer that exists only in the debugging information.
	SyntheticPointer
	// Unreadable: the location could not be evaluated (Err says why).
	Unreadable
)

// The errors of the absences that are not failures.
var (
	ErrOptimizedOut     = errors.New("optimized out")
	ErrSyntheticPointer = errors.New("synthetic pointer")
)

// SetAbsent makes v absent for a reason; err is what went wrong for
// Unreadable (the other reasons have their own error).
func (v *Value) SetAbsent(why Absence, err error) {
	v.Kind, v.Absence = KindAbsent, why
	switch why {
	case OptimizedOut:
		v.Err = ErrOptimizedOut
	case SyntheticPointer:
		v.Err = ErrSyntheticPointer
	default:
		v.Err = err
	}
}

// Absent reports whether v has no value.
func (v *Value) Absent() bool { return v.Kind == KindAbsent }

// InMemory reports whether v is in the process's memory (at Addr).
func (v *Value) InMemory() bool { return v.Kind == KindReference }

// AbsentText says why v has no value, as gdb prints it in place of one:
// "optimized out", "<synthetic pointer>", "<error: …>"; "" when v has one.
func (v *Value) AbsentText() string {
	if !v.Absent() {
		return ""
	}
	switch v.Absence {
	case OptimizedOut:
		return "optimized out"
	case SyntheticPointer:
		return "<synthetic pointer>"
	}
	return "<error: " + v.Err.Error() + ">"
}

// Reader reads values from one process.
type Reader struct {
	P *coreparse.Process
	// MaxString, MaxList bound what formatting reads.
	MaxString, MaxList int
	// MaxExprLen and MaxExprDepth bound what Eval parses (0: the
	// defaults, DefaultMaxExprLen and DefaultMaxExprDepth).
	MaxExprLen, MaxExprDepth int
}

// NewReader returns a reader with default bounds.
func NewReader(p *coreparse.Process) *Reader {
	return &Reader{P: p, MaxString: 256, MaxList: 10000}
}

// FrameVars evaluates the parameters and local variables of a frame.
func (r *Reader) FrameVars(f *Frame) (params, locals []*Value, err error) {
	if f == nil || f.Mod == nil || f.Mod.Syms == nil || f.Scope == 0 {
		return nil, nil, errors.New("no DWARF scope for this frame")
	}
	vars, err := f.Mod.Syms.VariablesAt(f.Scope, f.CU, f.PC-f.Mod.Bias)
	for i := range vars {
		v := &vars[i]
		val := r.evalVar(f, v)
		if v.Param {
			params = append(params, val)
		} else {
			locals = append(locals, val)
		}
	}
	return params, locals, err
}

func (r *Reader) evalVar(f *Frame, v *symbols.VarAt) *Value {
	val := &Value{Name: v.Name, Mod: f.Mod, Type: v.Type, Param: v.Param}
	if v.Const != nil {
		switch c := v.Const.(type) {
		case int64:
			val.Bytes = binary.LittleEndian.AppendUint64(nil, uint64(c))
		case []byte:
			val.Bytes = c
		case string:
			val.Bytes = []byte(c)
		}
		val.Where = "constant"
		return val
	}
	expr, ok, err := v.Loc, v.HasLoc, v.LocErr
	if err != nil {
		val.SetAbsent(Unreadable, err)
		return val
	}
	if !ok || len(expr) == 0 {
		val.SetAbsent(OptimizedOut, nil)
		return val
	}
	r.evalExpr(f, expr, val, 0)
	return val
}

const (
	opEntryValue    = 0xa3
	opGNUEntryValue = 0xf3
	opConst8u       = 0x0e
	opReg0          = 0x50
	opRegx          = 0x90
	opBreg0         = 0x70
	opFbreg         = 0x91
	opCallFrameCFA  = 0x9c
)

// evalExpr runs a location expression in frame f and sets val's location.
func (r *Reader) evalExpr(f *Frame, expr []byte, val *Value, depth int) {
	// DW_OP_entry_value(DW_OP_regN) at the start: the register's value at
	// the function's entry, from the caller's call-site parameter.
	if len(expr) > 2 && (expr[0] == opEntryValue || expr[0] == opGNUEntryValue) {
		n, sz := uleb(expr[1:])
		sub := expr[1+sz:]
		if int(n) > len(sub) {
			val.SetAbsent(Unreadable, errors.New("bad DW_OP_entry_value"))
			return
		}
		rest := sub[n:]
		sub = sub[:n]
		if len(sub) != 1 || sub[0] < opReg0 || sub[0] >= opReg0+32 {
			val.SetAbsent(OptimizedOut, nil)
			return
		}
		reg := int(sub[0] - opReg0)
		ev, ok := r.entryValue(f, reg, depth)
		if !ok {
			val.SetAbsent(OptimizedOut, nil)
			return
		}
		expr = append(binary.LittleEndian.AppendUint64([]byte{opConst8u}, ev), rest...)
		val.Where = "entry value of " + unwind.RegName(reg)
	}
	if len(expr) > 0 && (expr[0] == 0xa0 || expr[0] == 0xf2) { // DW_OP_implicit_pointer, DW_OP_GNU_implicit_pointer
		val.SetAbsent(SyntheticPointer, nil)
		return
	}
	// A register location whose register this frame did not recover.
	if len(expr) == 1 && expr[0] >= opReg0 && expr[0] < opReg0+32 {
		reg := int(expr[0] - opReg0)
		v, ok := f.Regs.Get(reg)
		if !ok {
			val.SetAbsent(OptimizedOut, nil)
			return
		}
		val.Bytes = binary.LittleEndian.AppendUint64(nil, v)
		val.Where = "register " + unwind.RegName(reg)
		if f.Unsaved&(1<<reg) != 0 {
			val.Unsaved = true
			val.Where += " (not restored by the callee's unwind: its value in the frame below, as gdb reads it)"
		}
		return
	}
	addr, pieces, err := r.execute(f, expr)
	if err != nil {
		val.SetAbsent(OptimizedOut, nil)
		if !isRegMissing(err) {
			val.SetAbsent(Unreadable, err)
		}
		return
	}
	if pieces == nil {
		val.Addr, val.Kind = uint64(addr), KindReference
		if val.Where == "" {
			val.Where = "memory"
		}
		return
	}
	var b []byte
	for _, pc := range pieces {
		switch pc.Kind {
		case op.RegPiece:
			v, ok := f.Regs.Get(int(pc.Val))
			if !ok {
				val.SetAbsent(OptimizedOut, nil)
				return
			}
			chunk := binary.LittleEndian.AppendUint64(nil, v)
			if pc.Size > 0 && pc.Size < 8 {
				chunk = chunk[:pc.Size]
			}
			b = append(b, chunk...)
			if val.Where == "" {
				val.Where = "register " + unwind.RegName(int(pc.Val))
			}
			if pc.Val < 32 && f.Unsaved&(1<<pc.Val) != 0 {
				val.Unsaved = true
			}
		case op.ImmPiece:
			if pc.Bytes != nil {
				b = append(b, pc.Bytes...)
			} else {
				chunk := binary.LittleEndian.AppendUint64(nil, pc.Val)
				if pc.Size > 0 && pc.Size < 8 {
					chunk = chunk[:pc.Size]
				}
				b = append(b, chunk...)
			}
			if val.Where == "" {
				val.Where = "computed"
			}
		case op.AddrPiece:
			chunk := make([]byte, pc.Size)
			if _, err := r.P.Core.ReadAt(chunk, pc.Val); err != nil {
				val.SetAbsent(Unreadable, err)
				return
			}
			b = append(b, chunk...)
		}
	}
	val.Bytes = b
}

func isRegMissing(err error) bool {
	return bytes.Contains([]byte(err.Error()), []byte("not available"))
}

// execute runs an expression with delve's DWARF stack machine.
func (r *Reader) execute(f *Frame, expr []byte) (addr int64, pieces []op.Piece, err error) {
	defer func() {
		if x := recover(); x != nil {
			mmap.Repanic(x) // a file that changed under the reader is the command's error, not this decoder's
			err = fmt.Errorf("DWARF expression: %v", x)
		}
	}()
	regs := r.machine(f)
	if a, ok := simpleLocation(&regs, expr); ok {
		return a, nil, nil
	}
	return runExpr(regs, expr, r.P.Core.ReadAt)
}

// simpleLocation is the address most locations are, without the stack
// machine: DW_OP_fbreg(n), DW_OP_bregN(n) of a register the frame has,
// DW_OP_call_frame_cfa with a CFA — what the stack machine answers for
// them. Any other expression (or more after one of those) is false.
func simpleLocation(regs *op.DwarfRegisters, expr []byte) (int64, bool) {
	if len(expr) == 0 {
		return 0, false
	}
	switch c := expr[0]; {
	case c == opFbreg:
		if n, sz := sleb(expr[1:]); sz > 0 && 1+sz == len(expr) {
			return regs.FrameBase + n, true
		}
	case c >= opBreg0 && c < opBreg0+32:
		if n, sz := sleb(expr[1:]); sz > 0 && 1+sz == len(expr) {
			if reg := regs.Reg(uint64(c - opBreg0)); reg != nil {
				return int64(reg.Uint64Val) + n, true
			}
		}
	case c == opCallFrameCFA && len(expr) == 1 && regs.CFA != 0:
		return regs.CFA, true
	}
	return 0, false
}

// sleb decodes a signed LEB128 number: its value and length, 0 when b
// ends inside it.
func sleb(b []byte) (int64, int) {
	var v int64
	var shift uint
	for i, c := range b {
		if shift < 64 {
			v |= int64(c&0x7f) << shift
		}
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v, i + 1
		}
	}
	return 0, 0
}

// machine is the frame's registers for delve's stack machine, with its
// frame base, made on the frame's first expression and kept for the rest
// (the stack machine only reads them). A panic while making them (a file
// changed under its mapping, a corrupt frame base) leaves none kept: the
// next expression tries again, as each did before they were kept.
func (r *Reader) machine(f *Frame) op.DwarfRegisters {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.machineSet {
		regs := frameRegisters(f)
		// DW_OP_addr holds a file address: the module's load bias makes it a
		// runtime one (a global's address as a call-site value, a static
		// local's location, in a PIE or a library).
		regs.StaticBase = f.Mod.Bias
		if fb := f.Mod.Syms.FrameBase(f.PC - f.Mod.Bias); len(fb) > 0 {
			if len(fb) == 1 && fb[0] == 0x9c { // DW_OP_call_frame_cfa
				regs.FrameBase = int64(f.CFA)
			} else if v, _, err := runExpr(*regs, fb, r.P.Core.ReadAt); err == nil {
				regs.FrameBase = v
			}
		}
		f.machine, f.machineSet = *regs, true
	}
	return f.machine
}

// runExpr is delve's stack machine on one expression; whatever the bytes,
// it returns (a malformed expression's panic becomes an error).
func runExpr(regs op.DwarfRegisters, expr []byte, read func([]byte, uint64) (int, error)) (addr int64, pieces []op.Piece, err error) {
	defer func() {
		if x := recover(); x != nil {
			mmap.Repanic(x) // a file that changed under the reader is the command's error, not this decoder's
			err = fmt.Errorf("DWARF expression: %v", x)
		}
	}()
	if err := checkExpr(expr); err != nil {
		return 0, nil, err
	}
	return op.ExecuteStackProgram(regs, expr, 8, read)
}

// frameRegisters are a frame's registers (and CFA) for delve's stack machine.
func frameRegisters(f *Frame) *op.DwarfRegisters {
	// One array of values and one of pointers to them (nil: a register
	// the frame lacks), where AddReg would grow the list register by
	// register.
	vals := make([]op.DwarfRegister, unwind.NumRegs)
	ptrs := make([]*op.DwarfRegister, unwind.NumRegs)
	for i := range vals {
		if v, ok := f.Regs.Get(i); ok {
			vals[i].Uint64Val = v
			ptrs[i] = &vals[i]
		}
	}
	regs := op.NewDwarfRegisters(0, ptrs, binary.LittleEndian, unwind.RIP, unwind.RSP, unwind.RBP, 0)
	regs.CFA = int64(f.CFA)
	return regs
}

// entryValue is the value register reg had when f's function was entered:
// the caller's call-site parameter for that register, evaluated in the
// caller's frame.
func (r *Reader) entryValue(f *Frame, reg, depth int) (uint64, bool) {
	c := f.Caller()
	if c == nil || c.Mod == nil || c.Mod.Syms == nil || depth > 3 {
		return 0, false
	}
	// As gdb: only when the caller's call site calls this very function
	// (not through a tail call or an indirect call).
	entry, ok := f.Mod.Syms.FunctionEntry(f.PC - f.Mod.Bias)
	target, known := r.P.CallTargetAt(c.Mod, f.CallPC)
	if f.TailCaller {
		target, known = r.P.TailCallTargetAt(c.Mod, f.CallPC)
	}
	if !ok || !known || target != entry+f.Mod.Bias {
		return 0, false
	}
	for _, cp := range c.Mod.Syms.CallParams(f.CallPC - c.Mod.Bias) {
		if cp.Reg != reg {
			continue
		}
		v := &Value{}
		r.evalExpr(c, cp.Value, v, depth+1)
		switch {
		case v.Absent():
			return 0, false
		case v.InMemory():
			// A location, not a value: DW_AT_call_value is a DWARF
			// expression whose result is the value itself.
			return v.Addr, true
		case len(v.Bytes) >= 8:
			return binary.LittleEndian.Uint64(v.Bytes), true
		}
	}
	return 0, false
}

func uleb(b []byte) (uint64, int) {
	var v uint64
	var shift uint
	for i, c := range b {
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, i + 1
		}
		shift += 7
		if shift > 63 {
			break
		}
	}
	return v, len(b)
}
