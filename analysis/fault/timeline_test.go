package fault_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dsecore/dsecore/analysis/fault"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
)

// checkTimeline: every log step quotes its file's line at its number,
// timed steps come in time order and before the state at the dump, the
// fault comes right before the handler's first line, and the holder's
// step points at the holder and its frame.
func checkTimeline(t *testing.T, sc *fixture.Scenario, a *fault.Analysis, holderWho, holderFn string, holderFrame int, expr string) {
	t.Helper()
	tl := a.Timeline
	if len(tl) == 0 {
		t.Fatal("no timeline")
	}
	files := map[string][]string{}
	lines := func(name string) []string {
		if _, ok := files[name]; !ok {
			b, err := os.ReadFile(filepath.Join(sc.Dir, name))
			if err != nil {
				t.Fatal(err)
			}
			files[name] = strings.Split(string(b), "\n")
		}
		return files[name]
	}
	var last time.Time
	dump, faultAt, handlerAt, holderAt, listAt := false, -1, -1, -1, -1
	logged := map[int]int{} // LWP → log steps
	for i, st := range tl {
		switch {
		case st.AtDump:
			dump = true
		case dump:
			t.Errorf("step %d (%s) after the state at the dump", i, st.Text)
		}
		switch st.Evidence {
		case "log":
			ls := lines(st.File)
			if st.Line < 1 || st.Line > len(ls) || ls[st.Line-1] != st.Source || st.Time.IsZero() {
				t.Errorf("step %d: %s:%d is not %q", i, st.File, st.Line, st.Source)
			}
			if st.Time.Before(last) {
				t.Errorf("step %d at %s before the step before it (%s)", i, st.Time, last)
			}
			last = st.Time
			logged[st.LWP]++
			if handlerAt < 0 && strings.Contains(st.Source, "*** Caught signal") {
				handlerAt = i
			}
		case "fault":
			faultAt = i
			if st.LWP != a.Fault.Context.Thread.LWP || !strings.Contains(st.Text, a.Fault.Description) {
				t.Errorf("fault step %+v", st)
			}
		case "frame":
			// (a thread the core does not name is named after its entry routine: "thread LWP n (fn)")
			if (st.Who == holderWho || strings.HasPrefix(st.Who, holderWho+" (")) && holderAt < 0 {
				holderAt = i
				if st.Ref != "memory.holders[0]" || st.Function != holderFn || st.Frame != holderFrame || !strings.Contains(st.Text, "`"+expr+"`") {
					t.Errorf("holder step %+v", st)
				}
			}
		case "list":
			if listAt < 0 {
				listAt = i
				if !strings.Contains(st.Text, "its size_ field reads -1 (underflowed") || st.Ref != "list_walk" {
					t.Errorf("list step %+v", st)
				}
			}
		case "heap":
			t.Errorf("a heap step on a clean heap: %+v", st)
		}
	}
	if faultAt < 0 || handlerAt != faultAt+1 || holderAt < 0 || listAt < 0 {
		t.Errorf("fault at %d, handler at %d, holder at %d, list at %d", faultAt, handlerAt, holderAt, listAt)
	}
	crash := a.Fault.Context.Thread.LWP
	if logged[crash] == 0 || len(logged) != 2 {
		t.Errorf("log steps by LWP %v: want the crashed thread's and the other path's", logged)
	}
}

// TestTimeline: the field crash and the pointer chain, step by step.
func TestTimeline(t *testing.T) {
	set := fixture.Get(t)
	t.Run(fixture.FieldCrash, func(t *testing.T) {
		sc := set.Scenario(t, fixture.FieldCrash)
		a := analyze(t, sc, fault.Options{})
		id := theOtherPath(t, sc)
		proc := sc.Expected["racing_tasks"].([]any)[1].(map[string]any)["processer"]
		checkTimeline(t, sc, a, fmt.Sprintf("task %d (Processer %v, block)", id, proc), "(anonymous namespace)::release_wait", 3, "node")
	})
	t.Run(fixture.PointerChain, func(t *testing.T) {
		sc := set.Scenario(t, fixture.PointerChain)
		a := analyze(t, sc, fault.Options{})
		h := sc.Expected["holder"].(map[string]any)
		p := h["paths"].([]any)[0].(map[string]any)
		checkTimeline(t, sc, a, fmt.Sprintf("thread LWP %v", h["lwp"]), p["function"].(string), 1, p["expr"].(string))
	})
}

// windowLog writes a log of two threads of the field crash (the crashed
// one, A, and Processer_6's, B) that each log "lsm_destroy start" and then
// another line (A nextUS later, B 10 µs later); B's step begins gapUS after
// A's. It returns the file and the two threads' LWPs.
func windowLog(t *testing.T, sc *fixture.Scenario, gapUS, nextUS int) (string, int, int) {
	t.Helper()
	a := int(sc.Expected["crash_lwp"].(float64))
	var pa, pb string
	b := 0
	for _, x := range sc.Expected["threads"].([]any) {
		m := x.(map[string]any)
		switch {
		case int(m["lwp"].(float64)) == a:
			pa = strings.TrimPrefix(m["pthread"].(string), "0x")
		case m["name"] == "Processer_6":
			b, pb = int(m["lwp"].(float64)), strings.TrimPrefix(m["pthread"].(string), "0x")
		}
	}
	if pa == "" || pb == "" {
		t.Fatalf("no pthread ids of LWP %d and Processer_6 in expected.json", a)
	}
	t0 := time.Date(2026, 12, 7, 1, 34, 2, 0, time.UTC)
	line := func(us int, pthread string, lwp int, msg string) string {
		return fmt.Sprintf("%s %s %d 13  INFO %s\n", t0.Add(time.Duration(us)*time.Microsecond).Format("2006-01-02 15:04:05.000000"), pthread, lwp, msg)
	}
	text := line(0, pa, a, "Dcache_lsm:lsm_destroy start to destroy lsm.") +
		line(nextUS, pa, a, "Dcache_lsm: lsm 4 released") +
		line(gapUS, pb, b, "Dcache_lsm:lsm_destroy start to destroy lsm.") +
		line(gapUS+10, pb, b, "Dcache_lsm: lsm 5 released")
	p := filepath.Join(t.TempDir(), fmt.Sprintf("ceph-dse.engine.64.%d.log", nextUS))
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, a, b
}

// TestConcurrencyWindow: two threads that log the same step 400 µs apart
// are concurrent within a window of 400 µs or more and not within 399 µs
// when the first moved on 10 µs after its line; when it moved on only
// after 500 µs it was still in the step, whatever the window. The
// evidence says how far apart, and whether the first was still in it.
func TestConcurrencyWindow(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	for _, c := range []struct {
		window int64
		next   int
		want   bool
		still  bool
	}{{1000, 10, true, false}, {400, 10, true, false}, {399, 10, false, false}, {100, 10, false, false}, {100, 500, true, true}, {100, 400, true, true}, {100, 399, false, false}} {
		p, la, lb := windowLog(t, sc, 400, c.next)
		a := analyze(t, sc, fault.Options{Logs: []string{p}, ConcurrencyWindowUS: c.window})
		l := a.Logs
		if l == nil || l.Lines != 4 || l.Unmatched != 0 {
			t.Fatalf("window %d µs: logs %+v", c.window, l)
		}
		got := len(l.Concurrent) > 0
		if got != c.want || got && (len(l.Concurrent) != 1 || l.Concurrent[0][0].LWP != la || l.Concurrent[0][1].LWP != lb) {
			t.Errorf("window %d µs, next line at %d µs: concurrent %+v, want a pair of LWP %d and %d: %v", c.window, c.next, l.Concurrent, la, lb, c.want)
		}
		if hasRule(a, "log-concurrent") != c.want {
			t.Errorf("window %d µs, next line at %d µs: rules %v", c.window, c.next, a.Rules)
		}
		for _, e := range a.Evidence {
			if e.Rule == "log-concurrent" && (!strings.Contains(e.Text, " 400 µs apart") || strings.Contains(e.Text, "still in that step") != c.still) {
				t.Errorf("window %d µs, next line at %d µs: evidence %q", c.window, c.next, e.Text)
			}
		}
	}
}

// TestTimelineHeapStep: a chunk free() put in a tcache bin is one step at
// the dump (beside the malloc abort's own step), by the crashed thread, pointing at memory.heap[0], which says
// whose tcache it is: the thread expected.json names as the bin's owner
// (the thread that freed it, since free() fills the caller's own tcache).
func TestTimelineHeapStep(t *testing.T) {
	set := fixture.Get(t)
	for _, name := range []string{fixture.TcacheUAF, fixture.DoubleFree} {
		t.Run(name, func(t *testing.T) {
			sc := set.Scenario(t, name)
			a := analyze(t, sc, fault.Options{})
			h := sc.Expected["heap"].(map[string]any)
			if h["bin"] != "tcache" {
				t.Fatalf("expected.json: heap bin %v, want tcache", h["bin"])
			}
			var heap []fault.TimelineStep
			for _, st := range a.Timeline {
				if st.Evidence == "heap" && st.AtDump { // (not the malloc abort's step)
					heap = append(heap, st)
				}
			}
			if len(heap) != 1 {
				t.Fatalf("heap steps %+v, want one", heap)
			}
			st := heap[0]
			crash := int(sc.Expected["crash_lwp"].(float64))
			want := fmt.Sprintf("; free() puts a chunk in the calling thread's own tcache: thread LWP %v freed it", h["thread_lwp"])
			if st.LWP != crash || st.TaskID != -1 || st.Ref != "memory.heap[0]" || !strings.HasSuffix(st.Text, want) {
				t.Errorf("heap step %+v, want LWP %d, memory.heap[0], text ending %q", st, crash, want)
			}
			if !strings.Contains(st.Text, fmt.Sprintf("chunk %s (size %s)", h["chunk"], h["size"])) {
				t.Errorf("heap step %q does not name chunk %v", st.Text, h["chunk"])
			}
		})
	}
}
