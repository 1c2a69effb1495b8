package gdboracle

import "testing"

// TestNormalizeFunction: only the argument list, what follows it and an
// offset go; everything that tells two functions apart stays.
func TestNormalizeFunction(t *testing.T) {
	for in, want := range map[string]string{
		"dm_hash_node_t::clear()":                                 "dm_hash_node_t::clear",
		"dm_hash_node_t::clear":                                   "dm_hash_node_t::clear",
		"(anonymous namespace)::release_wait(dm_hash_node_t*)":    "(anonymous namespace)::release_wait",
		"(anonymous namespace)::release_wait":                     "(anonymous namespace)::release_wait",
		"lsm_destroy+0x1c":                                        "lsm_destroy",
		"lsm_destroy+0xzz":                                        "lsm_destroy+0xzz",
		"std::vector<int, std::allocator<int> >::size() const":    "std::vector<int,std::allocator<int>>::size",
		"std::function<void ()>::operator()() const":              "std::function<void()>::operator()",
		"std::function<void()>::operator()":                       "std::function<void()>::operator()",
		"a::b<int>::c<x>(int) const &&":                           "a::b<int>::c<x>",
		"void std::__insertion_sort<int*>(int*, int*)":            "void std::__insertion_sort<int*>",
		"f<long unsigned int, short int, long long unsigned int>": "f<unsigned long,short,unsigned long long>",
		"f<unsigned long, short, unsigned long long>":             "f<unsigned long,short,unsigned long long>",
		"f(g(int))":                   "f",
		"operator new(unsigned long)": "operator new",
		"(anonymous namespace)":       "(anonymous namespace)",
		"":                            "",
		"??":                          "??",
	} {
		if got := NormalizeFunction(in); got != want {
			t.Errorf("NormalizeFunction(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"dm_obj_t* boost::intrusive::detail::parent_from_member<dm_obj_t, boost::intrusive::list_member_hook<x> >(boost::intrusive::list_member_hook<x>*, int dm_obj_t::*)": "boost::intrusive::detail::parent_from_member<dm_obj_t,boost::intrusive::list_member_hook<x>>",
		"(anonymous namespace)::release_wait(dm_hash_node_t*)": "{anon}::release_wait",
		"unsigned long (anonymous namespace)::count<int>(int)": "{anon}::count<int>",
		"operator new(unsigned long)":                          "operator new",
		"bool operator< <int>(int const&, int const&)":         "bool operator<<int>",
		"dm_hash_node_t::clear()":                              "dm_hash_node_t::clear",
	} {
		if got := PlainFunction(in); got != want {
			t.Errorf("PlainFunction(%q) = %q, want %q", in, got, want)
		}
	}
	// What the crash signature's normalization equates, the oracle's does
	// not: template arguments, a return type.
	for _, pair := range [][2]string{
		{"boost::intrusive::list_node_traits<void*>::get_next", "boost::intrusive::list_node_traits::get_next"},
		{"void std::__insertion_sort<int*>(int*, int*)", "std::__insertion_sort"},
		{"a::b::c", "c"},
		{"f<long unsigned int>", "f<unsigned int>"},
		{"f<int>", "f<long>"},
	} {
		if NormalizeFunction(pair[0]) == NormalizeFunction(pair[1]) {
			t.Errorf("%q and %q compare equal", pair[0], pair[1])
		}
	}
}
