package symbols

import "testing"

// TestSymbolFrameNameAsGdb: a frame known only by its ELF symbol is named
// as gdb 13 names it, without the parameter list: a function template's
// return type kept (gdb's line for ceph-mon's finish_contexts, a weak
// symbol without DWARF, in a real-daemon core), other names without one.
func TestSymbolFrameNameAsGdb(t *testing.T) {
	for mangled, want := range map[string]string{
		"_Z15finish_contextsINSt7__cxx114listIP7ContextSaIS3_EEEEvPN4ceph6common11CephContextERT_i": "void finish_contexts<std::__cxx11::list<Context*, std::allocator<Context*> > >",
		"_ZN14dm_hash_node_t5clearEv": "dm_hash_node_t::clear",
		"clone3":                      "clone3",
	} {
		if got := symbolFrameName(mangled); got != want {
			t.Errorf("%s: %q, want %q", mangled, got, want)
		}
	}
}
