// Package fault explains a crash from the core, as the field report had to
// by hand: the faulting instruction and the register that made it fault,
// where that register came from, the object and intrusive list it was
// walking, who else (thread or coroutine task) held the same object, the
// log lines around it, and a verdict with its evidence.
//
// Generic rules work on any core; the dcache knowledge (type and state
// names) comes from a Profile.
package fault

import (
	"fmt"
	"strings"

	"github.com/dsecore/dsecore/analysis/coroutines"
	"github.com/dsecore/dsecore/analysis/holders"
	"github.com/dsecore/dsecore/analysis/waits"
	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/disasm"
	"github.com/dsecore/dsecore/coreparse/unwind"
	"github.com/dsecore/dsecore/coreparse/values"
	"github.com/dsecore/dsecore/internal/l10n"
	"golang.org/x/arch/x86/x86asm"
)

// Options of Analyze.
type Options struct {
	Profile *Profile
	Logs    []string // ceph-dse log files
	Dmesg   string   // a kernel segfault line (or a file holding some)
	// ConcurrencyWindowUS: two threads logging the same step within this
	// many microseconds are "concurrent" (default 1000).
	ConcurrencyWindowUS int64
	// Values reads typed values (the session's, with its bounds); nil: a
	// reader of the process with the default bounds.
	Values *values.Reader

	// Waits is the wait graph (session.Waits): a signal no instruction
	// caused, with threads stuck on locks, is explained by it. Stacks, when
	// set, gives the stacks the wait graph was made from (unwound once).
	Waits  *waits.Result
	Stacks func() []holders.Stack

	// NoMemory skips the heap and holder search (Memory stays nil; the
	// verdict draws on the raw register/stack matches alone).
	NoMemory bool

	// withholdThis: tests of the fallback read `this` as if DWARF said
	// it is optimized out.
	withholdThis bool
}

// Instruction is the faulting instruction, decoded.
type Instruction struct {
	PC       uint64
	ATT      string
	Intel    string
	Mem      *disasm.MemOperand
	MemText  string
	Base     string // base register name, "" when none
	BaseVal  uint64
	Index    string
	IndexVal uint64
	Address  uint64 // computed effective address
	HasAddr  bool
	Write    bool // the access was a write
}

// OriginStep is one instruction that wrote the bad register (or the
// register it was copied from), latest first.
type OriginStep struct {
	PC       uint64
	ATT      string
	Register string // the register this step wrote
	Function string // innermost (inlined) function at the step
	File     string
	Line     int
	Text     string   // in words (Said's English)
	Said     l10n.Msg // Text in the catalog's words
	LoopBack bool     // executed in the previous iteration of a loop around the fault
	// Field is the list-node field the step loaded ("next_", "prev_"),
	// known from the accessor and the displacement; "" for anything else.
	Field string
}

// Fault is the fault context with the instruction analysed.
type Fault struct {
	Context     *coreparse.FaultContext
	Instruction *Instruction
	Frames      []coreparse.Frame // the symbolized fault pc: innermost inline level first
	BadRegister string            // "rbx"
	BadValue    uint64
	Kind        string // "null", "poison", "non-canonical", "unmapped", "protection", "guard-page", "" when not a memory fault
	Description string
	Said        l10n.Msg // Description, in the catalog's words (Description is its English)
	// wildRest is a wild call's description without "a call to a wild
	// address" (the verdict's sentence says it).
	wildRest l10n.Msg
	Origin   []OriginStep
	Skipped  int    // instrumentation instructions stepped over while tracing (gcov counters)
	Raiser   string // a sent signal the thread raised itself: "abort", "raise", …
	Window   *disasm.Listing
}

// Analysis is the whole answer.
type Analysis struct {
	Fault     *Fault
	Objects   []Object
	ListWalk  *ListWalk
	Others    []Hit
	SameCode  []SameCode
	Logs      *LogReport
	Dmesg     *DmesgCheck
	Assertion *Assertion
	Nested    *Nested    // a second fault inside the handler
	Handling  []Handling // other threads handling signals of their own
	// Memory: the heap's state of the addresses of interest and who else
	// holds them (nil with Options.NoMemory).
	Memory *Memory
	// Timeline is what each path did, in order, each step pointing at its
	// evidence.
	Timeline []TimelineStep
	Verdict  string
	// Sentences are the verdict in the catalog's words, one Msg a
	// sentence (Verdict is their English, joined by spaces).
	Sentences  []l10n.Msg
	Confidence string
	Evidence   []Evidence
	Rules      []string
	Warnings   []string

	p  *coreparse.Process
	rt *coroutines.Runtime
	vr *values.Reader
	o  Options
}

// Evidence is one fact the verdict rests on.
type Evidence struct {
	Rule string
	Text string
	Said l10n.Msg // Text in the catalog's words
	Ref  string   // what it points at: "fault", "list_walk", "others[0]", "logs.concurrent[0]", …
}

func (a *Analysis) warnf(format string, args ...any) {
	a.Warnings = append(a.Warnings, fmt.Sprintf(format, args...))
}

// evidence records a fact in English no catalog message says yet (say
// records one in the catalog's words).
func (a *Analysis) evidence(rule, ref, format string, args ...any) {
	a.say(rule, ref, l10n.Untranslated(fmt.Sprintf(format, args...)))
}

// say records a fact the verdict rests on, in the catalog's words.
func (a *Analysis) say(rule, ref string, m l10n.Msg) {
	a.Evidence = append(a.Evidence, Evidence{Rule: rule, Ref: ref, Text: m.String(), Said: m})
	for _, r := range a.Rules {
		if r == rule {
			return
		}
	}
	a.Rules = append(a.Rules, rule)
}

// Analyze runs every step. rt may be nil (no coroutine runtime).
func Analyze(p *coreparse.Process, rt *coroutines.Runtime, o Options) *Analysis {
	if o.Profile == nil {
		o.Profile = DefaultProfile()
	}
	if o.ConcurrencyWindowUS == 0 {
		o.ConcurrencyWindowUS = 1000
	}
	if o.Values == nil {
		o.Values = values.NewReader(p)
	}
	a := &Analysis{p: p, rt: rt, vr: o.Values, o: o}
	fc := p.Fault()
	if fc == nil {
		a.warnf("no crashed thread")
		return a
	}
	a.Fault = a.analyzeFault(fc)
	a.signalFacts(fc)
	if a.Fault.Kind != "" {
		a.findObjects()
	}
	a.findOthers()
	if !o.NoMemory {
		a.findMemory()
	}
	if fc.Real != nil && fc.Real.Signo == 6 {
		a.findAssertion()
	}
	if len(o.Logs) > 0 {
		a.Logs = a.correlateLogs(o.Logs)
	}
	if o.Dmesg != "" {
		a.Dmesg = a.checkDmesg(o.Dmesg)
	}
	a.conclude()
	a.Timeline = a.timeline()
	return a
}

func regValue(r unwind.Regs, name string) (uint64, bool) {
	if name == "fs_base" || name == "gs_base" {
		return 0, false
	}
	n := unwind.RegNumber(name)
	if n < 0 {
		return 0, false
	}
	return r.Get(n)
}

func (a *Analysis) analyzeFault(fc *coreparse.FaultContext) *Fault {
	p := a.p
	f := &Fault{Context: fc}
	f.Frames = p.Symbolize([]unwind.Frame{{PC: fc.PC, Exact: true}})
	if fc.Real != nil && fc.Real.Sent && fc.Nested == nil {
		a.sentFault(f)
		return f
	}
	if fc.Wild != nil {
		a.wildFault(f)
		return f
	}
	code := make([]byte, 16)
	n, _ := p.Core.ReadAt(code, fc.PC)
	if n == 0 {
		f.Description = fmt.Sprintf("the faulting pc %#x is not readable", fc.PC)
		f.Kind = "pc"
		return f
	}
	in, err := disasm.Decode(code[:n], fc.PC, func(addr uint64) (string, uint64, bool) { return p.Symbol(addr) })
	if err != nil {
		f.Description = fmt.Sprintf("cannot decode the instruction at %#x: %v", fc.PC, err)
		return f
	}
	if w, err := p.Disassemble(fc.PC, 10, 6); err == nil {
		f.Window = w
	}
	inst := &Instruction{PC: fc.PC, ATT: in.ATT, Intel: in.Intel, Mem: in.Mem}
	f.Instruction = inst
	real := fc.Real
	if in.Mem == nil || real == nil || !real.HasAddr && real.Signo != 11 {
		return f
	}
	m := in.Mem
	inst.Base, inst.Index = m.Base, m.Index
	inst.BaseVal, _ = regValue(fc.Regs, m.Base)
	inst.IndexVal, _ = regValue(fc.Regs, m.Index)
	inst.Address, inst.HasAddr = m.EffectiveAddress(func(name string) (uint64, bool) { return regValue(fc.Regs, name) })
	inst.MemText = memText(m)
	inst.Write = m.Operand == 0 && in.Op != "cmp" && in.Op != "test" && in.Op != "push"
	if fc.SigFrame != nil && fc.SigFrame.Trapno == 14 {
		inst.Write = fc.SigFrame.Err&2 != 0
	}
	access := accessMsg(inst)
	size := m.Size
	if size == 0 {
		size = 8
	}
	// Which register is to blame: the base (or index) whose value is bad.
	bad, val := m.Base, inst.BaseVal
	if m.Base == "" || (m.Index != "" && looksBad(p, inst.IndexVal*uint64(max(m.Scale, 1))) && !looksBad(p, inst.BaseVal)) {
		bad, val = m.Index, inst.IndexVal
	}
	if bad == "rip" || bad == "rsp" {
		bad = ""
	}
	f.BadRegister, f.BadValue = bad, val
	addr := real.Addr
	if inst.HasAddr {
		addr = inst.Address
	}
	what := l10n.T("fault.what-pointer")
	if len(f.Frames) > 0 {
		if field := fieldName(f.Frames[0].Function, m.Disp); field != "" {
			what = l10n.Verbatim(field)
		}
	}
	hex := func(v uint64) string { return fmt.Sprintf("%#x", v) }
	var desc l10n.Msg
	switch {
	case real.Signo == 11 && real.Code == 0x80 || !canonical(addr):
		f.Kind = "non-canonical"
		desc = l10n.T("fault.non-canonical", "Access", access, "What", what, "Addr", hex(addr))
	case addr < 4096 && val < 4096:
		f.Kind = "null"
		desc = l10n.T("fault.null", "Access", access, "Size", size, "Addr", hex(addr), "What", what)
	case isPoison(val):
		f.Kind = "poison"
		desc = l10n.T("fault.poison", "Access", access, "What", what, "Byte", hex(uint64(byte(val))))
	case isGuardPage(p, addr, fc):
		f.Kind = "guard-page"
		desc = l10n.T("fault.guard-page", "Access", access, "Addr", hex(addr), "RSP", hex(fc.Regs.V[unwind.RSP]))
	case real.CodeName == "SEGV_ACCERR":
		f.Kind = "protection"
		desc = l10n.T("fault.protection", "Access", access, "What", what, "Addr", hex(addr))
	default:
		f.Kind = "unmapped"
		desc = l10n.T("fault.unmapped", "Access", access, "What", what, "Addr", hex(addr))
	}
	// The register and its value lead, but for a stack overflow; with no
	// register to blame and 0 the value, nothing leads.
	if f.Kind != "guard-page" && (bad != "" || val != 0) {
		desc = l10n.T("fault.register-value", "Reg", bad, "Val", hex(val), "Rest", desc)
	}
	f.Said, f.Description = desc, desc.String()
	if real.HasAddr && inst.HasAddr && real.Addr != inst.Address && f.Kind != "non-canonical" {
		a.warnf("the computed address %#x differs from si_addr %#x", inst.Address, real.Addr)
	}
	if bad != "" {
		f.Origin, f.Skipped = a.traceOrigin(fc.PC, bad)
	}
	return f
}

func canonical(a uint64) bool { return a < 1<<47 || a >= 0xffff800000000000 }

func looksBad(p *coreparse.Process, v uint64) bool {
	return v < 4096 || !canonical(v) || isPoison(v) || !p.Core.Readable(v)
}

// isPoison: a pointer made of one repeated byte (glibc's perturb and most
// pools fill with one byte), as the list walker reads links.
func isPoison(v uint64) bool { return values.Poisoned(v) }

func isGuardPage(p *coreparse.Process, addr uint64, fc *coreparse.FaultContext) bool {
	s, ok := p.Core.SegmentAt(addr)
	rsp := fc.Regs.V[unwind.RSP]
	return ok && s.Flags&7 == 0 && addr <= rsp+64 && rsp-addr < 1<<20
}

func memText(m *disasm.MemOperand) string {
	s := ""
	if m.Disp != 0 || m.Base == "" {
		s = fmt.Sprintf("%#x", m.Disp)
		if m.Disp < 0 {
			s = fmt.Sprintf("-%#x", -m.Disp)
		}
	}
	s += "("
	if m.Base != "" {
		s += "%" + m.Base
	}
	if m.Index != "" {
		s += fmt.Sprintf(",%%%s,%d", m.Index, m.Scale)
	}
	return s + ")"
}

// fieldName names the field a known accessor reads at a displacement.
func fieldName(fn string, disp int64) string {
	switch {
	case strings.HasSuffix(fn, "::get_next") && disp == 0:
		return "node->next_"
	case strings.HasSuffix(fn, "::get_previous") && disp == 8:
		return "node->prev_"
	case strings.HasSuffix(fn, "::set_next") && disp == 0:
		return "node->next_"
	case strings.HasSuffix(fn, "::set_previous") && disp == 8:
		return "node->prev_"
	}
	return ""
}

// isInstrumentation: gcov counter increments (addq $0x1,…(%rip), with or
// without lock) that -fprofile-arcs interleaves with the real code.
func isInstrumentation(in disasm.Inst) bool {
	if in.Bad || in.Raw.Op != x86asm.ADD || len(in.Raw.Args) < 2 || in.Mem == nil || !in.Mem.RIPRelative {
		return false
	}
	imm, ok := in.Raw.Args[1].(x86asm.Imm)
	_, mem := in.Raw.Args[0].(x86asm.Mem)
	return ok && mem && imm == 1
}

// writes reports whether an instruction writes a 64-bit register family.
func writes(in disasm.Inst, reg string) bool {
	if in.Bad || len(in.Raw.Args) == 0 || in.Raw.Args[0] == nil {
		return false
	}
	switch in.Raw.Op {
	case x86asm.CMP, x86asm.TEST, x86asm.PUSH, x86asm.JMP, x86asm.CALL, x86asm.RET, x86asm.NOP:
		return false
	}
	if in.Raw.Op >= x86asm.JA && in.Raw.Op <= x86asm.JS {
		return false
	}
	r, ok := in.Raw.Args[0].(x86asm.Reg)
	if !ok {
		return false
	}
	return family(r) == reg
}

func family(r x86asm.Reg) string {
	name := strings.ToLower(r.String())
	switch {
	case r >= x86asm.RAX && r <= x86asm.R15:
		return name
	case r >= x86asm.EAX && r <= x86asm.R15L:
		// 32-bit: eax … r15l
		return unwind.RegName(unwind.RegNumber(regFamily32(name)))
	}
	return name
}

func regFamily32(n string) string {
	if strings.HasPrefix(n, "r") {
		return strings.TrimSuffix(strings.TrimSuffix(n, "l"), "d")
	}
	return "r" + strings.TrimPrefix(n, "e")
}

// traceOrigin finds the instructions that wrote the bad register before
// the fault: backwards in the function from the fault, and, when the fault
// sits in a loop, the writers later in the loop body (the previous
// iteration). A register copy (mov %a,%b) is followed to its source.
func (a *Analysis) traceOrigin(pc uint64, reg string) ([]OriginStep, int) {
	p := a.p
	m := p.ModuleAt(pc)
	if m == nil || m.Syms == nil {
		return nil, 0
	}
	start, ok := m.Syms.FunctionEntry(pc - m.Bias)
	if !ok {
		return nil, 0
	}
	start += m.Bias
	end := pc + 512
	if name, off, ok := p.Symbol(pc); ok {
		_ = name
		if sym, ok := m.Syms.Lookup(symbolName(m, pc-off)); ok && sym.Size > 0 {
			end = sym.Value + m.Bias + sym.Size
		}
	}
	insts, _ := disasm.Range(p.Core, start, end, nil, nil)
	at := -1
	for i, in := range insts {
		if in.Addr == pc {
			at = i
		}
	}
	if at < 0 {
		return nil, 0
	}
	// The loop around the fault: a backward jump after it to at or before it.
	loopStart, loopEnd := -1, -1
	for i := at; i < len(insts); i++ {
		in := insts[i]
		if in.HasTarget && in.Op != "call" && in.Target <= pc && in.Target >= start {
			for j := range insts {
				if insts[j].Addr == in.Target {
					loopStart, loopEnd = j, i
				}
			}
			break
		}
	}
	var steps []OriginStep
	skipped := 0
	cur := reg
	pos := at - 1
	for depth := 0; depth < 4; depth++ {
		found := -1
		loopBack := false
		for i := pos; i >= 0; i-- {
			if isInstrumentation(insts[i]) {
				skipped++
				continue
			}
			if writes(insts[i], cur) {
				found = i
				break
			}
			if loopStart >= 0 && i == loopStart {
				break
			}
		}
		if found < 0 && loopStart >= 0 {
			for i := loopEnd; i > pos && i >= loopStart; i-- {
				if isInstrumentation(insts[i]) {
					skipped++
					continue
				}
				if writes(insts[i], cur) {
					found, loopBack = i, true
					break
				}
			}
		}
		if found < 0 {
			break
		}
		in := insts[found]
		st := OriginStep{PC: in.Addr, ATT: in.ATT, Register: cur, LoopBack: loopBack}
		fs := p.Symbolize([]unwind.Frame{{PC: in.Addr, Exact: true}})
		if len(fs) > 0 {
			st.Function, st.File, st.Line = fs[0].Function, fs[0].File, fs[0].Line
		}
		st.Said = describeStep(in, cur, st.Function, loopBack)
		st.Text = st.Said.String()
		if in.Mem != nil && in.Raw.Op == x86asm.MOV {
			st.Field = strings.TrimPrefix(fieldName(st.Function, in.Mem.Disp), "node->")
		}
		steps = append(steps, st)
		// Follow a register copy.
		if in.Raw.Op == x86asm.MOV && len(in.Raw.Args) > 1 {
			if src, ok := in.Raw.Args[1].(x86asm.Reg); ok {
				cur = family(src)
				pos = found - 1
				continue
			}
		}
		break
	}
	return steps, skipped
}

func symbolName(m *coreparse.Module, addr uint64) string {
	for _, s := range m.Syms.Symbols() {
		if s.Value+m.Bias == addr && s.Size > 0 {
			return s.Name
		}
	}
	return ""
}

func describeStep(in disasm.Inst, reg, fn string, loopBack bool) l10n.Msg {
	when := l10n.Verbatim("")
	if loopBack {
		when = l10n.T("origin.in-previous-iteration")
	}
	switch {
	case in.Mem != nil && in.Raw.Op == x86asm.MOV:
		what := l10n.T("origin.memory-at", "Mem", memText(in.Mem))
		if f := fieldName(fn, in.Mem.Disp); f != "" {
			what = l10n.T("origin.previous-next", "Field", f, "Function", shortFn(fn))
			if f == "node->prev_" {
				what = l10n.T("origin.node-prev", "Field", f)
			}
		}
		return l10n.T("origin.loaded", "Reg", reg, "What", what, "When", when)
	case in.Raw.Op == x86asm.MOV:
		return l10n.T("origin.copied", "Reg", reg, "When", when, "Insn", in.ATT)
	case in.Raw.Op == x86asm.LEA:
		return l10n.T("origin.computed", "Reg", reg, "When", when, "Insn", in.ATT)
	case in.Raw.Op == x86asm.XOR && len(in.Raw.Args) > 1 && in.Raw.Args[0] == in.Raw.Args[1]:
		return l10n.T("origin.zeroed", "Reg", reg, "When", when, "Insn", in.ATT)
	}
	return l10n.T("origin.written", "Reg", reg, "When", when, "Insn", in.ATT)
}

func shortFn(fn string) string {
	if i := strings.LastIndex(fn, ">::"); i >= 0 {
		return fn[i+3:]
	}
	if i := strings.LastIndex(fn, "::"); i >= 0 {
		return fn[i+2:]
	}
	return fn
}
