package session

import "github.com/dsecore/dsecore/analysis/fault"

// Memory is the fault analysis' memory facts (fault.Memory: the heap's
// state of its addresses of interest and who else holds them), which its
// verdict draws on.
type Memory = fault.Memory

// HeapFact is the heap's answer for one address of interest.
type HeapFact = fault.HeapFact

// Memory is the analysis' memory facts (it runs the analysis if nothing
// has yet): computed once, with the analysis.
func (s *Session) Memory() *Memory { return s.Analysis().Memory }
