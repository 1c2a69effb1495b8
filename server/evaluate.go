package server

import (
	"fmt"
	"strings"

	"github.com/dsecore/dsecore/coreparse/unwind"
	"github.com/dsecore/dsecore/coreparse/values"
	"github.com/dsecore/dsecore/internal/par"
	"github.com/dsecore/dsecore/report"
	"github.com/google/go-dap"
)

func (c *conn) evaluate(r *dap.EvaluateRequest) {
	st := c.st
	expr := strings.TrimSpace(r.Arguments.Expression)
	hex := r.Arguments.Format != nil && r.Arguments.Format.Hex
	var sc *values.Scope
	if r.Arguments.FrameId > 0 {
		sc, _, _, _ = st.frameScope(r.Arguments.FrameId)
	} else if fs, err := st.stack(st.crashThreadID()); err == nil {
		id := st.frameID(st.crashThreadID(), faultFrameIndex(fs))
		sc, _, _, _ = st.frameScope(id)
	}
	if r.Arguments.Context == "repl" {
		if out, ok := c.command(expr, r.Arguments.FrameId); ok {
			c.send(&dap.EvaluateResponse{Response: response(&r.Request), Body: dap.EvaluateResponseBody{Result: out}})
			return
		}
	}
	// An expression in a frame the session never gave, or whose stack is
	// gone: an error, not the expression evaluated without its frame (a
	// REPL command above falls back to the crashed thread).
	if r.Arguments.FrameId > 0 {
		if _, _, err := st.frame(r.Arguments.FrameId); err != nil {
			c.sendError(r.Seq, r.Command, errEvaluate, "evaluate: "+err.Error())
			return
		}
	}
	v, err := st.vr.Eval(sc, expr)
	if err != nil {
		c.sendError(r.Seq, r.Command, errEvaluate, err.Error())
		return
	}
	// A result a client may expand is kept for the session's life: within
	// its budget. A number or a pointer's value costs nothing kept.
	if st.vr.HasChildren(v) {
		if why := st.overBudget(); why != "" {
			c.sendError(r.Seq, r.Command, errOverBudget, "evaluate: "+why)
			return
		}
	}
	dv := st.variable(v, hex)
	c.send(&dap.EvaluateResponse{Response: response(&r.Request), Body: dap.EvaluateResponseBody{Result: dv.Value, Type: dv.Type,
		VariablesReference: dv.VariablesReference, IndexedVariables: dv.IndexedVariables, MemoryReference: dv.MemoryReference}})
}

var replCommands = []string{"bt", "tasks", "analysis", "info registers", "x/"}

// command runs a repl command: bt, tasks, analysis, info registers, x/NFU ADDR.
func (c *conn) command(line string, frameID int) (string, bool) {
	st := c.st
	var b strings.Builder
	switch {
	case line == "bt" || line == "backtrace":
		thread := st.crashThreadID()
		if frameID > 0 {
			if fr, _, err := st.frame(frameID); err == nil {
				thread = fr.thread
			}
		}
		fs, err := st.stack(thread)
		if err != nil {
			return err.Error(), true
		}
		report.WriteFrames(&b, report.Frames(fs))
		return b.String(), true
	case line == "tasks":
		rt := st.runtime()
		tasks := make([]report.Task, len(rt.Tasks))
		par.Do(len(rt.Tasks), func(i int) { tasks[i] = report.TaskDoc(rt, rt.Tasks[i], false) })
		report.WriteTasks(&b, report.CoroutinesDoc(rt), tasks, report.TaskTable{Title: true, Total: len(tasks), Shown: -1})
		return b.String(), true
	case line == "analysis":
		fd, _ := report.FaultDoc(st.p)
		report.WriteAnalysis(&b, &report.Inspect{Fault: fd, Analysis: st.analysisDoc()}, report.AnalysisText{Lang: st.lang()})
		return b.String(), true
	case line == "info registers" || line == "info reg":
		sc, _, _, _ := st.frameScope(max(frameID, 1))
		if sc == nil || sc.Frame == nil {
			return "no frame", true
		}
		for i := 0; i < unwind.NumRegs; i++ {
			if v, ok := sc.Frame.Regs.Get(i); ok {
				fmt.Fprintf(&b, "%-4s %#016x %d\n", unwind.RegName(i), v, int64(v))
			} else {
				fmt.Fprintf(&b, "%-4s <not saved>\n", unwind.RegName(i))
			}
		}
		return b.String(), true
	case strings.HasPrefix(line, "x/"):
		return c.examine(line, frameID), true
	}
	return "", false
}

// examine is gdb's x/NFU ADDR (F in x, d, u, c; U in b, h, w, g),
// printed as gdb prints it.
func (c *conn) examine(line string, frameID int) string {
	c.st.mu.Lock()
	last := c.st.examined
	c.st.mu.Unlock()
	e, addrExpr, err := report.ParseExamine(line, last)
	if err != nil {
		return err.Error()
	}
	c.st.mu.Lock()
	c.st.examined = e
	c.st.mu.Unlock()
	sc, _, _, _ := c.st.frameScope(max(frameID, 1))
	v, err := c.st.vr.Eval(sc, addrExpr)
	if err != nil {
		return err.Error()
	}
	addr, err := c.st.vr.Uint(v)
	if err != nil {
		if v.InMemory() {
			addr = v.Addr
		} else {
			return err.Error()
		}
	}
	buf := make([]byte, e.Count*e.Size)
	k, _ := c.st.p.Core.ReadAt(buf, addr)
	var b strings.Builder
	report.WriteExamine(&b, e, addr, buf[:max(k, 0)], c.st.p.DataSymbol)
	return b.String()
}

func (c *conn) completions(r *dap.CompletionsRequest) {
	text := r.Arguments.Text
	col := r.Arguments.Column - 1
	if col < 0 || col > len(text) {
		col = len(text)
	}
	text = text[:col]
	word := text
	if i := strings.LastIndexAny(text, " ()*&+-/[],"); i >= 0 {
		word = text[i+1:]
	}
	var cands []string
	if !strings.Contains(text, " ") || strings.HasPrefix(text, "info") {
		cands = append(cands, replCommands...)
	}
	for i := 0; i < unwind.NumRegs; i++ {
		cands = append(cands, "$"+unwind.RegName(i))
	}
	if sc, _, _, _ := c.st.frameScope(max(r.Arguments.FrameId, 1)); sc != nil {
		for _, v := range sc.Vars {
			cands = append(cands, v.Name)
		}
	}
	var out []dap.CompletionItem
	seen := map[string]bool{}
	for _, cand := range cands {
		if strings.HasPrefix(cand, word) && !seen[cand] && cand != word {
			seen[cand] = true
			out = append(out, dap.CompletionItem{Label: cand, Start: col - len(word) + 1, Length: len(word)})
		}
	}
	if out == nil {
		out = []dap.CompletionItem{}
	}
	c.send(&dap.CompletionsResponse{Response: response(&r.Request), Body: dap.CompletionsResponseBody{Targets: out}})
}
