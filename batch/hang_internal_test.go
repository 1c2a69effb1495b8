package batch

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/dsecore/dsecore/session"
)

// TestHangEdges: the task deadlock's edges, against the wait graph
// expected.json holds: one per waiting task, the lock by its expression
// and type, its owner by name in its function (the waiter's function
// qualified or not), how the owner is known,
// and the cycle's two tasks marked (the third, behind them, not).
func TestHangEdges(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.TaskDeadlock)
	s, err := session.Open(session.Options{Core: sc.Core, Exe: sc.Exe})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w := sc.Expected["waits"].(map[string]any)
	objects := map[string]map[string]any{}
	for _, o := range w["objects"].([]any) {
		o := o.(map[string]any)
		objects[o["address"].(string)] = o
	}
	inCycle := map[string]bool{}
	for _, c := range w["cycles"].([]any) {
		for _, id := range c.([]any) {
			inCycle[id.(string)] = true
		}
	}
	edges := hangEdges(s.Waits())
	nodes := w["nodes"].([]any)
	if len(edges) != len(nodes) {
		t.Fatalf("%d edges %+v, expected.json: %d waiting nodes", len(edges), edges, len(nodes))
	}
	for _, n := range nodes {
		n := n.(map[string]any)
		o := objects[n["waits_for"].(string)]
		owner := strings.Replace(o["owner"].(string), "task:", "task ", 1) + " ("
		var e *HangEdge
		for i := range edges {
			if strings.HasPrefix(edges[i].Waiter, fmt.Sprintf("task %v (", n["task"])) {
				e = &edges[i]
			}
		}
		switch {
		case e == nil:
			t.Errorf("no edge of task %v", n["task"])
		case !strings.Contains(e.Waiter, ") in ") || !strings.HasSuffix(e.Waiter, "::"+n["name"].(string)) && !strings.HasSuffix(e.Waiter, " in "+n["name"].(string)) || e.Object != fmt.Sprintf("%s (%s)", o["expr"], o["type"]) ||
			!strings.HasPrefix(e.Owner, owner) || !strings.Contains(e.Owner, ") in ") || e.How != "inferred" || o["inferred"] != true ||
			e.Cycle != (inCycle[n["id"].(string)] && inCycle[o["owner"].(string)]):
			t.Errorf("edge %+v; expected.json: node %v, object %v, cycles %v", *e, n, o, w["cycles"])
		}
	}
}
