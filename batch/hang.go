package batch

import (
	"fmt"

	"github.com/dsecore/dsecore/analysis/waits"
)

// HangEdge is one "waits for OBJECT held by" edge of a hang core's wait
// graph, in words: what a report draws (a graph, or a table).
type HangEdge struct {
	Waiter string `json:"waiter"` // "task 14 (journal_swap_ab, Processer 5) in journal_swap"
	Object string `json:"object"` // "hangs::jr_b.lock (co::co_mutex)"
	Owner  string `json:"owner,omitempty"`
	// How the owner is known: "" (the lock word), "inferred", "leaked",
	// "notifier".
	How   string `json:"how,omitempty"`
	Cycle bool   `json:"cycle,omitempty"` // both ends in a deadlock
}

// hangEdges are the edges of the nodes stuck on a lock (idle waits left out).
func hangEdges(r *waits.Result) []HangEdge {
	inCycle := map[string]bool{}
	for _, c := range r.Cycles {
		for _, m := range c.Members {
			inCycle[m.Node] = true
		}
	}
	var out []HangEdge
	for _, n := range r.Nodes {
		if n.State != waits.Waiting || n.WaitsFor < 0 {
			continue
		}
		o := r.Objects[n.WaitsFor]
		e := HangEdge{Waiter: n.Who, Object: o.Expr}
		if n.Function != "" {
			e.Waiter += " in " + n.Function
		}
		if o.Type != "" {
			e.Object += " (" + o.Type + ")"
		}
		if o.Owner != "" {
			e.Owner = o.Owner
			if on := r.NodeByID(o.Owner); on != nil {
				e.Owner = on.Who
				if o.HoldFrame >= 0 {
					e.Owner += fmt.Sprintf(" in %s", o.HoldFunction)
				}
				if on.State != waits.Waiting {
					e.Owner += " [" + on.State + " " + on.Detail + "]"
				}
			}
		}
		switch {
		case o.Leaked:
			e.How = "leaked"
		case o.OwnerHow == "notifier" || o.OwnerHow == "peer":
			e.How = o.OwnerHow
		case o.Inferred:
			e.How = "inferred"
		}
		e.Cycle = inCycle[n.ID] && inCycle[o.Owner]
		out = append(out, e)
	}
	return out
}
