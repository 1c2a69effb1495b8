package server

import (
	"fmt"
	"strconv"

	"github.com/dsecore/dsecore/analysis/waits"
	"github.com/dsecore/dsecore/report"
)

// waitsNode is the "Fault analysis" scope's waits entry: the summary, each
// deadlock and chain with its members' frames, each object waited for
// with its owner, the watchdog (the same data as inspect --json's waits).
func waitsNode(r *waits.Result) *node {
	if r == nil || r.Stats.Waiting == 0 && r.Watchdog == nil {
		return nil
	}
	obj := func(i int) string {
		if i < 0 || i >= len(r.Objects) {
			return ""
		}
		return r.Objects[i].Expr
	}
	who := func(id string) string {
		if n := r.NodeByID(id); n != nil {
			return n.Who
		}
		return id
	}
	members := func(ms []waits.Member) []*node {
		var ns []*node
		for _, m := range ms {
			ns = append(ns, branch(who(m.Node), fmt.Sprintf("holds %s, waits %s", orNone(obj(m.Holds)), orNone(obj(m.Waits))), func() []*node {
				return nonEmpty(leaf("node", m.Node), leaf("holds", obj(m.Holds)), leaf("hold_frame", frameIf(m.HoldFrame, m.HoldFunction)),
					leaf("waits", obj(m.Waits)), leaf("wait_frame", frameIf(m.WaitFrame, m.WaitFunction)))
			}))
		}
		return ns
	}
	return branch("waits", r.Summary, func() []*node {
		out := []*node{leaf("summary", r.Summary), leaf("shape", r.Shape)}
		if w := r.Watchdog; w != nil {
			var lines []string
			for _, l := range w.Lines {
				lines = append(lines, fmt.Sprintf("%s:%d: %s", l.File, l.Line, l.Text))
			}
			out = append(out, branch("watchdog", w.Text, func() []*node {
				return nonEmpty(leaf("messenger", who(w.Messenger)), leaf("handle", w.Handle), leaf("stuck", who(w.Stuck)),
					leaf("pthread", report.Hex(w.Pthread)), leaf("grace", w.Grace), leaf("suicide_grace", w.SuicideGrace),
					leaf("suicide", strconv.FormatBool(w.Suicide)), strs("lines", lines))
			}))
		}
		for i, c := range r.Cycles {
			out = append(out, branch(fmt.Sprintf("deadlock [%d]", i), c.Text, func() []*node {
				ns := members(c.Members)
				var behind []string
				for _, id := range c.Behind {
					behind = append(behind, who(id))
				}
				return nonEmpty(append(ns, strs("behind", behind))...)
			}))
		}
		for i, c := range r.Chains {
			out = append(out, branch(fmt.Sprintf("chain [%d]", i), c.Text, func() []*node { return members(c.Members) }))
		}
		var objs []*node
		for i, o := range r.Objects {
			stuck := false
			for _, id := range o.Waiters {
				if n := r.NodeByID(id); n != nil && n.State == waits.Waiting {
					stuck = true
				}
			}
			if !stuck {
				continue
			}
			var ws []string
			for _, id := range o.Waiters {
				ws = append(ws, who(id))
			}
			objs = append(objs, branch(fmt.Sprintf("[%d] %s", i, o.Expr), o.Text, func() []*node {
				return nonEmpty(leaf("address", report.Hex(o.Address)), leaf("kind", o.Kind), leaf("type", o.Type), leaf("expr", o.Expr),
					leaf("owner", who(o.Owner)), leaf("owner_how", o.OwnerHow), leaf("inferred", strconv.FormatBool(o.Inferred)),
					leaf("leaked", strconv.FormatBool(o.Leaked)), leaf("hold_frame", frameIf(o.HoldFrame, o.HoldFunction)), strs("waiters", ws))
			}))
		}
		if len(objs) > 0 {
			out = append(out, branch("objects", fmt.Sprintf("[%d]", len(objs)), func() []*node { return objs }))
		}
		return nonEmpty(out...)
	})
}

func orNone(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func frameIf(i int, fn string) string {
	if i < 0 {
		return ""
	}
	return fmt.Sprintf("#%d %s", i, fn)
}
