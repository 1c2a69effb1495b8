package die_test

import (
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/dsecore/dsecore/coreparse/symbols"
	"github.com/dsecore/dsecore/coreparse/symbols/die"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
)

// sections reads a file's DWARF sections (inflated when compressed).
func sections(t testing.TB, f *elf.File) die.Sections {
	get := func(name string) []byte {
		s := f.Section(name)
		if s == nil || s.Type == elf.SHT_NOBITS {
			return nil
		}
		b, err := s.Data()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return b
	}
	return die.Sections{Info: get(".debug_info"), Abbrev: get(".debug_abbrev"), Str: get(".debug_str"),
		LineStr: get(".debug_line_str"), StrOffsets: get(".debug_str_offsets"), Addr: get(".debug_addr"),
		Ranges: get(".debug_ranges"), RngLists: get(".debug_rnglists"), Line: get(".debug_line"), Types: get(".debug_types")}
}

// compiled builds testdata's two units with a compiler and flags (a
// missing compiler fails: scripts/setup.sh installs g++ and clang-16).
func compiled(t *testing.T, name string, argv ...string) string {
	if _, err := exec.LookPath(argv[0]); err != nil {
		t.Fatalf("%s is missing (scripts/setup.sh installs it): %v", argv[0], err)
	}
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command(argv[0], append(argv[1:], "-o", out, "testdata/forms.cc", "testdata/main.cc")...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", argv, err, b)
	}
	return out
}

// testFiles are the files every agreement test reads: the fixture
// program and libraries, libc's debug file and testdata compiled by g++
// and clang++ at DWARF 3, 4 and 5 (with -flto: cross-unit references).
func testFiles(t *testing.T) []string {
	set := fixture.Get(t)
	var files []string
	for _, sc := range []string{fixture.FieldCrash, fixture.Coverage, fixture.Scale} {
		s := set.Scenario(t, sc)
		files = append(files, s.Exe, s.Lib)
	}
	files = append(files, filepath.Join(set.Dir, "bin", "hostile"))
	f, err := elf.Open("/lib/x86_64-linux-gnu/libc.so.6")
	if err != nil {
		t.Fatal(err)
	}
	dbg := symbols.FindDebugFile("/lib/x86_64-linux-gnu/libc.so.6", symbols.BuildID(f), []string{"/usr/lib/debug"})
	f.Close()
	if dbg == "" {
		t.Fatal("libc's debug file is missing (libc6-dbg; scripts/setup.sh installs it)")
	}
	files = append(files, dbg,
		compiled(t, "gcc-dwarf3", "g++", "-gdwarf-3", "-O1"),
		compiled(t, "gcc-dwarf4", "g++", "-gdwarf-4", "-O2"),
		compiled(t, "gcc-dwarf5-lto", "g++", "-gdwarf-5", "-O2", "-flto"),
		compiled(t, "clang-dwarf4", "clang++-16", "-gdwarf-4", "-O2"),
		compiled(t, "clang-dwarf5", "clang++-16", "-gdwarf-5", "-O2"))
	return files
}

// TestAgreesWithDebugDwarf reads every entry of every test file with both
// readers: tag, children flag, offset, every attribute with its class and
// value, the ranges of every entry and every unit's line table.
func TestAgreesWithDebugDwarf(t *testing.T) {
	all := map[string]bool{}
	for _, path := range testFiles(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, err := elf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			ref, err := f.DWARF()
			if err != nil {
				t.Fatal(err)
			}
			ours, err := die.New(sections(t, f), nil)
			if err != nil {
				t.Fatal(err)
			}
			n := compareWalk(t, ref, ours, all)
			if n == 0 {
				t.Fatal("no entries")
			}
			t.Logf("%d entries agree", n)
			compareSkips(t, ref, ours)
		})
	}
	// What the files exercised, so that a compiler change that stops
	// emitting a form is noticed rather than silently untested.
	for _, want := range []string{"addrx", "strx1", "strx2", "rnglistx", "loclistx", "implicit_const", "data16",
		"line_strp", "ref_addr", "strp", "string", "sec_offset", "exprloc", "flag_present", "block1", "data8", "sdata", "udata"} {
		if !all[want] {
			t.Errorf("no file had an attribute of form DW_FORM_%s", want)
		}
	}
}

// formName names the forms the test checks it has seen.
var formName = map[uint16]string{0x01: "addr", 0x0a: "block1", 0x07: "data8", 0x08: "string", 0x0d: "sdata", 0x0e: "strp",
	0x0f: "udata", 0x10: "ref_addr", 0x17: "sec_offset", 0x18: "exprloc", 0x19: "flag_present", 0x1b: "addrx",
	0x1e: "data16", 0x1f: "line_strp", 0x21: "implicit_const", 0x22: "loclistx", 0x23: "rnglistx", 0x25: "strx1", 0x26: "strx2"}

func compareWalk(t *testing.T, ref *dwarf.Data, ours *die.Data, seen map[string]bool) int {
	r1, r2 := ref.Reader(), ours.Reader()
	n, bad := 0, 0
	fail := func(format string, args ...any) {
		bad++
		if bad <= 10 {
			t.Errorf(format, args...)
		}
	}
	for bad < 10 {
		e1, err1 := r1.Next()
		e2, err2 := r2.Next()
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("after %d entries: debug/dwarf %v, ours %v", n, err1, err2)
		}
		if err1 != nil {
			break
		}
		if (e1 == nil) != (e2 == nil) {
			t.Fatalf("after %d entries: debug/dwarf %v, ours %v", n, e1, e2)
		}
		if e1 == nil {
			break
		}
		n++
		if e1.Tag != e2.Tag || e1.Children != e2.Children || e1.Offset != e2.Offset && e1.Tag != 0 {
			t.Fatalf("entry %d: debug/dwarf %v %v %#x, ours %v %v %#x", n, e1.Tag, e1.Children, e1.Offset, e2.Tag, e2.Children, e2.Offset)
		}
		if len(e1.Field) != len(e2.Field) {
			fail("entry at %#x: %d fields, ours %d", e1.Offset, len(e1.Field), len(e2.Field))
			continue
		}
		for i := range e1.Field {
			a, b := e1.Field[i], e2.Field[i]
			if a.Attr != b.Attr || a.Class != b.Class || !reflect.DeepEqual(a.Val, b.Val()) {
				fail("entry at %#x field %d: debug/dwarf %v %v %#v, ours %v %v %#v (form %#x)", e1.Offset, i, a.Attr, a.Class, a.Val, b.Attr, b.Class, b.Val(), b.Form)
			}
			if name, ok := formName[b.Form]; ok {
				seen[name] = true
			}
		}
		if e1.Tag == 0 {
			continue
		}
		if e1.Val(dwarf.AttrLowpc) != nil || e1.Val(dwarf.AttrRanges) != nil {
			g1, err1 := ref.Ranges(e1)
			g2, err2 := ours.Ranges(e2)
			if (err1 == nil) != (err2 == nil) || !reflect.DeepEqual(g1, g2) {
				fail("ranges of %#x: debug/dwarf %v %v, ours %v %v", e1.Offset, g1, err1, g2, err2)
			}
		}
		if e1.Tag == dwarf.TagCompileUnit || e1.Tag == dwarf.TagPartialUnit {
			if msg := compareLines(ref, ours, e1, e2); msg != "" {
				fail("unit at %#x: %s", e1.Offset, msg)
			}
		}
	}
	return n
}

// compareLines compares a unit's line tables: every row and every file.
func compareLines(ref *dwarf.Data, ours *die.Data, e1 *dwarf.Entry, e2 *die.Entry) string {
	l1, err1 := ref.LineReader(e1)
	l2, err2 := ours.LineReader(e2)
	if (err1 == nil) != (err2 == nil) || (l1 == nil) != (l2 == nil) {
		return fmt.Sprintf("line reader: debug/dwarf %v %v, ours %v %v", l1 != nil, err1, l2 != nil, err2)
	}
	if l1 == nil {
		return ""
	}
	names := func(fs []*dwarf.LineFile) []string {
		var out []string
		for _, f := range fs {
			if f == nil {
				out = append(out, "<nil>")
			} else {
				out = append(out, f.Name)
			}
		}
		return out
	}
	for rows := 0; ; rows++ {
		var a, b dwarf.LineEntry
		ea, eb := l1.Next(&a), l2.Next(&b)
		if (ea == nil) != (eb == nil) {
			return fmt.Sprintf("row %d: %v vs %v", rows, ea, eb)
		}
		if ea != nil {
			break
		}
		fa, fb := "", ""
		if a.File != nil {
			fa = a.File.Name
		}
		if b.File != nil {
			fb = b.File.Name
		}
		a.File, b.File = nil, nil
		if a != b || fa != fb {
			return fmt.Sprintf("row %d: %+v %s vs %+v %s", rows, a, fa, b, fb)
		}
	}
	if n1, n2 := names(l1.Files()), names(l2.Files()); !reflect.DeepEqual(n1, n2) {
		return fmt.Sprintf("files %v vs %v", n1, n2)
	}
	return ""
}

// compareSkips walks both readers skipping the children of every other
// entry that has some, and seeks back to entries already seen.
func compareSkips(t *testing.T, ref *dwarf.Data, ours *die.Data) {
	r1, r2 := ref.Reader(), ours.Reader()
	var offs []dwarf.Offset
	for k := 0; ; k++ {
		e1, err1 := r1.Next()
		e2, err2 := r2.Next()
		if err1 != nil || err2 != nil || e1 == nil || e2 == nil {
			if (err1 == nil) != (err2 == nil) || (e1 == nil) != (e2 == nil) {
				t.Fatalf("skipping walk, step %d: debug/dwarf %v %v, ours %v %v", k, e1, err1, e2 != nil, err2)
			}
			break
		}
		if e1.Tag != e2.Tag || e1.Tag != 0 && e1.Offset != e2.Offset {
			t.Fatalf("skipping walk, step %d: debug/dwarf %v at %#x, ours %v at %#x", k, e1.Tag, e1.Offset, e2.Tag, e2.Offset)
		}
		if e1.Tag != 0 && k%97 == 0 {
			offs = append(offs, e1.Offset)
		}
		if e1.Children && k%2 == 0 {
			r1.SkipChildren()
			r2.SkipChildren()
		}
	}
	sort.Slice(offs, func(i, j int) bool { return offs[i] > offs[j] })
	for _, off := range offs {
		r1.Seek(off)
		r2.Seek(off)
		for k := 0; k < 3; k++ {
			e1, _ := r1.Next()
			e2, _ := r2.Next()
			if (e1 == nil) != (e2 == nil) || e1 != nil && (e1.Tag != e2.Tag || e1.Tag != 0 && e1.Offset != e2.Offset) {
				t.Fatalf("after Seek(%#x), entry %d differs", off, k)
			}
		}
		e, err := ours.EntryAt(off)
		if err != nil || e.Offset != off {
			t.Fatalf("EntryAt(%#x): %v %v", off, e, err)
		}
	}
}

// TestBadBytes: truncated or overwritten sections give errors, never a
// panic or a hang.
func TestBadBytes(t *testing.T) {
	set := fixture.Get(t)
	f, err := elf.Open(set.Scenario(t, fixture.FieldCrash).Lib)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := sections(t, f)
	walk := func(s die.Sections) (n int, err error) {
		d, err := die.New(s, nil)
		if err != nil {
			return 0, err
		}
		r := d.Reader()
		for {
			e, err := r.Next()
			if err != nil || e == nil {
				return n, err
			}
			n++
			if e.Tag == dwarf.TagSubprogram || e.Tag == dwarf.TagCompileUnit {
				d.Ranges(e)
			}
			if e.Tag == dwarf.TagCompileUnit {
				if lr, err := d.LineReader(e); err == nil && lr != nil {
					var le dwarf.LineEntry
					for lr.Next(&le) == nil {
					}
				}
			}
		}
	}
	whole, err := walk(s)
	if err != nil || whole == 0 {
		t.Fatalf("intact: %d entries, %v", whole, err)
	}
	for _, cut := range []int{len(s.Info) / 3, len(s.Info) - 7} {
		c := s
		c.Info = s.Info[:cut]
		if _, err := walk(c); err == nil {
			t.Errorf(".debug_info cut at %d: no error", cut)
		}
	}
	c := s
	c.Abbrev = s.Abbrev[:len(s.Abbrev)/2]
	if _, err := walk(c); err == nil {
		t.Error(".debug_abbrev cut in half: no error")
	}
	// Every byte of the first unit's first 4 KiB overwritten in turn.
	info := append([]byte(nil), s.Info...)
	for i := 0; i < 4096 && i < len(info); i += 3 {
		old := info[i]
		info[i] ^= 0xa5
		c := s
		c.Info = info
		walk(c)
		info[i] = old
	}
}

// TestFirstEntry: a unit's entry read without entering the unit (one
// abbreviation declaration) is the entry the entered unit gives, with the
// same values and ranges, on every unit of every test file.
func TestFirstEntry(t *testing.T) {
	eachTestData(t, func(t *testing.T, quick *die.Data) {
		full, _ := die.New(quick.Sections(), nil)
		units := quick.Units()
		for i, u := range units {
			a, err1 := quick.FirstEntry(i)
			b, err2 := full.UnitEntry(dwarf.Offset(u.First))
			if (err1 == nil) != (err2 == nil) {
				t.Fatalf("unit %d: FirstEntry error %v, UnitEntry error %v", i, err1, err2)
			}
			if err1 != nil {
				continue
			}
			if d := sameEntry(a, b); d != "" {
				t.Fatalf("unit %d: FirstEntry and UnitEntry: %s", i, d)
			}
			ra, err1 := quick.Ranges(a)
			rb, err2 := full.Ranges(b)
			if !reflect.DeepEqual(ra, rb) || (err1 == nil) != (err2 == nil) {
				t.Fatalf("unit %d ranges: %v %v, %v %v", i, ra, err1, rb, err2)
			}
		}
		t.Logf("%d units", len(units))
	})
}

// TestReuse walks every test file with a reusing reader beside an ordinary
// one: every entry the same (offset, tag, children, every field), every
// other entry's children skipped through both.
func TestReuse(t *testing.T) {
	eachTestData(t, func(t *testing.T, d *die.Data) {
		plain, reused := d.Reader(), d.Reader()
		reused.Reuse()
		var prev *die.Entry
		n := 0
		for {
			a, err1 := plain.Next()
			b, err2 := reused.Next()
			if (err1 == nil) != (err2 == nil) || (a == nil) != (b == nil) {
				t.Fatalf("after %d entries: %v %v / %v %v", n, a, err1, b, err2)
			}
			if a == nil {
				break
			}
			if n > 0 && b != prev {
				t.Fatalf("entry %d: the reusing reader returned a new Entry", n)
			}
			prev = b
			if d := sameEntry(a, b); d != "" {
				t.Fatalf("entry %d and its reused twin: %s", n, d)
			}
			if n%2 == 1 && a.Children {
				plain.SkipChildren()
				reused.SkipChildren()
			}
			n++
		}
		if n == 0 {
			t.Fatal("no entries")
		}
		t.Logf("%d entries agree", n)
	})
}

// TestParseArangesBad: .debug_aranges cut anywhere, or with a bad version,
// gives the sets before the damage and an error, never a panic.
func TestParseArangesBad(t *testing.T) {
	set := []byte{
		44, 0, 0, 0, // unit_length
		2, 0, // version
		0x10, 0, 0, 0, // debug_info offset
		8, 0, // address size, segment size
		0, 0, 0, 0, // padding to 16
		0x00, 0x10, 0, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, // [0x1000, 0x1020)
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // end
	}
	got, err := die.ParseAranges(set)
	if err != nil || !reflect.DeepEqual(got, map[uint64][][2]uint64{0x10: {{0x1000, 0x1020}}}) {
		t.Fatalf("a good set: %v %v", got, err)
	}
	two := append(append([]byte(nil), set...), set...)
	for cut := 0; cut < len(two); cut++ {
		got, err := die.ParseAranges(two[:cut])
		if cut != 0 && cut != len(set) && err == nil {
			t.Errorf("cut at %d: no error", cut)
		}
		if cut > len(set) && len(got[0x10]) != 1 {
			t.Errorf("cut at %d: the first set lost: %v", cut, got)
		}
	}
	bad := append([]byte(nil), set...)
	bad[4] = 9
	if _, err := die.ParseAranges(bad); err == nil {
		t.Error("version 9: no error")
	}
}

// sameEntry compares two entries (offset, tag, children, every field's
// attribute, class and value); "" when they agree.
func sameEntry(a, b *die.Entry) string {
	if a.Offset != b.Offset || a.Tag != b.Tag || a.Children != b.Children || len(a.Field) != len(b.Field) {
		return fmt.Sprintf("%+v, %+v", a, b)
	}
	for j := range a.Field {
		if a.Field[j].Attr != b.Field[j].Attr || a.Field[j].Class != b.Field[j].Class || !reflect.DeepEqual(a.Field[j].Val(), b.Field[j].Val()) {
			return fmt.Sprintf("field %d: %v %v, %v %v", j, a.Field[j].Attr, a.Field[j].Val(), b.Field[j].Attr, b.Field[j].Val())
		}
	}
	return ""
}

// eachTestData runs f on the entry reader of each test file.
func eachTestData(t *testing.T, f func(t *testing.T, d *die.Data)) {
	for _, path := range testFiles(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			ef, err := elf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer ef.Close()
			d, err := die.New(sections(t, ef), nil)
			if err != nil {
				t.Fatal(err)
			}
			f(t, d)
		})
	}
}

// TestTypeUnits: types moved into type units (g++ -gdwarf-4
// -fdebug-types-section: DWARF 4's .debug_types; clang++ -gdwarf-5
// -fdebug-types-section: DW_UT_type units in .debug_info) are reached
// through DW_FORM_ref_sig8: every such reference of .debug_info resolves
// to the type entry of the unit whose header carries the signature
// debug/dwarf reads for that attribute, at the header's type offset.
func TestTypeUnits(t *testing.T) {
	for _, c := range []struct {
		name string
		argv []string
	}{
		{"gcc-dwarf4-types", []string{"g++", "-gdwarf-4", "-fdebug-types-section", "-O2"}},
		{"clang-dwarf5-types", []string{"clang++-16", "-gdwarf-5", "-fdebug-types-section", "-O2"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := compiled(t, c.name, c.argv...)
			f, err := elf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			ref, err := f.DWARF()
			if err != nil {
				t.Fatal(err)
			}
			s := sections(t, f)
			d, err := die.New(s, nil)
			if err != nil {
				t.Fatal(err)
			}
			units := typeUnitHeaders(s.Info, false)
			if len(s.Types) > 0 {
				if err := d.AttachTypes(s.Types); err != nil {
					t.Fatal(err)
				}
				units = typeUnitHeaders(s.Types, true)
			}
			if !d.HasTypeUnits() || len(units) == 0 {
				t.Fatal("no type unit")
			}
			r, rr := d.Reader(), ref.Reader()
			resolved := 0
			for {
				e, err := r.Next()
				if err != nil {
					t.Fatal(err)
				}
				if e == nil || int(e.Offset) >= len(s.Info) {
					break
				}
				for _, fl := range e.Field {
					if fl.Class != dwarf.ClassReferenceSig {
						continue
					}
					rr.Seek(e.Offset)
					re, err := rr.Next()
					if err != nil || re == nil || re.Offset != e.Offset {
						t.Fatalf("debug/dwarf has no entry at %#x: %v", e.Offset, err)
					}
					sig, _ := re.Val(fl.Attr).(uint64)
					tu, ok := units[sig]
					to, resolves := e.Ref(fl.Attr)
					if !ok || !resolves {
						t.Errorf("entry %#x: %v: signature %#x: its unit %v, resolved %v", e.Offset, fl.Attr, sig, ok, resolves)
						continue
					}
					first, _, ok := d.UnitBounds(to)
					if !ok || uint64(to-first) != tu.typeOff-tu.first {
						t.Errorf("entry %#x: %v: signature %#x resolves to %#x (%#x into its unit), the header says %#x", e.Offset, fl.Attr, sig, to, to-first, tu.typeOff-tu.first)
						continue
					}
					resolved++
				}
			}
			t.Logf("%d type units, %d ref_sig8 references of .debug_info resolved", len(units), resolved)
			if resolved == 0 {
				t.Error("no reference compared")
			}
		})
	}
}

type typeUnit struct{ first, typeOff uint64 }

// typeUnitHeaders reads the type units' headers of a section (32-bit
// DWARF): DWARF 4's .debug_types (types) or DWARF 5's .debug_info
// (DW_UT_type units): signature → its first entry and its type entry.
func typeUnitHeaders(b []byte, types bool) map[uint64]typeUnit {
	le := binary.LittleEndian
	out := map[uint64]typeUnit{}
	for off := uint64(0); off+24 <= uint64(len(b)); {
		n := uint64(le.Uint32(b[off:]))
		end := off + 4 + n
		switch {
		case types:
			out[le.Uint64(b[off+11:])] = typeUnit{first: off + 23, typeOff: off + uint64(le.Uint32(b[off+19:]))}
		case le.Uint16(b[off+4:]) == 5 && b[off+6] == 2: // DW_UT_type
			out[le.Uint64(b[off+12:])] = typeUnit{first: off + 24, typeOff: off + uint64(le.Uint32(b[off+20:]))}
		}
		off = end
	}
	return out
}

// TestReaderChunksDouble: a reader's chunks of entries start at 2 and
// double each time one is used up, to 64; its chunks of fields start at
// 32 and double, to 512 (65725e4: most readers decode one entry, and a
// first chunk of 64 entries and 512 fields was most of an analysis's
// garbage). The entries are what debug/dwarf reads (TestAgreesWithDebugDwarf).
func TestReaderChunksDouble(t *testing.T) {
	eachTestData(t, func(t *testing.T, d *die.Data) {
		r := d.Reader()
		if e, f := r.ChunkSizes(); e != 0 || f != 0 {
			t.Fatalf("chunks %d, %d before the first entry", e, f)
		}
		lastF := 0
		for n := 1; n <= 200; n++ {
			e, err := r.Next()
			if err != nil || e == nil {
				break
			}
			want := 2 // entries 1-2, then 4 for 3-6, 8 for 7-14, …
			for want < 64 && n > 2*want-2 {
				want *= 2
			}
			ce, cf := r.ChunkSizes()
			if ce != want {
				t.Fatalf("entry %d: a chunk of %d entries, want %d", n, ce, want)
			}
			if n == 1 && cf != 32 || cf < lastF || cf > 512 || cf != lastF && lastF != 0 && cf != 2*lastF {
				t.Fatalf("entry %d: a chunk of %d fields after %d", n, cf, lastF)
			}
			lastF = cf
		}
	})
}
