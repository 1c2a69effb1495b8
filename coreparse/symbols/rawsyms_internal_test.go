package symbols

import (
	"debug/elf"
	"os"
	"path/filepath"
	"testing"
)

// TestRawSymsAgree: the raw tables (a cold first answer's, under
// Resolver.AnswerFirst) answer the function at a pc and a function by
// name as the laid-out table does, on the fixtures' programs and
// libraries, libc with its debug file, and Debian's C++ libraries of the
// real-daemon corpus (libstdc++, libceph-common: aliases, PLT entries,
// symbols duplicated between .symtab and .dynsym): at each function
// symbol's start, inside it, at its end and just before, at each PLT entry
// and between symbols; and by each function symbol's name.
func TestRawSymsAgree(t *testing.T) {
	files, _ := unitTestFiles(t)
	files = append(files, [2]string{"/usr/lib/x86_64-linux-gnu/libstdc++.so.6", ""},
		[2]string{"/usr/lib/x86_64-linux-gnu/ceph/libceph-common.so.2", ""})
	for _, fp := range files {
		t.Run(filepath.Base(fp[0]), func(t *testing.T) {
			tab, err := Open(fp[0], fp[1]) // no cache: the layout
			if err != nil {
				t.Fatal(err) // ceph-common: scripts/setup.sh installs it
			}
			defer tab.Close()
			raw, ok := tab.openRaw()
			if !ok {
				t.Fatal("raw tables not opened")
			}
			all := tab.Symbols()
			var addrs []uint64
			names := map[string]int{} // function symbols of each name
			plt := 0
			for _, s := range all {
				if s.Type != elf.STT_FUNC && s.Type != elf.STT_GNU_IFUNC && !s.Synthetic {
					continue
				}
				addrs = append(addrs, s.Value, s.Value+1, s.Value+s.Size/2, s.Value+s.Size, s.Value+s.Size-1, s.Value-1)
				names[s.Name]++
				if s.Synthetic {
					plt++
				}
			}
			addrs = append(addrs, 0, 1, ^uint64(0))
			// Every pc would take minutes on libceph-common (a pass each):
			// a stride through them, the same each run.
			stride := 1 + len(addrs)/6000
			n := 0
			for i := 0; i < len(addrs); i += stride {
				a := addrs[i]
				want, wok := tab.funcSymbolAt(a)
				got, gok := raw.funcSymbolAt(a)
				if wok != gok || got != want {
					t.Fatalf("function at %#x: raw %+v %v, layout %+v %v", a, got, gok, want, wok)
				}
				n++
			}
			// Every name two function symbols share (aliases, a local
			// and a global, .symtab's and .dynsym's), a stride of the rest.
			m, shared := 0, 0
			for name, k := range names {
				if m++; k < 2 && m%stride != 0 {
					continue
				}
				if k >= 2 {
					shared++
				}
				want, wok := tab.lookupFunc(name)
				got, gok := raw.lookupFunc(name)
				if wok != gok || got != want {
					t.Fatalf("function %q: raw %+v %v, layout %+v %v", name, got, gok, want, wok)
				}
			}
			for _, name := range []string{"", "no such function", "\n"} {
				if s, ok := raw.lookupFunc(name); ok {
					t.Errorf("lookupFunc(%q) found %+v", name, s)
				}
			}
			t.Logf("%d symbols, %d PLT entries, %d pcs and %d names (%d shared) compared", len(all), plt, n, len(names)/stride+shared, shared)
		})
	}
}

// TestAnswerFirstDefers: under AnswerFirst a table without its layout's
// cache file answers from the raw tables, lays nothing out and writes no
// cache file (Deferred); once the file is there (a run without
// AnswerFirst: the background fill), the next table maps it and is not
// deferred, with the same answers.
func TestAnswerFirstDefers(t *testing.T) {
	files, _ := unitTestFiles(t)
	cache, _ := newCache(t)
	lib := files[1][0] // libdcache.so
	answer := func(r *Resolver) (string, bool, string) {
		tab, err := OpenWith(lib, "", r)
		if err != nil {
			t.Fatal(err)
		}
		defer tab.Close()
		s, ok := tab.lookupFunc("_Z11lsm_destroyP5lsm_t")
		name, _, _ := tab.SymbolAt(s.Value + 1)
		if !ok || name != "lsm_destroy(lsm_t*)" {
			t.Fatalf("lsm_destroy: %+v %v, %q", s, ok, name)
		}
		tab.Preload()
		return name, tab.Deferred(), tab.symtabCachePath()
	}
	name, deferred, path := answer(&Resolver{Cache: cache, AnswerFirst: true})
	if !deferred {
		t.Fatal("a cold AnswerFirst table was not deferred")
	}
	if tabs := cache.Dir("dwarf"); fileExists(path) {
		t.Fatalf("the deferred table wrote its layout (%s under %s)", filepath.Base(path), tabs)
	}
	if n, d, _ := answer(&Resolver{Cache: cache}); d || n != name {
		t.Fatalf("the fill's table: deferred %v, %q", d, n)
	}
	if !fileExists(path) {
		t.Fatal("the fill wrote no layout")
	}
	if n, d, _ := answer(&Resolver{Cache: cache, AnswerFirst: true}); d || n != name {
		t.Fatalf("after the fill: deferred %v, %q (want the cache file mapped, %q)", d, n, name)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
