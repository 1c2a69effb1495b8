package server

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/dsecore/dsecore/report"
	"github.com/google/go-dap"
)

// node is one entry of the "Fault analysis" scope: a name, its one-line
// value and, when it expands, its children (made on expansion).
type node struct {
	name, value string
	kids        func() []*node
}

func leaf(name, value string) *node { return &node{name: name, value: value} }

func branch(name, value string, kids func() []*node) *node {
	return &node{name: name, value: value, kids: kids}
}

// nonEmpty drops leaves without a value.
func nonEmpty(ns ...*node) []*node {
	var out []*node
	for _, n := range ns {
		if n != nil && (n.value != "" || n.kids != nil) {
			out = append(out, n)
		}
	}
	return out
}

func strs(name string, ss []string) *node {
	if len(ss) == 0 {
		return nil
	}
	return branch(name, fmt.Sprintf("[%d]", len(ss)), func() []*node {
		out := make([]*node, len(ss))
		for i, s := range ss {
			out[i] = leaf(fmt.Sprintf("[%d]", i), s)
		}
		return out
	})
}

func fields(name string, m map[string]string) *node {
	if len(m) == 0 {
		return nil
	}
	return branch(name, fmt.Sprintf("{%d}", len(m)), func() []*node {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([]*node, len(keys))
		for i, k := range keys {
			out[i] = leaf(k, m[k])
		}
		return out
	})
}

func itoaIf(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// boolIf is "true" for a flag that is set, no entry for one that is not
// (the document omits it or leaves it false).
func boolIf(b bool) string {
	if !b {
		return ""
	}
	return "true"
}

// analysisDoc is the analysis document with its memory section (the heap
// and the holders, made with the analysis on first use).
func (st *state) analysisDoc() *report.Analysis {
	st.analysis()
	return report.SessionAnalysis(st.sess)
}

// analysisNodes maps the analysis document (the one inspect --json prints)
// to the scope's entries: the verdict, its confidence and evidence first,
// then each section.
func analysisNodes(a *report.Analysis) []*node {
	out := []*node{leaf("verdict", a.Verdict), leaf("confidence", a.Confidence)}
	out = append(out, branch("evidence", fmt.Sprintf("[%d]", len(a.Evidence)), func() []*node {
		var ns []*node
		for i, e := range a.Evidence {
			ns = append(ns, branch(fmt.Sprintf("[%d] %s", i, e.Rule), e.Text, func() []*node {
				return nonEmpty(leaf("rule", e.Rule), leaf("text", e.Text), leaf("ref", e.Ref))
			}))
		}
		return ns
	}))
	if len(a.Timeline) > 0 {
		out = append(out, timelineNode(a.Timeline))
	}
	if f := a.Fault; f != nil && f.Sent {
		// A sent signal: no instruction faulted; where the thread was.
		out = append(out, branch("signal (sent: no faulting instruction)", f.Description, func() []*node {
			return nonEmpty(leaf("interrupted_at", f.PC), leaf("si_code", f.SiCode), leaf("kind", f.Kind), leaf("description", f.Description),
				leaf("function", f.Function), strs("inline_chain", f.Inline), leaf("file", f.File), leaf("line", itoaIf(f.Line)),
				leaf("interrupted_listing", f.InterruptedListing))
		}))
	} else if f != nil {
		out = append(out, branch("fault", f.Description, func() []*node {
			return nonEmpty(leaf("pc", f.PC), leaf("instruction", f.Instruction), leaf("intel", f.Intel), leaf("operand", f.Operand),
				leaf("register", f.Register), leaf("value", f.Value), leaf("address", f.Address), leaf("si_addr", f.SiAddr),
				leaf("si_code", f.SiCode), leaf("address_matches_si_addr", strconv.FormatBool(f.Matches)), leaf("access", f.Access),
				leaf("kind", f.Kind), leaf("description", f.Description), leaf("function", f.Function), strs("inline_chain", f.Inline),
				leaf("file", f.File), leaf("line", itoaIf(f.Line)), originNode(f.Origin),
				leaf("instrumentation_skipped", itoaIf(f.Skipped)), leaf("listing", f.Listing))
		}))
	}
	if len(a.Objects) > 0 {
		out = append(out, branch("objects", fmt.Sprintf("[%d]", len(a.Objects)), func() []*node {
			var ns []*node
			for i, o := range a.Objects {
				ns = append(ns, branch(fmt.Sprintf("[%d] %s", i, o.Role), o.Type+" at "+o.Address, func() []*node {
					return nonEmpty(leaf("role", o.Role), leaf("type", o.Type), leaf("address", o.Address), leaf("how", o.How),
						leaf("from_dwarf", boolIf(o.FromDWARF)), fields("fields", o.Fields))
				}))
			}
			return ns
		}))
	}
	if w := a.ListWalk; w != nil {
		out = append(out, branch("list_walk", fmt.Sprintf("%s: %d nodes, size_ %d", w.List, w.Nodes, w.Size), func() []*node {
			return nonEmpty(leaf("header", w.Header), leaf("list", w.List), leaf("element", w.Element), leaf("hook_offset", w.HookOffset),
				leaf("hook_how", w.HookHow), leaf("nodes", strconv.Itoa(w.Nodes)), leaf("size", strconv.FormatInt(w.Size, 10)),
				strs("findings", w.Findings), leaf("first_null_after", w.FirstNull), leaf("size_underflow", strconv.FormatBool(w.Underflow)))
		}))
	}
	if len(a.Others) > 0 {
		out = append(out, branch("others", fmt.Sprintf("[%d]", len(a.Others)), func() []*node {
			var ns []*node
			for i, h := range a.Others {
				ns = append(ns, branch(fmt.Sprintf("[%d]", i), h.Who, func() []*node {
					return nonEmpty(leaf("who", h.Who), leaf("lwp", itoaIf(h.LWP)), leaf("task", strconv.FormatInt(h.Task, 10)),
						leaf("frame", strconv.Itoa(h.Frame)), leaf("function", h.Function), leaf("path", h.Path), leaf("where", h.Where),
						leaf("address", h.Address), leaf("what", h.What))
				}))
			}
			return ns
		}))
	}
	if len(a.SameCode) > 0 {
		out = append(out, branch("same_code", fmt.Sprintf("[%d]", len(a.SameCode)), func() []*node {
			var ns []*node
			for i, s := range a.SameCode {
				ns = append(ns, branch(fmt.Sprintf("[%d]", i), s.Who, func() []*node {
					return nonEmpty(leaf("who", s.Who), leaf("lwp", itoaIf(s.LWP)), leaf("task", strconv.FormatInt(s.Task, 10)), strs("functions", s.Functions))
				}))
			}
			return ns
		}))
	}
	if l := a.Logs; l != nil {
		out = append(out, branch("logs", fmt.Sprintf("%d lines from %d files", l.Lines, len(l.Files)), func() []*node {
			var per []*node
			keys := make([]string, 0, len(l.PerThread))
			for k := range l.PerThread {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				per = append(per, strs(k, l.PerThread[k]))
			}
			var conc []string
			for _, c := range l.Concurrent {
				conc = append(conc, c[0]+" | "+c[1])
			}
			ns := nonEmpty(strs("files", l.Files), leaf("lines", strconv.Itoa(l.Lines)), leaf("unmatched", strconv.Itoa(l.Unmatched)),
				strs("concurrent", conc), strs("handler", l.Handler), strs("notes", l.Notes))
			if l.HandlerOK != nil {
				ns = append(ns, leaf("handler_thread_matches", strconv.FormatBool(*l.HandlerOK)))
			}
			if len(per) > 0 {
				ns = append(ns, branch("per_thread", fmt.Sprintf("{%d}", len(per)), func() []*node { return per }))
			}
			return ns
		}))
	}
	if d := a.Dmesg; d != nil {
		out = append(out, branch("dmesg", d.Line, func() []*node {
			return nonEmpty(leaf("line", d.Line), leaf("ip_matches", strconv.FormatBool(d.IPMatches)), leaf("base_matches", strconv.FormatBool(d.BaseOK)),
				leaf("same_thread", strconv.FormatBool(d.SameThread)), strs("notes", d.Notes))
		}))
	}
	if x := a.Assertion; x != nil {
		out = append(out, branch("assertion", x.Text, func() []*node {
			return nonEmpty(leaf("text", x.Text), leaf("function", x.Function), leaf("file", x.File), leaf("line", itoaIf(x.Line)), leaf("address", x.Address))
		}))
	}
	if m := a.Memory; m != nil {
		out = append(out, memoryNode(m))
	}
	return nonEmpty(append(out, strs("rules", a.Rules), strs("warnings", a.Warnings))...)
}

// timelineNode is the analysis' timeline: one entry a step (its time, or
// "at dump"), each with its evidence.
func timelineNode(steps []report.TimelineStep) *node {
	return branch("timeline", fmt.Sprintf("[%d]", len(steps)), func() []*node {
		var ns []*node
		for i, st := range steps {
			when := st.Time
			if when == "" && st.AtDump {
				when = "at dump"
			}
			name := fmt.Sprintf("[%d]", i)
			if when != "" {
				name += " " + when
			}
			ns = append(ns, branch(name, st.Text, func() []*node {
				line := ""
				if st.Line > 0 {
					line = st.File + ":" + strconv.Itoa(st.Line)
				}
				frame := ""
				if st.Evidence == "frame" {
					frame = strconv.Itoa(st.Frame)
				}
				return nonEmpty(leaf("time", st.Time), leaf("at_dump", boolIf(st.AtDump)), leaf("who", st.Who), leaf("lwp", itoaIf(st.LWP)),
					leaf("task", strconv.FormatInt(st.Task, 10)), leaf("text", st.Text), leaf("evidence", st.Evidence),
					leaf("ref", st.Ref), leaf("source", st.Source), leaf("log_line", line), leaf("frame", frame), leaf("function", st.Function))
			}))
		}
		return ns
	})
}

// memoryNode is the analysis' memory section: its verdict, each address's
// chunk, the holders strongest first (each path an expression the client
// can evaluate in the holder's frame).
func memoryNode(m *report.AnalysisMemory) *node {
	return branch("memory", m.Verdict, func() []*node {
		heapNode := branch("heap", fmt.Sprintf("[%d]", len(m.Heap)), func() []*node {
			var ns []*node
			for i, c := range m.Heap {
				ns = append(ns, branch(fmt.Sprintf("[%d] %s", i, c.Role), c.Text, func() []*node {
					return nonEmpty(leaf("role", c.Role), leaf("address", c.Address), leaf("state", c.State), leaf("chunk", c.Chunk),
						leaf("size", c.Size), leaf("offset", strconv.FormatInt(c.Offset, 10)), leaf("arena", c.Arena), strs("bins", c.Bins),
						leaf("rule", c.Rule), leaf("text", c.Text))
				}))
			}
			return ns
		})
		holdersNode := branch("holders", fmt.Sprintf("[%d]", len(m.Holders)), func() []*node {
			var ns []*node
			for i, h := range m.Holders {
				ns = append(ns, branch(fmt.Sprintf("[%d] %s", i, h.Who), fmt.Sprintf("#%d %s: %s", h.Frame, h.Function, h.Expr), func() []*node {
					return nonEmpty(leaf("who", h.Who), leaf("lwp", itoaIf(h.LWP)), leaf("task", strconv.FormatInt(h.Task, 10)),
						leaf("frame", strconv.Itoa(h.Frame)), leaf("function", h.Function), leaf("variable", h.Variable), leaf("var_type", h.Type),
						leaf("expr", h.Expr), leaf("text", h.Text), leaf("relation", h.Relation), leaf("role", h.Role), leaf("value", h.Value),
						leaf("how", h.How), leaf("fallback", boolIf(h.Fallback)), leaf("hits", strconv.Itoa(h.Hits)))
				}))
			}
			return ns
		})
		st := m.Stats
		return nonEmpty(leaf("verdict", m.Verdict), strs("rules", m.Rules), leaf("heap_known", strconv.FormatBool(m.HeapKnown)),
			leaf("heap_reason", m.HeapReason), leaf("malloc_error", m.MallocError), heapNode, holdersNode, strs("bounds", m.Bounds),
			leaf("holder_search", fmt.Sprintf("%d stacks, %d frames, %d variables, %d objects", st.Stacks, st.Frames, st.Variables, st.Objects)),
			strs("warnings", m.Warnings))
	})
}

func originNode(steps []report.AnalysisStep) *node {
	if len(steps) == 0 {
		return nil
	}
	return branch("origin", fmt.Sprintf("[%d]", len(steps)), func() []*node {
		var ns []*node
		for i, o := range steps {
			ns = append(ns, branch(fmt.Sprintf("[%d]", i), o.Text, func() []*node {
				return nonEmpty(leaf("pc", o.PC), leaf("instruction", o.Instruction), leaf("register", o.Register), leaf("function", o.Function),
					leaf("file", o.File), leaf("line", itoaIf(o.Line)), leaf("text", o.Text), leaf("loop_back", strconv.FormatBool(o.LoopBack)))
			}))
		}
		return ns
	})
}

// nodeVariables are DAP variables of nodes; an expandable one gets a handle.
func (st *state) nodeVariables(ns []*node) []dap.Variable {
	out := make([]dap.Variable, 0, len(ns))
	for _, n := range ns {
		v := dap.Variable{Name: n.name, Value: n.value}
		if n.kids != nil {
			v.VariablesReference = st.handle(varRef{kind: "node", node: n})
		}
		out = append(out, v)
	}
	return out
}
