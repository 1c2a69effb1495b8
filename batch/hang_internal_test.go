package batch

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/analysis/waits"
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

// TestHangEdgeOwners: the edges of the hang cores whose owners are known
// in other ways than the task deadlock's, against each expected.json: the
// owner by name, in its holding function unless the lock was leaked (the
// function that took it has returned), its own state when it is not
// waiting itself ("[io read(2)]", "[idle …]": expected.json's state); how
// the owner is known from the object's kind and facts (leaked; a
// condition's inferred owner is its notifier, a channel's its peer, a
// lock's "inferred"; the lock word's owner: nothing); the cycle's edges
// marked.
func TestHangEdgeOwners(t *testing.T) {
	f := fixture.Get(t)
	for _, name := range []string{fixture.CVNotifier, fixture.RWLock, fixture.LeakedLock, fixture.CoChan, fixture.CoRWLock} {
		t.Run(name, func(t *testing.T) {
			sc := f.Scenario(t, name)
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
			state := map[string]string{}
			for _, n := range w["nodes"].([]any) {
				n := n.(map[string]any)
				state[n["id"].(string)] = n["state"].(string)
			}
			inCycle := map[string]bool{}
			for _, c := range w["cycles"].([]any) {
				for _, id := range c.([]any) {
					inCycle[id.(string)] = true
				}
			}
			who := func(id string) string { // "lwp:7917" → "thread LWP 7917 ("
				if lwp, ok := strings.CutPrefix(id, "lwp:"); ok {
					return "thread LWP " + lwp + " ("
				}
				return strings.Replace(id, "task:", "task ", 1) + " ("
			}
			edges := hangEdges(s.Waits())
			waiting := 0
			for _, n := range w["nodes"].([]any) {
				n := n.(map[string]any)
				if n["state"] != "waiting" {
					continue
				}
				waiting++
				o := objects[n["waits_for"].(string)]
				owner := o["owner"].(string)
				var e *HangEdge
				for i := range edges {
					if strings.HasPrefix(edges[i].Waiter, who(n["id"].(string))) {
						e = &edges[i]
					}
				}
				if e == nil {
					t.Errorf("no edge of %v in %+v", n["id"], edges)
					continue
				}
				how := ""
				switch {
				case o["leaked"] == true:
					how = "leaked"
				case o["inferred"] == true && o["kind"] == "condvar":
					how = "notifier"
				case o["inferred"] == true && o["kind"] == "co_chan":
					how = "peer"
				case o["inferred"] == true:
					how = "inferred"
				}
				if e.How != how {
					t.Errorf("%v's edge: how %q, expected.json's object %v: %q", n["id"], e.How, o, how)
				}
				if !strings.HasPrefix(e.Owner, who(owner)) {
					t.Errorf("%v's edge: owner %q, expected.json: %s", n["id"], e.Owner, owner)
				}
				if held := strings.Contains(e.Owner, ") in ") || strings.Contains(e.Owner, " running task "); held == (o["leaked"] == true) {
					t.Errorf("%v's edge: owner %q, in its holding function %v; expected.json: leaked %v", n["id"], e.Owner, held, o["leaked"])
				}
				if st := state[owner]; st == "waiting" {
					if strings.Contains(e.Owner, " [") {
						t.Errorf("%v's edge: owner %q has a state, expected.json: waiting", n["id"], e.Owner)
					}
				} else if !strings.Contains(e.Owner, " ["+st+" ") || !strings.HasSuffix(e.Owner, "]") {
					t.Errorf("%v's edge: owner %q, expected.json's state: %s", n["id"], e.Owner, st)
				}
				if want := inCycle[n["id"].(string)] && inCycle[owner]; e.Cycle != want {
					t.Errorf("%v's edge: cycle %v, expected.json: %v", n["id"], e.Cycle, want)
				}
			}
			if len(edges) != waiting {
				t.Errorf("%d edges %+v, expected.json: %d waiting nodes", len(edges), edges, waiting)
			}
		})
	}
}

// TestHangEdgeOwnerInFrameZero: HoldFrame is a frame index, -1 when no
// frame explains the hold (waits.Object): an owner that holds the lock in
// its innermost frame (a thread spinning in the function that took it) is
// named in that function, as the waits text says "held in frame #0".
func TestHangEdgeOwnerInFrameZero(t *testing.T) {
	r := &waits.Result{
		Nodes: []waits.Node{
			{ID: "lwp:2", Who: "thread LWP 2 (w)", State: waits.Waiting, WaitsFor: 0, Function: "wait_fn"},
			{ID: "lwp:1", Who: "thread LWP 1 (o)", State: "running", Detail: "spin", WaitsFor: -1},
		},
		Objects: []waits.Object{{Expr: "m", Owner: "lwp:1", HoldFrame: 0, HoldFunction: "spin_fn"}},
	}
	want := HangEdge{Waiter: "thread LWP 2 (w) in wait_fn", Object: "m", Owner: "thread LWP 1 (o) in spin_fn [running spin]"}
	if e := hangEdges(r); len(e) != 1 || e[0] != want {
		t.Errorf("edges %+v, want [%+v]", e, want)
	}
}
