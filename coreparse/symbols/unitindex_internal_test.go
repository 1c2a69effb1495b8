package symbols

import (
	"debug/dwarf"
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/coreparse/symbols/die"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
)

// unitTestFiles are the files the unit-index tests read: the fixture
// program and libraries (small and scale configurations) and libc with its
// debug file (every 40th unit of it: 1,700 units).
func unitTestFiles(t *testing.T) (files [][2]string, every []int) {
	set := fixture.Get(t)
	for _, sc := range []string{fixture.FieldCrash, fixture.Scale} {
		s := set.Scenario(t, sc)
		files = append(files, [2]string{s.Exe, ""}, [2]string{s.Lib, ""})
		every = append(every, 1, 1)
	}
	const libc = "/lib/x86_64-linux-gnu/libc.so.6"
	f, err := elf.Open(libc)
	if err != nil {
		t.Fatal(err)
	}
	dbg := FindDebugFile(libc, BuildID(f), []string{"/usr/lib/debug"})
	f.Close()
	if dbg == "" {
		t.Fatal("libc's debug file is missing (libc6-dbg; scripts/setup.sh installs it)")
	}
	return append(files, [2]string{libc, dbg}), append(every, 40)
}

// unitOffsets are the offsets of the table's compile units with code,
// every n-th.
func unitOffsets(tab *Table, n int) []dwarf.Offset {
	tab.loadDWARF()
	seen := map[dwarf.Offset]bool{}
	var offs []dwarf.Offset
	for _, c := range tab.cus {
		if !seen[c.off] {
			seen[c.off] = true
			offs = append(offs, c.off)
		}
	}
	sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
	var out []dwarf.Offset
	for i := 0; i < len(offs); i += n {
		out = append(out, offs[i])
	}
	return out
}

// readAll reads everything of a unit the first pass defers: every
// function's body, every skipped subtree, the nested functions.
func readAll(cu *cuInfo) {
	for _, f := range cu.funcs {
		cu.expand(f.s)
	}
	for i := range cu.skips {
		cu.expandSkipped(cu.skips[i].start + 1)
	}
	cu.funcAt(^uint64(0)) // no function there: indexes the nested ones
}

// unitAnswers is what a unit answers: every line row's address and each
// function's entry located (inline chains, names, lines), each function's
// call sites with their callees.
func unitAnswers(tab *Table, cu *cuInfo) string {
	var b strings.Builder
	addrs := map[uint64]bool{}
	for _, r := range rowsOf(cu) {
		if !r.end {
			addrs[r.Addr] = true
		}
	}
	for _, f := range cu.funcs {
		addrs[f.lo] = true
		addrs[f.hi-1] = true
	}
	sorted := make([]uint64, 0, len(addrs))
	for a := range addrs {
		sorted = append(sorted, a)
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	for _, a := range sorted {
		fmt.Fprintf(&b, "%#x %+v\n", a, cu.locate(a, true))
	}
	for _, f := range cu.funcs {
		fmt.Fprintf(&b, "calls %#x %+v\n", f.lo, tab.CallSites(f.lo))
	}
	return b.String()
}

// skelOffsets are the DIEs of a unit's first pass.
func skelOffsets(cu *cuInfo) []dwarf.Offset {
	if cu.skelTable != nil {
		return cu.skelTable.offsets()
	}
	return cu.skel
}

// rowsOf is a unit's line rows, decoded.
func rowsOf(cu *cuInfo) []lineRow {
	out := make([]lineRow, cu.lines.len())
	for i := range out {
		out[i] = cu.lines.at(i)
	}
	return out
}

// sameScope compares two scopes and what they hold; "" when equal.
func sameScope(a, b *scope, where string) string {
	if a.die != b.die || a.low != b.low || a.inline != b.inline || a.lazy != b.lazy || a.callFile != b.callFile ||
		a.callLine != b.callLine || a.callCol != b.callCol || !reflect.DeepEqual(a.ranges, b.ranges) {
		return fmt.Sprintf("%s: scope %#x head differs", where, a.die)
	}
	if !reflect.DeepEqual(a.calls, b.calls) || !reflect.DeepEqual(a.params, b.params) || !reflect.DeepEqual(bodyOffsets(a), bodyOffsets(b)) {
		return fmt.Sprintf("%s: scope %#x calls, parameters or naming facts differ", where, a.die)
	}
	if len(a.children) != len(b.children) || len(a.nested) != len(b.nested) {
		return fmt.Sprintf("%s: scope %#x: %d/%d children, %d/%d nested", where, a.die, len(a.children), len(b.children), len(a.nested), len(b.nested))
	}
	for i := range a.children {
		if d := sameScope(a.children[i], b.children[i], where); d != "" {
			return d
		}
	}
	for i := range a.nested {
		if a.nested[i].lo != b.nested[i].lo || a.nested[i].hi != b.nested[i].hi {
			return fmt.Sprintf("%s: scope %#x nested range %d differs", where, a.die, i)
		}
		if d := sameScope(a.nested[i].s, b.nested[i].s, where); d != "" {
			return d
		}
	}
	return ""
}

// bodyOffsets are the DIEs whose naming facts a function's body added:
// read from DWARF (bodyDies) or kept in the index file (bodyTable).
func bodyOffsets(s *scope) []dwarf.Offset {
	if s.bodyTable != nil {
		return s.bodyTable.offsets()
	}
	return s.bodyDies
}

// keptDies are the naming facts a unit's index file keeps: the first
// pass's, the bodies' and the skipped subtrees' (not those of single DIEs
// read for a name, which are cheap to read again).
func keptDies(cu *cuInfo) map[dwarf.Offset]dieInfo {
	out := map[dwarf.Offset]dieInfo{}
	add := func(offs []dwarf.Offset) {
		for _, o := range offs {
			out[o] = *cu.cachedDIE(o)
		}
	}
	add(skelOffsets(cu))
	for _, f := range cu.funcs {
		add(bodyOffsets(f.s))
	}
	for i := range cu.skips {
		add(cu.skips[i].dies)
	}
	return out
}

// sameUnit compares two units read in full; "" when equal.
func sameUnit(a, b *cuInfo) string {
	w := fmt.Sprintf("unit %#x", a.off)
	switch {
	case a.isC != b.isC || a.base != b.base || a.addrBase != b.addrBase:
		return w + ": unit facts differ"
	case !reflect.DeepEqual(rowsOf(a), rowsOf(b)):
		return w + ": line rows differ"
	case !reflect.DeepEqual(a.fileNames, b.fileNames) || !reflect.DeepEqual(a.files, b.files):
		return w + ": file names differ"
	case !reflect.DeepEqual(skelOffsets(a), skelOffsets(b)):
		return w + ": first-pass DIEs differ"
	case !reflect.DeepEqual(keptDies(a), keptDies(b)):
		return fmt.Sprintf("%s: naming facts differ (%d and %d DIEs)", w, len(keptDies(a)), len(keptDies(b)))
	case len(a.skips) != len(b.skips) || len(a.funcs) != len(b.funcs):
		return w + ": skipped subtrees or functions differ"
	}
	for i := range a.skips {
		if a.skips[i].start != b.skips[i].start || a.skips[i].end != b.skips[i].end || !reflect.DeepEqual(a.skips[i].dies, b.skips[i].dies) {
			return fmt.Sprintf("%s: skipped subtree %d differs", w, i)
		}
	}
	for i := range a.funcs {
		if a.funcs[i].lo != b.funcs[i].lo || a.funcs[i].hi != b.funcs[i].hi {
			return fmt.Sprintf("%s: function range %d differs", w, i)
		}
		if d := sameScope(a.funcs[i].s, b.funcs[i].s, w); d != "" {
			return d
		}
	}
	return ""
}

// TestUnitIndexAgrees: every unit of the fixture's program and libraries
// and of libc (a sample), read in full from DWARF, written to the index and
// read back: the same structure (line rows, naming facts, functions, their
// bodies, skipped subtrees) and the same answers (every line row's address
// located, every function's call sites). A second table on the same cache
// reads every unit from its file (no DWARF walk) and answers the same.
func TestUnitIndexAgrees(t *testing.T) {
	files, every := unitTestFiles(t)
	for i, fp := range files {
		t.Run(filepath.Base(fp[0]), func(t *testing.T) {
			cache, _ := newCache(t)
			fresh, err := openIn(cache, fp[0], fp[1])
			if err != nil {
				t.Fatal(err)
			}
			offs := unitOffsets(fresh, every[i])
			want := map[dwarf.Offset]string{}
			bodies, parts := 0, 0
			for _, off := range offs {
				cu := fresh.loadCU(off)
				if cu == nil {
					t.Fatalf("unit %#x does not read", off)
				}
				if cu.stored != nil {
					t.Fatalf("unit %#x came from an index file in an empty cache", off)
				}
				readAll(cu)
				want[off] = unitAnswers(fresh, cu)
				// Through the encoding in memory, every part decoded.
				back, ok := fresh.decodeUnit(off, cu.encode())
				if !ok {
					t.Fatalf("unit %#x: its own encoding does not decode", off)
				}
				parts += len(back.stored)
				readAll(back)
				if d := sameUnit(cu, back); d != "" {
					t.Fatal(d)
				}
				for _, f := range cu.funcs {
					if f.s.lazy {
						bodies++
					}
				}
			}
			if w := fresh.Warnings(); len(w) > 0 {
				t.Fatalf("warnings: %v", w)
			}
			fresh.Close() // writes every unit read
			t.Logf("%d units, %d function bodies, %d parts stored", len(offs), bodies, parts)

			again, err := openIn(cache, fp[0], fp[1])
			if err != nil {
				t.Fatal(err)
			}
			defer again.Close()
			again.loadDWARF()
			for _, off := range offs {
				cu := again.loadCU(off)
				if cu == nil || cu.stored == nil {
					t.Fatalf("unit %#x was not read from its index file", off)
				}
				before := len(cu.stored)
				readAll(cu)
				if cu.dirty.Load() {
					t.Errorf("unit %#x read something its index file (%d parts) did not have", off, before)
				}
				if got := unitAnswers(again, cu); got != want[off] {
					t.Fatalf("unit %#x answers differently from its index file:\n%.2000s\nfrom DWARF:\n%.2000s", off, got, want[off])
				}
			}
		})
	}
}

// TestUnitIndexDamaged: a unit file truncated, bit-flipped or garbage is
// not used (the unit reads from DWARF, answers the same, and the file is
// written whole again); a file that checks out but holds a part that does
// not decode reads that part from DWARF.
func TestUnitIndexDamaged(t *testing.T) {
	cache, _ := newCache(t)
	s := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	open := func() *Table {
		tab, err := openIn(cache, s.Lib, "")
		if err != nil {
			t.Fatal(err)
		}
		tab.loadDWARF()
		return tab
	}
	tab := open()
	off := unitOffsets(tab, 1)[0]
	cu := tab.loadCU(off)
	readAll(cu)
	want := unitAnswers(tab, cu)
	path := tab.indexPath(tab.indexID, tab.indexKey, unitPart(off))
	tab.Close()
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("unit file not written: %v", err)
	}
	damage := map[string]func([]byte) []byte{
		"truncated": func(b []byte) []byte { return b[:len(b)*2/3] },
		"bit-flipped": func(b []byte) []byte {
			c := append([]byte(nil), b...)
			c[len(c)/2] ^= 0x10
			return c
		},
		"garbage": func([]byte) []byte { return append([]byte(indexMagic), strings.Repeat("\xff", 64)...) },
		"empty":   func([]byte) []byte { return nil },
	}
	for how, f := range damage {
		if err := os.WriteFile(path, f(whole), 0o644); err != nil {
			t.Fatal(err)
		}
		tab := open()
		cu := tab.loadCU(off)
		if cu.stored != nil {
			t.Errorf("%s: the unit was read from its damaged file", how)
		}
		readAll(cu)
		if got := unitAnswers(tab, cu); got != want {
			t.Errorf("%s: answers differ from DWARF's", how)
		}
		tab.Close()
		b, err := os.ReadFile(path)
		if err != nil || len(b) != len(whole) {
			t.Errorf("%s: unit file not written again whole: %d bytes, was %d (%v)", how, len(b), len(whole), err)
		}
	}

	// A file that checks out, with every function body part garbage.
	tab = open()
	cu, ok := tab.decodeUnit(off, mustPayload(t, path, tab.indexKey))
	if !ok {
		t.Fatal("the unit file does not decode")
	}
	n := 0
	for k := range cu.stored {
		if k&1 == partBody {
			cu.stored[k] = []byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3}
			n++
		}
	}
	if n == 0 {
		t.Fatal("the unit file holds no function body")
	}
	tab.writeIndex(path, tab.indexKey, cu.encode())
	tab.Close()
	tab = open()
	defer tab.Close()
	cu = tab.loadCU(off)
	if cu.stored == nil {
		t.Fatal("a file with bad parts was not read")
	}
	readAll(cu)
	if !cu.dirty.Load() {
		t.Error("bodies that did not decode were not read from DWARF")
	}
	if got := unitAnswers(tab, cu); got != want {
		t.Error("with bad body parts, answers differ from DWARF's")
	}
}

func mustPayload(t *testing.T, path string, k indexKey) []byte {
	t.Helper()
	b, ok := readIndex(path, k)
	if !ok {
		t.Fatalf("%s does not check out", path)
	}
	return b
}

// TestArangesAgree: the compile units' address ranges read from
// .debug_aranges are those their entries give (DW_AT_ranges, low/high
// pc), unit by unit, on the fixture's program and libraries and libc.
func TestArangesAgree(t *testing.T) {
	eachTestTable(t, func(t *testing.T, tab *Table) {
		tab.loadDWARF()
		b, err := tab.locSection(".debug_aranges")
		if err != nil || len(b) == 0 {
			t.Fatalf("no .debug_aranges: %v", err)
		}
		ar, err := die.ParseAranges(b)
		if err != nil {
			t.Fatal(err)
		}
		byUnit := func(cus []cuRange) map[dwarf.Offset][][2]uint64 {
			m := map[dwarf.Offset][][2]uint64{}
			for _, c := range cus {
				m[c.off] = append(m[c.off], [2]uint64{c.lo, c.hi})
			}
			for k, rs := range m {
				sort.Slice(rs, func(i, j int) bool { return rs[i][0] < rs[j][0] })
				var merged [][2]uint64
				for _, r := range rs {
					if n := len(merged); n > 0 && r[0] <= merged[n-1][1] {
						merged[n-1][1] = max(merged[n-1][1], r[1])
						continue
					}
					merged = append(merged, r)
				}
				m[k] = merged
			}
			return m
		}
		fromAr, fromEntries := byUnit(tab.unitRangesWith(tab.dwarf, ar)), byUnit(tab.unitRangesWith(tab.dwarf, nil))
		if !reflect.DeepEqual(fromAr, fromEntries) {
			for k, v := range fromEntries {
				if !reflect.DeepEqual(v, fromAr[k]) {
					t.Fatalf("unit %#x: entries give %x, .debug_aranges %x", k, v, fromAr[k])
				}
			}
			t.Fatalf("%d units with ranges from .debug_aranges, %d from entries", len(fromAr), len(fromEntries))
		}
		t.Logf("%d units listed in .debug_aranges, %d with ranges", len(ar), len(fromAr))
	})
}
