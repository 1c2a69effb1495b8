package batch_test

import (
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dsecore/dsecore/batch"
	"github.com/dsecore/dsecore/coreparse/corestore"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/dsecore/dsecore/session"
)

// progress records what Run tells it, from its workers at once.
type progress struct {
	mu      sync.Mutex
	started []string
	done    int
}

func (p *progress) Start(path string) {
	p.mu.Lock()
	p.started = append(p.started, path)
	p.mu.Unlock()
}
func (p *progress) Done() { p.mu.Lock(); p.done++; p.mu.Unlock() }

// TestRunCache: Run over two fixture cores with two workers and a cache
// directory. Each core is summarized as expected.json says it crashed
// (its LWP), in the inputs' order, and Progress hears each core start and
// end once. Run again: each result comes from the cache, the same as
// the first; not with NoCache, not after the core's mtime or size
// changed, not with other options (the signature's frames), not without
// a cache directory.
func TestRunCache(t *testing.T) {
	f := fixture.Get(t)
	var paths []string
	want := map[string]int{}
	for _, name := range []string{fixture.FieldCrash, fixture.Abort} {
		sc := f.Scenario(t, name)
		paths = append(paths, sc.Core)
		want[sc.Core] = int(sc.Expected["crash_lwp"].(float64))
	}
	inputs, errs := corestore.Collect(paths, corestore.Options{})
	if len(errs) > 0 || len(inputs) != 2 {
		t.Fatalf("inputs %v, errors %v", inputs, errs)
	}
	cache := t.TempDir()
	run := func(inputs []corestore.Input, o batch.RunOptions) ([]batch.Core, *progress) {
		t.Helper()
		p := &progress{}
		o.Progress = p
		if o.Session.CacheDir == "" && !o.NoCache {
			o.Session.CacheDir = cache
		}
		o.Jobs = 2
		s, err := batch.Run(inputs, nil, o)
		if err != nil {
			t.Fatal(err)
		}
		return s.Cores, p
	}
	same := func(a, b batch.Core) bool { // but for where the result came from and how long it took
		a.Cached, b.Cached, a.Seconds, b.Seconds = false, false, 0, 0
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		return string(ja) == string(jb)
	}
	cached := func(cs []batch.Core) []bool {
		var out []bool
		for _, c := range cs {
			out = append(out, c.Cached)
		}
		return out
	}

	first, p := run(inputs, batch.RunOptions{})
	if len(first) != 2 {
		t.Fatalf("%d cores", len(first))
	}
	for i, c := range first {
		if c.Path != inputs[i].Path || c.LWP != want[c.Path] || c.Error != "" || c.Verdict == "" || c.Cached {
			t.Errorf("core %d: %s LWP %d (expected.json %d), error %q, verdict %q, cached %v", i, c.Path, c.LWP, want[c.Path], c.Error, c.Verdict, c.Cached)
		}
	}
	slices.Sort(p.started)
	slices.Sort(paths)
	if !slices.Equal(p.started, paths) || p.done != 2 {
		t.Errorf("progress: started %v, %d done; want %v, 2", p.started, p.done, paths)
	}

	again, _ := run(inputs, batch.RunOptions{})
	for i := range again {
		if !again[i].Cached || !same(again[i], first[i]) {
			t.Errorf("again, core %d: cached %v, same %v", i, again[i].Cached, same(again[i], first[i]))
		}
	}
	if cs, _ := run(inputs, batch.RunOptions{NoCache: true, Session: session.Options{CacheDir: cache}}); !slices.Equal(cached(cs), []bool{false, false}) {
		t.Errorf("NoCache: cached %v", cached(cs))
	}
	if cs, _ := run(inputs, batch.RunOptions{NoCache: true}); !slices.Equal(cached(cs), []bool{false, false}) {
		t.Errorf("no cache directory: cached %v", cached(cs))
	}
	if cs, _ := run(inputs, batch.RunOptions{Summary: batch.Options{Frames: 3}}); !slices.Equal(cached(cs), []bool{false, false}) {
		t.Errorf("other frames: cached %v", cached(cs))
	}
	changed := slices.Clone(inputs)
	changed[0].MTime = changed[0].MTime.Add(time.Second)
	changed[1].Size++
	if cs, _ := run(changed, batch.RunOptions{}); !slices.Equal(cached(cs), []bool{false, false}) {
		t.Errorf("mtime, size changed: cached %v", cached(cs))
	}
}
