package symbols

import (
	"debug/elf"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/internal/fixture"
)

// TestMangledPartsOfRealSymbols: Lookup by a demangled name demangles only
// the symbols whose mangled names hold every part mangledParts finds in it.
// For every C++ symbol of real C++ objects (the fixture program and
// library, libstdc++, Debian's libceph-common, whose names have every
// feature the Itanium ABI has: templates, lambdas, ABI tags, anonymous
// namespaces, thunks, guard variables, clones), the symbol's own demangled
// name must let it through, or Lookup would miss it.
func TestMangledPartsOfRealSymbols(t *testing.T) {
	set := fixture.Get(t)
	sc := set.Scenario(t, fixture.FieldCrash)
	files := []string{sc.Exe, sc.Lib, "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib/x86_64-linux-gnu/ceph/libceph-common.so.2"}
	for _, path := range files {
		f, err := elf.Open(path)
		if err != nil {
			t.Fatalf("%v (scripts/setup.sh installs libstdc++ and ceph-common)", err)
		}
		syms, _ := f.Symbols()
		dyn, _ := f.DynamicSymbols()
		f.Close()
		n, filtered := 0, 0
		for _, s := range append(syms, dyn...) {
			if !strings.HasPrefix(s.Name, "_Z") {
				continue
			}
			d := Demangle(s.Name)
			if d == s.Name {
				continue // not demangled: not found by a demangled name either
			}
			n++
			parts := mangledParts(d)
			if len(parts) > 0 {
				filtered++
			}
			if !mayMangle(s.Name, parts) {
				t.Errorf("%s: %s is %q, whose parts %q it does not hold", path, s.Name, d, parts)
			}
		}
		if n < 40 || filtered < n*9/10 {
			t.Errorf("%s: %d C++ symbols, %d with parts to filter by", path, n, filtered)
		}
		t.Logf("%s: %d C++ symbols", path, n)
	}
}

// TestLookupByDemangledName: Lookup finds a symbol by its mangled and by its
// demangled name as the whole-table scan did (the first symbol in table
// order), and a name no symbol has is not found.
func TestLookupByDemangledName(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	for _, path := range []string{sc.Exe, sc.Lib, "/usr/lib/x86_64-linux-gnu/libstdc++.so.6"} {
		tab, err := Open(path, "")
		if err != nil {
			t.Fatal(err)
		}
		checked, step := 0, 1+len(tab.Symbols())/2000
		for i, s := range tab.Symbols() {
			if !strings.HasPrefix(s.Name, "_Z") || i%step != 0 {
				continue
			}
			d := s.DemangledName()
			var want Symbol
			for _, o := range tab.Symbols() { // the old scan: exact, then demangled
				if o.Name == d {
					want = o
					break
				}
			}
			if want.Name == "" {
				for _, o := range tab.Symbols() {
					if strings.HasPrefix(o.Name, "_Z") && o.DemangledName() == d {
						want = o
						break
					}
				}
			}
			got, ok := tab.Lookup(d)
			if !ok || got != want {
				t.Errorf("%s: Lookup(%q) = %+v %v, want %+v", path, d, got, ok, want)
			}
			if got, ok := tab.Lookup(s.Name); !ok || got.Name != s.Name {
				t.Errorf("%s: Lookup(%q) = %+v %v", path, s.Name, got, ok)
			}
			checked++
		}
		if checked < 10 {
			t.Errorf("%s: only %d C++ symbols checked", path, checked)
		}
		if s, ok := tab.Lookup("co::NoSuchThing::Nowhere()"); ok {
			t.Errorf("%s: a name no symbol has found %+v", path, s)
		}
		tab.Close()
	}
}
