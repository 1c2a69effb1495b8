package server

import (
	"fmt"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/values"
)

type frameRef struct {
	thread int
	index  int
}

type varRef struct {
	kind  string // "args", "locals", "registers", "analysis", "holder", "value", "node"
	frame int    // frame id
	value *values.Value
	node  *node // a part of a document (the fault analysis)
}

// frameID is a frame's id: one per frame for the session's life (a
// client asking for the same stack again gets the same ids, and the
// table does not grow).
func (st *state) frameID(thread, index int) int {
	st.mu.Lock()
	defer st.mu.Unlock()
	f := frameRef{thread, index}
	if id, ok := st.frameIDs[f]; ok {
		return id
	}
	if st.frameIDs == nil {
		st.frameIDs = map[frameRef]int{}
	}
	st.frames = append(st.frames, f)
	st.frameIDs[f] = len(st.frames)
	return len(st.frames)
}

func (st *state) frame(id int) (frameRef, []coreparse.Frame, error) {
	st.mu.Lock()
	if id < 1 || id > len(st.frames) {
		st.mu.Unlock()
		return frameRef{}, nil, fmt.Errorf("no frame %d", id)
	}
	f := st.frames[id-1]
	st.mu.Unlock()
	fs, err := st.stack(f.thread)
	if err != nil || f.index >= len(fs) {
		return f, nil, fmt.Errorf("no frame %d", id)
	}
	return f, fs, nil
}

// handle is a variablesReference for v. A frame's scopes get one each,
// given again when asked again; each value or analysis node listed gets a
// new one (a client may expand it any time later), and what those keep
// alive counts against the session's budget: past it, handle gives 0 (the
// value is shown but cannot be expanded) and evaluate answers an error.
func (st *state) handle(v varRef) int {
	st.mu.Lock()
	defer st.mu.Unlock()
	if v.value == nil && v.node == nil {
		if id, ok := st.scopeIDs[v]; ok {
			return id
		}
		if st.scopeIDs == nil {
			st.scopeIDs = map[varRef]int{}
		}
		st.handles = append(st.handles, v)
		st.scopeIDs[v] = len(st.handles)
		return len(st.handles)
	}
	cost := heldCost(v)
	if st.maxHeld > 0 && st.held+cost > st.maxHeld {
		return 0
	}
	st.held += cost
	st.handles = append(st.handles, v)
	return len(st.handles)
}

// heldCost estimates what a reference keeps alive: its table slot and
// value (or node), and the bytes they hold.
func heldCost(v varRef) int64 {
	n := int64(256)
	if v.value != nil {
		n += int64(len(v.value.Name) + len(v.value.Bytes) + len(v.value.Err) + len(v.value.Where))
	}
	return n
}

// overBudget says, when the session's references have used their budget,
// what to answer a request that would make more.
func (st *state) overBudget() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.maxHeld <= 0 || st.held+heldCost(varRef{}) <= st.maxHeld {
		return ""
	}
	return fmt.Sprintf("this session keeps %d KiB of evaluate and variables results alive for the references it gave (its budget, --max-evaluate-memory, is %d KiB): "+
		"no more are made; disconnect and launch again for a fresh session", st.held>>10, st.maxHeld>>10)
}

func (st *state) ref(id int) (varRef, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if id < 1 || id > len(st.handles) {
		return varRef{}, false
	}
	return st.handles[id-1], true
}
