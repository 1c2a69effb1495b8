package report

import (
	"fmt"
	"io"

	"github.com/dsecore/dsecore/coreparse/values"
)

// Walk is `dsecore list --json`: one walk of a boost::intrusive list by the
// one walker (values.WalkList), what the gdb bridge's list printer shows.
// Field names are a public contract: add, never rename.
type Walk struct {
	Kind     string        `json:"kind"` // list, slist
	Header   string        `json:"header"`
	Hooks    []string      `json:"hooks"` // the nodes reached, in order (hook addresses)
	Back     bool          `json:"back"`  // the links came back to the header
	Size     *int64        `json:"size,omitempty"`
	Stopped  string        `json:"stopped,omitempty"` // why the walk did not come back
	Findings []WalkFinding `json:"findings"`
}

// WalkFinding is one thing the walk found wrong.
type WalkFinding struct {
	Kind string `json:"kind"` // values.FindingKind
	Node string `json:"node,omitempty"`
	Prev string `json:"prev,omitempty"`
	Link string `json:"link,omitempty"`
	Text string `json:"text"`
}

// WalkDoc is the document of a walk.
func WalkDoc(w *values.Walk) Walk {
	d := Walk{Kind: string(w.Kind), Header: Hex(w.Header), Hooks: []string{}, Back: w.Back, Stopped: w.Stopped(), Findings: []WalkFinding{}}
	for _, h := range w.Hooks {
		d.Hooks = append(d.Hooks, Hex(h))
	}
	if w.HasSize {
		s := w.Size
		d.Size = &s
	}
	for _, f := range w.Findings {
		d.Findings = append(d.Findings, walkFinding(f, f.Text))
	}
	return d
}

func walkFinding(f values.Finding, text string) WalkFinding {
	hexOr := func(v uint64) string {
		if v == 0 {
			return ""
		}
		return Hex(v)
	}
	return WalkFinding{Kind: string(f.Kind), Node: hexOr(f.Node), Prev: hexOr(f.Prev), Link: hexOr(f.Link), Text: text}
}

// WriteWalk writes a walk as text.
func WriteWalk(w io.Writer, d *Walk) {
	fmt.Fprintf(w, "boost::intrusive::%s at %s: %d nodes", d.Kind, d.Header, len(d.Hooks))
	if d.Size != nil {
		fmt.Fprintf(w, ", size_ %d", *d.Size)
	}
	if d.Back {
		fmt.Fprint(w, ", back at the header")
	}
	fmt.Fprintln(w)
	for i, h := range d.Hooks {
		fmt.Fprintf(w, "  [%d] hook %s\n", i, h)
	}
	for _, f := range d.Findings {
		fmt.Fprintf(w, "  - %s: %s\n", f.Kind, f.Text)
	}
}
