package symbols

import (
	"debug/dwarf"
	"sort"
)

// CallSite is a call instruction of a function as DWARF describes it
// (DW_TAG_call_site): what gdb uses to rebuild frames of tail calls, which
// leave no return address on the stack.
type CallSite struct {
	ReturnPC uint64 // file address after the call (or jump) instruction
	Tail     bool   // a tail call: a jump that replaced the caller's frame
	Target   uint64 // file address of the called function's entry, 0 when unknown
	Callee   string // the called function's name, "" when unknown
	Symbol   string // the ELF symbol to find the callee by in other modules (linkage name, else name)
}

// FunctionEntry returns the entry of the concrete function containing addr
// (DWARF, else the ELF symbol).
func (t *Table) FunctionEntry(addr uint64) (uint64, bool) {
	if cu := t.cuFor(addr); cu != nil {
		if fn := cu.funcAt(addr); fn != nil {
			return fn.low, true
		}
	}
	s, ok := t.funcSymbolAt(addr)
	return s.Value, ok
}

// CallSites returns the call sites of the concrete function containing
// addr, sorted by return address, each with its callee resolved.
func (t *Table) CallSites(addr uint64) []CallSite {
	return t.callSites(addr, func(callSite) bool { return true })
}

// CallSiteAt returns the (non-tail) call site whose return address is
// returnPC, with its callee resolved: only that one, a function has
// hundreds of calls and resolving a callee looks its name up.
func (t *Table) CallSiteAt(returnPC uint64) (CallSite, bool) {
	if returnPC == 0 {
		return CallSite{}, false
	}
	cs := t.callSites(returnPC-1, func(c callSite) bool { return c.returnPC == returnPC && !c.tail })
	if len(cs) == 0 {
		return CallSite{}, false
	}
	return cs[len(cs)-1], true
}

// TailCallSites returns the tail call sites (DW_AT_call_tail_call) of the
// concrete function containing addr, sorted by return address, their
// callees resolved.
func (t *Table) TailCallSites(addr uint64) []CallSite {
	return t.callSites(addr, func(c callSite) bool { return c.tail })
}

// callSites returns the call sites keep selects of the function containing
// addr, sorted by return address, resolving only their callees.
func (t *Table) callSites(addr uint64, keep func(callSite) bool) []CallSite {
	cu := t.cuFor(addr)
	if cu == nil {
		return nil
	}
	fn := cu.funcAt(addr)
	if fn == nil {
		return nil
	}
	var out []CallSite
	for _, c := range fn.calls {
		if !keep(c) {
			continue
		}
		cs := CallSite{ReturnPC: c.returnPC, Tail: c.tail}
		if c.origin != 0 {
			cs.Target, cs.Callee = t.resolveTarget(cu, c.origin)
			cs.Symbol = cu.symbolName(c.origin)
		}
		out = append(out, cs)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ReturnPC < out[j].ReturnPC })
	return out
}

// resolveTarget finds the entry of a called function from its DIE: its own
// entry when it is a definition in this unit, else its symbol (by linkage
// name, then name), as gdb does for DW_AT_call_origin.
func (t *Table) resolveTarget(cu *cuInfo, o dwarf.Offset) (uint64, string) {
	for _, f := range cu.funcs { // a function nested in another's DIE is found by its symbol below
		if f.s.die == o {
			name, _ := cu.name(o)
			return f.s.low, name
		}
	}
	name, linkage := cu.name(o)
	if linkage != "" {
		if s, ok := t.lookupFunc(linkage); ok {
			return s.Value, name
		}
	}
	d := cu.die(o)
	if !cu.isC {
		d = nil // see symbolName
	}
	for hops := 0; d != nil && hops < 8; hops, d = hops+1, cu.referenced(d) {
		if d.name != "" {
			if s, ok := t.lookupFunc(d.name); ok {
				return s.Value, name
			}
		}
	}
	return 0, name
}

// LookupFunction finds a defined function symbol by its exact ELF name
// (a global one first).
func (t *Table) LookupFunction(name string) (Symbol, bool) { return t.lookupFunc(name) }

// symbolName is the ELF name a DIE's function is known by: its linkage
// name, else its plain name, through abstract_origin and specification.
func (cu *cuInfo) symbolName(o dwarf.Offset) string {
	if l := cu.linkage(o); l != "" {
		return l
	}
	if !cu.isC {
		// gdb names a C++ function without a linkage name (extern "C")
		// with its parameter list, which no ELF symbol matches: it finds
		// no callee there, and neither do we.
		return ""
	}
	d := cu.die(o)
	for hops := 0; d != nil && hops < 8; hops, d = hops+1, cu.referenced(d) {
		if d.name != "" {
			return d.name
		}
	}
	return ""
}

// lookupFunc finds a function symbol by exact (mangled) name: of the
// non-synthetic symbols of that name, the first (by address) of the lowest
// ELF binding value. Through the symbol table's order by name: call-site
// targets are looked up by name in every module of the process.
func (t *Table) lookupFunc(name string) (Symbol, bool) {
	if t.pick(); t.raw != nil {
		return t.raw.lookupFunc(name)
	}
	t.loadSymbols()
	if t.st == nil {
		return Symbol{}, false
	}
	i, ok := t.st.lookupFunc(name)
	if !ok {
		return Symbol{}, false
	}
	return t.st.sym(i), true
}

// funcAt returns the concrete function scope containing addr, its body
// read: a top-level function, else one defined inside another's DIE.
func (cu *cuInfo) funcAt(addr uint64) *scope {
	if fn := searchFuncs(cu.funcs, addr); fn != nil {
		cu.expand(fn)
		return fn
	}
	cu.nestedOnce.Do(func() {
		var all []funcRange
		for _, f := range cu.funcs {
			cu.expand(f.s)
			all = append(all, f.s.nested...)
		}
		sort.Slice(all, func(i, j int) bool { return all[i].lo < all[j].lo })
		cu.nested = all
	})
	return searchFuncs(cu.nested, addr)
}

// searchFuncs finds addr in ranges sorted by start.
func searchFuncs(fs []funcRange, addr uint64) *scope {
	i := sort.Search(len(fs), func(i int) bool { return fs[i].lo > addr })
	for j := i - 1; j >= 0 && j >= i-256; j-- {
		if addr >= fs[j].lo && addr < fs[j].hi {
			return fs[j].s
		}
	}
	return nil
}
