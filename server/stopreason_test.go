package server

import (
	"strings"
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/google/go-dap"
)

// TestStackStopSaid: the hostile core's thread whose frame pointers loop
// (expected.json's fp_loop_lwp) ends its stack with a label frame saying
// why, in gdb's words for it ("previous frame identical to this frame"),
// counted in totalFrames and given only to a request whose levels reach
// it; the crashing thread, 100,000 frames deep, is cut
// at the frame limit, which is no early end: no label.
func TestStackStopSaid(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, "hostile")
	c := startServer(t, Config{})
	c.launch(map[string]any{"coreFile": sc.Core, "program": sc.Exe})
	loop := int(sc.Expected["fp_loop_lwp"].(float64))
	st := c.ok("stackTrace", map[string]any{"threadId": loop}).(*dap.StackTraceResponse).Body
	last := st.StackFrames[len(st.StackFrames)-1]
	if !strings.HasPrefix(last.Name, "unwinding stopped: ") || !strings.Contains(last.Name, "previous frame identical to this frame") ||
		last.PresentationHint != "label" || st.TotalFrames != len(st.StackFrames) {
		t.Errorf("LWP %d: last frame %q (%s), %d frames of %d", loop, last.Name, last.PresentationHint, len(st.StackFrames), st.TotalFrames)
	}
	// Paged as VS Code pages it: the label is the last level, given only
	// to a request whose levels reach it.
	n := len(st.StackFrames) - 1 // the frames before the label
	for _, p := range []struct{ start, levels, want int }{{0, n, n}, {0, n + 1, n + 1}, {0, n + 5, n + 1}, {n, 1, 1}, {n - 1, 1, 1}, {n - 1, 2, 2}} {
		got := c.ok("stackTrace", map[string]any{"threadId": loop, "startFrame": p.start, "levels": p.levels}).(*dap.StackTraceResponse).Body
		label := len(got.StackFrames) > 0 && got.StackFrames[len(got.StackFrames)-1].PresentationHint == "label"
		if n < 1 || len(got.StackFrames) != p.want || label != (p.start+p.levels > n) || got.TotalFrames != n+1 {
			t.Errorf("startFrame %d levels %d: %d frames (label %v) of %d; want %d of %d", p.start, p.levels, len(got.StackFrames), label, got.TotalFrames, p.want, n+1)
		}
	}
	th := c.ok("threads", nil).(*dap.ThreadsResponse).Body.Threads
	for _, x := range th {
		if x.Id == loop || x.Id >= taskBase {
			continue
		}
		st := c.ok("stackTrace", map[string]any{"threadId": x.Id}).(*dap.StackTraceResponse).Body
		for _, f := range st.StackFrames {
			if strings.HasPrefix(f.Name, "unwinding stopped") {
				t.Errorf("LWP %d (%d frames): %q", x.Id, st.TotalFrames, f.Name)
			}
		}
	}
}
