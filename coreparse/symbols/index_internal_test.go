package symbols

import (
	"bytes"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/internal/cachefile"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
)

// openIn opens the table of path (and debug) keeping what it derives in
// cache (nil: nothing kept).
func openIn(cache *cachefile.Cache, path, debug string) (*Table, error) {
	return OpenWith(path, debug, &Resolver{Cache: cache})
}

// newCache is a cache of the test's own; dir is its "dwarf" directory,
// where the tables keep what they derive.
func newCache(t *testing.T) (c *cachefile.Cache, dir string) {
	c = cachefile.New(t.TempDir())
	return c, c.Dir("dwarf")
}

// buildLib compiles a shared library at path from source (g++ -g: DWARF and
// a build-id).
func buildLib(t *testing.T, path, source string) {
	t.Helper()
	src := path + ".cc"
	if err := os.WriteFile(src, []byte(source), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("g++", "-g", "-O1", "-shared", "-fPIC", "-o", path, src).CombinedOutput(); err != nil {
		t.Fatalf("g++: %v\n%s", err, out)
	}
}

const libV1 = `namespace app { struct Node { int key; Node *next; }; }
app::Node g_head;
__attribute__((noinline)) int walk(app::Node *n) { int s = 0; for (; n; n = n->next) s += n->key; return s; }
int entry() { return walk(&g_head); }
`

// answers is what a table says about the library: what the index parts
// decide (units and their ranges, the type index) and the DWARF behind them.
func answers(t *testing.T, cache *cachefile.Cache, path string) (string, *Table) {
	t.Helper()
	tab, err := openIn(cache, path, "")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	node, ok := tab.LookupType("app::Node")
	if !ok {
		t.Fatalf("%s: app::Node not found", path)
	}
	for _, m := range node.Members {
		fmt.Fprintf(&b, "member %s +%d %s; ", m.Name, m.Offset, tab.TypeName(m.Type))
	}
	g, ok := tab.LookupGlobal("g_head")
	fmt.Fprintf(&b, "g_head %#x %s %v; ", g.Addr, tab.TypeName(g.Type), ok)
	a, _, ok := tab.LookupSymbol("walk(app::Node*)")
	if !ok {
		t.Fatalf("%s: walk not found by its demangled name", path)
	}
	locs := tab.Locate(a + 4)
	if len(locs) == 0 || locs[0].Function != "walk" || locs[0].Line == 0 {
		t.Fatalf("%s: Locate(walk+4) = %+v", path, locs)
	}
	fmt.Fprintf(&b, "%s:%d %d units; types %v", filepath.Base(locs[0].File), locs[0].Line, len(tab.dwarf.Units()), tab.TypeNames())
	if w := tab.Warnings(); len(w) > 0 {
		t.Errorf("%s: warnings %v", path, w)
	}
	return b.String(), tab
}

// TestIndexRebuiltWhenDamaged: the first open builds the index (units and
// types) beside the section cache under a versioned path; the second reads
// it and answers the same; a truncated, a bit-flipped and a garbage index
// file is never trusted: the answers stay those of the DWARF and the file is
// written again, whole.
func TestIndexRebuiltWhenDamaged(t *testing.T) {
	cache, cacheDir := newCache(t)
	lib := filepath.Join(t.TempDir(), "libnode.so")
	buildLib(t, lib, libV1)

	want, tab := answers(t, cache, lib)
	t.Logf("answers: %s", want)
	id := tab.buildID
	tab.Close()
	if id == "" {
		t.Fatal("the library has no build-id")
	}
	dirs, _ := filepath.Glob(filepath.Join(cacheDir, id, indexVersion+"-*"))
	if len(dirs) != 1 {
		t.Fatalf("index directories %q, want one", dirs)
	}
	dir := dirs[0]
	whole := map[string][]byte{}
	for _, part := range []string{"units", "types"} {
		b, err := os.ReadFile(filepath.Join(dir, part))
		if err != nil {
			t.Fatalf("index part %s not written: %v", part, err)
		}
		whole[part] = b
	}
	// Second run: from the index.
	got, tab := answers(t, cache, lib)
	if !tab.types.built.Load() || got != want {
		t.Errorf("from the index:\n%s\nfresh:\n%s", got, want)
	}
	tab.Close()

	damage := map[string]func([]byte) []byte{
		"truncated": func(b []byte) []byte { return b[:len(b)*2/3] },
		"bit-flipped": func(b []byte) []byte {
			c := append([]byte(nil), b...)
			c[len(c)-5] ^= 0x10
			return c
		},
		"garbage": func(b []byte) []byte { return append([]byte(indexMagic), strings.Repeat("\xff", 64)...) },
		"empty":   func([]byte) []byte { return nil },
	}
	for how, f := range damage {
		for _, part := range []string{"units", "types"} {
			p := filepath.Join(dir, part)
			if err := os.WriteFile(p, f(whole[part]), 0o644); err != nil {
				t.Fatal(err)
			}
			got, tab := answers(t, cache, lib)
			tab.Close()
			if got != want {
				t.Errorf("%s %s index:\n%s\nfresh:\n%s", how, part, got, want)
			}
			b, err := os.ReadFile(p)
			if err != nil || len(b) != len(whole[part]) {
				t.Errorf("%s %s index not rebuilt: %d bytes, was %d (%v)", how, part, len(b), len(whole[part]), err)
			}
			if _, ok := readIndex(p, indexKeyOf(t, lib)); !ok {
				t.Errorf("%s %s index rebuilt does not check out", how, part)
			}
		}
	}
}

func indexKeyOf(t *testing.T, lib string) indexKey {
	tab, err := Open(lib, "")
	if err != nil {
		t.Fatal(err)
	}
	defer tab.Close()
	tab.loadDWARF()
	return tab.indexKey
}

// TestIndexPerBuildID: a library rebuilt at the same path with another
// build-id gets its own index, and each build's answers are its own, read
// fresh and from the index in either order.
func TestIndexPerBuildID(t *testing.T) {
	cache, cacheDir := newCache(t)
	lib := filepath.Join(t.TempDir(), "libnode.so")
	libV2 := strings.Replace(libV1, "int key; Node *next;", "long key; short tag; Node *next;", 1)
	var ids, wants []string
	for _, src := range []string{libV1, libV2} {
		buildLib(t, lib, src)
		want, tab := answers(t, cache, lib)
		ids, wants = append(ids, tab.buildID), append(wants, want)
		tab.Close()
	}
	if ids[0] == ids[1] || wants[0] == wants[1] {
		t.Fatalf("the rebuilt library: build-ids %v, answers\n%s\n%s", ids, wants[0], wants[1])
	}
	if !strings.Contains(wants[1], "member tag +8 short int") {
		t.Errorf("the second build's answers: %s", wants[1])
	}
	for _, id := range ids {
		if _, err := hex.DecodeString(id); err != nil {
			t.Fatal(err)
		}
		if types, _ := filepath.Glob(filepath.Join(cacheDir, id, indexVersion+"-*", "types")); len(types) != 1 {
			t.Errorf("build %s has no index of its own: %q", id, types)
		}
	}
	// The first build again at the same path: its own index answers.
	buildLib(t, lib, libV1)
	got, tab := answers(t, cache, lib)
	tab.Close()
	if tab.buildID != ids[0] && got != wants[0] {
		// g++ is deterministic: the same source gives the same build-id.
		t.Fatalf("rebuilt first build: build-id %s (was %s)", tab.buildID, ids[0])
	}
	if got != wants[0] {
		t.Errorf("the first build, from its index:\n%s\nfresh:\n%s", got, wants[0])
	}
	buildLib(t, lib, libV2)
	if got, tab := answers(t, cache, lib); got != wants[1] {
		tab.Close()
		t.Errorf("the second build, from its index:\n%s\nfresh:\n%s", got, wants[1])
	} else {
		tab.Close()
	}
}

// TestCompressedSections: a library whose DWARF sections objcopy
// compressed with zlib and with zstd (SHF_COMPRESSED, as Debian's debug
// files are) answers as its uncompressed self, inflated on the first open
// and mapped from the cache on the second.
func TestCompressedSections(t *testing.T) {
	dir := t.TempDir()
	lib := filepath.Join(dir, "libnode.so")
	buildLib(t, lib, libV1)
	cache, _ := newCache(t)
	want, tab := answers(t, cache, lib)
	tab.Close()
	for _, alg := range []string{"zlib", "zstd"} {
		c := filepath.Join(dir, "libnode-"+alg+".so")
		if out, err := exec.Command("objcopy", "--compress-debug-sections="+alg, lib, c).CombinedOutput(); err != nil {
			t.Fatalf("objcopy: %v\n%s", err, out)
		}
		if b, _ := exec.Command("readelf", "-S", "-W", c).Output(); !strings.Contains(string(b), " C ") && !strings.Contains(string(b), "C (compressed)") {
			t.Fatalf("%s: objcopy left the sections uncompressed:\n%s", alg, b)
		}
		// inflate reads what debug/elf reads, through klauspost/compress.
		f, err := elf.Open(c)
		if err != nil {
			t.Fatal(err)
		}
		sec := f.Section(".debug_info")
		ref, err := sec.Data()
		ours, err2 := inflate(sec, c)
		f.Close()
		if err != nil || err2 != nil || sec.Flags&elf.SHF_COMPRESSED == 0 || !bytes.Equal(ref, ours) {
			t.Errorf("%s: inflate: %d bytes (%v), debug/elf %d bytes (%v), flags %v", alg, len(ours), err2, len(ref), err, sec.Flags)
		}
		cache, cacheDir := newCache(t)
		for _, run := range []string{"first", "second"} {
			got, tab := answers(t, cache, c)
			id := tab.buildID
			tab.Close()
			if got != want {
				t.Errorf("%s, %s open:\n%s\nuncompressed:\n%s", alg, run, got, want)
			}
			if _, err := os.Stat(filepath.Join(cacheDir, id, sectionsVersion, "debug_info")); err != nil {
				t.Errorf("%s: .debug_info not in the section cache: %v", alg, err)
			}
		}
	}
}

// TestRelocatableObject: an object file's DWARF is read with its
// relocations applied (string offsets, addresses): its functions have
// their names, lines and types as in the linked library.
func TestRelocatableObject(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "node.cc")
	if err := os.WriteFile(src, []byte(libV1), 0o644); err != nil {
		t.Fatal(err)
	}
	obj := filepath.Join(dir, "node.o")
	if out, err := exec.Command("g++", "-g", "-O1", "-fPIC", "-c", "-o", obj, src).CombinedOutput(); err != nil {
		t.Fatalf("g++: %v\n%s", err, out)
	}
	tab, err := Open(obj, "")
	if err != nil {
		t.Fatal(err)
	}
	defer tab.Close()
	s, ok := tab.Lookup("walk(app::Node*)")
	if !ok {
		t.Fatal("walk not in the object's symbols")
	}
	locs := tab.Locate(s.Value + 4)
	if len(locs) == 0 || locs[0].Function != "walk" || locs[0].Line != 3 || filepath.Base(locs[0].File) != "node.cc" {
		t.Errorf("Locate(walk+4) in the object: %+v", locs)
	}
	node, ok := tab.LookupType("app::Node")
	if !ok || len(node.Members) != 2 || node.Members[1].Name != "next" || node.Members[1].Offset != 8 {
		t.Errorf("app::Node in the object: %+v %v", node, ok)
	}
	if w := tab.Warnings(); len(w) > 0 {
		t.Errorf("warnings: %v", w)
	}
}

// TestIndexPerSections: one build-id, two DWARFs (the variants' libdcache.so
// after dwz, and after dwz --dwarf-5: the same link, the same build-id),
// opened in turn under one cache, keep an index each; opening the first
// again reads its index as written (not rebuilt). With the index under the
// build-id alone, the second rewrote the first's, and the first's next
// run warned of a damaged file and rebuilt it.
func TestIndexPerSections(t *testing.T) {
	vs := fixture.GetVariants(t)
	libs := []string{vs.Variant(t, fixture.VariantDWZ).Lib, vs.Variant(t, fixture.VariantDWZ5).Lib}
	cache, dir := newCache(t)
	open := func(lib string) string {
		tab, err := openIn(cache, lib, "")
		if err != nil {
			t.Fatal(err)
		}
		defer tab.Close()
		tab.loadDWARF()
		if tab.buildID == "" {
			t.Fatalf("%s: no build-id", lib)
		}
		return tab.buildID
	}
	ids := []string{open(libs[0]), open(libs[1])}
	if ids[0] != ids[1] {
		t.Fatalf("the variants' build-ids differ: %v", ids)
	}
	units, _ := filepath.Glob(filepath.Join(dir, ids[0], indexVersion+"*", "units"))
	if len(units) != 2 {
		t.Fatalf("unit indexes of the two DWARFs of %s: %q, want two", ids[0], units)
	}
	before := map[string]string{}
	for _, u := range units {
		b, _ := os.ReadFile(u)
		before[u] = string(b)
	}
	open(libs[0])
	for _, u := range units {
		if b, _ := os.ReadFile(u); string(b) != before[u] {
			t.Errorf("%s rewritten when the first DWARF was opened again", u)
		}
	}
}
