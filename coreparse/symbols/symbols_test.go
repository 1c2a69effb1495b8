package symbols_test

import (
	"bytes"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/dsecore/dsecore/coreparse/symbols"
	"github.com/dsecore/dsecore/internal/cachefile"
	"github.com/dsecore/dsecore/internal/testsupport/gdboracle"
)

// A C++ program in the shape of the field crash: namespaces, templates,
// forced inlining, a boost::intrusive erase_and_dispose loop, lambdas, an
// anonymous namespace, a function-local static and a TLS variable.
const program = `#include <boost/intrusive/list.hpp>
#include <cstdio>
#include <cstdlib>
namespace bi = boost::intrusive;
struct dm_obj_t {
	char pad[0x130];
	bi::list_member_hook<bi::link_mode<bi::safe_link>> hook;
	long id;
};
typedef bi::list<dm_obj_t, bi::member_hook<dm_obj_t, bi::list_member_hook<bi::link_mode<bi::safe_link>>, &dm_obj_t::hook>> obj_list;
struct dm_hash_node_t {
	obj_list objs;
	struct delete_dm_obj_t { void operator()(dm_obj_t *o) { delete o; } };
	void clear();
};
__attribute__((noinline)) void dm_hash_node_t::clear() { objs.erase_and_dispose(objs.begin(), objs.end(), delete_dm_obj_t()); }
namespace co {
struct Processer {
	int id_;
	static Processer *&GetCurrentProcesser() { static thread_local Processer *proc = nullptr; return proc; }
};
template <typename T> struct Box { T v; __attribute__((always_inline)) inline T twice() const { return v + v; } };
}
namespace {
__attribute__((noinline)) long helper(long x) { co::Box<long> b{x}; return b.twice() + 1; }
}
thread_local long tls_counter;
int main(int argc, char **) {
	dm_hash_node_t n;
	for (int i = 0; i < argc + 2; i++) { auto *o = new dm_obj_t(); o->id = i; n.objs.push_back(*o); }
	n.clear();
	auto f = [&](long v) { return helper(v) + argc; };
	static co::Processer p{3};
	co::Processer::GetCurrentProcesser() = &p;
	tls_counter = f(argc);
	std::printf("%ld %d\n", tls_counter, co::Processer::GetCurrentProcesser()->id_);
	return 0;
}
`

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

func testBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "dsecore-symbols-")
		if buildErr != nil {
			return
		}
		src := filepath.Join(buildDir, "prog.cc")
		os.WriteFile(src, []byte(program), 0o644)
		out, err := exec.Command("g++", "-O2", "-g", "-std=c++17", "-o", filepath.Join(buildDir, "prog"), src).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("g++: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, "prog")
}

func open(t testing.TB, path, debug string) *symbols.Table {
	t.Helper()
	tab, err := symbols.Open(path, debug)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tab.Close() })
	return tab
}

// plainName reduces a name to what both tools agree on: no parameters, no
// template arguments, no return type.
func plainName(s string) string { return gdboracle.PlainFunction(s) }

type a2lLevel struct {
	fn, file string
	line     string
}

// addr2line runs addr2line -i -f -C on many addresses at once; a sentinel
// address after each one separates their answers.
func addr2line(t *testing.T, bin string, addrs []uint64) [][]a2lLevel {
	t.Helper()
	var in bytes.Buffer
	for _, a := range addrs {
		fmt.Fprintf(&in, "%#x\n0xffffffffff\n", a)
	}
	cmd := exec.Command("addr2line", "-i", "-f", "-C", "-e", bin)
	cmd.Stdin = &in
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("addr2line: %v", err)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	var res [][]a2lLevel
	var cur []a2lLevel
	for i := 0; i+1 < len(lines); i += 2 {
		fn, pos := lines[i], lines[i+1]
		if fn == "??" && strings.HasPrefix(pos, "??:") && len(res) < len(addrs) && cur != nil {
			res = append(res, cur)
			cur = nil
			continue
		}
		if fn == "??" && strings.HasPrefix(pos, "??:") && cur == nil {
			res = append(res, nil) // addr2line knew nothing of the address itself
			continue
		}
		file, line, _ := strings.Cut(pos, ":")
		line, _, _ = strings.Cut(line, " ")
		cur = append(cur, a2lLevel{fn, filepath.Base(file), line})
	}
	return res
}

// TestLocateMatchesAddr2line: every line-table address of the program's
// .text: same inline levels, names, files and lines as addr2line -i -f -C.
func TestLocateMatchesAddr2line(t *testing.T) {
	bin := testBinary(t)
	tab := open(t, bin, "")
	f, _ := elf.Open(bin)
	text := f.Section(".text")
	f.Close()
	var addrs []uint64
	seen := map[uint64]bool{}
	for _, r := range tab.LineRows(text.Addr, text.Addr+text.Size) {
		if !seen[r.Addr] {
			seen[r.Addr] = true
			addrs = append(addrs, r.Addr)
		}
	}
	if len(addrs) < 50 {
		t.Fatalf("only %d line-table addresses in .text", len(addrs))
	}
	// And addresses between rows, as return addresses are.
	for a := text.Addr; a < text.Addr+text.Size; a += 3 {
		if !seen[a] {
			addrs = append(addrs, a)
		}
	}
	want := addr2line(t, bin, addrs)
	if len(want) != len(addrs) {
		t.Fatalf("addr2line answered %d of %d", len(want), len(addrs))
	}
	bad, levels := 0, 0
	for i, a := range addrs {
		got := tab.LocateAddr2line(a)
		w := want[i]
		if len(w) == 0 || w[0].line == "?" || w[0].line == "0" {
			// No line: padding between functions, or code without DWARF
			// (crt files), where addr2line falls back to the nearest symbol.
			if len(got) > 0 && !got[0].FromSymtab {
				t.Errorf("%#x: DWARF answer %+v where addr2line has no line", a, got)
			}
			continue
		}
		levels += len(w)
		if _, _, inSym := tab.SymbolAt(a); len(got) == 0 && !inSym {
			continue // padding after a function's last byte: addr2line takes the symbol before, gdb nothing
		}
		if len(got) != len(w) {
			if bad++; bad < 10 {
				t.Errorf("%#x: %d levels, addr2line %d: %v / %v", a, len(got), len(w), got, w)
			}
			continue
		}
		for k := range w {
			g := got[k]
			if (g.Function == "operator()" || strings.Contains(g.Function, "{lambda")) && w[k].fn == "main" {
				// addr2line names an inlined lambda after its enclosing
				// function; gdb (and we) name the closure's operator().
				continue
			}
			if plainName(g.Demangled) != plainName(w[k].fn) || plainName(g.Function) != plainName(w[k].fn) ||
				filepath.Base(g.File) != w[k].file || fmt.Sprint(g.Line) != w[k].line {
				if bad++; bad < 10 {
					t.Errorf("%#x level %d: %s (%s) %s:%d, addr2line %s %s:%s", a, k, g.Function, g.Demangled, filepath.Base(g.File), g.Line, w[k].fn, w[k].file, w[k].line)
				}
			}
		}
	}
	t.Logf("%d addresses, %d inline levels compared with addr2line, %d differ", len(addrs), levels, bad)
}

// TestFieldShapedNames: the names gdb prints for the field crash's frames.
func TestFieldShapedNames(t *testing.T) {
	bin := testBinary(t)
	tab := open(t, bin, "")
	addr, size, ok := tab.LookupSymbol("dm_hash_node_t::clear()")
	if !ok || size == 0 {
		t.Fatal("dm_hash_node_t::clear() not found")
	}
	if a2, _, ok := tab.LookupSymbol("_ZN14dm_hash_node_t5clearEv"); !ok || a2 != addr {
		t.Error("mangled lookup")
	}
	names := map[string]bool{}
	for a := addr; a < addr+size; a++ {
		for _, l := range tab.Locate(a) {
			names[l.Function] = true
		}
		if n, s, ok := tab.SymbolAt(a); !ok || s != addr || n != "dm_hash_node_t::clear()" {
			t.Fatalf("SymbolAt(%#x) = %q %#x %v", a, n, s, ok)
		}
	}
	for _, want := range []string{"dm_hash_node_t::clear", "boost::intrusive::list_node_traits<void*>::get_next",
		"dm_hash_node_t::delete_dm_obj_t::operator()"} {
		if !names[want] {
			t.Errorf("no frame named %q in clear(); names: %v", want, names)
		}
	}
	found := false
	for n := range names {
		if strings.Contains(n, "::erase_and_dispose<dm_hash_node_t::delete_dm_obj_t>") && strings.HasPrefix(n, "boost::intrusive::list_impl<") {
			found = true
		}
	}
	if !found {
		t.Errorf("no erase_and_dispose<dm_hash_node_t::delete_dm_obj_t> frame: %v", names)
	}
	// The anonymous namespace, as gdb writes it.
	ha, _, ok := tab.LookupSymbol("(anonymous namespace)::helper(long)")
	if !ok {
		t.Fatal("helper not found")
	}
	locs := tab.Locate(ha)
	if len(locs) == 0 || locs[len(locs)-1].Function != "(anonymous namespace)::helper" {
		t.Errorf("helper: %+v", locs)
	}
}

func TestLocalAndTLSSymbols(t *testing.T) {
	bin := testBinary(t)
	tab := open(t, bin, "")
	s, ok := tab.Lookup("co::Processer::GetCurrentProcesser()::proc")
	if !ok || s.Type != elf.STT_TLS || s.Bind == elf.STB_GLOBAL {
		t.Errorf("GetCurrentProcesser()::proc: %+v %v", s, ok)
	}
	s, ok = tab.Lookup("tls_counter")
	if !ok || s.Type != elf.STT_TLS {
		t.Errorf("tls_counter: %+v", s)
	}
	// nm agrees on the values.
	out, _ := exec.Command("nm", bin).Output()
	m := regexp.MustCompile(`(?m)^([0-9a-f]+) [bB] tls_counter$`).FindStringSubmatch(string(out))
	if m == nil || fmt.Sprintf("%016x", s.Value) != m[1] {
		t.Errorf("tls_counter value %#x, nm %v", s.Value, m)
	}
	// PLT entries are named like objdump's.
	found := false
	for _, s := range tab.Symbols() {
		if s.Synthetic && s.Name == "printf@plt" {
			found = true
			od, _ := exec.Command("objdump", "-d", "-j", ".plt.sec", "-j", ".plt", bin).Output()
			if !strings.Contains(string(od), fmt.Sprintf("%016x <printf@plt>:", s.Value)) {
				t.Errorf("printf@plt at %#x, objdump:\n%s", s.Value, od)
			}
		}
	}
	if !found {
		t.Error("no printf@plt")
	}
}

func TestLineRowsMatchObjdump(t *testing.T) {
	bin := testBinary(t)
	tab := open(t, bin, "")
	addr, size, _ := tab.LookupSymbol("dm_hash_node_t::clear()")
	rows := tab.LineRows(addr, addr+size)
	out, err := exec.Command("objdump", "--dwarf=decodedline", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^(\S+)\s+(\d+)\s+(0x[0-9a-f]+)`)
	var want []string
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		var a uint64
		fmt.Sscanf(m[3], "0x%x", &a)
		if a >= addr && a < addr+size {
			want = append(want, fmt.Sprintf("%#x %s:%s", a, m[1], m[2]))
		}
	}
	var got []string
	for _, r := range rows {
		got = append(got, fmt.Sprintf("%#x %s:%d", r.Addr, filepath.Base(r.File), r.Line))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("line rows differ:\nours:\n%s\nobjdump:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// libc is the system's libc; libc6-dbg gives it a separate debug file.
const libc = "/lib/x86_64-linux-gnu/libc.so.6"

// libcDebugFile is libc's build-id and the debug file found for it ("" when
// none).
func libcDebugFile(tb testing.TB) (id []byte, dbg string) {
	tb.Helper()
	f, err := elf.Open(libc)
	if err != nil {
		tb.Fatal(err)
	}
	id = symbols.BuildID(f)
	f.Close()
	return id, symbols.FindDebugFile(libc, id, []string{"/usr/lib/debug"})
}

func TestBuildIDAndDebugFiles(t *testing.T) {
	id, dbg := libcDebugFile(t)
	out, _ := exec.Command("readelf", "-n", libc).Output()
	if m := regexp.MustCompile(`Build ID: ([0-9a-f]+)`).FindSubmatch(out); m == nil || fmt.Sprintf("%x", id) != string(m[1]) {
		t.Fatalf("build-id %x, readelf %s", id, m)
	}
	hex := fmt.Sprintf("%x", id)
	if dbg != "/usr/lib/debug/.build-id/"+hex[:2]+"/"+hex[2:]+".debug" {
		t.Fatalf("libc debug file %q (is libc6-dbg installed?)", dbg)
	}
	// With the debug file, libc's functions have DWARF names and lines.
	tab := open(t, libc, dbg)
	a, _, ok := tab.LookupSymbol("__libc_start_call_main")
	if !ok {
		t.Fatal("__libc_start_call_main not in libc's symbols")
	}
	locs := tab.Locate(a + 4)
	if len(locs) == 0 || locs[len(locs)-1].Function != "__libc_start_call_main" || locs[0].FromSymtab || locs[0].Line == 0 {
		t.Errorf("libc: %+v", locs)
	}
	// A wrong build-id is not accepted.
	if d := symbols.FindDebugFile(libc, []byte{1, 2, 3, 4}, []string{"/usr/lib/debug"}); d != "" {
		t.Errorf("found %q for a made-up build-id", d)
	}
}

// TestDebugLink: a stripped binary finds its debug file through
// .gnu_debuglink (and rejects one with another CRC).
func TestDebugLink(t *testing.T) {
	bin := testBinary(t)
	dir := t.TempDir()
	stripped := filepath.Join(dir, "prog")
	dbg := filepath.Join(dir, "prog.debug")
	for _, c := range [][]string{
		{"objcopy", "--only-keep-debug", bin, dbg},
		{"objcopy", "--strip-debug", "--remove-section=.note.gnu.build-id", bin, stripped},
		{"objcopy", "--add-gnu-debuglink=" + dbg, stripped},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", c, err, out)
		}
	}
	if got := symbols.FindDebugFile(stripped, nil, nil); got != dbg {
		t.Fatalf("debuglink: %q, want %q", got, dbg)
	}
	tab := open(t, stripped, dbg)
	a, _, _ := tab.LookupSymbol("dm_hash_node_t::clear()")
	if locs := tab.Locate(a); len(locs) == 0 || locs[0].FromSymtab || locs[len(locs)-1].Function != "dm_hash_node_t::clear" {
		t.Errorf("through the debug file: %+v", locs)
	}
	// Another file under the same name: CRC mismatch, rejected.
	os.WriteFile(dbg, []byte("not the debug file"), 0o644)
	if got := symbols.FindDebugFile(stripped, nil, nil); got != "" {
		t.Errorf("accepted a debug file with the wrong CRC: %q", got)
	}
	// Without DWARF, names come from the symbol table.
	tab2 := open(t, stripped, "")
	if locs := tab2.Locate(a); len(locs) != 1 || !locs[0].FromSymtab || locs[0].Function != "dm_hash_node_t::clear" {
		t.Errorf("symtab fallback: %+v", locs)
	}
}

// TestCorruptDWARF: 200 copies of a binary with 20 bytes of .debug_info
// flipped each open with an error naming the file, or answer every address
// the clean binary answers (from DWARF or, where the DWARF is broken, from
// the symbol table: only .debug_info was hit, the symbols are the clean
// binary's), with named levels, a bounded inline chain and lines only
// with files.
func TestCorruptDWARF(t *testing.T) {
	bin := testBinary(t)
	b, _ := os.ReadFile(bin)
	f, _ := elf.Open(bin)
	info := f.Section(".debug_info")
	f.Close()
	clean := open(t, bin, "")
	addrs := []uint64{0x1000, 0x1100, 0x1200, 0x1300, 0x1400}
	for _, name := range []string{"dm_hash_node_t::clear()", "main"} {
		if a, size, ok := clean.LookupSymbol(name); ok {
			addrs = append(addrs, a, a+size/2)
		} else {
			t.Fatalf("no symbol %s in the clean binary", name)
		}
	}
	type symAt struct {
		name  string
		start uint64
		ok    bool
	}
	want := map[uint64][]symbols.Location{}
	wantSym := map[uint64]symAt{}
	for _, a := range addrs {
		want[a] = clean.Locate(a)
		n, st, ok := clean.SymbolAt(a)
		wantSym[a] = symAt{n, st, ok}
	}
	opened, refused, fromSymtab := 0, 0, 0
	for i := 0; i < 200; i++ {
		c := append([]byte(nil), b...)
		for j := 0; j < 20; j++ {
			c[int(info.Offset)+((i*7919+j*104729)%int(info.Size))] ^= byte(0x5a + i)
		}
		p := filepath.Join(t.TempDir(), "bad")
		os.WriteFile(p, c, 0o644)
		tab, err := symbols.Open(p, "")
		if err != nil {
			refused++
			if !strings.Contains(err.Error(), p) {
				t.Errorf("copy %d: the error does not name the file: %v", i, err)
			}
			continue
		}
		opened++
		for _, a := range addrs {
			if n, st, ok := tab.SymbolAt(a); (symAt{n, st, ok}) != wantSym[a] {
				t.Errorf("copy %d: SymbolAt(%#x) = %q %#x %v, clean %+v", i, a, n, st, ok, wantSym[a])
			}
			locs := tab.Locate(a)
			if len(want[a]) > 0 && len(locs) == 0 || len(locs) > 64 {
				t.Errorf("copy %d: %#x: %d levels, the clean binary %d", i, a, len(locs), len(want[a]))
			}
			for _, l := range locs {
				if l.Function == "" || l.Line < 0 || l.Line > 0 && l.File == "" {
					t.Errorf("copy %d: %#x: %+v", i, a, l)
				}
				if l.FromSymtab {
					fromSymtab++
				}
			}
		}
		tab.Close()
	}
	if opened+refused != 200 || opened == 0 {
		t.Errorf("%d opened, %d refused", opened, refused)
	}
	t.Logf("200 corrupt copies: %d opened, %d refused; %d answers from the symbol table", opened, refused, fromSymtab)
}

func BenchmarkLibcDebugLocate(b *testing.B) {
	_, dbg := libcDebugFile(b)
	for i := 0; i < b.N; i++ {
		tab, _ := symbols.Open(libc, dbg)
		a, _, _ := tab.LookupSymbol("__libc_start_call_main")
		tab.Locate(a + 4)
		tab.Close()
	}
}

// TestSectionCache: libc's debug file stores its DWARF compressed; the first
// open inflates the sections into the cache's dwarf directory (by build-id) with the
// compile-unit index and the symbol table, a second open maps or reads
// them, and both answer the same. A cache entry of the wrong size or a
// damaged index or symbol table is ignored, not trusted.
func TestSectionCache(t *testing.T) {
	id, dbg := libcDebugFile(t)
	if dbg == "" {
		t.Fatal("no libc debug file (is libc6-dbg installed?)")
	}
	df, err := elf.Open(dbg)
	if err != nil {
		t.Fatal(err)
	}
	info := df.Section(".debug_info")
	df.Close()
	if info == nil || info.Flags&elf.SHF_COMPRESSED == 0 {
		t.Fatalf("libc's debug file: .debug_info is not compressed (%v)", info)
	}
	cache := cachefile.New(t.TempDir())
	dir := filepath.Join(cache.Dir("dwarf"), hex.EncodeToString(id))

	where := func() string {
		tab, err := symbols.OpenWith(libc, dbg, &symbols.Resolver{Cache: cache})
		if err != nil {
			t.Fatal(err)
		}
		defer tab.Close()
		a, _, ok := tab.LookupSymbol("__libc_start_call_main")
		if !ok {
			t.Fatal("__libc_start_call_main not in libc's symbols")
		}
		locs := tab.Locate(a + 4)
		if len(locs) == 0 || locs[0].Line == 0 || tab.Warnings() != nil {
			t.Fatalf("Locate: %+v, warnings %v", locs, tab.Warnings())
		}
		name, start, _ := tab.SymbolAt(a + 4)
		near, nstart, _ := tab.NearestSymbol(a + 4)
		pa, _, _ := tab.LookupSymbol("pthread_kill")
		if name == "" || pa == 0 {
			t.Fatalf("symbols: %q %#x, pthread_kill at %#x", name, start, pa)
		}
		return fmt.Sprintf("%+v %s %#x %s %#x %#x", locs, name, start, near, nstart, pa)
	}
	first := where()
	n, err := cachefile.VerifyFile(filepath.Join(dir, "sections-v2", "debug_info"))
	if err != nil || uint64(n) != info.Size {
		t.Fatalf("inflated .debug_info in the cache: %d bytes, %v (want %d bytes, sealed)", n, err, info.Size)
	}
	symtabs, _ := filepath.Glob(filepath.Join(dir, "symtab-v3-with-debug-file-*"))
	if len(symtabs) != 1 {
		t.Fatalf("symbol table caches %q", symtabs)
	}
	units, _ := filepath.Glob(filepath.Join(dir, "index-v2-*", "units"))
	if len(units) != 1 {
		t.Fatalf("unit indexes %q", units)
	}
	if again := where(); again != first {
		t.Errorf("from the cache:\n%s\nfresh:\n%s", again, first)
	}
	// Damaged entries: a truncated section and a garbled index.
	if err := os.Truncate(filepath.Join(dir, "sections-v2", "debug_info"), 100); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(units[0], []byte("dsecore-index\nxx"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(symtabs[0], 4000); err != nil {
		t.Fatal(err)
	}
	if again := where(); again != first {
		t.Errorf("with a damaged cache:\n%s\nfresh:\n%s", again, first)
	}
}
