package coroutines

import (
	"fmt"
	"strings"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/symbols"
)

// KeyResult is what one key of a profile resolved to in a core's DWARF and
// symbols.
type KeyResult struct {
	Key    string `json:"key"`                // "running", "queues.waitQueue_", "roots"
	Want   string `json:"configured"`         // the profile's value
	Got    string `json:"resolved,omitempty"` // the member path, type or symbol used
	In     string `json:"in,omitempty"`       // the type it is a member of
	Type   string `json:"type,omitempty"`     // the member's type, or the symbol's kind
	Offset int64  `json:"offset"`             // the member's offset in In; -1 when not a member
	// Status: "ok"; "adapted" (the configured name is not in this build,
	// Got is what dsecore used instead, Note says why); "failed"; "absent"
	// (an optional key this build does not have); "unset" (an optional key
	// the profile leaves empty).
	Status string `json:"status"`
	Note   string `json:"note,omitempty"`
	// Fix is the profile line that says what was used (adapted), or the
	// candidates a person chooses from (failed).
	Fix string `json:"fix,omitempty"`
}

// Resolution is every key of a profile against one core.
type Resolution struct {
	Profile string      `json:"profile"`
	Source  string      `json:"source"`
	Module  string      `json:"module,omitempty"` // the file whose DWARF has the runtime's types
	Keys    []KeyResult `json:"keys"`

	sync *SyncLayout // the sync keys resolved (sync.go)
}

// Count returns how many keys have a status.
func (r *Resolution) Count(status string) int {
	n := 0
	for _, k := range r.Keys {
		if k.Status == status {
			n++
		}
	}
	return n
}

// Key returns the result of one key, nil when there is none.
func (r *Resolution) Key(key string) *KeyResult {
	for i := range r.Keys {
		if r.Keys[i].Key == key {
			return &r.Keys[i]
		}
	}
	return nil
}

// Lines are the profile lines that make every adaptation explicit, in key
// order ("running: curTask_").
func (r *Resolution) Lines() []string {
	var out []string
	seen := map[string]bool{}
	for _, k := range r.Keys {
		if k.Status == "adapted" && k.Fix != "" && !seen[k.Fix] {
			seen[k.Fix] = true
			out = append(out, k.Fix)
		}
	}
	return out
}

// resolver resolves one profile against one module's DWARF. Adaptations
// are written into eff, the effective profile the walk and the stacks use.
type resolver struct {
	p   *coreparse.Process
	eff *Profile
	s   *symbols.Table
	mod *coreparse.Module
	res *Resolution
	l   *layout

	sched, proc, task, hook, queue *symbols.Type
	claims                         map[string]string // "type\x00path" → key
	failed                         map[string]bool   // required keys that did not resolve
}

func (r *resolver) tname(t *symbols.Type) string {
	if t == nil {
		return "?"
	}
	if n := r.s.TypeName(t.Offset); n != "" && n != "?" {
		return n
	}
	return t.Name
}

func (r *resolver) add(k KeyResult) *KeyResult {
	r.res.Keys = append(r.res.Keys, k)
	return &r.res.Keys[len(r.res.Keys)-1]
}

// keyOf is the profile key of a result key ("queues.waitQueue_" → queues).
func keyOf(key string) string {
	k, _, _ := strings.Cut(key, ".")
	return k
}

// findTaskModule finds the module whose DWARF defines the task type.
func findTaskModule(p *coreparse.Process, name string) (*coreparse.Module, *symbols.Type) {
	for _, m := range append([]*coreparse.Module{p.Exe}, p.Modules...) {
		if m == nil || m.Syms == nil {
			continue
		}
		if t, ok := m.Syms.LookupType(name); ok {
			return m, t
		}
	}
	return nil, nil
}

// resolve computes the offsets the profile names, from the DWARF of the
// module defining the runtime's types, adapting what this build names
// otherwise (into prof, the effective profile). The layout is nil when the
// walk cannot run; res says key by key what happened.
func resolve(p *coreparse.Process, prof *Profile) (*layout, *Resolution) {
	res := &Resolution{Profile: prof.Name, Source: prof.Source}
	r := &resolver{p: p, eff: prof, res: res, claims: map[string]string{}, failed: map[string]bool{}}
	// The types, by name, else by shape.
	mod, task := findTaskModule(p, prof.TaskType)
	var shapes []runtimeShape
	if mod == nil {
		for _, m := range append([]*coreparse.Module{p.Exe}, p.Modules...) {
			if m == nil || m.Syms == nil || m.IsSystem() {
				continue
			}
			if sh := findShapes(p, m); len(sh) > 0 {
				mod, shapes = m, sh
				break
			}
		}
	}
	if mod == nil {
		res.Keys = append(res.Keys, KeyResult{Key: "task_type", Want: prof.TaskType, Offset: -1, Status: "failed",
			Note: fmt.Sprintf("type %s not found in any module's DWARF, and no type there has the shape of a scheduler of Processers with task queues", prof.TaskType)})
		r.failed["task_type"] = true
		r.resolveSymbols(nil)
		return nil, res
	}
	r.s, r.mod = mod.Syms, mod
	res.Module = mod.Path
	r.l = &layout{syms: mod.Syms, mod: mod, queues: map[string]int64{}}
	l := r.l
	r.sched = r.resolveType("scheduler_type", &prof.SchedulerType, shapes, func(s runtimeShape) *symbols.Type { return s.sched })
	r.proc = r.resolveType("processer_type", &prof.ProcesserType, shapes, func(s runtimeShape) *symbols.Type { return s.proc })
	if task == nil {
		r.task = r.resolveType("task_type", &prof.TaskType, shapes, func(s runtimeShape) *symbols.Type { return s.task })
	} else {
		r.task = task
		r.add(KeyResult{Key: "task_type", Want: prof.TaskType, Got: prof.TaskType, Type: fmt.Sprintf("%d bytes", task.Size), Offset: -1, Status: "ok"})
	}
	if r.sched == nil || r.proc == nil || r.task == nil {
		r.resolveSymbols(nil)
		return nil, res
	}
	r.resolveHook()
	r.resolveQueues()
	r.resolveMembers()
	if procsType := l.fields[keyProcessers].Type; procsType != nil {
		if kind, ok := r.containerKind(procsType, r.proc); ok && kind != prof.ProcessersKind {
			old := prof.ProcessersKind
			prof.ProcessersKind = kind
			r.add(KeyResult{Key: "processers_kind", Want: old, Got: kind, In: r.tname(r.sched), Type: r.s.TypeName(procsType.Offset), Offset: -1, Status: "adapted",
				Note: fmt.Sprintf("%s is a std::%s", prof.Processers, kind), Fix: prof.Line("processers_kind")})
		} else {
			r.add(KeyResult{Key: "processers_kind", Want: prof.ProcessersKind, Got: prof.ProcessersKind, In: r.tname(r.sched), Type: r.s.TypeName(procsType.Offset), Offset: -1, Status: "ok"})
		}
	}
	l.stackGuard = prof.TaskStackGuard
	if l.fields[keyTaskStack].ok() && l.fields[keyTaskStackSize].ok() {
		r.add(KeyResult{Key: "task_stack_guard", Want: fmt.Sprint(prof.TaskStackGuard), Got: fmt.Sprint(prof.TaskStackGuard), In: r.tname(r.task), Type: "bytes", Offset: -1, Status: "ok"})
	}
	if l.hook != nil {
		if b, ok := r.s.BaseOffset(r.task, r.tname(r.hook)); ok {
			l.hookBase = b
		}
	}
	if st := r.s.Resolve(l.fields[keyTaskState].Type); st != nil && st.Kind == symbols.KindEnum {
		l.stateNames = st.Enum
	}
	if len(prof.States) > 0 {
		l.stateNames = prof.States
	}
	l.sched = r.sched
	r.resolveSymbols(r.sched)
	r.resolveLayout()
	res.sync = r.resolveSync()
	if len(l.queues) == 0 || r.hook == nil || r.failed["processers"] || r.failed["queue_head"] || r.failed["queue_next"] || r.failed["task_sp"] {
		return nil, res
	}
	return l, res
}

// resolveMembers resolves the member keys (memberKeys) into the layout's
// fields: exactly first (so that every key claims its own member), then
// the missing ones adapted.
func (r *resolver) resolveMembers() {
	l := r.l
	for k := range l.fields {
		l.fields[k] = field{Off: missing}
	}
	// Pass 1: exact names claim their members.
	exactOK := map[memberKey]bool{}
	for k, mk := range memberKeys {
		in, want := r.structOf(mk.in), r.eff.memberPath(mk.key)
		if in == nil || *want == "" {
			continue
		}
		if _, _, ok := r.exact(in, *want); ok {
			r.claims[r.claimKey(in, *want)] = mk.key
			exactOK[memberKey(k)] = true
		}
	}
	// Pass 2: every key, in order (exact ones resolve as claimed).
	for k, mk := range memberKeys {
		in, want := r.structOf(mk.in), r.eff.memberPath(mk.key)
		if in == nil {
			r.add(KeyResult{Key: mk.key, Want: *want, Offset: -1, Status: "failed", Note: "its type did not resolve"})
			if mk.required {
				r.failed[mk.key] = true
			}
			l.fields[k].Size = r.sizeOf(mk, nil)
			continue
		}
		if exactOK[memberKey(k)] {
			delete(r.claims, r.claimKey(in, *want)) // resolveMember claims it again
		}
		off, mt := r.resolveMember(mk.key, in, want, r.shapeOf(mk.shape), mk.required)
		l.fields[k] = field{Off: off, Size: r.sizeOf(mk, mt), Type: mt}
		if memberKey(k) == keyRunning && off == missing {
			r.runningCandidates(*want)
		}
	}
}

// runningCandidates: when several pointers to a task could be the running
// one, the core decides (decideRunning, during the walk).
func (r *resolver) runningCandidates(want string) {
	var cands []string
	_, _, all, _ := r.candidates(r.proc, want, r.ptrTo(r.task))
	for _, c := range all {
		if _, taken := r.claims[r.claimKey(r.proc, c)]; !taken {
			cands = append(cands, c)
		}
	}
	if len(cands) > 1 {
		delete(r.failed, "running")
		kr := r.res.Key("running")
		kr.Status = "pending"
		for _, c := range cands {
			o, _, _ := r.exact(r.proc, c)
			r.l.runningCands = append(r.l.runningCands, runningCand{name: c, off: o})
		}
	}
}

// sizeOf is the size of a member key's member of declared type t (nil:
// unknown): an integer's from DWARF when it is 1, 2, 4 or 8 bytes, an
// enum's from its type, else the key's default.
func (r *resolver) sizeOf(mk memberKeyInfo, t *symbols.Type) int64 {
	if t == nil {
		return mk.size
	}
	switch mk.shape {
	case shapeInteger:
		if n := r.s.SizeOf(t.Offset); n == 1 || n == 2 || n == 4 || n == 8 {
			return n
		}
	case shapeEnum:
		if st := r.s.Resolve(t); st != nil && st.Size > 0 {
			return st.Size
		}
	}
	return mk.size
}

// structOf is the struct of a role, as resolved (nil: it did not).
func (r *resolver) structOf(in structRole) *symbols.Type {
	switch in {
	case inScheduler:
		return r.sched
	case inProcesser:
		return r.proc
	case inQueue:
		return r.queue
	case inHook:
		return r.hook
	}
	return r.task
}

// shapeOf is the shape a member of kind must have in this build.
func (r *resolver) shapeOf(kind shapeKind) shape {
	switch kind {
	case shapeProcessers:
		return r.containerOf(r.proc)
	case shapePtrToTask:
		return r.ptrTo(r.task)
	case shapePtrToHook:
		return r.ptrTo(r.hook)
	case shapePtrToProcesser:
		return r.ptrTo(r.proc)
	case shapeInteger:
		return r.integer()
	case shapeEnum:
		return r.enum()
	case shapeCString:
		return r.cstring()
	}
	return r.pointer()
}

// resolveType finds a named type, else takes it from the one shape found.
func (r *resolver) resolveType(key string, want *string, shapes []runtimeShape, of func(runtimeShape) *symbols.Type) *symbols.Type {
	if t, ok := r.s.LookupType(*want); ok && t.Kind == symbols.KindStruct {
		r.add(KeyResult{Key: key, Want: *want, Got: *want, Type: fmt.Sprintf("%d bytes", t.Size), Offset: -1, Status: "ok"})
		return t
	}
	if shapes == nil {
		shapes = findShapes(r.p, r.mod)
	}
	var names []string
	var ts []*symbols.Type
	seen := map[string]bool{}
	for _, s := range shapes {
		if t := of(s); t != nil && !seen[r.tname(t)] {
			seen[r.tname(t)] = true
			names, ts = append(names, r.tname(t)), append(ts, t)
		}
	}
	note := fmt.Sprintf("type %s not found in %s's DWARF", *want, r.mod.BaseName())
	if len(ts) == 1 {
		old := *want
		*want = names[0]
		r.add(KeyResult{Key: key, Want: old, Got: names[0], Type: fmt.Sprintf("%d bytes", ts[0].Size), Offset: -1, Status: "adapted",
			Note: note + "; " + names[0] + " has its shape (a scheduler's container of Processer pointers; Processers with queues of tasks)", Fix: r.eff.Line(key)})
		return ts[0]
	}
	if len(ts) > 1 {
		note += "; types of its shape: " + strings.Join(names, ", ")
	}
	r.failed[key] = true
	r.add(KeyResult{Key: key, Want: *want, Offset: -1, Status: "failed", Note: note})
	return nil
}
