package fault

// WithholdThis makes the analysis read `this` as if DWARF said it is
// optimized out (the tests of the fallback).
func WithholdThis(o *Options) { o.withholdThis = true }

// Candidate is one of the fallback's guesses for `this`.
type Candidate struct {
	Value uint64
	Where string
}

// PointerCandidates are the fallback's guesses for `this`, in its order.
func PointerCandidates(a *Analysis) []Candidate {
	var out []Candidate
	for _, c := range a.pointerCandidates() {
		out = append(out, Candidate{c.value, c.where})
	}
	return out
}
