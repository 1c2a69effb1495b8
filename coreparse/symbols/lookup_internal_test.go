package symbols

import (
	"debug/elf"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
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

// TestMayNameEveryType: LookupType answers a name no DIE can have without
// indexing the types, so mayName must let every name the index holds
// through: every type and global of the fixture program and library and
// of libc's debug file. And a name nothing has is refused before the walk.
func TestMayNameEveryType(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	lib, err := elf.Open("/lib/x86_64-linux-gnu/libc.so.6")
	if err != nil {
		t.Fatal(err)
	}
	dbg := FindDebugFile("/lib/x86_64-linux-gnu/libc.so.6", BuildID(lib), []string{"/usr/lib/debug"})
	lib.Close()
	if dbg == "" {
		t.Fatal("libc's debug file is missing (libc6-dbg; scripts/setup.sh installs it)")
	}
	for _, f := range [][2]string{{sc.Exe, ""}, {sc.Lib, ""}, {"/lib/x86_64-linux-gnu/libc.so.6", dbg}} {
		tab, err := Open(f[0], f[1])
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := tab.LookupType("co::NoSuchRuntime::Nowhere_qzx"); ok || tab.types.built.Load() {
			t.Errorf("%s: a type nothing names was looked up by walking the types (found %v)", f[0], ok)
		}
		_, ok1 := tab.LookupGlobal("co::g_nowhere_qzx")
		_, ok2 := tab.LookupTLSGlobal("co::tls_nowhere_qzx")
		if ok1 || ok2 || tab.types.built.Load() {
			t.Errorf("%s: globals nothing names were looked up by walking the types (found %v %v)", f[0], ok1, ok2)
		}
		names := tab.TypeNames()
		if len(names) < 20 {
			t.Fatalf("%s: %d type names", f[0], len(names))
		}
		for _, n := range append(names, tab.GlobalNames()...) {
			if !tab.mayName(lastComponent(n)) {
				t.Errorf("%s: %q (%q) is indexed but mayName refuses it", f[0], n, lastComponent(n))
			}
		}
		// Through the fresh table's pre-check, the index's answers.
		fresh, _ := Open(f[0], f[1])
		for i, n := range names {
			if i%(1+len(names)/200) != 0 {
				continue
			}
			a, ok := fresh.LookupType(n)
			b, ok2 := tab.LookupType(n)
			if ok != ok2 || ok && a.Offset != b.Offset {
				t.Errorf("%s: LookupType(%q) fresh %v %v, indexed %v %v", f[0], n, a, ok, b, ok2)
			}
		}
		fresh.Close()
		tab.Close()
	}
}

func TestLastComponent(t *testing.T) {
	for in, want := range map[string]string{
		"co::Task": "Task", "std::list<int>::iterator": "iterator", "co::Box<long>": "Box",
		"(anonymous namespace)::EngineMgr": "EngineMgr", "std::map<int, a::b<c::d> >": "map",
		"_heap_info": "_heap_info", "list_node<void *>": "list_node",
	} {
		if got := lastComponent(in); got != want {
			t.Errorf("lastComponent(%q) = %q, want %q", in, got, want)
		}
	}
}
