package server

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/google/go-dap"
)

// TestPrefetchSameAnswers: the crashing thread's stack and its frames'
// disassembly listings made by the prefetch (on another goroutine, after
// launch) give the stackTrace and source answers a session without it
// gives, byte for byte: the same frames, lines, instruction references
// and source references (numbered in the order the requests name them,
// not the prefetch's), the same disassembly texts. And the prefetch did
// make the listings before the client asked (it fails when prefetch
// does nothing).
func TestPrefetchSameAnswers(t *testing.T) {
	for _, name := range []string{fixture.FieldCrash, "large"} {
		sc := fixture.Get(t).Scenario(t, name)
		without, _ := prefetchSession(t, sc, false)
		with, made := prefetchSession(t, sc, true)
		if made == 0 {
			t.Errorf("%s: the prefetch made no disassembly listing before the first stackTrace", name)
		}
		if len(with) != len(without) {
			t.Fatalf("%s: %d answers with the prefetch, %d without", name, len(with), len(without))
		}
		for i := range with {
			if with[i] != without[i] {
				t.Errorf("%s: answer %d differs with the prefetch:\n%s\nwithout:\n%s", name, i, with[i], without[i])
			}
		}
		t.Logf("%s: %d listings prefetched, %d answers the same", name, made, len(with))
	}
}

// prefetchSession launches sc's core and asks what a client asks after
// the stop: the threads, the crashing thread's stack (20 frames, then
// all), and the content of every disassembly source they name. With
// prefetch, the requests wait for the prefetch to end first, and made is
// how many listings it had made.
func prefetchSession(t *testing.T, sc *fixture.Scenario, prefetch bool) (answers []string, made int) {
	t.Helper()
	done := make(chan *state, 1)
	prefetchOff = !prefetch
	prefetchDone = func(st *state) { done <- st }
	defer func() { prefetchOff, prefetchDone = false, nil }()
	c := startServer(t, Config{})
	c.launch(map[string]any{"coreFile": sc.Core, "program": sc.Exe})
	if prefetch {
		select {
		case st := <-done:
			st.mu.Lock()
			for _, l := range st.listings {
				if l.done && len(l.insts) > 0 {
					made++
				}
			}
			st.mu.Unlock()
		case <-time.After(120 * time.Second):
			t.Fatal("the prefetch did not end in 120 s")
		}
	}
	c.ok("configurationDone", nil)
	var stopped *dap.StoppedEvent
	for stopped == nil {
		if s, ok := c.next().msg.(*dap.StoppedEvent); ok {
			stopped = s
		}
	}
	c.ok("threads", nil)
	text := func(m dap.ResponseMessage) string {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	refs := map[int]bool{}
	for _, levels := range []int{20, 0} {
		r := c.ok("stackTrace", map[string]any{"threadId": stopped.Body.ThreadId, "levels": levels}).(*dap.StackTraceResponse)
		answers = append(answers, text(r))
		for _, f := range r.Body.StackFrames {
			if f.Source != nil && f.Source.SourceReference > 0 && !refs[f.Source.SourceReference] {
				refs[f.Source.SourceReference] = true
				answers = append(answers, text(c.ok("source", map[string]any{"sourceReference": f.Source.SourceReference})))
			}
		}
	}
	if len(refs) == 0 {
		t.Errorf("%s: no disassembly source in the crashing thread's stack: nothing to compare", sc.Name)
	}
	return answers, made
}
