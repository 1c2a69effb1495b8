package coroutines

import (
	"fmt"
	"sort"
	"strings"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/disasm"
	"github.com/dsecore/dsecore/coreparse/symbols"
	"golang.org/x/arch/x86/x86asm"
)

// runtimeShape is a coroutine runtime found by the shape of its types, not
// their names: a scheduler holding a std::deque or std::vector of
// Processer pointers, a Processer holding at least two intrusive queues of
// one hook type, and a task type deriving from that hook that the
// Processer points to.
type runtimeShape struct {
	sched, proc, task, hook *symbols.Type
	processers, kind        string
	queues                  []string
}

// findShapes finds the runtimes of one module's DWARF by shape. The
// containers of pointers are found by their names first (no DIE read), so a
// module without a runtime costs a pass over its type names.
func findShapes(p *coreparse.Process, m *coreparse.Module) []runtimeShape {
	if m == nil || m.Syms == nil {
		return nil
	}
	s := m.Syms
	r := &resolver{s: s, p: p}
	procs := map[string]runtimeShape{} // Processer type → its shape
	names := s.TypeNames()
	for _, name := range names {
		n := symbols.NormalizeTypeName(name)
		if !strings.HasPrefix(n, "std::deque<") && !strings.HasPrefix(n, "std::vector<") {
			continue
		}
		arg := firstTemplateArg(n[strings.Index(n, "<"):])
		pn := strings.TrimSuffix(arg, "*")
		if pn == arg || strings.HasPrefix(pn, "std::") || strings.ContainsAny(pn, "*<") {
			continue
		}
		if _, seen := procs[pn]; seen {
			continue
		}
		procs[pn] = runtimeShape{}
		if proc, ok := s.LookupType(pn); ok && proc.Kind == symbols.KindStruct {
			if sh, ok := r.processerShape(proc); ok {
				procs[pn] = sh
			}
		}
	}
	found := false
	for _, sh := range procs {
		found = found || sh.proc != nil
	}
	if !found {
		return nil
	}
	var out []runtimeShape
	for _, name := range names {
		if strings.HasPrefix(name, "std::") || strings.HasPrefix(name, "__") || strings.HasPrefix(name, "boost::") {
			continue
		}
		sched, ok := s.LookupType(name)
		if !ok || sched.Kind != symbols.KindStruct {
			continue
		}
		for _, mem := range r.members(sched) {
			for _, sh := range procs {
				if sh.proc == nil {
					continue
				}
				if kind, ok := r.containerKind(mem.typ, sh.proc); ok {
					sh.sched, sh.processers, sh.kind = sched, mem.name, kind
					out = append(out, sh)
				}
			}
		}
	}
	return out
}

// processerShape: a Processer points to a task whose self-linked base is
// the hook of at least two of the Processer's queues.
func (r *resolver) processerShape(proc *symbols.Type) (runtimeShape, bool) {
	for _, m := range r.members(proc) {
		pt := r.s.Resolve(m.typ)
		if pt == nil || pt.Kind != symbols.KindPointer || pt.Elem == 0 {
			continue
		}
		el, err := r.s.TypeAt(pt.Elem)
		if err != nil {
			continue
		}
		task := r.def(el)
		if task == nil || task.Kind != symbols.KindStruct {
			continue
		}
		for _, b := range r.bases(task) {
			if !r.selfLinked(b) {
				continue
			}
			var qs []string
			is := r.queueOf(b).ok
			for _, q := range r.members(proc) {
				if is(q.typ) {
					qs = append(qs, q.name)
				}
			}
			if len(qs) >= 2 {
				return runtimeShape{proc: proc, task: task, hook: b, queues: qs}, true
			}
		}
	}
	return runtimeShape{}, false
}

// SwitchLayout reads the saved-context layout from the code of the first
// context switch routine of the list found in the core's modules: the
// callee-saved registers it stores (push, or mov to the stack after
// lea/sub), relative to the stack pointer it saves (the first "mov %rsp,
// …"); the return address of the call into it sits above them.
func SwitchLayout(p *coreparse.Process, names []string) (map[string]int, string, error) {
	var errs []string
	for _, name := range names {
		for _, m := range p.Modules {
			if m.Syms == nil {
				continue
			}
			s, ok := m.Syms.LookupFunction(name)
			if !ok || s.Value == 0 {
				continue
			}
			size := s.Size
			if size == 0 || size > 1024 {
				size = 256
			}
			code := make([]byte, size)
			n, _ := p.Core.ReadAt(code, s.Value+m.Bias)
			l, err := decodeSwitch(disasm.DecodeAll(code[:n], s.Value+m.Bias, nil))
			if err == nil {
				return l, name, nil
			}
			errs = append(errs, name+": "+err.Error())
		}
	}
	if len(errs) == 0 {
		return nil, "", fmt.Errorf("none of the switch functions %s is in the core's modules", strings.Join(names, ", "))
	}
	return nil, "", fmt.Errorf("%s", strings.Join(errs, "; "))
}

var calleeSaved = map[x86asm.Reg]string{x86asm.RBX: "rbx", x86asm.RBP: "rbp", x86asm.R12: "r12", x86asm.R13: "r13", x86asm.R14: "r14", x86asm.R15: "r15"}

func decodeSwitch(insts []disasm.Inst) (map[string]int, error) {
	delta := int64(0) // rsp relative to its value at entry
	saved := map[string]int64{}
	for _, in := range insts {
		x := in.Raw
		if in.Bad {
			return nil, fmt.Errorf("undecodable instruction at %#x", in.Addr)
		}
		dstRSP := x.Args[0] == x86asm.RSP
		switch x.Op {
		case x86asm.PUSH:
			delta -= 8
			if reg, ok := x.Args[0].(x86asm.Reg); ok {
				if n, ok := calleeSaved[reg]; ok {
					saved[n] = delta
				}
			}
			continue
		case x86asm.SUB, x86asm.ADD:
			if dstRSP {
				imm, ok := x.Args[1].(x86asm.Imm)
				if !ok {
					return nil, fmt.Errorf("%s: rsp changed by a register", in.ATT)
				}
				if x.Op == x86asm.SUB {
					delta -= int64(imm)
				} else {
					delta += int64(imm)
				}
			}
			continue
		case x86asm.LEA:
			if dstRSP {
				mem, ok := x.Args[1].(x86asm.Mem)
				if !ok || mem.Base != x86asm.RSP || mem.Index != 0 {
					return nil, fmt.Errorf("%s: rsp set from elsewhere before it was saved", in.ATT)
				}
				delta += mem.Disp
			}
			continue
		case x86asm.MOV:
			if x.Args[1] == x86asm.RSP {
				// The switch point: this is the context's stack pointer.
				out := map[string]int{"rip": int(-delta), "rsp": int(-delta + 8)}
				for _, n := range []string{"r12", "r13", "r14", "r15", "rbx", "rbp"} {
					off, ok := saved[n]
					if !ok {
						return nil, fmt.Errorf("%s is not saved before the stack pointer (at %#x)", n, in.Addr)
					}
					out[n] = int(off - delta)
				}
				return out, nil
			}
			if dstRSP {
				return nil, fmt.Errorf("%s: rsp replaced before it was saved", in.ATT)
			}
			if mem, ok := x.Args[0].(x86asm.Mem); ok && mem.Base == x86asm.RSP && mem.Index == 0 {
				if reg, ok := x.Args[1].(x86asm.Reg); ok {
					if n, ok := calleeSaved[reg]; ok {
						saved[n] = delta + mem.Disp
					}
				}
			}
			continue
		case x86asm.RET, x86asm.JMP, x86asm.CALL:
			return nil, fmt.Errorf("%s before the stack pointer was saved", in.Op)
		}
		if dstRSP {
			return nil, fmt.Errorf("%s: rsp changed in a way not followed", in.ATT)
		}
	}
	return nil, fmt.Errorf("no instruction saves the stack pointer")
}

// Generate writes a profile for this build from its DWARF, symbols and
// code, starting from base: every key checked against the core and, where
// base's name is not there, what the types' shapes, the thread-locals and
// the switch routine's code show. comments says, key by key, how each was
// found (for the person who reviews it); rt is what the profile finds in
// this core.
func Generate(p *coreparse.Process, base *Profile) (*Profile, map[string]string, *Runtime) {
	prof := base.clone()
	rt := Discover(p, &prof, Options{NoScan: true})
	gen := rt.prof.clone()
	res := rt.Resolution
	comments := map[string]string{}
	note := func(key, text string) {
		if c := comments[key]; c != "" {
			comments[key] = c + "; " + text
		} else {
			comments[key] = text
		}
	}
	if res != nil && res.Module != "" {
		mod := findModule(p, res.Module)
		r := &resolver{p: p, s: mod.Syms, mod: mod}
		if sched, ok := mod.Syms.LookupType(gen.SchedulerType); ok {
			if roots := schedulerRoots(p, mod.Syms, sched); len(roots) > 0 {
				gen.Roots = roots
			}
		}
		if task, ok := mod.Syms.LookupType(gen.TaskType); ok {
			r.task = task
			for key, f := range map[string]*string{"task_func": &gen.TaskFunc, "task_file": &gen.TaskFile, "task_line": &gen.TaskLine} {
				if kr := res.Key(key); kr != nil && (kr.Status == "unset" || kr.Status == "absent") {
					if c := r.createdAt(key); c != "" {
						*f = c
						note(key, "found by shape: the "+strings.TrimPrefix(key, "task_")+" member of the task's options")
					} else {
						*f = ""
					}
				}
			}
		}
	}
	gen.Name = strings.TrimSuffix(p.Exe.BaseName(), ".debug")
	if id := p.Exe.BuildID(); len(id) >= 8 {
		gen.Name += "-" + id[:8]
	}
	gen.Source = ""
	if res != nil {
		var queues []KeyResult
		for _, k := range res.Keys {
			if strings.HasPrefix(k.Key, "queues.") {
				queues = append(queues, k)
			}
		}
		sort.Slice(queues, func(i, j int) bool { return queues[i].Offset < queues[j].Offset })
		for _, k := range queues {
			switch k.Status {
			case "ok":
				note("queues", fmt.Sprintf("%s at %#x", k.Got, k.Offset))
			case "adapted":
				note("queues", fmt.Sprintf("%s at %#x ADAPTED from %s: %s", k.Got, k.Offset, strings.TrimPrefix(k.Key, "queues."), k.Note))
			default:
				note("queues", fmt.Sprintf("NOT IN THIS BUILD: %s: %s", strings.TrimPrefix(k.Key, "queues."), k.Note))
			}
		}
		if len(queues) > 0 {
			comments["queues"] = "in " + queues[0].In + ": " + comments["queues"]
		}
		for _, k := range res.Keys {
			key := keyOf(k.Key)
			if key == "queues" {
				continue
			}
			var c string
			switch k.Status {
			case "ok":
				c = describeKey(k)
			case "adapted":
				c = "ADAPTED from " + k.Want + ": " + k.Note
			case "failed", "pending":
				c = "NOT RESOLVED: " + k.Note
			case "absent":
				c = "not in this build: " + k.Note
			}
			if c != "" {
				note(key, c)
			}
		}
	}
	return &gen, comments, rt
}

func describeKey(k KeyResult) string {
	switch {
	case k.Offset >= 0 && k.In != "":
		return fmt.Sprintf("%s at %#x in %s", k.Type, k.Offset, k.In)
	case k.Type != "":
		return k.Type
	}
	return ""
}

func findModule(p *coreparse.Process, path string) *coreparse.Module {
	for _, m := range append([]*coreparse.Module{p.Exe}, p.Modules...) {
		if m != nil && m.Path == path {
			return m
		}
	}
	return p.Exe
}

// createdAt finds a created-at member of the task (or of a struct member of
// it, the task's options): a const char * named like "func"/"file", an
// integer named like "line".
func (r *resolver) createdAt(key string) string {
	word := map[string]string{"task_func": "func", "task_file": "file", "task_line": "line"}[key]
	sh := r.cstring()
	if key == "task_line" {
		sh = r.integer()
	}
	var found []string
	has := func(name string) bool {
		for _, w := range words(name) {
			if w == word || word == "line" && w == "lineno" {
				return true
			}
		}
		return false
	}
	for _, m := range r.members(r.task) {
		if has(m.name) && sh.ok(m.typ) {
			found = append(found, m.name)
		}
		if st := r.def(m.typ); st != nil && st.Kind == symbols.KindStruct && !strings.HasPrefix(r.tname(st), "std::") {
			for _, n := range r.members(st) {
				if has(n.name) && sh.ok(n.typ) {
					found = append(found, m.name+"."+n.name)
				}
			}
		}
	}
	sort.Strings(found)
	if len(found) == 1 {
		return found[0]
	}
	return ""
}
