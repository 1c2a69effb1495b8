// Package coreparse is dsecore's model of a crashed process: it opens an ELF
// core together with the executable and shared libraries it ran, checks
// their build-ids, finds separate debug files, and gives every thread a
// symbolized backtrace with inline frames, unwound with CFI through signal
// frames.
//
// Everything above it (coroutine discovery, fault analysis, the CLI, the DAP
// server, the gdb bridge) works on this model and never on the files.
//
//	p, err := coreparse.Open(coreparse.Options{Core: "core", Exe: "bin/ceph-dse"})
//	if err != nil { ... }
//	defer p.Close()
//	for _, t := range p.Threads {
//		frames, _ := p.Backtrace(t)
//		...
//	}
package coreparse

import (
	"debug/elf"
	"errors"
	"fmt"
	"github.com/dsecore/dsecore/internal/slab"
	"slices"
	"sync"

	"github.com/dsecore/dsecore/coreparse/corefile"
	"github.com/dsecore/dsecore/coreparse/symbols"
	"github.com/dsecore/dsecore/coreparse/unwind"
	"github.com/dsecore/dsecore/internal/cachefile"
	"github.com/dsecore/dsecore/internal/chaos"
	"github.com/dsecore/dsecore/internal/par"
	"github.com/go-delve/delve/pkg/dwarf/frame"
)

// Options name the core and where to find the files it needs.
type Options struct {
	Core            string   // the core file (required)
	Exe             string   // the executable; found from the core when empty
	SolibSearchPath []string // directories searched for libraries by base name
	Sysroot         string   // prefix for every absolute path the core names
	DebugFileDirs   []string // separate debug file roots; default /usr/lib/debug
	MaxFrames       int      // per stack; default 512
	// Tables, when set, shares symbol tables with other processes opened
	// with it (a batch of cores of one build); Close leaves them open.
	Tables *symbols.Cache
	// Cache is where symbol tables keep what they derive from the files
	// (inflated sections, symbol layouts, indexes); nil keeps nothing.
	Cache *cachefile.Cache
	// FindFile, when set, is asked for a module's file when no candidate
	// path has the core's build-id (a build-id index, debuginfod); "" when
	// it has none.
	FindFile func(name string, buildID []byte, isExe bool) string
	// FindDebugFile, when set, is asked for a module's separate debug file
	// when its file has no DWARF and no debug directory holds one (a
	// debuginfod server); "" when it has none.
	FindDebugFile func(name string, buildID []byte) string
	// AnswerFirst: symbols.Resolver.AnswerFirst (Deferred).
	AnswerFirst bool
}

// Process is the crashed process as the core shows it.
type Process struct {
	Core     *corefile.Core
	Exe      *Module
	Modules  []*Module // sorted by address
	Threads  []*Thread // in the core's order; the crashing thread first
	Warnings []string

	opts      Options
	exeImage  *elfImage
	loadOrder []*Module // the dynamic linker's order (link_map), the executable first
	tls       tlsLayout
	tailMemo  sync.Map // [callee pc, exact, caller pc] → tailCalls' answer
	// symMemo: the frames a physical frame's pc expands to (symKey → []Frame
	// without Raw): ten thousand task stacks share a few dozen pcs.
	symMemo sync.Map
	rules   unwind.RuleCache // established CFI rules by FDE and pc, shared by every unwind
	unw     *unwind.Unwinder // Unwind's, made once
	unwOnce par.Once
	curInst sync.Map // return address → the call's address (CurrentInstruction)

	faultOnce    par.Once
	fault        *FaultContext
	handlingOnce par.Once
	handling     []HandlingThread
	argvOnce     par.Once
	argv         []string
}

// Thread is one OS thread of the crashed process.
type Thread struct {
	LWP     int
	Pthread uint64 // pthread_self() of the thread: its TCB address, fs_base on x86-64
	Name    string // thread name when something in the core tells it (NameFrom says what)
	// NameFrom says where Name came from: NameFromComm, NameFromHandler,
	// NameFromRuntime, NameFromEntry ("" without a name).
	NameFrom string
	Crashed  bool // the thread the kernel dumped first: it took the fatal signal
	Regs     unwind.Regs
	Core     *corefile.Thread

	nameOnce par.Once // the entry routine's name, from the first backtrace
}

// Frame is one frame of a backtrace, as gdb would list it: inline frames are
// separate frames sharing their physical frame's pc.
type Frame struct {
	Level    int
	PC       uint64 // frame 0 and frames above a signal frame: the pc; else the return address
	Function string // qualified C++ name without parameters; "??" when unknown
	File     string
	Line     int
	Module   string // base name of the module, "" when outside any
	Inline   bool   // an inlined call inside the next (outer) frame
	Sigtramp bool   // the kernel's signal trampoline: "<signal handler called>"
	Boundary bool   // not a frame: the seam between a coroutine's frames and the scheduler's below
	Tailcall bool   // a function that tail-called the frame below: it has no stack frame of its own (gdb's TAILCALL frames, from DWARF call sites)
	// Recovered: the caller of a wild pc, found from the return address at
	// rsp, which follows a call instruction (checked: see WildPC).
	Recovered bool
	Raw       *unwind.Frame
	Mod       *Module
	// LookupPC is the address used for symbolization: PC, or PC-1 for
	// return addresses so that a call at the end of a block is attributed
	// to the calling line.
	LookupPC uint64
}

// ErrNoThreads is returned by Open for a core without any NT_PRSTATUS note.
var ErrNoThreads = errors.New("core has no threads")

// Open reads the core and everything it references. Missing or mismatched
// files are not errors: they become warnings and partial answers.
func Open(o Options) (*Process, error) {
	if o.Core == "" {
		return nil, errors.New("no core file given")
	}
	if o.MaxFrames <= 0 {
		o.MaxFrames = 512
	}
	if len(o.DebugFileDirs) == 0 {
		o.DebugFileDirs = []string{"/usr/lib/debug"}
	}
	c, err := corefile.Open(o.Core)
	if err != nil {
		return nil, err
	}
	p := &Process{Core: c, opts: o}
	p.Warnings = append(p.Warnings, c.Warnings...)
	c.SetFileResolver(p.resolveFile)
	p.loadModules(o)
	if len(c.Threads) == 0 {
		c.Close()
		return nil, fmt.Errorf("%s: %w", o.Core, ErrNoThreads)
	}
	for i := range c.Threads {
		ct := &c.Threads[i]
		name, from := "", ""
		if c.PSInfo != nil && int(c.PSInfo.PID) == ct.LWP {
			name, from = c.PSInfo.Fname, NameFromComm // the main thread: the process's comm
		}
		p.Threads = append(p.Threads, &Thread{
			Name:     name,
			NameFrom: from,
			LWP:      ct.LWP,
			Pthread:  ct.Regs.FsBase,
			Crashed:  i == 0,
			Regs:     RegsFromCore(&ct.Regs),
			Core:     ct,
		})
	}
	// Each thread's stack is searched for Ceph's handler's message (64
	// KiB read a thread) on all CPUs.
	par.Do(len(p.Threads), func(i int) { p.nameFromHandler(p.Threads[i]) })
	return p, nil
}

// Close releases the core mapping and the symbol tables.
// Changed says which files the process was read from changed while they
// were read, one line each (nil when none did): the core (its size or
// modification time differ from when it was opened), the files behind its
// undumped pages, and the modules' files mapped for symbols and CFI.
// Answers made meanwhile may not be the files': a face warns.
func (p *Process) Changed() []string {
	out := p.Core.Changed()
	seen := map[*symbols.Table]bool{}
	for _, m := range p.Modules {
		out = append(out, m.changed()...)
		if m.Syms != nil && !seen[m.Syms] {
			seen[m.Syms] = true
			out = append(out, m.Syms.Changed()...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Deferred reports whether a module's symbols answered under
// Options.AnswerFirst without their cache files (symbols.Table.Deferred):
// a background fill is to write them.
func (p *Process) Deferred() bool {
	for _, m := range p.Modules {
		if m.Syms != nil && m.Syms.Deferred() {
			return true
		}
	}
	return false
}

func (p *Process) Close() error {
	for _, m := range p.Modules {
		m.release()
	}
	if p.opts.Tables == nil {
		for _, m := range p.Modules {
			if m.Syms != nil {
				m.Syms.Close()
			}
		}
	}
	return p.Core.Close()
}

func (p *Process) warnf(format string, args ...any) {
	p.Warnings = append(p.Warnings, fmt.Sprintf(format, args...))
}

// resolveFile maps a path named by the core to the local file chosen for its
// module, so undumped file-backed pages (.text, .rodata) read from the same
// file the symbols came from.
func (p *Process) resolveFile(corePath string) (string, bool) {
	for _, m := range p.Modules {
		if m.Name == corePath && m.Path != "" {
			return m.Path, true
		}
	}
	return "", false
}

// CrashedThread returns the thread that took the fatal signal.
func (p *Process) CrashedThread() *Thread {
	for _, t := range p.Threads {
		if t.Crashed {
			return t
		}
	}
	return nil
}

// ThreadByLWP finds a thread by its kernel thread id.
func (p *Process) ThreadByLWP(lwp int) *Thread {
	for _, t := range p.Threads {
		if t.LWP == lwp {
			return t
		}
	}
	return nil
}

// RegsFromCore converts the kernel's user_regs_struct to DWARF numbering.
func RegsFromCore(r *corefile.Regs) unwind.Regs {
	var u unwind.Regs
	set := func(n int, v uint64) { u.V[n] = v; u.Valid |= 1 << n }
	set(unwind.RAX, r.Rax)
	set(unwind.RDX, r.Rdx)
	set(unwind.RCX, r.Rcx)
	set(unwind.RBX, r.Rbx)
	set(unwind.RSI, r.Rsi)
	set(unwind.RDI, r.Rdi)
	set(unwind.RBP, r.Rbp)
	set(unwind.RSP, r.Rsp)
	set(unwind.R8, r.R8)
	set(unwind.R9, r.R9)
	set(unwind.R10, r.R10)
	set(unwind.R11, r.R11)
	set(unwind.R12, r.R12)
	set(unwind.R13, r.R13)
	set(unwind.R14, r.R14)
	set(unwind.R15, r.R15)
	set(unwind.RIP, r.Rip)
	return u
}

// findFDE is the unwinder's CFI lookup across all modules.
func (p *Process) findFDE(pc uint64) (*frame.FrameDescriptionEntry, error) {
	m := p.ModuleAt(pc)
	if m == nil {
		return nil, fmt.Errorf("pc %#x is in no module", pc)
	}
	return m.FDEForPC(pc)
}

// Unwind returns the physical frames of a stack starting from regs. It is
// used for threads and, by the coroutine layer, for saved task contexts.
func (p *Process) Unwind(regs unwind.Regs) ([]unwind.Frame, error) {
	// One unwinder for every stack (it holds no state of a walk): ten
	// thousand task stacks do not each allocate it and its method values.
	p.unwOnce.Do(func() { p.unw = p.unwinder(p.opts.MaxFrames) })
	return p.unw.Unwind(regs)
}

// UnwindInto is Unwind with the frames in buf[:0] (unwind.UnwindInto): a
// pass over every task reuses one buffer for all their stacks.
func (p *Process) UnwindInto(buf []unwind.Frame, regs unwind.Regs) ([]unwind.Frame, error) {
	p.unwOnce.Do(func() { p.unw = p.unwinder(p.opts.MaxFrames) })
	frames, reason, err := p.unw.UnwindInto(buf, regs)
	if reason.Normal() {
		return frames, nil
	}
	return frames, err
}

// UnwindN is Unwind limited to the innermost n physical frames (n <= 0: the
// configured limit): for a glance at the top of many stacks.
func (p *Process) UnwindN(regs unwind.Regs, n int) ([]unwind.Frame, error) {
	if n <= 0 || n > p.opts.MaxFrames {
		n = p.opts.MaxFrames
	}
	return p.unwinder(n).Unwind(regs)
}

func (p *Process) unwinder(max int) *unwind.Unwinder {
	return &unwind.Unwinder{Mem: p.Core, FindFDE: p.findFDE, MaxFrames: max, FuncStart: p.funcStart, MappingAt: p.mappingAt, Rules: &p.rules}
}

// mappingAt is the core's segment (one per mapping) holding addr, for the
// unwinder's frame-pointer checks.
func (p *Process) mappingAt(addr uint64) (unwind.Mapping, bool) {
	s, ok := p.Core.SegmentAt(addr)
	if !ok {
		return unwind.Mapping{}, false
	}
	return unwind.Mapping{Lo: s.Vaddr, Hi: s.Vaddr + s.Memsz, Exec: s.Flags&elf.PF_X != 0}, true
}

// Backtrace unwinds a thread and symbolizes it.
func (p *Process) Backtrace(t *Thread) ([]Frame, error) {
	raw, err := p.Unwind(t.Regs)
	p.preload(raw)
	fs := p.Symbolize(raw)
	chaos.At("stack") // the chaos tests' point: a stack read, its files mapped
	// Cut at main (gdb's "backtrace past-main off"): how the unwind ended
	// below it is not this stack's business.
	if n := len(fs); n > 0 && len(raw) > 0 && fs[n-1].Raw != &raw[len(raw)-1] {
		err = nil
	}
	p.nameFromEntry(t, fs)
	return fs, err
}

// preload loads, on all CPUs at once, the symbol tables and DWARF indexes
// of the modules a stack's frames are in: each costs tens of milliseconds
// the first time (debug/dwarf reads every unit's abbreviations), and
// symbolizing would otherwise load them one after another.
func (p *Process) preload(raw []unwind.Frame) {
	var tabs []*symbols.Table
	seen := map[*symbols.Table]bool{}
	for _, f := range raw {
		if m := p.ModuleAt(f.PC); m != nil && m.Syms != nil && !seen[m.Syms] {
			seen[m.Syms] = true
			tabs = append(tabs, m.Syms)
		}
	}
	par.Do(len(tabs), func(i int) { tabs[i].Preload() })
}

// Symbolize expands physical frames into gdb-style frames: each physical
// frame becomes its inline chain, innermost first.
func (p *Process) Symbolize(raw []unwind.Frame) []Frame { return p.symbolize(raw, true) }

// SymbolizePhysical is Symbolize without the tail-call frames rebuilt from
// call sites (which read the callers' units): a glance at a stack's top.
func (p *Process) SymbolizePhysical(raw []unwind.Frame) []Frame { return p.symbolize(raw, false) }

// symPool holds symbolize's buffers; frameSlab its results.
var (
	symPool   = sync.Pool{New: func() any { b := make([]Frame, 0, 64); return &b }}
	frameSlab = slab.Slab[Frame]{Block: 1024}
)

func (p *Process) symbolize(raw []unwind.Frame, tails bool) []Frame {
	if len(raw) == 0 {
		return nil
	}
	// Made in a reused buffer (room for an inline frame per physical one),
	// kept in a slab: one allocation per many stacks, of their exact size.
	scratch := symPool.Get().(*[]Frame)
	defer func() { b := *scratch; clear(b[:cap(b)]); symPool.Put(scratch) }()
	out := p.symbolizeInto((*scratch)[:0], raw, tails)
	*scratch = out // a grown buffer is the one reused
	return frameSlab.Copy(out)
}

// SymbolizeInto is Symbolize with the frames in buf[:0], a buffer the
// caller reuses (nil for no raw frame); the frames point into raw.
func (p *Process) SymbolizeInto(buf []Frame, raw []unwind.Frame) []Frame {
	if len(raw) == 0 {
		return nil
	}
	return p.symbolizeInto(buf[:0], raw, true)
}

func (p *Process) symbolizeInto(out []Frame, raw []unwind.Frame, tails bool) []Frame {
	recovered := false
	for i := range raw {
		rf := &raw[i]
		n := len(out)
		out = p.appendSymbolized(out, rf, rf.PC, rf.Exact, false)
		if recovered {
			out[n].Recovered = true
			recovered = false
		}
		if rf.Exact && i+1 < len(raw) && raw[i+1].Kind == unwind.KindHeuristic {
			if w := p.CheckWildPC(rf.Regs); w != nil && w.Recovered && w.ReturnAddr == raw[i+1].PC {
				recovered = true
			}
		}
		if tails && i+1 < len(raw) && !rf.Sigtramp && !raw[i+1].Exact {
			for _, pc := range p.tailCalls(rf, &raw[i+1]) {
				out = p.appendSymbolized(out, rf, pc, false, true)
			}
		}
	}
	// gdb stops at main ("backtrace past-main off"): what lies under it is
	// the C runtime's start-up code.
	for i := range out {
		if !out[i].Inline && out[i].Function == "main" && out[i].Mod != nil && out[i].Mod.IsExe {
			out = out[:i+1]
			break
		}
	}
	for i := range out {
		out[i].Level = i
	}
	return out
}

// appendSymbolized appends one physical (or tail-call) frame as its inline
// chain, innermost first.
type symKey struct {
	pc               uint64
	exact, tail, sig bool
}

func (p *Process) appendSymbolized(out []Frame, rf *unwind.Frame, pc uint64, exact, tail bool) []Frame {
	k := symKey{pc, exact, tail, rf.Sigtramp}
	if v, ok := p.symMemo.Load(k); ok {
		for _, f := range v.([]Frame) {
			f.Raw = rf
			out = append(out, f)
		}
		return out
	}
	n := len(out)
	out = p.appendSymbolizedUncached(out, rf, pc, exact, tail)
	memo := make([]Frame, len(out)-n)
	copy(memo, out[n:])
	for i := range memo {
		memo[i].Raw = nil
	}
	p.symMemo.Store(k, memo)
	return out
}

func (p *Process) appendSymbolizedUncached(out []Frame, rf *unwind.Frame, pc uint64, exact, tail bool) []Frame {
	{
		lookup := pc
		if !exact && lookup > 0 && !(rf.Sigtramp && !tail) {
			lookup--
		}
		base := Frame{PC: pc, LookupPC: lookup, Raw: rf, Sigtramp: rf.Sigtramp && !tail, Function: "??"}
		m := p.ModuleAt(lookup)
		if m != nil {
			base.Mod = m
			base.Module = m.BaseName()
		}
		if base.Sigtramp {
			// gdb names the trampoline frame by the symbol at its pc (its
			// pc is where the handler returns to, not after a call):
			// "__restore_rt" when the library's symbols have it. The text
			// forms still print "<signal handler called>".
			if m != nil && m.Syms != nil {
				if locs := m.Syms.Locate(lookup - m.Bias); len(locs) > 0 && locs[len(locs)-1].Function != "" {
					base.Function = locs[len(locs)-1].Function
				} else if name, _, ok := m.Syms.SymbolAt(lookup - m.Bias); ok {
					base.Function = name
				}
			}
			return append(out, base)
		}
		if m == nil || m.Syms == nil {
			base.Tailcall = tail
			return append(out, base)
		}
		locs := m.Syms.Locate(lookup - m.Bias)
		if len(locs) == 0 {
			base.Tailcall = tail
			return append(out, base)
		}
		if tail {
			// gdb shows a tail-call frame as one frame named by the
			// innermost function at its pc, without inline frames.
			f := base
			f.Function, f.File, f.Line, f.Tailcall = locs[0].Function, locs[0].File, locs[0].Line, true
			return append(out, f)
		}
		for _, l := range locs {
			f := base
			f.Function, f.File, f.Line, f.Inline = l.Function, l.File, l.Line, l.Inline
			out = append(out, f)
		}
		return out
	}
}

// callTarget is the runtime entry of a call site's callee: in the calling
// module, else (a call through the PLT) the first other module that
// exports the function and defines the symbol, as gdb's minimal-symbol
// lookup finds it.
func (p *Process) callTarget(m *Module, s symbols.CallSite) uint64 {
	if s.Target != 0 {
		return s.Target + m.Bias
	}
	if s.Symbol == "" {
		return 0
	}
	for _, o := range p.Modules {
		if o == m || o.Syms == nil {
			continue
		}
		// A module that does not export the function is passed over by
		// its hash table, without reading its symbols.
		if exported, known := o.Syms.ExportsFunction(s.Symbol); known && !exported {
			continue
		}
		if sym, ok := o.Syms.LookupFunction(s.Symbol); ok {
			return sym.Value + o.Bias
		}
	}
	return 0
}

// Symbol names a runtime address as "function+0xoff" using the module's
// symbols, for disassembly operands and messages.
func (p *Process) Symbol(addr uint64) (name string, off uint64, ok bool) {
	m := p.ModuleAt(addr)
	if m == nil || m.Syms == nil {
		return "", 0, false
	}
	n, start, ok := m.Syms.SymbolAt(addr - m.Bias)
	if !ok {
		return "", 0, false
	}
	return n, addr - m.Bias - start, true
}

// funcStart is the unwinder's view of symbols: the entry of the function
// holding pc, for gdb's prologue analysis where there is no CFI.
func (p *Process) funcStart(pc uint64) (uint64, bool) {
	_, off, ok := p.Symbol(pc)
	if !ok {
		return 0, false
	}
	return pc - off, true
}

// LookupSymbol finds a symbol (mangled or demangled, locals and TLS
// included) in the executable first, then the libraries.
func (p *Process) LookupSymbol(name string) (*Module, symbols.Symbol, bool) {
	order := append([]*Module{}, p.Modules...)
	if p.Exe != nil {
		order = append([]*Module{p.Exe}, order...)
	}
	for _, m := range order {
		if m.Syms == nil {
			continue
		}
		if s, ok := m.Syms.Lookup(name); ok {
			return m, s, true
		}
	}
	return nil, symbols.Symbol{}, false
}

// String names a thread: "LWP 2905611 (Processer_6)".
func (t *Thread) String() string {
	if t.Name != "" {
		return fmt.Sprintf("LWP %d (%s)", t.LWP, t.Name)
	}
	return fmt.Sprintf("LWP %d", t.LWP)
}

// CallTargetAt is the runtime entry of the function called by the call
// whose return address is returnPC (in module m), from DWARF call sites;
// ok is false when DWARF does not say (no call site, an indirect call).
func (p *Process) CallTargetAt(m *Module, returnPC uint64) (uint64, bool) {
	if m == nil || m.Syms == nil {
		return 0, false
	}
	s, ok := m.Syms.CallSiteAt(returnPC - m.Bias)
	if !ok {
		return 0, false
	}
	t := p.callTarget(m, s)
	return t, t != 0
}
