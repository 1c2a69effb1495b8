package fault

import (
	"github.com/dsecore/dsecore/analysis/heap"
	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/values"
)

// freeArgument is the pointer the crashed thread was passing to free(),
// read through libc's DWARF: __libc_free's mem, or (optimized out there)
// _int_free's chunk p, turned into its memory by the heap. 0 when the
// crash is not inside free() or the argument cannot be read.
func freeArgument(p *coreparse.Process, vr *values.Reader, h *heap.Heap) uint64 {
	fc := p.Fault()
	if fc == nil || fc.Thread == nil {
		return 0
	}
	fs, _ := p.Backtrace(fc.Thread)
	for i, fr := range fs {
		param := ""
		switch fr.Function {
		case "__GI___libc_free", "__libc_free", "free", "cfree":
			param = "mem"
		case "_int_free":
			param = "p"
		default:
			continue
		}
		vf := values.FrameOf(p, fs, i)
		if vf == nil {
			continue
		}
		ps, _, _ := vr.FrameVars(vf)
		for _, v := range ps {
			if v.Name != param || v.Absent() {
				continue
			}
			x, err := vr.Uint(v)
			if err != nil || x == 0 {
				continue
			}
			if param == "mem" {
				return x
			}
			if f := h.Locate(x); f.Known && f.Chunk != nil && f.Chunk.Address == x {
				return f.Chunk.Mem
			}
		}
	}
	return 0
}
