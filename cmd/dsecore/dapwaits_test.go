package main

import (
	"strings"
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/google/go-dap"
)

// TestDAPWaits: the task deadlock's "Fault analysis" scope has the waits:
// the summary, the deadlock with each member's holding and waiting frame,
// the waiter behind it, the objects with their owners.
func TestDAPWaits(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.TaskDeadlock)
	c := startDAP(t)
	c.ok("initialize", map[string]any{"adapterID": "dsecore"})
	c.ok("launch", map[string]any{"coreFile": sc.Core, "program": sc.Exe})
	c.waitEvent("initialized")
	c.ok("configurationDone", nil)
	stopped := c.waitEvent("stopped").(*dap.StoppedEvent)
	st := c.ok("stackTrace", map[string]any{"threadId": stopped.Body.ThreadId, "startFrame": 0, "levels": 100}).(*dap.StackTraceResponse)
	ref := 0
	for _, f := range st.Body.StackFrames {
		for _, s := range c.ok("scopes", map[string]any{"frameId": f.Id}).(*dap.ScopesResponse).Body.Scopes {
			if s.Name == "Fault analysis" {
				ref = s.VariablesReference
			}
		}
		if ref != 0 {
			break
		}
	}
	if ref == 0 {
		t.Fatal("no frame has the Fault analysis scope")
	}
	an := c.variables(ref)
	w, ok := an["waits"]
	if !ok || w.VariablesReference == 0 || !strings.HasPrefix(w.Value, "Deadlock of 2: task 14") || !strings.Contains(an["verdict"].Value, "Hang: Deadlock of 2") {
		t.Fatalf("analysis scope: waits %+v, verdict %q", w, an["verdict"].Value)
	}
	ws := c.variables(w.VariablesReference)
	d := ws["deadlock [0]"]
	if d.VariablesReference == 0 || !strings.Contains(ws["shape"].Value, "journal_swap holds") {
		t.Fatalf("waits: %+v", ws)
	}
	members := c.variables(d.VariablesReference)
	m := members["task 14 (journal_swap_ab, Processer 5)"]
	if m.Value != "holds hangs::jr_a.lock, waits hangs::jr_b.lock" || !strings.HasPrefix(members["behind"].Value, "[1]") {
		t.Fatalf("deadlock members %+v", members)
	}
	f := c.variables(m.VariablesReference)
	if f["hold_frame"].Value != "#3 hangs::(anonymous namespace)::journal_swap" || f["wait_frame"].Value != "#3 hangs::(anonymous namespace)::journal_swap" {
		t.Errorf("member frames %+v", f)
	}
	objs := c.variables(ws["objects"].VariablesReference)
	if len(objs) != 2 {
		t.Errorf("objects %+v", objs)
	}
	for name, o := range objs {
		fields := c.variables(o.VariablesReference)
		if fields["kind"].Value != "co_mutex" || fields["inferred"].Value != "true" || !strings.HasPrefix(fields["owner"].Value, "task 1") {
			t.Errorf("object %s: %+v", name, fields)
		}
	}
}
