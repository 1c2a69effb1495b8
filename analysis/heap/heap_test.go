package heap_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/analysis/coroutines"
	"github.com/dsecore/dsecore/analysis/heap"
	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/internal/fixture"
)

func open(t testing.TB, sc *fixture.Scenario, debugDirs ...string) *coreparse.Process {
	t.Helper()
	p, err := coreparse.Open(coreparse.Options{Core: sc.Core, Exe: sc.Exe, DebugFileDirs: debugDirs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// nameThreads names the threads after their Processers, as every face
// does before it shows a heap finding.
func nameThreads(t testing.TB, p *coreparse.Process) {
	prof, err := coroutines.LoadProfile("ceph-dse")
	if err != nil {
		t.Fatal(err)
	}
	coroutines.Discover(p, prof, coroutines.Options{})
}

func hexv(t testing.TB, v any) uint64 {
	t.Helper()
	s, _ := v.(string)
	n, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64)
	if err != nil {
		t.Fatalf("hex %v: %v", v, err)
	}
	return n
}

func num(t testing.TB, v any) int {
	t.Helper()
	f, ok := v.(float64)
	if !ok {
		t.Fatalf("number %v", v)
	}
	return int(f)
}

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
			mem := hexv(t, truth["mem"])
			for _, addr := range []uint64{mem, mem + 0x10, mem + 0x1d0} {
				f := h.Locate(addr)
				t.Logf("%#x: %s (%s)", addr, f.Describe(), f.How)
				if f.State != heap.StateFree || f.Chunk == nil || f.Chunk.Address != hexv(t, truth["chunk"]) || f.Chunk.Size != hexv(t, truth["size"]) {
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
					if b.Count != len(entries) || hexv(t, entries[b.Position]) != mem {
						t.Errorf("entry #%d of %d, the program's frees say %v", b.Position, b.Count, entries)
					}
				}
				if f.Tcache == nil || f.Tcache.NextRaw != hexv(t, truth["next_word"]) || f.Tcache.Key != hexv(t, truth["key_word"]) || !f.Tcache.KeyIsTcacheKey {
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
