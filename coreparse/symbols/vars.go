package symbols

import (
	"debug/dwarf"
	"debug/elf"
	"fmt"

	"github.com/dsecore/dsecore/coreparse/symbols/die"
	"github.com/dsecore/dsecore/internal/mmap"
	"github.com/go-delve/delve/pkg/dwarf/godwarf"
	"github.com/go-delve/delve/pkg/dwarf/loclist"
)

// Var is a variable or parameter of a scope (a function or an inlined
// instance, and the lexical blocks around a pc).
type Var struct {
	Name    string
	Type    dwarf.Offset
	Param   bool
	Expr    []byte // DW_AT_location as an expression
	LocList int64  // offset into the location lists, -1 when none
	Const   any    // DW_AT_const_value (int64, []byte, string), nil when none
	Line    int    // declaration line
	CU      dwarf.Offset
	die     dwarf.Offset
}

// CallParam is a DW_TAG_call_site_parameter: the value a register had at
// a call, as an expression in the caller's frame (DW_AT_call_value). It
// gives a callee's DW_OP_entry_value.
type CallParam struct {
	Reg   int // DWARF register number
	Value []byte
}

// DWARF returns the module's DWARF entries, nil when none.
func (t *Table) DWARF() *die.Data {
	t.loadDWARF()
	return t.dwarf
}

// Variables lists the parameters and variables of scope visible at the
// file address pc: the scope's own, and those of the lexical blocks that
// contain pc. Names and types come through DW_AT_abstract_origin for
// inlined and out-of-line instances. Answers are remembered; callers must
// not modify the slice.
func (t *Table) Variables(scope, cu dwarf.Offset, pc uint64) (vars []Var, err error) {
	k := varsKey{scope, cu, pc}
	if a, ok := t.varsMemo.Load(k); ok {
		a := a.(varsAnswer)
		return a.vars, a.err
	}
	vars, err = t.variables(scope, cu, pc)
	t.varsMemo.Store(k, varsAnswer{vars, err})
	return vars, err
}

// VarAt is a variable with its location at one pc: Loc is what
// LocationExpr returns there (HasLoc false when the variable has no
// location at the pc, LocErr when it could not be read). A constant's
// location is not looked up.
type VarAt struct {
	Var
	Loc    []byte
	HasLoc bool
	LocErr error
}

// VariablesAt is Variables with each variable's location expression at
// the file address pc. Answers are remembered: the frames of ten thousand
// tasks parked at the same few pcs decode each scope's variables and
// location lists once, and only evaluate the expressions per frame.
// Callers must not modify the slice.
func (t *Table) VariablesAt(scope, cu dwarf.Offset, pc uint64) ([]VarAt, error) {
	k := varsKey{scope, cu, pc}
	if a, ok := t.varsAtMemo.Load(k); ok {
		a := a.(varsAtAnswer)
		return a.vars, a.err
	}
	vars, err := t.Variables(scope, cu, pc)
	out := make([]VarAt, len(vars))
	for i, v := range vars {
		out[i].Var = v
		if v.Const == nil {
			out[i].Loc, out[i].HasLoc, out[i].LocErr = t.LocationExpr(v, pc)
		}
	}
	t.varsAtMemo.Store(k, varsAtAnswer{out, err})
	return out, err
}

type varsAtAnswer struct {
	vars []VarAt
	err  error
}

type varsKey struct {
	scope, cu dwarf.Offset
	pc        uint64
}

type varsAnswer struct {
	vars []Var
	err  error
}

func inRanges(rs [][2]uint64, pc uint64) bool {
	for _, r := range rs {
		if pc >= r[0] && pc < r[1] {
			return true
		}
	}
	return false
}

func (t *Table) readVar(e *die.Entry) Var {
	v := Var{Param: e.Tag == dwarf.TagFormalParameter, LocList: -1, die: e.Offset}
	if f := e.AttrField(dwarf.AttrLocation); f != nil {
		switch l := f.Val().(type) {
		case []byte:
			v.Expr = l
		case int64:
			if f.Class == dwarf.ClassLocListPtr || f.Class == dwarf.ClassLocList {
				v.LocList = l
			}
		case uint64:
			if f.Class == dwarf.ClassLocList { // DW_FORM_loclistx: an index (clang, split units)
				v.LocList = int64(l)
			}
		}
	}
	v.Const = e.Val(dwarf.AttrConstValue)
	// Name, type and line, through abstract origins.
	for i, cur := 0, e; cur != nil && i < 4; i++ {
		if v.Name == "" {
			v.Name, _ = cur.Val(dwarf.AttrName).(string)
		}
		if v.Type == 0 {
			v.Type, _ = cur.Val(dwarf.AttrType).(dwarf.Offset)
		}
		if v.Line == 0 {
			if l, ok := cur.Val(dwarf.AttrDeclLine).(int64); ok {
				v.Line = int(l)
			}
		}
		o, ok := cur.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset)
		if !ok {
			break
		}
		r := t.dwarf.Reader()
		r.Seek(o)
		cur, _ = r.Next()
	}
	return v
}

// LocationExpr returns the location expression of v at the file address
// pc: its single expression, or the location list's entry covering pc.
// ok is false when the variable has no location there (optimized out).
func (t *Table) LocationExpr(v Var, pc uint64) (expr []byte, ok bool, err error) {
	if v.Expr != nil {
		return v.Expr, true, nil
	}
	if v.LocList < 0 {
		return nil, false, nil
	}
	defer func() {
		if r := recover(); r != nil {
			mmap.Repanic(r) // a file that changed under the reader is the command's error, not this decoder's
			err = fmt.Errorf("location list of %s: %v", v.Name, r)
		}
	}()
	e, err := t.dwarf.EntryAt(v.die)
	if err != nil {
		return nil, false, err
	}
	// The file's own sections, read on demand; a split unit's are its
	// .dwo's (die.LocList picks).
	var loc, loclists []byte
	if t.dwarf.UnitVersion(v.die) >= 5 {
		loclists, err = t.locSection(".debug_loclists")
	} else {
		loc, err = t.locSection(".debug_loc")
	}
	if err != nil {
		return nil, false, err
	}
	l, ok, err := t.dwarf.LocList(e, dwarf.AttrLocation, loc, loclists)
	if err != nil || !ok {
		return nil, false, err
	}
	switch {
	case l.GNUSplit:
		return l.FindGNUSplit(pc)
	case l.Version >= 5:
		var da *godwarf.DebugAddr
		if l.Addr != nil {
			da = godwarf.ParseAddr(l.Addr).GetSubsection(l.AddrBase)
		}
		entry, err := loclist.NewDwarf5Reader(l.Sec).Find(int(l.Off), 0, l.Base, pc, da)
		if err != nil || entry == nil {
			return nil, false, err
		}
		return entry.Instr, true, nil
	default:
		entry, err := loclist.NewDwarf2Reader(l.Sec, l.AddrSize).Find(int(l.Off), 0, l.Base, pc, nil)
		if err != nil || entry == nil {
			return nil, false, err
		}
		return entry.Instr, true, nil
	}
}

// dwarfFile is the ELF file the DWARF comes from.
func (t *Table) dwarfFile() *elf.File {
	if t.debug != nil && t.debug.Section(".debug_info") != nil {
		return t.debug
	}
	return t.file
}

// CallParams returns the call-site parameters of the call whose return
// address is the file address returnPC.
func (t *Table) CallParams(returnPC uint64) []CallParam {
	cu := t.cuFor(returnPC - 1)
	if cu == nil {
		return nil
	}
	fn := cu.funcAt(returnPC - 1)
	if fn == nil {
		return nil
	}
	return fn.params[returnPC]
}

// FrameBase returns DW_AT_frame_base of the concrete function around the
// file address pc.
func (t *Table) FrameBase(pc uint64) []byte {
	cu := t.cuFor(pc)
	if cu == nil {
		return nil
	}
	fn := cu.funcAt(pc)
	if fn == nil {
		return nil
	}
	if b, ok := t.fbMemo.Load(fn.die); ok {
		return b.([]byte)
	}
	r := t.dwarf.Reader()
	r.Seek(fn.die)
	e, err := r.Next()
	if err != nil || e == nil {
		return nil
	}
	b, _ := e.Val(dwarf.AttrFrameBase).([]byte)
	t.fbMemo.Store(fn.die, b)
	return b
}
