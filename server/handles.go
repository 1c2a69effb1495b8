package server

import (
	"fmt"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/values"
)

// handles hands out the references a client is given for values of T
// (frame ids, variablesReference, sourceReference) and finds the values
// again, as delve's service/dap/handles.go: ids from 1, in the order
// given, never reused while the session lives. A value given under a key
// (a frame, a frame's scope, a function's disassembly) gets the same id
// each time it is asked for. The zero value is empty and ready; it is
// not safe for concurrent use (the state's mutex guards its tables).
type handles[K comparable, T any] struct {
	vals  []T
	byKey map[K]int
}

// add gives v a new id.
func (h *handles[K, T]) add(v T) int {
	h.vals = append(h.vals, v)
	return len(h.vals)
}

// keyed is the id of the value under key k, given to the value newValue
// makes on first use.
func (h *handles[K, T]) keyed(k K, newValue func() T) int {
	if id, ok := h.byKey[k]; ok {
		return id
	}
	if h.byKey == nil {
		h.byKey = map[K]int{}
	}
	id := h.add(newValue())
	h.byKey[k] = id
	return id
}

// get is the value of an id; false for an id never given.
func (h *handles[K, T]) get(id int) (T, bool) {
	if id < 1 || id > len(h.vals) {
		var zero T
		return zero, false
	}
	return h.vals[id-1], true
}

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
	return st.frames.keyed(f, func() frameRef { return f })
}

func (st *state) frame(id int) (frameRef, []coreparse.Frame, error) {
	st.mu.Lock()
	f, ok := st.frames.get(id)
	st.mu.Unlock()
	if !ok {
		return frameRef{}, nil, fmt.Errorf("no frame %d", id)
	}
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
		return st.vars.keyed(v, func() varRef { return v })
	}
	cost := heldCost(v)
	if st.maxHeld > 0 && st.held+cost > st.maxHeld {
		return 0
	}
	st.held += cost
	return st.vars.add(v)
}

// heldCost estimates what a reference keeps alive: its table slot and
// value (or node), and the bytes they hold.
func heldCost(v varRef) int64 {
	n := int64(256)
	if v.value != nil {
		n += int64(len(v.value.Name) + len(v.value.Bytes) + len(v.value.AbsentText()) + len(v.value.Where))
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
	return st.vars.get(id)
}
