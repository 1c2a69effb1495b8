package signature

import (
	"strings"
	"testing"
)

// FuzzNormalize: any frame name normalizes without a panic, to a name no
// longer than itself and stable under a second normalization.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"boost::intrusive::list_impl<boost::intrusive::mhtraits<dm_obj_t, X, &dm_obj_t::hook>, long unsigned int, true, void>::erase_and_dispose<dm_hash_node_t::delete_dm_obj_t>",
		"(anonymous namespace)::release_wait(dm_hash_node_t*)", "operator<<", "a<<<>>>(((", "lsm_destroy+0x1c", "", "0+0x+0x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		n := Normalize(name)
		if len(n) > len(name) {
			t.Fatalf("Normalize(%q) = %q grew", name, n)
		}
		if again := Normalize(n); again != n {
			t.Fatalf("Normalize(%q) = %q, but Normalize(%q) = %q: not stable", name, n, n, again)
		}
		if strings.Contains(name, "(") && !strings.Contains(name, "(anonymous namespace)") && strings.Contains(n, "(") && !strings.Contains(n, "operator") {
			// An argument list at depth 0 is always cut.
			if i := strings.IndexByte(n, '('); i >= 0 && !strings.Contains(name[:strings.IndexByte(name, '(')], "<") {
				t.Fatalf("Normalize(%q) = %q kept an argument list", name, n)
			}
		}
	})
}
