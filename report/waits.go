package report

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/dsecore/dsecore/analysis/waits"
	"github.com/dsecore/dsecore/internal/l10n"
)

// WriteWaits writes the wait graph as text: the watchdog, each deadlock
// with each member's holding and waiting frame and the waiters behind it,
// each chain down to its holder, then the objects waited for; its words
// in lang's (nil: English). A graph read back from JSON has no messages:
// its sentences are then its English texts, as they are.
func WriteWaits(w io.Writer, r *waits.Result, lang *l10n.Printer) {
	if r == nil {
		return
	}
	tr := printer(lang)
	line := func(indent string, m l10n.Msg) { fmt.Fprintf(w, "%s%s\n", indent, tr.S(m)) }
	waited := map[int]bool{} // objects someone waits for (not idle waits)
	for _, n := range r.Nodes {
		if n.State == waits.Waiting {
			waited[n.WaitsFor] = true
		}
	}
	line("", l10n.T("text.waits", "Waiting", r.Stats.Waiting, "Threads", r.Stats.Threads, "Tasks", r.Stats.Tasks,
		"Objects", len(waited), "Cycles", len(r.Cycles), "Chains", len(r.Chains)))
	obj := func(i int) l10n.Msg {
		if i < 0 {
			return l10n.Verbatim("?")
		}
		o := r.Objects[i]
		s := o.Expr
		if o.Type != "" {
			s += " (" + o.Type + ")"
		}
		return l10n.Verbatim(s)
	}
	who := func(id string) l10n.Msg {
		if n := r.NodeByID(id); n != nil {
			return said(n.Said, n.Who)
		}
		return l10n.Verbatim(id)
	}
	frameAt := func(i int, fn string) l10n.Msg {
		if i < 0 {
			return l10n.T("waits.no-frame")
		}
		return l10n.T("waits.frame", "N", i, "Function", fn)
	}
	if wd := r.Watchdog; wd != nil {
		line("  ", l10n.T("text.waits-watchdog", "Text", said(wd.Said, wd.Text)))
		for _, l := range wd.Lines {
			fmt.Fprintf(w, "    %s:%d: %s\n", l.File, l.Line, l.Text)
		}
	}
	for i, c := range r.Cycles {
		line("  ", l10n.T("text.waits-deadlock", "N", i+1, "Members", len(c.Members)))
		for _, m := range c.Members {
			o := r.Objects[m.Holds]
			how := waits.HowSaid(o.OwnerHow)
			if o.Inferred {
				how = l10n.T("text.waits-inferred", "How", how)
			}
			line("    ", who(m.Node))
			line("      ", l10n.T("text.waits-holds", "Obj", obj(m.Holds), "Frame", frameAt(m.HoldFrame, m.HoldFunction), "How", how))
			line("      ", l10n.T("text.waits-waits", "Obj", obj(m.Waits), "Frame", frameAt(m.WaitFrame, m.WaitFunction)))
		}
		for _, id := range c.Behind {
			n := r.NodeByID(id)
			line("    ", l10n.T("text.waits-behind", "Who", said(n.Said, n.Who), "Obj", obj(n.WaitsFor), "Frame", frameAt(n.Frame, n.Function)))
		}
	}
	for i, c := range r.Chains {
		line("  ", l10n.T("text.waits-chain", "N", i+1, "Text", said(c.Said, c.Text)))
	}
	if len(waited) > 0 {
		line("  ", l10n.T("text.waits-objects"))
		for i, o := range r.Objects {
			if !waited[i] {
				continue // only idle waiters: nobody is stuck on it
			}
			fmt.Fprintf(w, "    %s %s: %s\n", o.Kind, Hex(o.Address), tr.S(said(o.Said, o.Text)))
			if len(o.Waiters) > 0 {
				var ws []l10n.Msg
				for _, id := range o.Waiters {
					ws = append(ws, who(id))
				}
				line("      ", l10n.T("text.waits-waiters", "Whos", l10n.Join("sep.semicolon", ws...)))
			}
		}
	}
	for _, b := range r.Bounds {
		line("  ", l10n.T("text.waits-bound", "Bound", b.Bound, "Text", said(b.Said, b.Text)))
	}
}

// WaitsDOT writes the wait graph in Graphviz's DOT: the threads and tasks
// that wait or hold (boxes; a deadlock's members red), the objects
// (ellipses), "waits" edges from a waiter to its object and "held by"
// edges from an object to its owner (dashed when inferred).
func WaitsDOT(w io.Writer, r *waits.Result) {
	fmt.Fprintln(w, "digraph waits {")
	fmt.Fprintln(w, "  rankdir=LR;")
	fmt.Fprintln(w, `  node [fontname="monospace", fontsize=10];`)
	fmt.Fprintln(w, `  edge [fontname="monospace", fontsize=9];`)
	if r == nil {
		fmt.Fprintln(w, "}")
		return
	}
	inCycle := map[string]bool{}
	for _, c := range r.Cycles {
		for _, m := range c.Members {
			inCycle[m.Node] = true
		}
	}
	used := map[string]bool{}
	for _, n := range r.Nodes {
		if n.State == waits.Waiting {
			used[n.ID] = true
		}
	}
	for _, o := range r.Objects {
		if o.Owner != "" {
			used[o.Owner] = true
		}
	}
	if wd := r.Watchdog; wd != nil {
		used[wd.Messenger], used[wd.Stuck] = wd.Messenger != "", wd.Stuck != ""
	}
	var ids []string
	for id, ok := range used {
		if ok {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		label, color := id, "black"
		if n := r.NodeByID(id); n != nil {
			label = n.Who
			if n.Frame >= 0 {
				label += "\n#" + fmt.Sprint(n.Frame) + " " + shortName(n.Function)
			}
			if n.State != waits.Waiting {
				label += "\n[" + n.State + " " + n.Detail + "]"
			}
		}
		if inCycle[id] {
			color = "red"
		}
		fmt.Fprintf(w, "  %s [shape=box, color=%s, label=%s];\n", DOTQuote(id), color, DOTQuote(label))
	}
	for i, o := range r.Objects {
		if o.Owner == "" && !waitedFor(r, i) {
			continue
		}
		oid := fmt.Sprintf("obj%d", i)
		label := o.Expr
		if o.Type != "" {
			label += "\n" + o.Type
		}
		fmt.Fprintf(w, "  %s [shape=ellipse, label=%s];\n", oid, DOTQuote(label))
		for _, wt := range o.Waiters {
			if n := r.NodeByID(wt); n != nil && n.State == waits.Waiting {
				fmt.Fprintf(w, "  %s -> %s [label=\"waits\"];\n", DOTQuote(wt), oid)
			}
		}
		if o.Owner != "" {
			style := "solid"
			lbl := "held by"
			if o.Inferred {
				style = "dashed"
				lbl += " (inferred)"
			}
			if o.Kind == waits.CondVar || o.Kind == waits.CoCondVar {
				lbl = "notifier?"
			}
			if o.Kind == waits.CoChan {
				lbl = "peer?"
			}
			fmt.Fprintf(w, "  %s -> %s [label=%s, style=%s];\n", oid, DOTQuote(o.Owner), DOTQuote(lbl), style)
		}
	}
	if wd := r.Watchdog; wd != nil && wd.Messenger != "" && wd.Stuck != "" {
		fmt.Fprintf(w, "  %s -> %s [label=\"SIGABRT (heartbeat)\", color=blue];\n", DOTQuote(wd.Messenger), DOTQuote(wd.Stuck))
	}
	fmt.Fprintln(w, "}")
}

func waitedFor(r *waits.Result, i int) bool {
	for _, n := range r.Nodes {
		if n.State == waits.Waiting && n.WaitsFor == i {
			return true
		}
	}
	return false
}

// DOTQuote writes a DOT string: quotes and backslashes escaped, newlines
// as DOT's \n.
func DOTQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

// shortName drops template arguments and the anonymous namespace.
func shortName(fn string) string {
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
	return strings.ReplaceAll(b.String(), "(anonymous namespace)::", "")
}
