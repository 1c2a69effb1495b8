package heap_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/analysis/heap"
	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/values"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/dsecore/dsecore/internal/testsupport/fixtureproc"
	"github.com/dsecore/dsecore/internal/testsupport/testcore"
)

func open(t testing.TB, sc *fixture.Scenario, debugDirs ...string) *coreparse.Process {
	t.Helper()
	return fixtureproc.Process(t, sc, debugDirs...)
}

// nameThreads names the threads after their Processers, as every face
// does before it shows a heap finding.
func nameThreads(t testing.TB, p *coreparse.Process) { fixtureproc.Runtime(t, p) }

func num(t testing.TB, v any) int { return int(fixture.Num(t, v)) }

// The freed request of tcache-uaf and double-free: the chunk, its size and
// the tcache bin the program computed, in the thread that freed it, at the
// position the program's own frees put it.
func TestFreedRequestInTcache(t *testing.T) {
	set := fixture.Get(t)
	for _, name := range []string{fixture.TcacheUAF, fixture.DoubleFree} {
		t.Run(name, func(t *testing.T) {
			sc := set.Scenario(t, name)
			truth := sc.Expected["heap"].(map[string]any)
			p := open(t, sc)
			nameThreads(t, p)
			h := heap.Open(p, heap.Options{})
			if !h.Known {
				t.Fatalf("heap unknown: %s", h.Reason)
			}
			mem := fixture.Hex(t, truth["mem"])
			for _, addr := range []uint64{mem, mem + 0x10, mem + 0x1d0} {
				f := h.Locate(addr)
				t.Logf("%#x: %s (%s)", addr, f.Describe(), f.How)
				if f.State != heap.StateFree || f.Chunk == nil || f.Chunk.Address != fixture.Hex(t, truth["chunk"]) || f.Chunk.Size != fixture.Hex(t, truth["size"]) {
					t.Fatalf("%#x: %+v, truth %v", addr, f, truth)
				}
				if f.Offset != int64(addr-mem) {
					t.Errorf("offset %d", f.Offset)
				}
				if f.Chunk.NonMain != truth["non_main_arena"].(bool) || f.ArenaName == "main_arena" == truth["non_main_arena"].(bool) {
					t.Errorf("arena %s, non-main bit %v; truth %v", f.ArenaName, f.Chunk.NonMain, truth["non_main_arena"])
				}
				if len(f.Bins) != 1 {
					t.Fatalf("bins %v", f.Bins)
				}
				b := f.Bins[0]
				if b.Kind != "tcache" || b.Index != num(t, truth["tcache_bin"]) || b.Thread != num(t, truth["thread_lwp"]) || b.ThreadName != truth["thread_name"] {
					t.Errorf("bin %+v, truth %v", b, truth)
				}
				if truth["bin_was_empty"] == true {
					entries := truth["bin_entries"].([]any)
					if b.Count != len(entries) || fixture.Hex(t, entries[b.Position]) != mem {
						t.Errorf("entry #%d of %d, the program's frees say %v", b.Position, b.Count, entries)
					}
				}
				if f.Tcache == nil || f.Tcache.NextRaw != fixture.Hex(t, truth["next_word"]) || f.Tcache.Key != fixture.Hex(t, truth["key_word"]) || !f.Tcache.KeyIsTcacheKey {
					t.Errorf("tcache entry %+v, truth next %v key %v", f.Tcache, truth["next_word"], truth["key_word"])
				}
				if !f.UseAfterFree() || f.Corruption() || len(f.Problems) != 0 {
					t.Errorf("use-after-free %v, corruption %v, problems %v", f.UseAfterFree(), f.Corruption(), f.Problems)
				}
				if v := f.Verdict(heap.AccessUse); v.Rule != "use-after-free" || !strings.Contains(v.Text, "tcache bin "+strconv.Itoa(b.Index)) {
					t.Errorf("verdict %+v", v)
				}
				if v := f.Verdict(heap.AccessFree); v.Rule != "double-free" {
					t.Errorf("verdict on free() %+v", v)
				}
				// The words free() wrote: the walk of tcache-uaf loaded its
				// bad pointer from the first (truth: next_word).
				if w, ok := f.FreedWord(mem); !ok || !strings.Contains(w, "tcache_entry.next") || !strings.Contains(w, fmt.Sprintf("%#x", fixture.Hex(t, truth["next_word"]))) {
					t.Errorf("the first word: %q %v", w, ok)
				}
				if w, ok := f.FreedWord(mem + 8); !ok || !strings.Contains(w, "tcache_key") {
					t.Errorf("the second word: %q %v", w, ok)
				}
				if _, ok := f.FreedWord(mem + 0x10); ok {
					t.Error("the third word is the program's")
				}
			}
			if name == fixture.DoubleFree {
				if m := h.MallocError(); m != sc.Expected["abort_message"] {
					t.Errorf("malloc's abort message %q, the program expects %q", m, sc.Expected["abort_message"])
				}
			} else if m := h.AbortMessage(); m != "" {
				t.Errorf("abort message %q on a segfault", m)
			}
			if pr := h.Problems(); len(pr) != 0 {
				t.Errorf("problems %v", pr)
			}
		})
	}
}

// The field crash (and the pool's use-after-free, and the pointer-chain
// variant): the node, its objects (returned to the pool, never freed: a
// pool's use-after-free is not malloc's to see) and the list header are in
// use in the main arena; nothing in the heap's metadata is inconsistent,
// and no verdict fires.
func TestFieldCrashHeapIsClean(t *testing.T) {
	for _, name := range []string{fixture.FieldCrash, fixture.UseAfterFree, fixture.PointerChain} {
		t.Run(name, func(t *testing.T) { heapIsClean(t, fixture.Get(t).Scenario(t, name)) })
	}
}

func heapIsClean(t *testing.T, sc *fixture.Scenario) {
	p := open(t, sc)
	h := heap.Open(p, heap.Options{})
	if !h.Known || len(h.Arenas) < 2 || !h.Arenas[0].Main || len(h.Tcaches()) == 0 {
		t.Fatalf("heap: known %v (%s), %d arenas, %d tcaches", h.Known, h.Reason, len(h.Arenas), len(h.Tcaches()))
	}
	node := fixture.Hex(t, sc.Expected["node"])
	addrs := []uint64{node, node + 0x18}
	for _, o := range sc.Expected["objs"].([]any) {
		m := o.(map[string]any)
		addrs = append(addrs, fixture.Hex(t, m["address"]), fixture.Hex(t, m["hook"]))
	}
	for _, a := range addrs {
		f := h.Locate(a)
		if f.State != heap.StateInUse || f.ArenaName != "main_arena" || f.Chunk == nil || f.Chunk.NonMain || len(f.Problems) != 0 || len(f.Bins) != 0 {
			t.Errorf("%#x: %s", a, f.Describe())
		}
		if v := f.Verdict(heap.AccessUse); v.Rule != "" {
			t.Errorf("%#x: verdict %+v", a, v)
		}
	}
	if f := h.Locate(node); f.Chunk.Mem != node || f.Offset != 0 {
		t.Errorf("the node is not its chunk's memory: %s", f.Describe())
	}
	if pr := h.Problems(); len(pr) != 0 {
		t.Errorf("problems in a clean heap: %v", pr)
	}
	// Not heap: a stack address, the executable's data, address 0.
	for _, a := range []uint64{p.Threads[0].Regs.V[7], fixture.Hex(t, sc.Expected["lib_base"]), 0} {
		if f := h.Locate(a); f.State != heap.StateNotHeap || f.UseAfterFree() {
			t.Errorf("%#x: %s", a, f.Describe())
		}
	}
	if m := h.AbortMessage(); m != "" {
		t.Errorf("abort message %q", m)
	}
}

// Without libc's debug info the heap cannot be read: it says so, and
// every address is "cannot tell", never a guess.
func TestWithoutLibcDebugInfo(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.TcacheUAF)
	p := open(t, sc, t.TempDir())
	h := heap.Open(p, heap.Options{})
	if h.Known || !strings.Contains(h.Reason, "libc6-dbg") || !strings.Contains(h.Reason, "libc.so.6") {
		t.Fatalf("known %v, reason %q", h.Known, h.Reason)
	}
	f := h.Locate(fixture.Hex(t, sc.Expected["heap"].(map[string]any)["mem"]))
	if f.Known || f.State != heap.StateUnknown || f.UseAfterFree() || f.Corruption() || f.Chunk != nil {
		t.Fatalf("finding %+v", f)
	}
	if v := f.Verdict(heap.AccessFree); v.Rule != "unknown" || v.Text != h.Reason {
		t.Errorf("verdict %+v", v)
	}
	if h.Tcaches() != nil || h.Problems() != nil {
		t.Error("lists from an unknown heap")
	}
}

// Corrupt metadata, laid over the tcache-uaf core: each corruption is
// named, the freed request is still found where it can be, and nothing
// hangs.
func TestCorruptHeap(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.TcacheUAF)
	truth := sc.Expected["heap"].(map[string]any)
	mem, chunk := fixture.Hex(t, truth["mem"]), fixture.Hex(t, truth["chunk"])
	p := open(t, sc)
	clean := heap.Open(p, heap.Options{})
	first := clean.Arenas[0]
	for _, a := range clean.Arenas {
		if f := clean.Locate(mem); f.Arena == a.Address {
			first = a
		}
	}
	heapStart := first.Heaps[0].Start
	// The chunk just before the victim.
	prev := heapStart
	for c := heapStart; c < chunk; {
		f := clean.Locate(c + 16)
		prev = f.Chunk.Address
		c = f.Chunk.Address + f.Chunk.Size
	}
	if prev == heapStart || prev >= chunk {
		t.Fatalf("no chunk before the victim (heap %#x, victim %#x)", heapStart, chunk)
	}
	cases := []struct {
		name  string
		patch func(m *heap.Patched)
		check func(t *testing.T, f *heap.Finding, h *heap.Heap)
	}{
		{"victim's size field", func(m *heap.Patched) { m.PatchWord(chunk+8, 0x4141414141414141) }, func(t *testing.T, f *heap.Finding, h *heap.Heap) {
			if !f.Corruption() || f.UseAfterFree() || f.Verdict(heap.AccessUse).Rule != "heap-corruption" || !hasProblem(f, "header", chunk) {
				t.Errorf("%s", f.Describe())
			}
		}},
		{"an earlier chunk's size field", func(m *heap.Patched) { m.PatchWord(prev+8, 0x13) }, func(t *testing.T, f *heap.Finding, h *heap.Heap) {
			if f.State != heap.StateFree || f.Chunk.Address != chunk || !strings.HasPrefix(f.How, "searched back") || !hasProblem(f, "header", prev) {
				t.Errorf("%s (%s)", f.Describe(), f.How)
			}
		}},
		{"the next chunk's size field", func(m *heap.Patched) { m.PatchWord(chunk+fixture.Hex(t, truth["size"])+8, 0x7) }, func(t *testing.T, f *heap.Finding, h *heap.Heap) {
			if f.State != heap.StateFree || !hasProblem(f, "next-header", chunk) || !f.Corruption() {
				t.Errorf("%s", f.Describe())
			}
		}},
		{"the tcache key", func(m *heap.Patched) { m.PatchWord(mem+8, 0) }, func(t *testing.T, f *heap.Finding, h *heap.Heap) {
			if f.State != heap.StateFree || f.Tcache == nil || f.Tcache.KeyIsTcacheKey || !hasProblem(f, "tcache-key", chunk) {
				t.Errorf("%s", f.Describe())
			}
		}},
		{"a tcache loop", func(m *heap.Patched) { m.PatchWord(mem, (mem>>12)^mem) }, func(t *testing.T, f *heap.Finding, h *heap.Heap) {
			if f.State != heap.StateFree || !hasProblem(f, "bin-loop", chunk) {
				t.Errorf("%s", f.Describe())
			}
		}},
		{"the tcache count", func(m *heap.Patched) {
			tc := tcacheOf(t, clean, num(t, truth["thread_lwp"]))
			m.PatchWord(tc+uint64(2*num(t, truth["tcache_bin"]))&^7, 0)
		}, func(t *testing.T, f *heap.Finding, h *heap.Heap) {
			found := false
			for _, pr := range h.Problems() {
				found = found || pr.Kind == "tcache-count"
			}
			if !found {
				t.Errorf("no tcache-count problem in %v", h.Problems())
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := &heap.Patched{Core: p.Core, Bytes: map[uint64]byte{}}
			c.patch(m)
			h := heap.OpenPatched(p, heap.Options{}, m)
			f := h.Locate(mem)
			t.Logf("%s (%s)", f.Describe(), f.How)
			c.check(t, f, h)
		})
	}
}

func hasProblem(f *heap.Finding, kind string, chunk uint64) bool {
	for _, p := range f.Problems {
		if p.Kind == kind && p.Chunk == chunk {
			return true
		}
	}
	return false
}

func tcacheOf(t interface{ Fatalf(string, ...any) }, h *heap.Heap, lwp int) uint64 {
	for _, tc := range h.Tcaches() {
		if tc.Thread == lwp {
			return tc.Address
		}
	}
	t.Fatalf("no tcache for LWP %d", lwp)
	return 0
}

// The scale fixture's touched heap: 1 MiB blocks malloc mmapped one by
// one (the kernel merges their mappings); each is found as an mmapped
// chunk in use, of 1 MiB plus its header rounded to pages.
func TestMmappedChunks(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.Scale)
	p := open(t, sc)
	h := heap.Open(p, heap.Options{})
	r := values.NewReader(p)
	n, err := r.Eval(&values.Scope{}, "heap_chunks._M_impl._M_finish - heap_chunks._M_impl._M_start")
	if err != nil {
		t.Fatal(err)
	}
	count, _ := r.Int(n)
	if want := int64(num(t, sc.Expected["scale"].(map[string]any)["heap_mb"])); count != want {
		t.Fatalf("%d chunks, the program made %d", count, want)
	}
	for i := int64(0); i < count; i += 7 {
		v, err := r.Eval(&values.Scope{}, fmt.Sprintf("heap_chunks[%d]", i))
		if err != nil {
			t.Fatal(err)
		}
		mem, _ := r.Uint(v)
		for _, a := range []uint64{mem, mem + 1<<19, mem + 1<<20 - 1} {
			f := h.Locate(a)
			if f.State != heap.StateMmapped || f.Chunk.Mem != mem || f.Chunk.Size != 0x101000 || f.UseAfterFree() || f.Verdict(heap.AccessUse).Rule != "" {
				t.Fatalf("heap_chunks[%d] = %#x: %#x: %s", i, mem, a, f.Describe())
			}
		}
	}
}

// The finding's JSON: addresses as "0x…" strings, every state key there.
func TestFindingJSON(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.TcacheUAF)
	truth := sc.Expected["heap"].(map[string]any)
	p := open(t, sc)
	h := heap.Open(p, heap.Options{})
	b, err := json.Marshal(h.Locate(fixture.Hex(t, truth["mem"])))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	c := m["chunk"].(map[string]any)
	bins := m["bins"].([]any)
	te := m["tcache_entry"].(map[string]any)
	if m["address"] != truth["mem"] || m["state"] != "free" || c["address"] != truth["chunk"] || c["size"] != truth["size"] ||
		bins[0].(map[string]any)["kind"] != "tcache" || te["next_raw"] != truth["next_word"] || te["key"] != truth["key_word"] {
		t.Errorf("%s", b)
	}
	if _, err := json.Marshal(h); err != nil {
		t.Errorf("the heap's JSON: %v", err)
	}
}

// binsProgram frees chunks into every kind of free list glibc 2.36 has,
// by its rules, everything allocated first (guards keep freed chunks from
// coalescing): a 0x510 chunk and the eighth of eight 0x310 chunks go to the
// unsorted bin (the first seven fill tcache bin 47); a 0x610 request sorts
// the unsorted bin (the 0x310 chunk into small bin 49, the 0x510 one into
// large bin 68); a 0x710 chunk freed next stays unsorted; last, ten 0x30
// chunks: seven fill tcache bin 1, three go to fastbin 1 (a large request
// after them would have consolidated them).
const binsProgram = `
#include <stdio.h>
#include <stdlib.h>
int* volatile nowhere;
int main(void) {
    void *p[10], *s[8], *g[8];
    for (int i = 0; i < 10; i++) p[i] = malloc(0x28);
    void *a = malloc(0x500), *ga = malloc(0x18);
    for (int i = 0; i < 8; i++) { s[i] = malloc(0x300); g[i] = malloc(0x18); }
    void *u = malloc(0x700), *gu = malloc(0x18);
    free(a);
    for (int i = 0; i < 8; i++) free(s[i]);
    void *big = malloc(0x600);
    free(u);
    for (int i = 0; i < 10; i++) free(p[i]);
    for (int i = 0; i < 10; i++) fprintf(stderr, "p%d=%p\n", i, p[i]);
    for (int i = 0; i < 8; i++) fprintf(stderr, "s%d=%p\n", i, s[i]);
    fprintf(stderr, "a=%p\nga=%p\nbig=%p\nu=%p\ngu=%p\ng0=%p\n", a, ga, big, u, gu, g[0]);
    *nowhere = 1;
    return 0;
}
`

func TestBins(t *testing.T) {
	r := testcore.Make(t, testcore.Program{Name: "heap-bins", Lang: "c", Source: binsProgram})
	p, err := coreparse.Open(coreparse.Options{Core: r.Core, Exe: r.Exe})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	addr := map[string]uint64{}
	for _, m := range regexp.MustCompile(`(\w+)=(0x[0-9a-f]+)`).FindAllStringSubmatch(r.Stderr, -1) {
		addr[m[1]] = fixture.Hex(t, m[2])
	}
	h := heap.Open(p, heap.Options{})
	type want struct {
		kind       string
		index, pos int
		size       uint64
	}
	cases := map[string]want{"a": {"large", 68, 0, 0x510}, "s7": {"small", 49, 0, 0x310}, "u": {"unsorted", 1, 0, 0x710}}
	for i := 0; i < 7; i++ {
		cases[fmt.Sprintf("p%d", i)] = want{"tcache", 1, 6 - i, 0x30}
		cases[fmt.Sprintf("s%d", i)] = want{"tcache", 47, 6 - i, 0x310}
	}
	for i := 7; i < 10; i++ {
		cases[fmt.Sprintf("p%d", i)] = want{"fastbin", 1, 9 - i, 0x30}
	}
	for name, w := range cases {
		f := h.Locate(addr[name])
		if f.State != heap.StateFree || len(f.Bins) != 1 || f.Chunk.Size != w.size || !f.UseAfterFree() || len(f.Problems) != 0 {
			t.Errorf("%s: %s", name, f.Describe())
			continue
		}
		if b := f.Bins[0]; b.Kind != w.kind || b.Index != w.index || b.Position != w.pos {
			t.Errorf("%s: %s, want %s bin %d #%d", name, b, w.kind, w.index, w.pos)
		}
		if w.kind == "fastbin" {
			if wd, ok := f.FreedWord(f.Chunk.Mem); !ok || !strings.Contains(wd, "fastbin 1, safe-linked") {
				t.Errorf("%s: its fd word: %q", name, wd)
			}
		}
		if w.kind != "tcache" && w.kind != "fastbin" {
			if f.Chunk.NextPrevSize != w.size || f.Chunk.NextSizeField&1 != 0 {
				t.Errorf("%s: the next chunk's prev_size %#x, size field %#x", name, f.Chunk.NextPrevSize, f.Chunk.NextSizeField)
			}
			if wd, ok := f.FreedWord(f.Chunk.Mem); !ok || !strings.Contains(wd, "fd of free chunk") {
				t.Errorf("%s: its fd word: %q", name, wd)
			}
		}
	}
	for _, name := range []string{"ga", "big", "gu", "g0"} {
		if f := h.Locate(addr[name]); f.State != heap.StateInUse || f.UseAfterFree() || len(f.Problems) != 0 {
			t.Errorf("%s: %s", name, f.Describe())
		}
	}
	if top := h.Locate(h.Arenas[0].Top + 0x20); top.State != heap.StateTop || !top.UseAfterFree() || top.Verdict(heap.AccessUse).Rule != "use-after-free" {
		t.Errorf("past the last chunk: %s", top.Describe())
	}
	if pr := h.Problems(); len(pr) != 0 {
		t.Errorf("problems %v", pr)
	}
	// A free chunk's fd overwritten with a bad pointer is heap corruption
	// of that chunk (a pointer into it is still a use after free): the head of fastbin 1 (p9) with a safe-linked fd that
	// reveals to a misaligned address, the small bin's only chunk (s7)
	// with a NULL fd.
	for _, c := range []struct {
		name  string
		value func(mem uint64) uint64
		bin   string
	}{
		{"p9", func(mem uint64) uint64 { return (mem >> 12) ^ 0x4141414141414141 }, "fastbin 1"},
		{"s7", func(uint64) uint64 { return 0 }, "small bin 49"},
	} {
		t.Run("bad fd of "+c.name, func(t *testing.T) {
			mem := addr[c.name]
			m := &heap.Patched{Core: p.Core, Bytes: map[uint64]byte{}}
			m.PatchWord(mem, c.value(mem)) // fd is the first word of a free chunk's memory
			hp := heap.OpenPatched(p, heap.Options{}, m)
			f := hp.Locate(mem)
			if !hasProblem(f, "bad-fd", mem-16) || !f.Corruption() || f.Verdict(heap.AccessUse).Rule != "use-after-free" || !f.UseAfterFree() {
				t.Fatalf("%s: %s (%v)", c.name, f.Describe(), f.Problems)
			}
			for _, pr := range f.Problems {
				if pr.Kind == "bad-fd" && !strings.Contains(pr.Text, c.bin) {
					t.Errorf("%s: %q does not name %s", c.name, pr.Text, c.bin)
				}
			}
		})
	}
}
