package waits

import (
	"fmt"
	"sort"
	"strings"
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

// cycleText writes a cycle's sentence and shape.
func (a *analysis) cycleText(c *Cycle) {
	var parts, shape []string
	for _, m := range c.Members {
		n := a.node(m.Node)
		parts = append(parts, fmt.Sprintf("%s holds %s (%s) and waits for %s (%s)", n.Who, a.objWords(m.Holds),
			frameText(m.HoldFrame, m.HoldFunction), a.objWords(m.Waits), frameText(m.WaitFrame, m.WaitFunction)))
		kind := "?"
		if m.Waits >= 0 {
			kind = a.res.Objects[m.Waits].Kind
		}
		shape = append(shape, fmt.Sprintf("%s holds, %s waits (%s)", shortFunc(m.HoldFunction), shortFunc(m.WaitFunction), kind))
	}
	sort.Strings(shape)
	c.Shape = "deadlock: " + strings.Join(shape, "; ")
	c.Text = fmt.Sprintf("Deadlock of %d: %s.", len(c.Members), strings.Join(parts, "; "))
	if len(c.Behind) > 0 {
		var b []string
		for _, id := range c.Behind {
			n := a.node(id)
			b = append(b, fmt.Sprintf("%s waiting for %s (%s)", n.Who, a.objWords(n.WaitsFor), frameText(n.Frame, n.Function)))
		}
		c.Text += fmt.Sprintf(" Behind it: %s.", strings.Join(b, "; "))
	}
}

// endWords says where a chain's end stands.
func (a *analysis) endWords(n *Node) string {
	where := n.Top
	if n.Frame >= 0 {
		where = n.Function
	}
	switch n.State {
	case IO, Sleeping:
		return fmt.Sprintf("is in %s (%s), %s", n.Detail, where, map[string]string{IO: "waiting for I/O", Sleeping: "sleeping"}[n.State])
	case Idle:
		d := n.Detail
		if d == "" {
			d = "idle"
		}
		return fmt.Sprintf("is idle in %s (%s)", where, d)
	case Running:
		return fmt.Sprintf("is running, in %s", n.Top)
	case Waiting:
		return fmt.Sprintf("waits for %s, whose owner is not known", a.objWords(n.WaitsFor))
	case Suspended:
		return fmt.Sprintf("is suspended %s", n.Detail)
	}
	return "is " + n.State
}

func (a *analysis) chainText(c *Chain) {
	var parts, shape []string
	for i, m := range c.Members {
		n := a.node(m.Node)
		if i < len(c.Members)-1 {
			parts = append(parts, fmt.Sprintf("%s waits for %s (%s)", n.Who, a.objWords(m.Waits), frameText(m.WaitFrame, m.WaitFunction)))
			shape = append(shape, fmt.Sprintf("%s waits (%s)", shortFunc(m.WaitFunction), a.res.Objects[m.Waits].Kind))
			continue
		}
		if len(c.Members) == 1 {
			// A waiter whose object is held by no known node.
			o := a.res.Objects[n.WaitsFor]
			parts = append(parts, fmt.Sprintf("%s waits for %s (%s): %s", n.Who, a.objWords(n.WaitsFor), frameText(n.Frame, n.Function), o.Text))
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
		held := ""
		if m.Holds >= 0 {
			o := a.res.Objects[m.Holds]
			if o.Leaked {
				held = fmt.Sprintf(" holds %s but no frame of it does (a leaked lock, or taken by code that has returned) and", a.objWords(m.Holds))
				shape = append(shape, "leaked by "+shortFunc(n.Top))
			} else {
				held = fmt.Sprintf(" holds %s (%s) and", a.objWords(m.Holds), frameText(m.HoldFrame, m.HoldFunction))
				shape = append(shape, shortFunc(m.HoldFunction)+" holds")
			}
		}
		parts = append(parts, fmt.Sprintf("%s%s %s", n.Who, held, a.endWords(n)))
		shape = append(shape, "end "+n.State)
	}
	c.Text = strings.Join(parts, "; ") + "."
	if len(c.Also) > 0 {
		sort.Slice(c.Also, func(i, j int) bool { return lessID(c.Also[i], c.Also[j]) })
		c.Text += fmt.Sprintf(" Also waiting on it: %s.", a.whoList(c.Also))
	}
	c.Shape = "chain: " + strings.Join(shape, " → ")
}

// summarize writes the answer in a sentence and the hang's shape.
func (a *analysis) summarize() {
	r := a.res
	var parts, shapes []string
	if w := r.Watchdog; w != nil {
		parts = append(parts, w.Text)
		shapes = append(shapes, "watchdog")
	}
	for _, c := range r.Cycles {
		parts = append(parts, c.Text)
		shapes = append(shapes, c.Shape)
	}
	for _, c := range r.Chains {
		shapes = append(shapes, c.Shape)
		if w := r.Watchdog; w != nil && w.Stuck != "" && len(c.Members) > 0 && c.Members[0].Node == w.Stuck {
			continue // the watchdog's sentence tells this chain
		}
		parts = append(parts, c.Text)
	}
	r.Summary = strings.Join(parts, " ")
	if r.Hang {
		r.Shape = strings.Join(shapes, " + ")
	}
}
