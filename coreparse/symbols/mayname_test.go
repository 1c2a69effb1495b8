package symbols

import (
	"bytes"
	"debug/elf"
	"testing"
)

// TestMayName: on real libraries, MayName's false is never wrong (no
// symbol AnySymbol finds ends so) and its true is earned where a symbol
// does end so: libc defines swapcontext and malloc; neither library names
// anything *jump_fcontext, and no name of theirs is a made-up one.
func TestMayName(t *testing.T) {
	for _, lib := range []string{"/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libstdc++.so.6"} {
		tab, err := Open(lib, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			end  string
			want int // 1 true, 0 false, -1 either (AnySymbol decides)
		}{
			{"swapcontext", -1}, {"malloc", -1}, {"jump_fcontext", 0}, {"make_fcontext", 0}, {"dsecore_no_such_name_7f3a", 0},
		} {
			end := []byte(c.end)
			any := tab.AnySymbol(func(name []byte, _ elf.SymType) bool {
				name, _ = bytes.CutSuffix(name, []byte("@plt"))
				return bytes.HasSuffix(name, end)
			})
			may := tab.MayName([][]byte{append(end, 0)})
			if any && !may {
				t.Errorf("%s: a symbol ends in %q, MayName says none can", lib, c.end)
			}
			if c.want >= 0 && may != (c.want == 1) {
				t.Errorf("%s: MayName(%q) = %v, want %v", lib, c.end, may, c.want == 1)
			}
			if lib[len(lib)-9:] == "libc.so.6" && (c.end == "swapcontext" || c.end == "malloc") && (!any || !may) {
				t.Errorf("%s: %q: AnySymbol %v, MayName %v; libc defines it", lib, c.end, any, may)
			}
		}
		tab.Close()
	}
}
