package waits

import (
	"fmt"
	"sort"
	"strings"

	"github.com/dsecore/dsecore/internal/l10n"
)

// shortFunc drops a function's template arguments and namespaces of
// anonymous scopes: the words a shape is made of.
func shortFunc(fn string) string {
	var b strings.Builder
	depth := 0
	for _, c := range fn {
		switch {
		case c == '<':
			depth++
		case c == '>':
			depth--
		case depth == 0:
			b.WriteRune(c)
		}
	}
	s := strings.ReplaceAll(b.String(), "(anonymous namespace)::", "")
	if s == "" {
		return "??"
	}
	return s
}

func (a *analysis) objWords(i int) string {
	if i < 0 {
		return "?"
	}
	o := a.res.Objects[i]
	s := o.Expr
	if o.Type != "" {
		s += " (" + o.Type + ")"
	}
	return s
}

// objMsg is objWords as a message: names, the same in every language.
func (a *analysis) objMsg(i int) l10n.Msg { return l10n.Verbatim(a.objWords(i)) }

// cycleText writes a cycle's sentence and shape.
func (a *analysis) cycleText(c *Cycle) {
	var parts []l10n.Msg
	var shape []string
	for _, m := range c.Members {
		n := a.node(m.Node)
		parts = append(parts, l10n.T("waits.cycle-member", "Who", n.Said, "Holds", a.objMsg(m.Holds), "HoldFrame", frameMsg(m.HoldFrame, m.HoldFunction),
			"Waits", a.objMsg(m.Waits), "WaitFrame", frameMsg(m.WaitFrame, m.WaitFunction)))
		kind := "?"
		if m.Waits >= 0 {
			kind = a.res.Objects[m.Waits].Kind
		}
		shape = append(shape, fmt.Sprintf("%s holds, %s waits (%s)", shortFunc(m.HoldFunction), shortFunc(m.WaitFunction), kind))
	}
	sort.Strings(shape)
	c.Shape = "deadlock: " + strings.Join(shape, "; ")
	t := l10n.T("waits.deadlock", "N", len(c.Members), "Members", l10n.Join("sep.semicolon", parts...))
	if len(c.Behind) > 0 {
		var b []l10n.Msg
		for _, id := range c.Behind {
			n := a.node(id)
			b = append(b, l10n.T("waits.behind-member", "Who", n.Said, "Obj", a.objMsg(n.WaitsFor), "Frame", frameMsg(n.Frame, n.Function)))
		}
		t = l10n.T("waits.deadlock-behind", "Deadlock", t, "Behind", l10n.Join("sep.semicolon", b...))
	}
	c.Said, c.Text = t, t.String()
}

// endWords says where a chain's end stands.
func (a *analysis) endWords(n *Node) string { return a.endMsg(n).String() }

// endMsg is endWords in the catalog's words.
func (a *analysis) endMsg(n *Node) l10n.Msg {
	where := n.Top
	if n.Frame >= 0 {
		where = n.Function
	}
	switch n.State {
	case IO:
		return l10n.T("waits.end-io", "Detail", n.DetailSaid, "Where", where)
	case Sleeping:
		return l10n.T("waits.end-sleeping", "Detail", n.DetailSaid, "Where", where)
	case Idle:
		d := n.DetailSaid
		if n.Detail == "" {
			d = l10n.T("waits.idle")
		}
		return l10n.T("waits.end-idle", "Where", where, "Detail", d)
	case Running:
		return l10n.T("waits.end-running", "Top", n.Top)
	case Waiting:
		return l10n.T("waits.end-waiting", "Obj", a.objMsg(n.WaitsFor))
	case Suspended:
		return l10n.T("waits.end-suspended", "Detail", n.DetailSaid)
	}
	return l10n.T("waits.end-state", "State", n.State)
}

func (a *analysis) chainText(c *Chain) {
	var parts []l10n.Msg
	var shape []string
	for i, m := range c.Members {
		n := a.node(m.Node)
		if i < len(c.Members)-1 {
			parts = append(parts, l10n.T("waits.chain-waits", "Who", n.Said, "Obj", a.objMsg(m.Waits), "Frame", frameMsg(m.WaitFrame, m.WaitFunction)))
			shape = append(shape, fmt.Sprintf("%s waits (%s)", shortFunc(m.WaitFunction), a.res.Objects[m.Waits].Kind))
			continue
		}
		if len(c.Members) == 1 {
			// A waiter whose object is held by no known node.
			o := a.res.Objects[n.WaitsFor]
			parts = append(parts, l10n.T("waits.chain-waits-text", "Who", n.Said, "Obj", a.objMsg(n.WaitsFor), "Frame", frameMsg(n.Frame, n.Function), "Text", o.Said))
			what := "no owner"
			if o.Owner != "" {
				what = "owner " + map[bool]string{true: "exited", false: "unknown"}[a.node(o.Owner) == nil]
			}
			if o.Leaked {
				what = "leaked"
			}
			shape = append(shape, fmt.Sprintf("%s waits (%s), %s", shortFunc(n.Function), o.Kind, what))
			continue
		}
		end := a.endMsg(n)
		part := l10n.T("waits.chain-end", "Who", n.Said, "End", end)
		if m.Holds >= 0 {
			o := a.res.Objects[m.Holds]
			if o.Leaked {
				part = l10n.T("waits.chain-end-leaked", "Who", n.Said, "Obj", a.objMsg(m.Holds), "End", end)
				shape = append(shape, "leaked by "+shortFunc(n.Top))
			} else {
				part = l10n.T("waits.chain-end-holds", "Who", n.Said, "Obj", a.objMsg(m.Holds), "Frame", frameMsg(m.HoldFrame, m.HoldFunction), "End", end)
				shape = append(shape, shortFunc(m.HoldFunction)+" holds")
			}
		}
		parts = append(parts, part)
		shape = append(shape, "end "+n.State)
	}
	t := l10n.T("waits.chain", "Parts", l10n.Join("sep.semicolon", parts...))
	if len(c.Also) > 0 {
		sort.Slice(c.Also, func(i, j int) bool { return lessID(c.Also[i], c.Also[j]) })
		t = l10n.T("waits.chain-also", "Chain", t, "Whos", a.whoListMsg(c.Also))
	}
	c.Said, c.Text = t, t.String()
	c.Shape = "chain: " + strings.Join(shape, " → ")
}

// summarize writes the answer in a sentence and the hang's shape.
func (a *analysis) summarize() {
	r := a.res
	var parts []l10n.Msg
	var shapes []string
	if w := r.Watchdog; w != nil {
		parts = append(parts, w.Said)
		shapes = append(shapes, "watchdog")
	}
	for _, c := range r.Cycles {
		parts = append(parts, c.Said)
		shapes = append(shapes, c.Shape)
	}
	for _, c := range r.Chains {
		shapes = append(shapes, c.Shape)
		if w := r.Watchdog; w != nil && w.Stuck != "" && len(c.Members) > 0 && c.Members[0].Node == w.Stuck {
			continue // the watchdog's sentence tells this chain
		}
		parts = append(parts, c.Said)
	}
	r.SummarySaid = l10n.Join("sep.sentence", parts...)
	r.Summary = r.SummarySaid.String()
	if r.Hang {
		r.Shape = strings.Join(shapes, " + ")
	}
}
