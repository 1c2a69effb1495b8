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
func (s *state) frameID(thread, index int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := frameRef{thread, index}
	if id, ok := s.frameIDs[f]; ok {
		return id
	}
	if s.frameIDs == nil {
		s.frameIDs = map[frameRef]int{}
	}
	s.frames = append(s.frames, f)
	s.frameIDs[f] = len(s.frames)
	return len(s.frames)
}

func (s *state) frame(id int) (frameRef, []coreparse.Frame, error) {
	s.mu.Lock()
	if id < 1 || id > len(s.frames) {
		s.mu.Unlock()
		return frameRef{}, nil, fmt.Errorf("no frame %d", id)
	}
	f := s.frames[id-1]
	s.mu.Unlock()
	fs, err := s.stack(f.thread)
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
func (s *state) handle(v varRef) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v.value == nil && v.node == nil {
		if id, ok := s.scopeIDs[v]; ok {
			return id
		}
		if s.scopeIDs == nil {
			s.scopeIDs = map[varRef]int{}
		}
		s.handles = append(s.handles, v)
		s.scopeIDs[v] = len(s.handles)
		return len(s.handles)
	}
	cost := heldCost(v)
	if s.maxHeld > 0 && s.held+cost > s.maxHeld {
		return 0
	}
	s.held += cost
	s.handles = append(s.handles, v)
	return len(s.handles)
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
func (s *state) overBudget() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.maxHeld <= 0 || s.held+heldCost(varRef{}) <= s.maxHeld {
		return ""
	}
	return fmt.Sprintf("this session keeps %d KiB of evaluate and variables results alive for the references it gave (its budget, --max-evaluate-memory, is %d KiB): "+
		"no more are made; disconnect and launch again for a fresh session", s.held>>10, s.maxHeld>>10)
}

func (s *state) ref(id int) (varRef, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id < 1 || id > len(s.handles) {
		return varRef{}, false
	}
	return s.handles[id-1], true
}
