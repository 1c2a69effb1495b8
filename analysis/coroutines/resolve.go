package coroutines

import (
	"debug/elf"
	"fmt"
	"sort"
	"strings"
	"unicode"

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

// member is a data member of a struct as a key sees it: direct members and
// those of its bases (at their offsets in the struct).
type member struct {
	name string
	off  int64
	typ  *symbols.Type // the member's type, unresolved
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

// def is a struct's definition when t is only a declaration (a pointer's
// target often is).
func (r *resolver) def(t *symbols.Type) *symbols.Type {
	t = r.s.Resolve(t)
	if t != nil && t.Decl && t.Name != "" {
		if d, ok := r.s.LookupType(r.tname(t)); ok {
			return d
		}
	}
	return t
}

func (r *resolver) members(t *symbols.Type) []member {
	var out []member
	var walk func(t *symbols.Type, base int64, depth int)
	walk = func(t *symbols.Type, base int64, depth int) {
		t = r.def(t)
		if t == nil || t.Kind != symbols.KindStruct || depth > 8 {
			return
		}
		for _, b := range t.Bases {
			if bt, err := r.s.TypeAt(b.Type); err == nil {
				walk(bt, base+b.Offset, depth+1)
			}
		}
		for _, m := range t.Members {
			if m.Name == "" || strings.HasPrefix(m.Name, "_vptr") {
				continue
			}
			mt, err := r.s.TypeAt(m.Type)
			if err != nil {
				continue
			}
			out = append(out, member{name: m.Name, off: base + m.Offset, typ: mt})
		}
	}
	walk(t, 0, 0)
	return out
}

// Shapes: what the member a key names must look like.
type shape struct {
	what string // "a pointer to co::Task", for messages
	ok   func(*symbols.Type) bool
}

func (r *resolver) same(a, b *symbols.Type) bool {
	a, b = r.def(a), r.def(b)
	return a != nil && b != nil && (a.Offset == b.Offset || r.tname(a) == r.tname(b))
}

func (r *resolver) ptrTo(target *symbols.Type) shape {
	return shape{"a pointer to " + r.tname(target), func(t *symbols.Type) bool {
		t = r.s.Resolve(t)
		if t == nil || t.Kind != symbols.KindPointer || t.Tag != 0x0f /* DW_TAG_pointer_type */ || t.Elem == 0 {
			return false
		}
		el, err := r.s.TypeAt(t.Elem)
		return err == nil && r.same(el, target)
	}}
}

func (r *resolver) pointer() shape {
	return shape{"a pointer", func(t *symbols.Type) bool {
		t = r.s.Resolve(t)
		return t != nil && t.Kind == symbols.KindPointer
	}}
}

func (r *resolver) integer() shape {
	return shape{"an integer", func(t *symbols.Type) bool {
		t = r.s.Resolve(t)
		if t == nil {
			return false
		}
		if t.Kind == symbols.KindBase {
			return isIntEncoding(t.Encoding) && t.Size <= 8
		}
		if t.Kind == symbols.KindStruct && t.Size <= 8 {
			n := r.tname(t)
			for _, pre := range []string{"std::atomic<", "std::__atomic_base<"} {
				if strings.HasPrefix(n, pre) {
					arg := strings.TrimSuffix(strings.TrimPrefix(n, pre), ">")
					return !strings.Contains(arg, "*") && !strings.Contains(arg, "bool") && !strings.Contains(arg, "float") && !strings.Contains(arg, "double")
				}
			}
		}
		return false
	}}
}

func isIntEncoding(e int64) bool {
	switch e {
	case 0x05, 0x06, 0x07, 0x08: // DW_ATE_signed, signed_char, unsigned, unsigned_char
		return true
	}
	return false
}

func (r *resolver) enum() shape {
	return shape{"an enum", func(t *symbols.Type) bool {
		t = r.s.Resolve(t)
		return t != nil && t.Kind == symbols.KindEnum
	}}
}

func (r *resolver) cstring() shape {
	return shape{"a const char *", func(t *symbols.Type) bool {
		n := r.s.TypeName(t.Offset)
		return n == "const char *" || n == "char *"
	}}
}

// containerOf: std::deque or std::vector of pointers to target.
func (r *resolver) containerOf(target *symbols.Type) shape {
	return shape{"a std::deque or std::vector of " + r.tname(target) + " *", func(t *symbols.Type) bool {
		_, ok := r.containerKind(t, target)
		return ok
	}}
}

func (r *resolver) containerKind(t *symbols.Type, target *symbols.Type) (string, bool) {
	t = r.s.Resolve(t)
	if t == nil || t.Kind != symbols.KindStruct {
		return "", false
	}
	n := symbols.NormalizeTypeName(r.tname(t))
	for kind, pre := range map[string]string{"deque": "std::deque<", "vector": "std::vector<"} {
		if !strings.HasPrefix(n, pre) {
			continue
		}
		if arg := firstTemplateArg(n[len(pre)-1:]); arg == symbols.NormalizeTypeName(r.tname(target))+"*" {
			return kind, true
		}
	}
	return "", false
}

// firstTemplateArg is the first argument of "<A, B<C>>".
func firstTemplateArg(s string) string {
	depth := 0
	for i, c := range s {
		switch c {
		case '<':
			depth++
		case '>':
			depth--
			if depth == 0 {
				return s[1:i]
			}
		case ',':
			if depth == 1 {
				return s[1:i]
			}
		}
	}
	return ""
}

// queueOf: a struct holding a pointer to the hook type (an intrusive queue
// of tasks).
func (r *resolver) queueOf(hook *symbols.Type) shape {
	return shape{"a queue of " + r.tname(hook) + " links", func(t *symbols.Type) bool {
		t = r.def(t)
		if t == nil || t.Kind != symbols.KindStruct {
			return false
		}
		is := r.ptrTo(hook).ok
		for _, m := range r.members(t) {
			if is(m.typ) {
				return true
			}
		}
		return false
	}}
}

// words splits a member name into lower-case words ("runningTask_" →
// running, task; "nTasks_" → n, task).
func words(name string) []string {
	var out []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			w := strings.ToLower(string(cur))
			if len(w) > 3 && strings.HasSuffix(w, "s") {
				w = w[:len(w)-1]
			}
			out = append(out, w)
			cur = cur[:0]
		}
	}
	rs := []rune(name)
	for i, c := range rs {
		switch {
		case c == '_' || c == '.' || unicode.IsDigit(c):
			flush()
		case unicode.IsUpper(c) && i > 0 && !unicode.IsUpper(rs[i-1]):
			flush()
			cur = append(cur, c)
		default:
			cur = append(cur, c)
		}
	}
	flush()
	return out
}

// byName picks, among candidates, the one sharing a word with the
// configured name that not every candidate shares ("taskCount_" and
// "nTasks_" share "task"; "waitQueue_" shares "queue" with every queue,
// which says nothing).
func byName(want string, cands []string) (string, bool) {
	ww := map[string]bool{}
	for _, w := range words(want) {
		ww[w] = true
	}
	common := map[string]int{}
	for _, c := range cands {
		seen := map[string]bool{}
		for _, w := range words(c) {
			if !seen[w] {
				seen[w] = true
				common[w]++
			}
		}
	}
	best, bestScore, tie := "", 0, false
	for _, c := range cands {
		score := 0
		for _, w := range words(c) {
			if ww[w] && common[w] < len(cands) {
				score++
			}
		}
		switch {
		case score > bestScore:
			best, bestScore, tie = c, score, false
		case score == bestScore && score > 0:
			tie = true
		}
	}
	return best, bestScore > 0 && !tie
}

func (r *resolver) claimKey(in *symbols.Type, path string) string {
	return r.tname(in) + "\x00" + path
}

func (r *resolver) add(k KeyResult) *KeyResult {
	r.res.Keys = append(r.res.Keys, k)
	return &r.res.Keys[len(r.res.Keys)-1]
}

// field resolves a member path of a key exactly; nil when it does not exist.
func (r *resolver) exact(in *symbols.Type, path string) (int64, *symbols.Type, bool) {
	if in == nil || path == "" {
		return missing, nil, false
	}
	off, mt, err := r.s.FieldOffset(in, strings.Split(path, "."))
	if err != nil {
		return missing, nil, false
	}
	// FieldOffset returns the resolved type; the member's own type (for
	// its name and size) is looked up again.
	return off, mt, true
}

// memberType is the declared type of a path's last member (typedefs kept).
func (r *resolver) memberType(in *symbols.Type, path string) *symbols.Type {
	comps := strings.Split(path, ".")
	cur := in
	var last *symbols.Type
	for _, c := range comps {
		var found *symbols.Type
		for _, m := range r.members(cur) {
			if m.name == c {
				found = m.typ
				break
			}
		}
		if found == nil {
			return nil
		}
		last, cur = found, found
	}
	return last
}

// candidates of a path whose component i is missing: members of the
// struct at comps[:i] from which the rest of the path resolves to the
// right shape.
func (r *resolver) candidates(in *symbols.Type, path string, sh shape) (prefix string, at *symbols.Type, cands []string, missingName string) {
	comps := strings.Split(path, ".")
	cur := in
	i := 0
	for ; i < len(comps); i++ {
		if _, mt, err := r.s.FieldOffset(cur, comps[i:i+1]); err == nil {
			cur = mt
			continue
		}
		break
	}
	if i == len(comps) {
		return "", nil, nil, ""
	}
	if i > 0 {
		prefix = strings.Join(comps[:i], ".") + "."
	}
	rest := comps[i+1:]
	for _, m := range r.members(cur) {
		var final *symbols.Type
		if len(rest) == 0 {
			final = m.typ
		} else if _, _, err := r.s.FieldOffset(m.typ, rest); err == nil {
			final = r.memberType(m.typ, strings.Join(rest, "."))
		}
		if final == nil || sh.ok != nil && !sh.ok(final) {
			continue
		}
		c := prefix + m.name
		if len(rest) > 0 {
			c += "." + strings.Join(rest, ".")
		}
		cands = append(cands, c)
	}
	return prefix, cur, cands, comps[i]
}

// resolveMember resolves one member key: exactly, else by adaptation
// (the only candidate of the right shape no other key claims, or the one
// rename the names agree on). It records the key's result and returns the
// offset (missing when it failed) and the member's declared type.
func (r *resolver) resolveMember(key string, in *symbols.Type, want *string, sh shape, required bool) (int64, *symbols.Type) {
	if in == nil {
		return missing, nil
	}
	if *want == "" {
		if required {
			r.failed[key] = true
			r.add(KeyResult{Key: key, Offset: -1, In: r.tname(in), Status: "failed", Note: "required, and the profile leaves it empty"})
		} else {
			r.add(KeyResult{Key: key, Offset: -1, In: r.tname(in), Status: "unset"})
		}
		return missing, nil
	}
	if off, _, ok := r.exact(in, *want); ok {
		mt := r.memberType(in, *want)
		kr := KeyResult{Key: key, Want: *want, Got: *want, In: r.tname(in), Type: r.s.TypeName(mt.Offset), Offset: off, Status: "ok"}
		if sh.ok != nil && !sh.ok(mt) {
			kr.Note = fmt.Sprintf("%s is %s, not %s", *want, kr.Type, sh.what)
		}
		r.claims[r.claimKey(in, *want)] = key
		r.add(kr)
		return off, mt
	}
	// Adaptation.
	_, at, cands, miss := r.candidates(in, *want, sh)
	var free []string
	for _, c := range cands {
		if _, taken := r.claims[r.claimKey(in, c)]; !taken {
			free = append(free, c)
		}
	}
	noMember := fmt.Sprintf("%s has no member %s", r.tname(at), miss)
	list := func() string {
		if len(cands) == 0 {
			return fmt.Sprintf("no member of %s is %s", r.tname(at), sh.what)
		}
		var parts []string
		for _, c := range cands {
			if k, taken := r.claims[r.claimKey(in, c)]; taken {
				parts = append(parts, c+" ("+k+")")
			} else {
				parts = append(parts, c)
			}
		}
		return fmt.Sprintf("members that are %s: %s", sh.what, strings.Join(parts, ", "))
	}
	var got, why string
	switch {
	case len(free) == 1:
		got, why = free[0], "the only one no other key names"
	case len(free) > 1:
		if c, ok := byName(*want, free); ok {
			got, why = c, fmt.Sprintf("the one whose name shares a word with %s (a rename)", *want)
		}
	}
	if got == "" {
		st := "absent"
		if required {
			st = "failed"
			r.failed[key] = true
		}
		note := noMember + "; " + list()
		fix := ""
		if len(free) > 1 {
			note += "; no unambiguous match"
			fix = fmt.Sprintf("%s: one of %s", key, strings.Join(free, ", "))
		}
		r.add(KeyResult{Key: key, Want: *want, In: r.tname(in), Offset: -1, Status: st, Note: note, Fix: fix})
		return missing, nil
	}
	old := *want
	*want = got
	off, _, _ := r.exact(in, got)
	mt := r.memberType(in, got)
	note := fmt.Sprintf("%s; %s; using %s, %s", noMember, list(), got, why)
	r.claims[r.claimKey(in, got)] = key
	r.add(KeyResult{Key: key, Want: old, Got: got, In: r.tname(in), Type: r.s.TypeName(mt.Offset), Offset: off, Status: "adapted",
		Note: note, Fix: r.eff.Line(keyOf(key))})
	return off, mt
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

// resolveHook finds the queue hook base of the task type: by name, else
// the one base of the task that links to itself and that the Processer's
// queues point to.
func (r *resolver) resolveHook() {
	prof := r.eff
	if off, ok := r.s.BaseOffset(r.task, prof.HookType); ok {
		if h, ok := r.s.LookupType(prof.HookType); ok {
			r.hook = h
			r.l.hook = h
			r.add(KeyResult{Key: "hook_type", Want: prof.HookType, Got: prof.HookType, In: r.tname(r.task), Type: "base class", Offset: off, Status: "ok"})
			return
		}
	}
	var cands []*symbols.Type
	var names []string
	for _, b := range r.bases(r.task) {
		if !r.selfLinked(b) {
			continue
		}
		queued := false
		for _, m := range r.members(r.proc) {
			if r.queueOf(b).ok(m.typ) {
				queued = true
				break
			}
		}
		names = append(names, r.tname(b))
		if queued {
			cands = append(cands, b)
		}
	}
	note := fmt.Sprintf("%s does not derive from %s", r.tname(r.task), prof.HookType)
	if len(cands) == 1 {
		old := prof.HookType
		prof.HookType = r.tname(cands[0])
		r.hook, r.l.hook = cands[0], cands[0]
		off, _ := r.s.BaseOffset(r.task, prof.HookType)
		r.add(KeyResult{Key: "hook_type", Want: old, Got: prof.HookType, In: r.tname(r.task), Type: "base class", Offset: off, Status: "adapted",
			Note: fmt.Sprintf("%s; its self-linked bases: %s; using %s, the one the queues of %s point to", note, strings.Join(names, ", "), prof.HookType, r.tname(r.proc)),
			Fix:  prof.Line("hook_type")})
		return
	}
	r.failed["hook_type"] = true
	if len(names) > 0 {
		note += "; its self-linked bases: " + strings.Join(names, ", ")
	}
	r.add(KeyResult{Key: "hook_type", Want: prof.HookType, In: r.tname(r.task), Offset: -1, Status: "failed", Note: note})
}

func (r *resolver) bases(t *symbols.Type) []*symbols.Type {
	var out []*symbols.Type
	var walk func(t *symbols.Type, depth int)
	walk = func(t *symbols.Type, depth int) {
		t = r.def(t)
		if t == nil || depth > 8 {
			return
		}
		for _, b := range t.Bases {
			if bt, err := r.s.TypeAt(b.Type); err == nil {
				bt = r.def(bt)
				out = append(out, bt)
				walk(bt, depth+1)
			}
		}
	}
	walk(t, 0)
	return out
}

// selfLinked: a struct with a pointer to its own type (a list link).
func (r *resolver) selfLinked(t *symbols.Type) bool {
	is := r.ptrTo(t).ok
	for _, m := range r.members(t) {
		if is(m.typ) {
			return true
		}
	}
	return false
}

// resolveQueues resolves the Processer's queue members: exactly, then
// each missing one as the only queue member no other key names (or the
// one rename the names agree on).
func (r *resolver) resolveQueues() {
	prof := r.eff
	var qs shape
	if r.hook != nil {
		qs = r.queueOf(r.hook)
	} else {
		qs = shape{"a queue", func(*symbols.Type) bool { return false }}
	}
	var all []string // queue-like members of the Processer
	for _, m := range r.members(r.proc) {
		if qs.ok(m.typ) {
			all = append(all, m.name)
		}
	}
	names := sortedKeys(prof.Queues)
	have := map[string]bool{}
	for _, q := range names {
		for _, m := range r.members(r.proc) {
			if m.name == q {
				have[q] = true
			}
		}
	}
	var free []string
	for _, a := range all {
		if _, configured := prof.Queues[a]; !configured {
			free = append(free, a)
		}
	}
	var missingQs []string
	for _, q := range names {
		if !have[q] {
			missingQs = append(missingQs, q)
		}
	}
	adopt := map[string]string{} // missing → member
	why := map[string]string{}
	switch {
	case len(missingQs) == 1 && len(free) == 1:
		adopt[missingQs[0]], why[missingQs[0]] = free[0], "the only one no other key names"
	case len(missingQs) > 0 && len(free) > 0:
		used := map[string]bool{}
		for _, q := range missingQs {
			var left []string
			for _, f := range free {
				if !used[f] {
					left = append(left, f)
				}
			}
			if c, ok := byName(q, left); ok {
				adopt[q], why[q] = c, "the one whose name shares a word with "+q+" (a rename)"
				used[c] = true
			}
		}
	}
	typesOf := func() string {
		seen := map[string]bool{}
		var ts []string
		for _, m := range r.members(r.proc) {
			for _, a := range all {
				if m.name == a && !seen[r.s.TypeName(m.typ.Offset)] {
					seen[r.s.TypeName(m.typ.Offset)] = true
					ts = append(ts, r.tname(r.def(m.typ)))
				}
			}
		}
		return strings.Join(ts, ", ")
	}
	listAll := func() string {
		var parts []string
		for _, a := range all {
			if st, ok := prof.Queues[a]; ok {
				parts = append(parts, a+" ("+st+")")
			} else {
				parts = append(parts, a)
			}
		}
		return strings.Join(parts, ", ")
	}
	queueList, queueTypes := listAll(), typesOf()
	if len(adopt) > 0 {
		nq := map[string]string{}
		for q, st := range prof.Queues {
			if m, ok := adopt[q]; ok {
				nq[m] = st
			} else {
				nq[q] = st
			}
		}
		prof.Queues = nq
	}
	for _, q := range names {
		key := "queues." + q
		st := prof.Queues[q]
		target := q
		if m, ok := adopt[q]; ok {
			target = m
			st = prof.Queues[m]
		}
		off, qt, err := r.s.FieldOffset(r.proc, []string{target})
		switch {
		case err == nil && have[q]:
			r.l.queues[q] = off
			mt := r.memberType(r.proc, q)
			r.add(KeyResult{Key: key, Want: q + ": " + st, Got: q, In: r.tname(r.proc), Type: r.tname(r.def(mt)), Offset: off, Status: "ok"})
			if r.queue == nil || st == "runnable" {
				r.queue = qt
			}
		case err == nil:
			r.l.queues[target] = off
			mt := r.memberType(r.proc, target)
			r.add(KeyResult{Key: key, Want: q + ": " + st, Got: target, In: r.tname(r.proc), Type: r.tname(r.def(mt)), Offset: off, Status: "adapted",
				Note: fmt.Sprintf("%s has no member %s; members of a queue type (%s): %s; using %s, %s", r.tname(r.proc), q, queueTypes, queueList, target, why[q]),
				Fix:  prof.Line("queues")})
			if r.queue == nil || st == "runnable" {
				r.queue = qt
			}
		default:
			note := fmt.Sprintf("%s has no member %s", r.tname(r.proc), q)
			fix := ""
			if len(all) > 0 {
				note += fmt.Sprintf("; members of a queue type (%s): %s", queueTypes, queueList)
				if len(free) > 0 {
					note += "; no unambiguous match"
					fix = fmt.Sprintf("queues: %s is one of %s", q, strings.Join(free, ", "))
				}
			}
			r.add(KeyResult{Key: key, Want: q + ": " + st, In: r.tname(r.proc), Offset: -1, Status: "absent", Note: note, Fix: fix})
		}
	}
	if len(r.l.queues) == 0 {
		r.failed["queues"] = true
	}
	if r.queue != nil {
		r.queue = r.def(r.queue)
	}
}

// resolveSymbols checks the keys that name symbols: roots, the
// thread-locals, the switch routines and the entry trampoline.
func (r *resolver) resolveSymbols(sched *symbols.Type) {
	p, prof := r.p, r.eff
	// Roots.
	var found, absent []string
	for _, root := range prof.Roots {
		if _, _, ok := p.LookupSymbol(strings.TrimPrefix(root, "*")); ok {
			found = append(found, root)
		} else {
			absent = append(absent, root)
		}
	}
	switch {
	case len(found) > 0:
		kr := KeyResult{Key: "roots", Want: strings.Join(prof.Roots, ", "), Got: strings.Join(found, ", "), Type: "symbol", Offset: -1, Status: "ok"}
		if len(absent) > 0 {
			kr.Note = "not in this core: " + strings.Join(absent, ", ")
		}
		r.add(kr)
	default:
		var cands []string
		if sched != nil {
			cands = schedulerRoots(p, r.s, sched)
		}
		if len(cands) > 0 {
			old := strings.Join(prof.Roots, ", ")
			prof.Roots = cands
			r.add(KeyResult{Key: "roots", Want: old, Got: strings.Join(cands, ", "), Type: "symbol", Offset: -1, Status: "adapted",
				Note: fmt.Sprintf("none of %s is a symbol of this core; the variables of type %s (\"*\": a pointer to one): %s", old, r.tname(sched), strings.Join(cands, ", ")),
				Fix:  prof.Line("roots")})
		} else {
			r.failed["roots"] = true
			r.add(KeyResult{Key: "roots", Want: strings.Join(prof.Roots, ", "), Type: "symbol", Offset: -1, Status: "failed", Note: "none is a symbol of this core, and no variable has the scheduler's type"})
		}
	}
	tls := func(key string, want *string, prefix string) {
		if *want == "" {
			r.add(KeyResult{Key: key, Offset: -1, Status: "unset"})
			return
		}
		if _, s, ok := p.LookupSymbol(*want); ok && s.Type == elf.STT_TLS {
			r.add(KeyResult{Key: key, Want: *want, Got: *want, Type: "thread-local", Offset: -1, Status: "ok"})
			return
		}
		var cands []string
		if prefix != "" {
			cands = tlsSymbols(p, prefix)
		}
		if len(cands) == 1 {
			old := *want
			*want = cands[0]
			r.add(KeyResult{Key: key, Want: old, Got: cands[0], Type: "thread-local", Offset: -1, Status: "adapted",
				Note: fmt.Sprintf("thread-local %s not found; the only 8-byte thread-local of %s is %s", old, strings.TrimSuffix(prefix, "::"), cands[0]), Fix: prof.Line(key)})
			return
		}
		note := fmt.Sprintf("thread-local %s not found", *want)
		if len(cands) > 1 {
			note += "; thread-locals of " + strings.TrimSuffix(prefix, "::") + ": " + strings.Join(cands, ", ")
		}
		r.add(KeyResult{Key: key, Want: *want, Type: "thread-local", Offset: -1, Status: "absent", Note: note})
	}
	procPrefix, ctxPrefix := "", ""
	if r.proc != nil {
		procPrefix = r.tname(r.proc) + "::"
	}
	if r.task != nil && r.s != nil {
		if i := strings.LastIndex(prof.TaskSP, "."); i > 0 {
			if ct := r.memberType(r.task, prof.TaskSP[:i]); ct != nil {
				ctxPrefix = r.tname(r.def(ct)) + "::"
			}
		}
	}
	tls("current_processer", &prof.CurrentProcesser, procPrefix)
	tls("scheduler_context", &prof.SchedulerContext, ctxPrefix)
	// Switch routines: at least one in the core's modules.
	var sw, swAbsent []string
	for _, name := range prof.SwitchFunctions {
		if functionSymbol(p, name) {
			sw = append(sw, name)
		} else {
			swAbsent = append(swAbsent, name)
		}
	}
	if len(sw) > 0 {
		kr := KeyResult{Key: "switch_functions", Want: strings.Join(prof.SwitchFunctions, ", "), Got: strings.Join(sw, ", "), Type: "function", Offset: -1, Status: "ok"}
		if len(swAbsent) > 0 {
			kr.Note = "not in this core: " + strings.Join(swAbsent, ", ")
		}
		r.add(kr)
	} else if c := functionsEnding(p, "jump_fcontext"); len(c) > 0 {
		old := strings.Join(prof.SwitchFunctions, ", ")
		prof.SwitchFunctions = c
		r.add(KeyResult{Key: "switch_functions", Want: old, Got: strings.Join(c, ", "), Type: "function", Offset: -1, Status: "adapted",
			Note: "none of " + old + " is a function of this core; its fcontext switch routines: " + strings.Join(c, ", "), Fix: prof.Line("switch_functions")})
	} else {
		r.add(KeyResult{Key: "switch_functions", Want: strings.Join(prof.SwitchFunctions, ", "), Type: "function", Offset: -1, Status: "failed", Note: "none is a function of this core"})
	}
	// The entry trampoline.
	if functionSymbol(p, prof.EntryTrampoline) {
		r.add(KeyResult{Key: "entry_trampoline", Want: prof.EntryTrampoline, Got: prof.EntryTrampoline, Type: "function", Offset: -1, Status: "ok"})
	} else if c := functionsEnding(p, "make_fcontext"); len(c) == 1 {
		old := prof.EntryTrampoline
		prof.EntryTrampoline = c[0]
		r.add(KeyResult{Key: "entry_trampoline", Want: old, Got: c[0], Type: "function", Offset: -1, Status: "adapted",
			Note: fmt.Sprintf("%s is not a function of this core; its one fcontext entry routine is %s", old, c[0]), Fix: prof.Line("entry_trampoline")})
	} else {
		note := prof.EntryTrampoline + " is not a function of this core"
		if len(c) > 1 {
			note += "; candidates: " + strings.Join(c, ", ")
		}
		r.add(KeyResult{Key: "entry_trampoline", Want: prof.EntryTrampoline, Type: "function", Offset: -1, Status: "failed", Note: note})
	}
}

// resolveLayout compares the saved-context layout with the switch
// routine's code: a layout the code contradicts is replaced by the code's.
func (r *resolver) resolveLayout() {
	prof := r.eff
	want := layoutString(prof.Layout)
	dl, fn, err := SwitchLayout(r.p, prof.SwitchFunctions)
	switch {
	case err != nil:
		r.add(KeyResult{Key: "layout", Want: want, Got: want, Offset: -1, Status: "ok", Note: "not checked against the code: " + err.Error()})
	case layoutString(dl) == want:
		r.add(KeyResult{Key: "layout", Want: want, Got: want, Type: "saved by " + fn, Offset: -1, Status: "ok", Note: "as " + fn + "'s code saves the registers"})
	default:
		prof.Layout = dl
		r.add(KeyResult{Key: "layout", Want: want, Got: layoutString(dl), Type: "saved by " + fn, Offset: -1, Status: "adapted",
			Note: fmt.Sprintf("%s's code saves the registers at other offsets than the profile says", fn), Fix: prof.Line("layout")})
	}
}

func layoutString(l map[string]int) string {
	var parts []string
	for _, k := range sortedKeys(l) {
		parts = append(parts, fmt.Sprintf("%s %#x", k, l[k]))
	}
	return strings.Join(parts, ", ")
}

// functionSymbol: a function of that name in one of the core's modules.
func functionSymbol(p *coreparse.Process, name string) bool {
	if name == "" {
		return false
	}
	for _, m := range p.Modules {
		if m.Syms == nil {
			continue
		}
		if _, ok := m.Syms.LookupFunction(name); ok {
			return true
		}
	}
	return false
}

// functionsEnding lists the function symbols of the core's modules whose
// name ends with suffix ("jump_fcontext": jump_fcontext, libgo_jump_fcontext).
func functionsEnding(p *coreparse.Process, suffix string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range p.Modules {
		if m.Syms == nil {
			continue
		}
		for _, s := range m.Syms.Symbols() {
			if s.Type == elf.STT_FUNC && s.Value != 0 && strings.HasSuffix(s.Name, suffix) && !strings.Contains(s.Name, "@") && !seen[s.Name] {
				seen[s.Name] = true
				out = append(out, s.Name)
			}
		}
	}
	sort.Strings(out)
	return out
}

// tlsSymbols lists the 8-byte thread-local symbols whose demangled name
// starts with prefix ("co::Processer::").
func tlsSymbols(p *coreparse.Process, prefix string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range append([]*coreparse.Module{p.Exe}, p.Modules...) {
		if m == nil || m.Syms == nil {
			continue
		}
		for _, s := range m.Syms.Symbols() {
			if s.Type != elf.STT_TLS || s.Size != 8 {
				continue
			}
			n := s.DemangledName()
			if strings.HasPrefix(n, prefix) && !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out
}

// schedulerRoots are the variables holding a scheduler: globals of its type
// or of a pointer to it ("*name"), and function-local statics of its size
// in its own functions ("co::Scheduler::getInstance()::obj").
func schedulerRoots(p *coreparse.Process, s *symbols.Table, sched *symbols.Type) []string {
	r := &resolver{s: s}
	var out []string
	seen := map[string]bool{}
	addRoot := func(n string) {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, name := range s.GlobalNames() {
		g, _ := s.LookupGlobal(name)
		t, err := s.TypeAt(g.Type)
		if err != nil || g.Type == 0 {
			continue
		}
		if _, _, ok := p.LookupSymbol(name); !ok {
			continue
		}
		switch {
		case r.same(t, sched):
			addRoot(name)
		case r.ptrTo(sched).ok(t):
			addRoot("*" + name)
		}
	}
	prefix := r.tname(sched) + "::"
	for _, m := range append([]*coreparse.Module{p.Exe}, p.Modules...) {
		if m == nil || m.Syms == nil {
			continue
		}
		for _, sym := range m.Syms.Symbols() {
			if sym.Type != elf.STT_OBJECT || sym.Size != uint64(sched.Size) || !strings.HasPrefix(sym.Name, "_Z") {
				continue
			}
			if n := sym.DemangledName(); strings.HasPrefix(n, prefix) && strings.Contains(n, ")::") {
				addRoot(n)
			}
		}
	}
	// Plain names only once: a global found under its qualified and its
	// plain name is the same root.
	return out
}
