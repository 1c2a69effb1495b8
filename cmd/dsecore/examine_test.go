package main

import (
	"strings"
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/dsecore/dsecore/internal/testsupport/gdboracle"
	"github.com/google/go-dap"
)

// TestExamineMatchesGdb: the console's x/NFU prints what gdb's x prints,
// character for character, in the crashing thread's innermost frame of the
// field crash: 16 hex digits a giant word, 2 of them a line, words and
// bytes by 4 and 8, signed and unsigned decimal, chars as gdb quotes them,
// and a text address labelled <symbol+offset> as gdb labels it.
func TestExamineMatchesGdb(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	cmds := []string{"x/4gx $rsp", "x/4x $rsp", "x/8xb $rsp", "x/6dw $rsp", "x/3ug $rsp", "x/8xh $rsp", "x/10c $rsp", "x/2gx $rip", "x/3xw $rip"}
	want, err := gdboracle.Commands(sc.Exe, sc.Core, gdboracle.Options{}, cmds...)
	if err != nil {
		t.Fatal(err)
	}
	c := startDAP(t)
	c.ok("initialize", map[string]any{"adapterID": "dsecore"})
	c.ok("launch", map[string]any{"coreFile": sc.Core, "program": sc.Exe})
	c.waitEvent("initialized")
	c.ok("configurationDone", nil)
	stopped := c.waitEvent("stopped").(*dap.StoppedEvent)
	st := c.ok("stackTrace", map[string]any{"threadId": stopped.Body.ThreadId, "levels": 1}).(*dap.StackTraceResponse)
	frame := st.Body.StackFrames[0].Id
	for i, cmd := range cmds {
		r := c.ok("evaluate", map[string]any{"expression": cmd, "context": "repl", "frameId": frame}).(*dap.EvaluateResponse)
		if got := r.Body.Result; strings.TrimSpace(got) != strings.TrimSpace(want[i]) {
			t.Errorf("%s:\nours:\n%s\ngdb:\n%s", cmd, got, want[i])
		} else {
			t.Logf("%s:\n%s", cmd, got)
		}
	}
}
