package coreparse

// Internals for the external tests.

// CallEntered is callEntered: the code shows that the call returning to
// ret entered the function holding pc.
func (p *Process) CallEntered(ret, pc uint64) bool { return p.callEntered(ret, pc) }

// TailCallsFromSites is tailCalls from DWARF's call sites alone.
func (p *Process) TailCallsFromSites(lookup, ret uint64) []uint64 {
	return p.tailCallsFromSites(lookup, ret)
}
