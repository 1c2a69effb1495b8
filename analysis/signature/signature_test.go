package signature

import "testing"

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"boost::intrusive::list_node_traits<void*>::get_next": "boost::intrusive::list_node_traits::get_next",
		"boost::intrusive::list_impl<boost::intrusive::mhtraits<dm_obj_t, X, &dm_obj_t::hook>, long unsigned int, true, void>::erase_and_dispose<dm_hash_node_t::delete_dm_obj_t>": "boost::intrusive::list_impl::erase_and_dispose",
		"dm_hash_node_t::clear()":                              "dm_hash_node_t::clear",
		"(anonymous namespace)::release_wait(dm_hash_node_t*)": "(anonymous namespace)::release_wait",
		"lsm_destroy+0x1c":                                     "lsm_destroy",
		"lsm_destroy+0x1c+0x2":                                 "lsm_destroy",
		"lsm_destroy +0xAB ":                                   "lsm_destroy",
		"0+0x+0x":                                              "0+0x+0x",
		"lsm+0xzz":                                             "lsm+0xzz",
		"+0x10":                                                "+0x10",
		"f<int>+0x1c(x)":                                       "f",
		"std::function<void()>::operator()":                    "std::function::operator",
		"bool operator<<int>(int const&, int const&)":          "bool operator<",
		"std::vector<int, std::allocator<int> >::_M_realloc_insert": "std::vector::_M_realloc_insert",
		"std::basic_ostream<char, std::char_traits<char> >& std::__ostream_insert<char, std::char_traits<char> >(std::basic_ostream<char, std::char_traits<char> >&, char const*, long)": "std::__ostream_insert",
		"void std::__insertion_sort<int*, __gnu_cxx::__ops::_Iter_less_iter>(int*, int*, __gnu_cxx::__ops::_Iter_less_iter)":                                                             "std::__insertion_sort",
		"unsigned long (anonymous namespace)::count<int>(int)":        "(anonymous namespace)::count",
		"virtual thunk to std::basic_ostream<char>::~basic_ostream()": "virtual thunk to std::basic_ostream::~basic_ostream",
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDistance(t *testing.T) {
	a := []string{"f", "g", "h", "i", "j"}
	if d := Distance(a, []string{"f", "g", "h", "x", "y"}); d != 2 {
		t.Errorf("distance %d", d)
	}
	if d := Distance(a, a[:3]); d != 2 {
		t.Errorf("distance to a prefix %d", d)
	}
}
