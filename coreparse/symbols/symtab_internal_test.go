package symbols

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dsecore/dsecore/internal/cachefile"
	"github.com/dsecore/dsecore/internal/mmap"
)

// TestSymtabLookups: on the fixture's program and library and on libc with
// its debug file, the laid-out table's lookups by name give what a scan of
// the symbols gives: the first symbol of each name, and for functions the
// first (by address) of the lowest binding among the non-synthetic ones.
func TestSymtabLookups(t *testing.T) {
	eachTestTable(t, func(t *testing.T, tab *Table) {
		all := tab.Symbols()
		if len(all) == 0 {
			t.Fatal("no symbols")
		}
		st := tab.st
		first := map[string]int{}
		for i, s := range all {
			if _, ok := first[s.Name]; !ok {
				first[s.Name] = i
			}
		}
		best := map[string]int{}
		for k := 0; k < st.nFuncs; k++ {
			i := int(st.funcAt(k))
			s := all[i]
			if s.Synthetic {
				continue
			}
			if j, ok := best[s.Name]; !ok || s.Bind < all[j].Bind {
				best[s.Name] = i
			}
		}
		for name, i := range first {
			if got, ok := st.lookup(name); !ok || int(got) != i {
				t.Fatalf("lookup(%q) = %d %v, want %d", name, got, ok, i)
			}
			j, want := best[name]
			if got, ok := st.lookupFunc(name); ok != want || ok && int(got) != j {
				t.Fatalf("lookupFunc(%q) = %d %v, want %d %v", name, got, ok, j, want)
			}
		}
		for _, name := range []string{"", "no such symbol", "\n"} {
			if _, ok := st.lookup(name); ok {
				t.Errorf("lookup(%q) found a symbol", name)
			}
		}
		t.Logf("%d symbols, %d names, %d function names", len(all), len(first), len(best))
	})
}

// eachTestTable runs f on a table of each unit-test file, without a cache.
func eachTestTable(t *testing.T, f func(t *testing.T, tab *Table)) {
	files, _ := unitTestFiles(t)
	for _, fp := range files {
		t.Run(filepath.Base(fp[0]), func(t *testing.T) {
			tab, err := Open(fp[0], fp[1])
			if err != nil {
				t.Fatal(err)
			}
			defer tab.Close()
			f(t, tab)
		})
	}
}

// TestSymtabCacheDamaged: a symbol cache file truncated, bit-flipped, or
// consistent (its CRC recomputed) but with an index out of range, is not
// used: the table's answers are the ELF file's and the file is written
// again whole.
func TestSymtabCacheDamaged(t *testing.T) {
	files, _ := unitTestFiles(t)
	cache, _ := newCache(t)
	lib := files[1][0] // libdcache.so
	answers := func() (string, string) {
		tab, err := openIn(cache, lib, "")
		if err != nil {
			t.Fatal(err)
		}
		defer tab.Close()
		s, ok := tab.Lookup("lsm_destroy(lsm_t*)") // by its demangled name
		f, fok := tab.LookupFunction(s.Name)       // by its mangled one
		name, _, _ := tab.SymbolAt(s.Value + 1)
		if !ok || !fok || f != s || name != "lsm_destroy(lsm_t*)" {
			t.Fatalf("lsm_destroy: %+v %v, %+v %v, %q", s, ok, f, fok, name)
		}
		return fmt.Sprintf("%s %+v", name, s), tab.symtabCachePath()
	}
	want, path := answers()
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("symbol cache not written: %v", err)
	}
	if got, _ := answers(); got != want {
		t.Fatalf("from the cache: %q, fresh %q", got, want)
	}
	recrc := func(b []byte) []byte {
		binary.LittleEndian.PutUint32(b[24:], crc32.ChecksumIEEE(b[symtabHeader-5*8:]))
		return b
	}
	damage := map[string]func([]byte) []byte{
		"truncated": func(b []byte) []byte { return b[:len(b)/2] },
		"bit-flipped": func(b []byte) []byte {
			c := append([]byte(nil), b...)
			c[len(c)/2] ^= 0x40
			return c
		},
		"index out of range": func(b []byte) []byte {
			c := append([]byte(nil), b...)
			n := binary.LittleEndian.Uint64(c[symtabHeader-5*8:])
			binary.LittleEndian.PutUint32(c[symtabHeader+symRec*int(n):], uint32(n)) // funcs[0]
			return recrc(c)
		},
		"name past the end": func(b []byte) []byte {
			c := append([]byte(nil), b...)
			binary.LittleEndian.PutUint32(c[symtabHeader+20:], 1<<30) // the first name's length
			return recrc(c)
		},
	}
	for how, f := range damage {
		if err := os.WriteFile(path, f(whole), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, ok := parseSymtab(f(whole), false); ok {
			t.Errorf("%s: the layout checks out", how)
		}
		if got, _ := answers(); got != want {
			t.Errorf("%s: %q, fresh %q", how, got, want)
		}
		if b, err := os.ReadFile(path); err != nil || len(b) != len(whole) {
			t.Errorf("%s: not written again whole (%d bytes, was %d)", how, len(b), len(whole))
		}
	}
}

// TestExportsFunction: for every dynamic symbol of libc, libstdc++ and the
// fixture's program and library, the GNU hash lookup says what a scan of
// the dynamic symbols says (a defined function or not), and names no
// object has are not found.
func TestExportsFunction(t *testing.T) {
	files, _ := unitTestFiles(t)
	paths := []string{files[0][0], files[1][0], "/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6"}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			tab, err := Open(path, "")
			if err != nil {
				t.Fatal(err)
			}
			defer tab.Close()
			dyn, err := tab.file.DynamicSymbols()
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]bool{}
			for _, s := range dyn {
				typ := elf.ST_TYPE(s.Info)
				def := s.Section != elf.SHN_UNDEF && (typ == elf.STT_FUNC || typ == elf.STT_GNU_IFUNC)
				want[s.Name] = want[s.Name] || def
			}
			n := 0
			for name, def := range want {
				got, known := tab.ExportsFunction(name)
				if !known {
					t.Fatal("no GNU hash table")
				}
				if got != def {
					t.Errorf("%q: exported %v, the dynamic symbols say %v", name, got, def)
				}
				if def {
					n++
				}
			}
			for _, name := range []string{"", "no_such_function_anywhere", "raise\x00", "_Znwm_"} {
				if got, _ := tab.ExportsFunction(name); got {
					t.Errorf("%q exported", name)
				}
			}
			t.Logf("%d dynamic symbols, %d exported functions", len(want), n)
		})
	}
}

// TestRawSymbols: the symbol tables read in place are debug/elf's, symbol
// for symbol, on the fixture's program and library, libc, its debug file
// and libstdc++.
func TestRawSymbols(t *testing.T) {
	files, _ := unitTestFiles(t)
	paths := []string{files[0][0], files[1][0], files[4][0], files[4][1], "/lib/x86_64-linux-gnu/libstdc++.so.6"}
	for _, path := range paths {
		f, err := elf.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, dyn := range []bool{false, true} {
			want, werr := f.Symbols()
			if dyn {
				want, werr = f.DynamicSymbols()
			}
			m, err := mapFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, in := range []mapped{nil, m} { // read from the sections, and in place
				got, gerr := rawSymbols(f, in, dyn)
				if (werr == nil) != (gerr == nil) || len(got) != len(want) {
					t.Fatalf("%s (dynamic %v): %d symbols, %v; debug/elf %d, %v", path, dyn, len(got), gerr, len(want), werr)
				}
				for i := range want {
					w := want[i]
					w.Version, w.Library, w.VersionIndex, w.HasVersion = "", "", 0, false
					if got[i] != w {
						t.Fatalf("%s (dynamic %v) symbol %d: %+v, debug/elf %+v", path, dyn, i, got[i], w)
					}
				}
			}
			mmap.Unmap(m)
			t.Logf("%s (dynamic %v): %d symbols agree", filepath.Base(path), dyn, len(want))
		}
		f.Close()
	}
}

// TestSymtabCacheVouched: a symbol cache file checked whole once leaves a
// marker (cachefile.Checked) and the next run skips its checksum; a byte
// flipped in place afterwards (its change time moved) is caught all the
// same: a warning, the ELF file's answers, the file written again whole.
func TestSymtabCacheVouched(t *testing.T) {
	files, _ := unitTestFiles(t)
	cache, _ := newCache(t)
	lib := files[1][0] // libdcache.so
	answers := func() (string, string) {
		tab, err := openIn(cache, lib, "")
		if err != nil {
			t.Fatal(err)
		}
		defer tab.Close()
		s, ok := tab.Lookup("lsm_destroy(lsm_t*)")
		name, _, _ := tab.SymbolAt(s.Value + 1)
		if !ok || name != "lsm_destroy(lsm_t*)" {
			t.Fatalf("lsm_destroy: %+v %v, %q", s, ok, name)
		}
		return fmt.Sprintf("%s %+v", name, s), tab.symtabCachePath()
	}
	want, path := answers() // lays the file out
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for !cachefile.Settled(path) { // its last change a racy window ago
		time.Sleep(10 * time.Millisecond)
	}
	if got, _ := answers(); got != want { // checks it whole: the marker
		t.Fatalf("from the cache: %q, fresh %q", got, want)
	}
	if _, err := os.Stat(cachefile.MarkerPath(path)); err != nil {
		t.Fatalf("no marker after a whole check: %v", err)
	}
	if got, _ := answers(); got != want { // trusts the marker
		t.Fatalf("from the vouched cache: %q, fresh %q", got, want)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A letter of the last name: only the checksum sees it.
	at := len(whole) - 2
	if whole[len(whole)-1] != '\n' || whole[at] == '\n' {
		t.Fatalf("the layout does not end with a name: %q", whole[len(whole)-8:])
	}
	_, err = f.WriteAt([]byte{whole[at] ^ 0x20}, int64(at))
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := answers(); got != want {
		t.Errorf("byte flipped after the marker: %q, fresh %q", got, want)
	}
	if !slices.ContainsFunc(cachefile.Warnings(), func(w string) bool { return strings.Contains(w, path) }) {
		t.Errorf("byte flipped after the marker: no warning names %s: %q", path, cachefile.Warnings())
	}
	if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, whole) {
		t.Errorf("byte flipped after the marker: not written again whole (%v)", err)
	}
}

// TestIndexReadVouched: an index file read whole (readIndex) checked once
// leaves a marker; a payload byte flipped in place afterwards is caught
// all the same.
func TestIndexReadVouched(t *testing.T) {
	path := filepath.Join(t.TempDir(), "types")
	k := indexKey{info: 1234, abbrev: 56}
	payload := []byte("the payload of an index, which no bound check reads")
	le := binary.LittleEndian
	key := le.AppendUint64(le.AppendUint64(nil, k.info), k.abbrev)
	sum := crc32.Update(crc32.ChecksumIEEE(key), crc32.IEEETable, payload)
	b := append(append(le.AppendUint32([]byte(indexMagic), sum), key...), payload...)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for !cachefile.Settled(path) { // its last change a racy window ago
		time.Sleep(10 * time.Millisecond)
	}
	for i := 0; i < 2; i++ { // a whole check, then the marker trusted
		if got, ok := readIndex(path, k); !ok || !bytes.Equal(got, payload) {
			t.Fatalf("read %d: %q, %v", i, got, ok)
		}
		if _, err := os.Stat(cachefile.MarkerPath(path)); err != nil {
			t.Fatalf("no marker after a whole check: %v", err)
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteAt([]byte{'T'}, int64(len(b)-len(payload)))
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := readIndex(path, k); ok {
		t.Errorf("a byte flipped after the marker: read %q", got)
	}
}
