package coroutines

import (
	"debug/elf"
	"fmt"
	"sort"
	"strings"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/symbols"
)

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
