package server

import (
	"github.com/dsecore/dsecore/analysis/holders"
	"github.com/google/go-dap"
)

// The fault analysis' holders in the debugger: a holder's frame gets a
// first scope, "Holds (fault analysis)", with the path from its variable
// to the object held, one entry a step (`l`, `l->node`), each evaluated in
// that frame, so the client opens the frame on them (VS Code expands a
// frame's first scope). The scope is there only once the analysis has been
// made: listing a frame's scopes never starts it.

const holderScopeName = "Holds (fault analysis)"

// holderHits are the analysis' holder hits at a frame, strongest first.
func (st *state) holderHits(fr frameRef) []holders.Hit {
	a := st.sess.AnalysisIfMade()
	if a == nil || a.Memory == nil || a.Memory.Holders == nil {
		return nil
	}
	var out []holders.Hit
	var taskOf map[int]int64
	for _, h := range a.Memory.Holders.Hits {
		if h.Frame != fr.index {
			continue
		}
		if h.TaskID < 0 {
			if h.LWP == fr.thread && fr.thread < taskBase {
				out = append(out, h)
			}
			continue
		}
		if taskOf == nil {
			taskOf = map[int]int64{}
			for i, t := range st.shownTasks() {
				taskOf[taskThreadID(t, i)] = t.ID
			}
		}
		if id, ok := taskOf[fr.thread]; ok && id == h.TaskID {
			out = append(out, h)
		}
	}
	return out
}

// holderThread is the DAP thread a holder's stack is listed under (0 when
// the task is not shown).
func (st *state) holderThread(lwp int, task int64) int {
	if task < 0 {
		return lwp
	}
	for i, t := range st.shownTasks() {
		if t.ID == task {
			return taskThreadID(t, i)
		}
	}
	return 0
}

// holderVariables are the paths' steps of the hits at a frame, each
// evaluated in it (a raw match: its register or stack word).
func (st *state) holderVariables(frameID int, hex bool) []dap.Variable {
	fr, _, err := st.frame(frameID)
	if err != nil {
		return nil
	}
	sc, _, _, _ := st.frameScope(frameID)
	var out []dap.Variable
	seen := map[string]bool{}
	for _, h := range st.holderHits(fr) {
		steps := h.Steps
		if len(steps) == 0 {
			steps = []string{h.Expr}
		}
		for _, e := range steps {
			if seen[e] {
				continue
			}
			seen[e] = true
			v, err := st.vr.Eval(sc, e)
			if err != nil {
				out = append(out, dap.Variable{Name: e, Value: "<" + err.Error() + ">", EvaluateName: e})
				continue
			}
			dv := st.variable(v, hex)
			dv.Name, dv.EvaluateName = e, e
			out = append(out, dv)
		}
	}
	return out
}
