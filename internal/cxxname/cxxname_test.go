package cxxname

import "testing"

func TestElide(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"dm_hash_node_t::clear", "dm_hash_node_t::clear"},
		{"std::vector<int>::push_back", "std::vector<int>::push_back"},
		{"boost::intrusive::list_impl<boost::intrusive::mhtraits<dm_obj_t, boost::intrusive::list_member_hook<boost::intrusive::link_mode<(boost::intrusive::link_mode_type)1> >, &dm_obj_t::hook>, unsigned long, true, void>::erase_and_dispose<dm_hash_node_t::delete_dm_obj_t>",
			"boost::intrusive::list_impl<…>::erase_and_dispose<dm_hash_node_t::delete_dm_obj_t>"},
		{"libgo::Rutex<unsigned int, false>::wait_until<std::chrono::_V2::steady_clock, std::chrono::duration<long, std::ratio<1l, 1000000000l> > >",
			"libgo::Rutex<unsigned int, false>::wait_until<…>"},
		{"CommonSafeTimer<std::mutex>::timer_thread", "CommonSafeTimer<std::mutex>::timer_thread"},
		{"operator<<", "operator<<"},
		{"std::operator<< <std::char_traits<char> >", "std::operator<< <std::char_traits<char> >"},
		{"a<b", "a<b"},
	} {
		if got := Elide(c.in); got != c.want {
			t.Errorf("Elide(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
