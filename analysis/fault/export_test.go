package fault

// WithholdThis makes the analysis read `this` as if DWARF said it is
// optimized out (the tests of the fallback).
func WithholdThis(o *Options) { o.withholdThis = true }
