package coreparse

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
