package server

import (
	"fmt"

	"github.com/dsecore/dsecore/coreparse/unwind"
	"github.com/dsecore/dsecore/coreparse/values"
	"github.com/google/go-dap"
)

func (c *conn) scopes(r *dap.ScopesRequest) {
	st := c.st
	fr, fs, err := st.frame(r.Arguments.FrameId)
	if err != nil {
		c.sendError(r.Seq, r.Command, errNoFrame, err.Error())
		return
	}
	f := fs[fr.index]
	scopes := []dap.Scope{}
	if len(st.holderHits(fr)) > 0 {
		scopes = append(scopes, dap.Scope{Name: holderScopeName, VariablesReference: st.handle(varRef{kind: "holder", frame: r.Arguments.FrameId})})
	}
	if !f.Boundary && !f.Sigtramp {
		vars := []dap.Scope{
			{Name: "Arguments", PresentationHint: "arguments", VariablesReference: st.handle(varRef{kind: "args", frame: r.Arguments.FrameId})},
			{Name: "Locals", PresentationHint: "locals", VariablesReference: st.handle(varRef{kind: "locals", frame: r.Arguments.FrameId})}}
		if f.Raw != nil {
			regs := dap.Scope{Name: "Registers", PresentationHint: "registers", VariablesReference: st.handle(varRef{kind: "registers", frame: r.Arguments.FrameId})}
			if _, ps, ls, _ := st.frameScope(r.Arguments.FrameId); len(ps)+len(ls) == 0 {
				// No variable: no DWARF scope for this code (an
				// executable as Debian ships it, hand-written assembly):
				// the registers are what there is, first (the scope a
				// client expands).
				vars = append([]dap.Scope{regs}, vars...)
			} else {
				vars = append(vars, regs)
			}
		}
		scopes = append(scopes, vars...)
	}
	if fr.thread == st.crashThreadID() && st.p.Fault() != nil {
		// On the fault frame and its inline levels. The analysis is made
		// when the scope is expanded (it unwinds every task).
		fi := faultFrameIndex(fs)
		if fr.index >= fi && fs[fr.index].Raw == fs[fi].Raw {
			scopes = append(scopes, dap.Scope{Name: "Fault analysis", Expensive: true, VariablesReference: st.handle(varRef{kind: "analysis"})})
		}
	}
	c.send(&dap.ScopesResponse{Response: response(&r.Request), Body: dap.ScopesResponseBody{Scopes: scopes}})
}

// frameScope evaluates a frame's variables once.
func (st *state) frameScope(frameID int) (*values.Scope, []*values.Value, []*values.Value, error) {
	fr, fs, err := st.frame(frameID)
	if err != nil {
		return nil, nil, nil, err
	}
	vf := values.FrameOf(st.p, fs, fr.index)
	if vf == nil {
		return &values.Scope{}, nil, nil, fmt.Errorf("no module or registers for this frame")
	}
	ps, ls, err := st.vr.FrameVars(vf)
	sc := &values.Scope{Frame: vf, Vars: append(append([]*values.Value{}, ps...), ls...)}
	return sc, ps, ls, err
}

func (c *conn) variables(r *dap.VariablesRequest) {
	st := c.st
	ref, ok := st.ref(r.Arguments.VariablesReference)
	if !ok {
		c.sendError(r.Seq, r.Command, errNoVariables, fmt.Sprintf("no variables reference %d", r.Arguments.VariablesReference))
		return
	}
	hex := r.Arguments.Format != nil && r.Arguments.Format.Hex
	var out []dap.Variable
	switch ref.kind {
	case "args", "locals":
		_, ps, ls, err := st.frameScope(ref.frame)
		vs := ps
		if ref.kind == "locals" {
			vs = ls
		}
		if err != nil && len(vs) == 0 {
			out = append(out, dap.Variable{Name: "<no variables>", Value: err.Error()})
		}
		for _, v := range vs {
			out = append(out, st.variable(v, hex))
		}
	case "registers":
		fr, fs, err := st.frame(ref.frame)
		if err == nil {
			f := fs[fr.index]
			for i := 0; i < unwind.NumRegs; i++ {
				v, ok := f.Raw.Regs.Get(i)
				val := "<not saved>"
				if ok {
					val = fmt.Sprintf("%#016x", v)
				}
				out = append(out, dap.Variable{Name: unwind.RegName(i), Value: val, EvaluateName: "$" + unwind.RegName(i)})
			}
			if f.Raw.CFA != 0 {
				out = append(out, dap.Variable{Name: "cfa", Value: fmt.Sprintf("%#016x", f.Raw.CFA)})
			}
		}
	case "value":
		kids, err := st.vr.Children(ref.value, r.Arguments.Start, r.Arguments.Count)
		if err != nil && len(kids) == 0 {
			out = append(out, dap.Variable{Name: "<error>", Value: err.Error()})
		}
		for _, k := range kids {
			out = append(out, st.variable(k, hex))
		}
	case "holder":
		out = st.holderVariables(ref.frame, hex)
	case "analysis":
		out = st.nodeVariables(append(analysisNodes(st.analysisDoc()), nonEmpty(waitsNode(st.sess.Waits()))...))
	case "node":
		out = st.nodeVariables(ref.node.kids())
	}
	if out == nil {
		out = []dap.Variable{}
	}
	c.send(&dap.VariablesResponse{Response: response(&r.Request), Body: dap.VariablesResponseBody{Variables: out}})
}

// variable renders a value as a DAP variable.
func (st *state) variable(v *values.Value, hex bool) dap.Variable {
	dv := dap.Variable{Name: v.Name, Value: st.vr.Summary(v, hex), Type: st.vr.TypeName(v)}
	if st.vr.HasChildren(v) {
		dv.VariablesReference = st.handle(varRef{kind: "value", value: v})
		dv.IndexedVariables = st.vr.IndexedCount(v)
	}
	if ty := st.vr.Resolved(v); ty != nil && !v.Absent() {
		if ty.Kind == 2 { // pointer: the pointee's memory
			if x, err := st.vr.Uint(v); err == nil && x != 0 {
				dv.MemoryReference = hexAddr(x)
			}
		} else if v.InMemory() {
			dv.MemoryReference = hexAddr(v.Addr)
		}
	}
	if v.Where != "" && !v.Absent() {
		dv.PresentationHint = &dap.VariablePresentationHint{Attributes: []string{"readOnly"}}
	}
	return dv
}
