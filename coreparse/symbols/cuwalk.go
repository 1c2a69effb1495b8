package symbols

import (
	"debug/dwarf"
	"path/filepath"
	"sort"

	"github.com/dsecore/dsecore/coreparse/symbols/die"
)

// walkInto are the DIEs whose children the first pass reads (besides
// concrete functions, whose bodies it defers).
var walkInto = map[dwarf.Tag]bool{dwarf.TagNamespace: true}

// walkFrame is the DIE a walk is inside of.
type walkFrame struct {
	die   dwarf.Offset
	scope *scope
	fn    *scope // the concrete function around it
	csPC  uint64 // a call site's return pc, for its parameters
}

// walk reads the children of the DIE `at` describes, up to its end, into
// dies and the unit's scopes. The first pass (skeleton) reads the unit's
// structure only: a concrete function becomes a lazy scope with its body
// unread, and a type's members are skipped and remembered in cu.skips; the
// later walks read one function's body or one type's members in full.
func (cu *cuInfo) walk(r *die.Reader, at walkFrame, skeleton bool, dies map[dwarf.Offset]*dieInfo, nested *[]funcRange) {
	t, d := cu.t, cu.t.dwarf
	stack := []walkFrame{at}
	for len(stack) > 0 {
		e, err := r.Next()
		if err != nil {
			t.warnf("%s: compile unit at %#x: %v", filepath.Base(t.Path), cu.off, err)
			break
		}
		if e == nil {
			break
		}
		if e.Tag == 0 {
			stack = stack[:len(stack)-1]
			continue
		}
		parent := stack[len(stack)-1]
		// Naming needs the functions (and what they name themselves
		// after) and the scopes around them: a DIE with children, or a
		// function. Leaves (variables, parameters, call sites, members)
		// are never named nor anyone's parent.
		if e.Children || e.Tag == dwarf.TagSubprogram || e.Tag == dwarf.TagInlinedSubroutine {
			dies[e.Offset] = newDieInfo(e, parent.die)
		}

		cur, fn := parent.scope, parent.fn
		csPC := uint64(0)
		switch e.Tag {
		case tagCallSiteParam, tagGNUCallSiteParam:
			if parent.csPC != 0 && fn != nil {
				loc, _ := e.Val(dwarf.AttrLocation).([]byte)
				val, ok := e.Val(dwarf.AttrCallValue).([]byte)
				if !ok {
					val, _ = e.Val(attrGNUCallSiteValue).([]byte)
				}
				// DW_OP_reg0..reg31: the parameter's register at the call.
				if len(loc) == 1 && loc[0] >= 0x50 && loc[0] <= 0x6f && len(val) > 0 {
					if fn.params == nil {
						fn.params = map[uint64][]CallParam{}
					}
					fn.params[parent.csPC] = append(fn.params[parent.csPC], CallParam{Reg: int(loc[0] - 0x50), Value: val})
				}
			}
		case dwarf.TagCallSite, tagGNUCallSite:
			if fn == nil {
				break
			}
			cs := callSite{}
			if pc, ok := e.Val(dwarf.AttrCallReturnPC).(uint64); ok {
				cs.returnPC = pc
			} else if pc, ok := e.Val(dwarf.AttrLowpc).(uint64); ok {
				cs.returnPC = pc
			}
			if b, ok := e.Val(dwarf.AttrCallTailCall).(bool); ok && b {
				cs.tail = true
			} else if b, ok := e.Val(attrGNUTailCall).(bool); ok && b {
				cs.tail = true
			}
			if o, ok := e.Val(dwarf.AttrCallOrigin).(dwarf.Offset); ok {
				cs.origin = o
			} else if o, ok := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset); ok {
				cs.origin = o
			}
			if cs.returnPC != 0 {
				fn.calls = append(fn.calls, cs)
				csPC = cs.returnPC
			}
		case dwarf.TagSubprogram, dwarf.TagInlinedSubroutine:
			ranges, _ := d.Ranges(e)
			if len(ranges) == 0 {
				break
			}
			s := &scope{die: e.Offset, ranges: ranges, low: ranges[0][0], inline: e.Tag == dwarf.TagInlinedSubroutine}
			if lowpc, ok := e.Val(dwarf.AttrLowpc).(uint64); ok {
				s.low = lowpc
			} else if ep, ok := e.Val(dwarf.AttrEntrypc).(uint64); ok {
				s.low = ep
			}
			if s.inline {
				if fi, ok := e.Val(dwarf.AttrCallFile).(int64); ok && fi >= 0 && int(fi) < len(cu.files) {
					s.callFile = cu.files[fi]
				}
				if l, ok := e.Val(dwarf.AttrCallLine).(int64); ok {
					s.callLine = int(l)
				}
				if c, ok := e.Val(dwarf.AttrCallColumn).(int64); ok {
					s.callCol = int(c)
				}
			}
			if s.inline && cur != nil {
				cur.children = append(cur.children, s)
			} else if !s.inline {
				if !skeleton {
					// A function defined inside another's DIE (a local
					// class's methods, a lambda's): read with it.
					if nested != nil {
						for _, rg := range ranges {
							*nested = append(*nested, funcRange{rg[0], rg[1], s})
						}
					}
					fn = s
					cur = s
					break
				}
				for _, rg := range ranges {
					cu.funcs = append(cu.funcs, funcRange{rg[0], rg[1], s})
				}
				if e.Children {
					s.lazy = true
					r.SkipChildren()
					continue
				}
				fn = s
			}
			cur = s
		}
		// The first pass goes into namespaces only (a concrete function's
		// body is read on first use, above): the children of anything
		// else (a type's members, a declaration's parameters) are skipped,
		// and read when a name needs them. Only with DW_AT_sibling (GCC
		// gives one to every DIE with children): it says where the subtree
		// ends.
		if skeleton && e.Children && !walkInto[e.Tag] {
			if sib, ok := e.Val(dwarf.AttrSibling).(dwarf.Offset); ok && sib > e.Offset {
				cu.skips = append(cu.skips, skipped{start: e.Offset, end: sib})
				r.SkipChildren()
				continue
			}
		}
		if e.Children {
			stack = append(stack, walkFrame{die: e.Offset, scope: cur, fn: fn, csPC: csPC})
		}
	}
}

// expand reads a lazy function's body (once; concurrent callers wait).
func (cu *cuInfo) expand(fn *scope) {
	if fn == nil || !fn.lazy {
		return
	}
	fn.body.Do(func() {
		defer cu.t.recoverWarn("function body")
		if cu.restoreBody(fn) {
			return
		}
		r := cu.t.dwarf.Reader()
		r.Seek(fn.die)
		if e, err := r.Next(); err != nil || e == nil || !e.Children {
			return
		}
		dies := map[dwarf.Offset]*dieInfo{}
		var nested []funcRange
		r.Reuse()
		cu.walk(r, walkFrame{die: fn.die, scope: fn, fn: fn}, false, dies, &nested)
		fn.nested = nested
		fn.bodyDies = cu.addDies(dies)
		fn.bodyRead.Store(true)
		cu.dirty.Store(true)
	})
}

// expandSkipped reads the children of the skipped DIE whose subtree holds
// off; false when no skipped subtree does.
func (cu *cuInfo) expandSkipped(off dwarf.Offset) bool {
	i := sort.Search(len(cu.skips), func(i int) bool { return cu.skips[i].start > off })
	if i == 0 {
		return false
	}
	sk := &cu.skips[i-1]
	if off <= sk.start || off >= sk.end {
		return false
	}
	sk.once.Do(func() {
		defer cu.t.recoverWarn("type members")
		if cu.restoreSkipped(sk) {
			return
		}
		r := cu.t.dwarf.Reader()
		r.Seek(sk.start)
		if e, err := r.Next(); err != nil || e == nil || !e.Children {
			return
		}
		dies := map[dwarf.Offset]*dieInfo{}
		r.Reuse()
		cu.walk(r, walkFrame{die: sk.start}, false, dies, nil)
		sk.dies = cu.addDies(dies)
		sk.read.Store(true)
		cu.dirty.Store(true)
	})
	return true
}
