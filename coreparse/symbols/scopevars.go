package symbols

import (
	"debug/dwarf"
	"fmt"
	"sort"

	"github.com/dsecore/dsecore/internal/mmap"
)

// variables reads a scope's variables at pc as gdb's symbol reader does
// (dwarf2/read.c), so that a frame lists what `info args` and `info
// locals` list:
//
//   - the scope's own parameters and variables, then those of each
//     lexical block whose ranges hold pc (innermost blocks first); a block
//     without any pc bounds does not wrap its children (they belong to the
//     enclosing scope); a block with bounds that do not hold pc, or empty
//     ones, is left out with everything in it;
//   - a concrete instance (an inlined subroutine, an out-of-line copy, a
//     lexical block with DW_AT_abstract_origin) inherits the children of
//     its abstract instance that it does not itself describe: a variable
//     the compiler dropped from the concrete tree is still there, with no
//     location (optimized out) or its constant value. As in gdb, only the
//     concrete DIE's direct children count as describing them: a variable
//     a nested concrete block describes is listed a second time, optimized
//     out, in the enclosing scope (gdb's `info locals` shows `ret = 0`,
//     then `ret = <optimized out>`), and one of an abstract block whose
//     concrete block is nested deeper is listed too.
func (t *Table) variables(scope, cu dwarf.Offset, pc uint64) (vars []Var, err error) {
	t.loadDWARF()
	if t.dwarf == nil || scope == 0 {
		return nil, fmt.Errorf("no DWARF")
	}
	defer func() {
		if r := recover(); r != nil {
			mmap.Repanic(r) // a file that changed under the reader is the command's error, not this decoder's
			err = fmt.Errorf("variables of DIE %#x: %v", scope, r)
		}
	}()
	var depthOf []int
	add := func(v Var, depth int) {
		v.CU = cu
		if v.Name != "" {
			vars = append(vars, v)
			depthOf = append(depthOf, depth)
		}
	}
	err = t.scopeVars(scope, pc, 0, add, 0)
	// Innermost blocks first, as gdb lists them.
	idx := make([]int, len(vars))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool { return depthOf[idx[i]] > depthOf[idx[j]] })
	out := make([]Var, len(vars))
	for i, k := range idx {
		out[i] = vars[k]
	}
	return out, err
}

// scopeVars adds the variables of the DIE at off (a function, an inlined
// instance or a lexical block holding pc) at depth, and those of the blocks
// inside it that hold pc deeper.
func (t *Table) scopeVars(off dwarf.Offset, pc uint64, depth int, add func(Var, int), nest int) error {
	if nest > 64 {
		return fmt.Errorf("DIE %#x: lexical blocks nested too deep", off)
	}
	r := t.dwarf.Reader()
	r.Seek(off)
	top, err := r.Next()
	if err != nil || top == nil {
		return fmt.Errorf("DIE %#x: %v", off, err)
	}
	if !top.Children {
		return t.inherit(top.Val(dwarf.AttrAbstractOrigin), nil, depth, add)
	}
	type block struct {
		off   dwarf.Offset
		depth int
	}
	var blocks []block
	described := map[dwarf.Offset]bool{} // abstract DIEs the direct children describe
	for lvl := 1; lvl > 0; {
		e, err := r.Next()
		if err != nil {
			return err
		}
		if e == nil {
			break
		}
		if e.Tag == 0 {
			lvl--
			continue
		}
		if lvl == 1 {
			if o, ok := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset); ok && e.Tag != dwarf.TagCallSite && e.Tag != tagGNUCallSite {
				described[o] = true
			}
			switch e.Tag {
			case dwarf.TagFormalParameter, dwarf.TagVariable:
				add(t.readVar(e), depth)
			case dwarf.TagLexDwarfBlock:
				ranges, _ := t.dwarf.Ranges(e)
				if len(ranges) == 0 {
					if e.Children {
						blocks = append(blocks, block{e.Offset, depth}) // no bounds: no wrapping
					}
				} else if inRanges(ranges, pc) {
					blocks = append(blocks, block{e.Offset, depth + 1})
				}
			}
		}
		if e.Children {
			r.SkipChildren()
		}
	}
	for _, b := range blocks {
		if err := t.scopeVars(b.off, pc, b.depth, add, nest+1); err != nil {
			return err
		}
	}
	return t.inherit(top.Val(dwarf.AttrAbstractOrigin), described, depth, add)
}

// inherit adds the parameters and variables of the abstract instance at
// origin (when it is one) that the concrete tree does not describe; its
// lexical blocks have no bounds, their variables belong to the scope.
func (t *Table) inherit(origin any, described map[dwarf.Offset]bool, depth int, add func(Var, int)) error {
	o, ok := origin.(dwarf.Offset)
	if !ok {
		return nil
	}
	r := t.dwarf.Reader()
	r.Seek(o)
	top, err := r.Next()
	if err != nil || top == nil || !top.Children {
		return err
	}
	for lvl := 1; lvl > 0; {
		e, err := r.Next()
		if err != nil {
			return err
		}
		if e == nil {
			break
		}
		if e.Tag == 0 {
			lvl--
			continue
		}
		switch e.Tag {
		case dwarf.TagFormalParameter, dwarf.TagVariable:
			if !described[e.Offset] {
				add(t.readVar(e), depth)
			}
		case dwarf.TagLexDwarfBlock:
			if e.Children && !described[e.Offset] {
				lvl++
				continue
			}
		}
		if e.Children {
			r.SkipChildren()
		}
	}
	return nil
}
