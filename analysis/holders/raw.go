package holders

import (
	"fmt"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/unwind"
	"github.com/dsecore/dsecore/coreparse/values"
	"github.com/dsecore/dsecore/internal/par"
)

// raw is the fallback where DWARF does not say what a frame holds: the
// registers of each physical frame (as unwound), reported at the outermost
// of the consecutive frames that keep the value, unless a DWARF variable of
// those frames already holds it; and, for frames without DWARF, the words
// of their stack ([rsp, CFA)).
func (s *searcher) raw(stacks []Stack) []Hit {
	per := make([][]Hit, len(stacks))
	par.Do(len(stacks), func(i int) {
		per[i] = s.rawStack(stacks[i], s.roots[i])
	})
	var out []Hit
	for _, h := range per {
		out = append(out, h...)
	}
	return out
}

type physFrame struct {
	first, last int // frame indexes sharing the physical frame
	raw         *unwind.Frame
	dwarf       bool
}

func (s *searcher) rawStack(st Stack, roots []*root) []Hit {
	fs := st.Frames
	var phys []physFrame
	for j := range fs {
		f := &fs[j]
		if f.Raw == nil || f.Boundary {
			continue
		}
		if len(phys) > 0 && phys[len(phys)-1].raw == f.Raw {
			phys[len(phys)-1].last = j
		} else {
			phys = append(phys, physFrame{first: j, last: j, raw: f.Raw})
		}
		pf := &phys[len(phys)-1]
		if !pf.dwarf && f.Mod != nil && !f.Sigtramp {
			if fr := values.FrameOf(s.p, fs, j); fr != nil && fr.Scope != 0 {
				pf.dwarf = true
			}
		}
	}
	held := map[int]map[uint64]bool{} // frame index → the values of its DWARF variables
	for _, rt := range roots {
		if x, err := s.r.Uint(rt.v); err == nil {
			if held[rt.frame] == nil {
				held[rt.frame] = map[uint64]bool{}
			}
			held[rt.frame][x] = true
		}
	}
	heldIn := func(pf physFrame, x uint64) bool {
		for j := pf.first; j <= pf.last; j++ {
			if held[j][x] {
				return true
			}
		}
		return false
	}
	var hits []Hit
	// Registers: runs of physical frames with the same value.
	for reg := 0; reg <= unwind.R15; reg++ {
		if reg == unwind.RSP {
			continue
		}
		for a := 0; a < len(phys); {
			x, ok := phys[a].raw.Regs.Get(reg)
			b := a
			for ok && b+1 < len(phys) {
				y, ok2 := phys[b+1].raw.Regs.Get(reg)
				if !ok2 || y != x {
					break
				}
				b++
			}
			if ok && x != 0 {
				if ts := s.inside(x); len(ts) > 0 {
					explained, anyDWARF := false, false
					for k := a; k <= b; k++ {
						explained = explained || heldIn(phys[k], x)
						anyDWARF = anyDWARF || phys[k].dwarf
					}
					if !explained {
						why := "the frame has no DWARF"
						if anyDWARF {
							why = "no DWARF variable of the frame holds it (an optimized-out variable or a temporary)"
						}
						for _, ti := range ts {
							hits = append(hits, s.rawHit(st, phys[b].last, ti, x, "register", "$"+unwind.RegName(reg), "register %"+unwind.RegName(reg), why))
						}
					}
				}
			}
			a = b + 1
		}
	}
	// Stack words of frames without DWARF.
	for _, pf := range phys {
		if pf.dwarf {
			continue
		}
		lo, words := s.p.StackWords(st.Frames[pf.last])
		for i, x := range words {
			for _, ti := range s.inside(x) {
				at := lo + uint64(8*i)
				hits = append(hits, s.rawHit(st, pf.last, ti, x, "stack word", fmt.Sprintf("*(void **)%#x", at), fmt.Sprintf("stack slot %#x", at), "the frame has no DWARF"))
			}
		}
	}
	return hits
}

func (s *searcher) rawHit(st Stack, frame, ti int, x uint64, how, expr, where, why string) Hit {
	t := s.targets[ti]
	rel, off := PointsTo, int64(0)
	if x != t.Address {
		rel, off = PointsInto, int64(x-t.Address)
	}
	return Hit{mods: addModule(nil, st.Frames[frame].Mod), Who: st.Who, Said: st.Said, LWP: st.LWP, TaskID: st.TaskID, Frame: frame, Function: outerName(st.Frames, frame),
		Location: where, Expr: expr, Text: where, Target: ti, Role: t.Role, Value: x, Relation: rel, Offset: off,
		How: how, Fallback: true, FallbackWhy: why,
		systemFrame: st.Frames[frame].Mod != nil && systemLibrary(st.Frames[frame].Mod.BaseName())}
}

// outerName is the concrete function of the physical frame at index i.
func outerName(fs []coreparse.Frame, i int) string {
	for j := i; j < len(fs) && fs[j].Raw == fs[i].Raw; j++ {
		if !fs[j].Inline {
			return fs[j].Function
		}
	}
	return fs[i].Function
}
