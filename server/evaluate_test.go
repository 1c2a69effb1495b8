package server

import (
	"strings"
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/google/go-dap"
)

// TestEvaluateFrames: an expression is evaluated in the frame it names
// (clear()'s this: the node the program recorded), a global with no frame
// at all; a frame id the session never gave is an error naming it, not the
// expression evaluated without its frame; REPL commands in such a frame
// fall back to the crashed thread.
func TestEvaluateFrames(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	out := &syncBuffer{}
	c := &client{t: t, s: newConn(out), out: out}
	defer c.s.close()
	c.ok("initialize", map[string]any{"adapterID": "test"})
	c.ok("launch", map[string]any{"coreFile": sc.Core, "program": sc.Exe})
	c.ok("configurationDone", nil)
	crash := int(sc.Expected["crash_lwp"].(float64))
	clear := 0
	for _, f := range c.ok("stackTrace", map[string]any{"threadId": crash, "levels": 100}).(*dap.StackTraceResponse).Body.StackFrames {
		if f.Name == "dm_hash_node_t::clear" {
			clear = f.Id
		}
	}
	if clear == 0 {
		t.Fatal("no clear() frame")
	}
	eval := func(expr string, frame int, ctx string) (string, wire) {
		t.Helper()
		m, _, w := c.call("evaluate", map[string]any{"expression": expr, "frameId": frame, "context": ctx})
		if r, ok := m.(*dap.EvaluateResponse); ok && w.Success {
			return r.Body.Result, w
		}
		return "", w
	}
	node := sc.Expected["node"].(string)
	if got, w := eval("this", clear, "watch"); !w.Success || !strings.HasPrefix(got, node) {
		t.Errorf("this in clear() = %q (%s), the node is %s", got, w.Message, node)
	}
	if got, w := eval("scenario", 0, "watch"); !w.Success || got != `"field-crash"` {
		t.Errorf("scenario without a frame = %q (%s)", got, w.Message)
	}
	const gone = 987654
	for _, expr := range []string{"this", "1 + 1", "scenario"} {
		if got, w := eval(expr, gone, "watch"); w.Success || !strings.Contains(w.Message, "no frame 987654") {
			t.Errorf("%s in frame %d: %q, success %v, message %q", expr, gone, got, w.Success, w.Message)
		}
	}
	if got, w := eval("bt", gone, "repl"); !w.Success || !strings.Contains(got, "dm_hash_node_t::clear at") {
		t.Errorf("bt in frame %d: %q (%s)", gone, got, w.Message)
	}
}
