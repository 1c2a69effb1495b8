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
	// The members, exactly first (so that every key claims its own), then
	// the missing ones adapted.
	type mkey struct {
		key      string
		in       **symbols.Type
		want     *string
		sh       func() shape
		required bool
		off      *int64
		typ      **symbols.Type
	}
	var procsType, stateType, idType, countType, pidType, lineType, sizeType, qCountType *symbols.Type
	keys := []mkey{
		{"processers", &r.sched, &prof.Processers, func() shape { return r.containerOf(r.proc) }, true, &l.procs, &procsType},
		{"task_count", &r.sched, &prof.TaskCount, r.integer, false, &l.taskCount, &countType},
		{"processer_id", &r.proc, &prof.ProcesserID, r.integer, true, &l.procID, &pidType},
		{"running", &r.proc, &prof.Running, func() shape { return r.ptrTo(r.task) }, true, &l.running, nil},
		{"queue_head", &r.queue, &prof.QueueHead, func() shape { return r.ptrTo(r.hook) }, true, &l.qHead, nil},
		{"queue_count", &r.queue, &prof.QueueCount, r.integer, false, &l.qCount, &qCountType},
		{"queue_next", &r.hook, &prof.QueueNext, func() shape { return r.ptrTo(r.hook) }, true, &l.hookNext, nil},
		{"task_id", &r.task, &prof.TaskID, r.integer, true, &l.tID, &idType},
		{"task_state", &r.task, &prof.TaskState, r.enum, true, &l.tState, &stateType},
		{"task_proc", &r.task, &prof.TaskProc, func() shape { return r.ptrTo(r.proc) }, false, &l.tProc, nil},
		{"task_sp", &r.task, &prof.TaskSP, r.pointer, true, &l.tSP, nil},
		{"task_stack", &r.task, &prof.TaskStack, r.pointer, false, &l.tStack, nil},
		{"task_stack_size", &r.task, &prof.TaskSize, r.integer, false, &l.tSize, &sizeType},
		{"task_func", &r.task, &prof.TaskFunc, r.cstring, false, &l.tFunc, nil},
		{"task_file", &r.task, &prof.TaskFile, r.cstring, false, &l.tFile, nil},
		{"task_line", &r.task, &prof.TaskLine, r.integer, false, &l.tLine, &lineType},
	}
	for _, k := range keys {
		*k.off = missing
	}
	// Pass 1: exact names claim their members.
	exactOK := map[string]bool{}
	for _, k := range keys {
		if *k.in == nil || *k.want == "" {
			continue
		}
		if _, _, ok := r.exact(*k.in, *k.want); ok {
			r.claims[r.claimKey(*k.in, *k.want)] = k.key
			exactOK[k.key] = true
		}
	}
	// Pass 2: every key, in order (exact ones resolve as claimed).
	var runningCands []string
	for _, k := range keys {
		if *k.in == nil {
			r.add(KeyResult{Key: k.key, Want: *k.want, Offset: -1, Status: "failed", Note: "its type did not resolve"})
			if k.required {
				r.failed[k.key] = true
			}
			continue
		}
		if exactOK[k.key] {
			delete(r.claims, r.claimKey(*k.in, *k.want)) // resolveMember claims it again
		}
		off, mt := r.resolveMember(k.key, *k.in, k.want, k.sh(), k.required)
		*k.off = off
		if k.typ != nil {
			*k.typ = mt
		}
		if k.key == "running" && off == missing {
			// Several pointers to a task: the core decides (walk).
			_, _, cands, _ := r.candidates(r.proc, *k.want, r.ptrTo(r.task))
			for _, c := range cands {
				if _, taken := r.claims[r.claimKey(r.proc, c)]; !taken {
					runningCands = append(runningCands, c)
				}
			}
			if len(runningCands) > 1 {
				delete(r.failed, "running")
				kr := r.res.Key("running")
				kr.Status = "pending"
				for _, c := range runningCands {
					o, _, _ := r.exact(r.proc, c)
					l.runningCands = append(l.runningCands, runningCand{name: c, off: o})
				}
			}
		}
	}
	if procsType != nil {
		if kind, ok := r.containerKind(procsType, r.proc); ok && kind != prof.ProcessersKind {
			old := prof.ProcessersKind
			prof.ProcessersKind = kind
			r.add(KeyResult{Key: "processers_kind", Want: old, Got: kind, In: r.tname(r.sched), Type: r.s.TypeName(procsType.Offset), Offset: -1, Status: "adapted",
				Note: fmt.Sprintf("%s is a std::%s", prof.Processers, kind), Fix: prof.Line("processers_kind")})
		} else {
			r.add(KeyResult{Key: "processers_kind", Want: prof.ProcessersKind, Got: prof.ProcessersKind, In: r.tname(r.sched), Type: r.s.TypeName(procsType.Offset), Offset: -1, Status: "ok"})
		}
	}
	l.taskCountSize = sizeOf(r, countType, 4)
	l.procIDSize = sizeOf(r, pidType, 4)
	l.tIDSize = sizeOf(r, idType, 8)
	l.tLineSize = sizeOf(r, lineType, 4)
	l.tSizeSize = sizeOf(r, sizeType, 8)
	l.qCountSize = sizeOf(r, qCountType, 8)
	l.stackGuard = prof.TaskStackGuard
	if l.tStack != missing && l.tSize != missing {
		r.add(KeyResult{Key: "task_stack_guard", Want: fmt.Sprint(prof.TaskStackGuard), Got: fmt.Sprint(prof.TaskStackGuard), In: r.tname(r.task), Type: "bytes", Offset: -1, Status: "ok"})
	}
	if l.hook != nil {
		if b, ok := r.s.BaseOffset(r.task, r.tname(r.hook)); ok {
			l.hookBase = b
		}
	}
	l.stateSize = 4
	if st := r.s.Resolve(stateType); st != nil {
		if st.Kind == symbols.KindEnum {
			l.stateNames = st.Enum
		}
		if st.Size > 0 {
			l.stateSize = st.Size
		}
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

func sizeOf(r *resolver, t *symbols.Type, def int64) int64 {
	if t == nil {
		return def
	}
	if n := r.s.SizeOf(t.Offset); n == 1 || n == 2 || n == 4 || n == 8 {
		return n
	}
	return def
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
