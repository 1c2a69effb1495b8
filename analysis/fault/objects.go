package fault

import (
	"fmt"
	"strings"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/disasm"
	"github.com/dsecore/dsecore/coreparse/symbols"
	"github.com/dsecore/dsecore/coreparse/unwind"
	"github.com/dsecore/dsecore/coreparse/values"
	"github.com/dsecore/dsecore/internal/l10n"
	"golang.org/x/arch/x86/x86asm"
)

// Object is a typed object the analysis found.
type Object struct {
	Role    string // "owner" (the object whose method faulted), "list header", "hook offset"
	Type    string
	Address uint64
	How     string            // how it was found: HowSaid in English
	HowSaid l10n.Msg          // How in the catalog's words
	Fields  map[string]string // its scalar members, read with their types
	// FromDWARF: the address is the DWARF location's value (this), not the
	// fallback guess from registers and stack words.
	FromDWARF bool
}

// ListWalk is a bounded walk of an intrusive list from its header (the
// one walker, values.WalkList) with the analysis' reading of it.
type ListWalk struct {
	Header        uint64
	ListType      string
	Element       string // element type
	HookOffset    int64  // offset of the hook in the element
	HookHow       string // "DWARF: …; the code agrees (code: sub $0x130 …)"
	Nodes         []ListNode
	SizeField     uint64
	HasSize       bool
	SizeSigned    int64
	Walk          *values.Walk  // the walker's structured answer
	Found         []WalkFinding // what is wrong, for the evidence
	Findings      []string      // the same in words
	FindingsSaid  []l10n.Msg    // Findings in the catalog's words
	Empty         bool          // the header links to itself
	FirstNull     uint64        // the node whose next_ is NULL
	Unlinked      bool          // the list header was reset / the range unlinked
	SizeUnderflow bool
}

// WalkFinding is one of the walker's findings, said with what the profile
// knows (the state of the node it names).
type WalkFinding struct {
	values.Finding
	Text string
	Said l10n.Msg // Text in the catalog's words
}

// ListNode is one node reached by the walk.
type ListNode struct {
	Hook    uint64
	Element uint64
	Next    uint64
	Prev    uint64
	State   string
	Problem string
}

// codeHookOffset is the container-of the code computes near the fault, from
// the decoded operands: "sub $N,%reg" or "lea -N(%reg),%reg2" (8 <= N <
// 64 KiB).
func codeHookOffset(w *disasm.Listing) (int64, disasm.Inst, bool) {
	if w == nil {
		return 0, disasm.Inst{}, false
	}
	for _, in := range w.Insts {
		if in.Bad || len(in.Raw.Args) < 2 || in.Raw.Args[1] == nil {
			continue
		}
		var v int64
		switch in.Raw.Op {
		case x86asm.SUB:
			imm, ok := in.Raw.Args[1].(x86asm.Imm)
			if _, reg := in.Raw.Args[0].(x86asm.Reg); !ok || !reg {
				continue
			}
			v = int64(imm)
		case x86asm.LEA:
			// The displacement sign-extended (in.Mem): x86asm gives a
			// 32-bit one as it is encoded, -0x130 as 0xfffffed0.
			m, ok := in.Raw.Args[1].(x86asm.Mem)
			if !ok || in.Mem == nil || m.Index != 0 || m.Base == 0 || m.Base == x86asm.RIP || in.Mem.Disp >= 0 {
				continue
			}
			v = -in.Mem.Disp
		default:
			continue
		}
		if v >= 8 && v < 1<<16 {
			return v, in, true
		}
	}
	return 0, disasm.Inst{}, false
}

// faultFrame is the index, in the crashing thread's stack, of the concrete
// (not inlined) frame of the function whose code faulted, and the stack.
func (a *Analysis) faultFrame(fn string) ([]coreparse.Frame, int) {
	fc := a.Fault.Context
	fs, _ := a.p.Backtrace(fc.Thread)
	for i, f := range fs {
		if !f.Inline && f.Raw != nil && f.PC == fc.PC && f.Function == fn {
			return fs, i
		}
	}
	return fs, -1
}

// thisOf is `this` of the concrete function at the fault, from its DWARF
// location (a location list entry, an entry value from the caller's call
// site); nil, and why, when DWARF has none here.
func (a *Analysis) thisOf(fn string) (*values.Value, string) {
	if a.o.withholdThis {
		return nil, "DWARF says `this` is optimized out at the fault pc"
	}
	fs, i := a.faultFrame(fn)
	if i < 0 {
		return nil, "the fault frame is not in the crashing thread's stack"
	}
	vf := values.FrameOf(a.p, fs, i)
	params, _, err := a.vr.FrameVars(vf)
	for _, v := range params {
		if v.Name != "this" {
			continue
		}
		if v.Absent() {
			return nil, "DWARF says `this` is " + strings.Trim(v.AbsentText(), "<>") + " at the fault pc"
		}
		return v, ""
	}
	if err != nil {
		return nil, "no DWARF variables for the frame: " + err.Error()
	}
	return nil, "the frame's DWARF has no `this`"
}

// inlinedThis is `this` of each function inlined at the fault into fn
// (erase_and_dispose of the list, …), from DWARF: address → function.
func (a *Analysis) inlinedThis(fn string) map[uint64]string {
	out := map[uint64]string{}
	fs, i := a.faultFrame(fn)
	for j := i - 1; i >= 0 && j >= 0 && fs[j].Raw == fs[i].Raw; j-- {
		params, _, _ := a.vr.FrameVars(values.FrameOf(a.p, fs, j))
		for _, v := range params {
			if v.Name != "this" || v.Absent() {
				continue
			}
			if x, err := a.vr.Uint(v); err == nil && x != 0 {
				out[x] = fs[j].Function
			}
		}
	}
	return out
}

// whereSaid says a value's DWARF location in the catalog's words.
func whereSaid(v *values.Value) l10n.Msg {
	switch {
	case strings.HasPrefix(v.Where, "register "):
		return l10n.T("object.where-register", "Reg", strings.TrimPrefix(v.Where, "register "))
	case strings.HasPrefix(v.Where, "entry value of "):
		return l10n.T("object.where-entry", "Reg", strings.TrimPrefix(v.Where, "entry value of "))
	case v.InMemory():
		return l10n.T("object.where-memory", "Addr", fmt.Sprintf("%#x", v.Addr))
	}
	return l10n.T("object.where-other", "Where", v.Where)
}

// findObjects reads the object whose method faulted (`this`, from DWARF)
// and walks the intrusive list of it the fault was in, through typed
// values.
func (a *Analysis) findObjects() {
	f := a.Fault
	p := a.p
	if len(f.Frames) == 0 {
		return
	}
	concrete := f.Frames[len(f.Frames)-1]
	class := ""
	if i := strings.LastIndex(concrete.Function, "::"); i > 0 {
		class = concrete.Function[:i]
	}
	mod := p.ModuleAt(f.Context.PC)
	if class == "" || mod == nil || mod.Syms == nil {
		return
	}
	vr := a.vr
	var owner *values.Value
	var how l10n.Msg
	fromDWARF := false
	this, why := a.thisOf(concrete.Function)
	if this != nil {
		if d, err := vr.Deref(this); err == nil {
			owner, fromDWARF = d, true
			how = l10n.T("object.how-this", "Function", concrete.Function, "Where", whereSaid(this))
			if n := strings.TrimSpace(strings.TrimPrefix(vr.TypeName(d), "const ")); n != "" {
				class = n // the type DWARF gives `this`
			}
		} else {
			why = "`this` is " + err.Error()
		}
	}
	if owner == nil {
		// Marked fallback: only when DWARF cannot say.
		ty, ok := mod.Syms.LookupType(class)
		if !ok {
			return
		}
		if addr, where, ok := a.guessThis(&values.Value{Mod: mod, Type: ty.Offset, Kind: values.KindReference}); ok {
			owner = &values.Value{Name: "*this", Mod: mod, Type: ty.Offset, Addr: addr, Kind: values.KindReference}
			how = l10n.T("object.how-guess", "Function", concrete.Function, "Why", l10n.Untranslated(why), "Where", l10n.Untranslated(where), "Class", class)
		}
	}
	codeOff, codeIn, codeOK := codeHookOffset(f.Window)
	if owner == nil {
		if codeOK {
			how := l10n.T("object.how-code", "Insn", codeIn.ATT, "Addr", fmt.Sprintf("%#x", codeIn.Addr))
			a.Objects = append(a.Objects, Object{Role: "hook offset", How: how.String(), HowSaid: how,
				Fields: map[string]string{"offset": fmt.Sprintf("%#x", codeOff)}})
		}
		return
	}
	obj := Object{Role: "owner", Type: class, Address: owner.Addr, How: how.String(), HowSaid: how, Fields: map[string]string{}, FromDWARF: fromDWARF}
	kids, _ := vr.Children(owner, 0, 0)
	var list *values.IntrusiveList
	var listName string
	chain := ""
	for _, fr := range f.Frames {
		chain += fr.Function + "\n"
	}
	inlined := a.inlinedThis(concrete.Function)
	var listHow l10n.Msg
	for _, k := range kids {
		if strings.HasPrefix(k.Name, "<") {
			continue // base classes
		}
		if l, ok := vr.AsIntrusiveList(k); ok {
			// The list the fault walks: the member that is `this` of a
			// list method inlined at the fault (DWARF); else the one whose
			// element type the inline chain names; else the first.
			if fn, ok := inlined[k.Addr]; ok && listHow.IsZero() {
				list, listName = l, k.Name
				listHow = l10n.T("object.how-member-inlined", "List", k.Name, "Function", shortTemplate(fn))
			} else if listHow.IsZero() && (list == nil || !strings.Contains(chain, "<"+list.ElemName+",") && strings.Contains(chain, "<"+l.ElemName+",")) {
				list, listName = l, k.Name
			}
			continue
		}
		if ty := vr.Resolved(k); ty != nil && (ty.Kind == symbols.KindBase || ty.Kind == symbols.KindEnum) {
			obj.Fields[k.Name] = vr.Summary(k, false)
		}
	}
	a.Objects = append(a.Objects, obj)
	if list == nil {
		return
	}
	w := &ListWalk{Header: list.Header, ListType: class + "::" + listName, Element: list.ElemName, HookOffset: list.HookOff, HookHow: list.HookHow,
		SizeField: uint64(list.Size), HasSize: list.HasSize, SizeSigned: list.Size}
	if codeOK {
		code := fmt.Sprintf("code: %s at %#x", codeIn.ATT, codeIn.Addr)
		if codeOff == w.HookOffset {
			w.HookHow += "; the code agrees (" + code + ")"
		} else {
			w.HookHow += fmt.Sprintf("; the code computes %#x instead (%s)", codeOff, code)
		}
	}
	a.walkList(w, list, owner.Mod)
	a.ListWalk = w
	if listHow.IsZero() {
		listHow = l10n.T("object.how-member", "List", listName)
	}
	a.Objects = append(a.Objects, Object{Role: "list header", Type: w.ListType, Address: w.Header, How: listHow.String(), HowSaid: listHow,
		Fields: map[string]string{"size_": fmt.Sprintf("%d", w.SizeSigned)}, FromDWARF: fromDWARF})
}

type candidate struct {
	value uint64
	where string
}

// guessThis is the fallback when DWARF says `this` is optimized out: a
// register of the fault frame (callee-saved ones first, where `this`
// survives calls), then a word of its stack frame, that points to an
// object of the class one of whose intrusive lists has a sane header.
func (a *Analysis) guessThis(typed *values.Value) (uint64, string, bool) {
	for _, c := range a.pointerCandidates() {
		v := *typed
		v.Addr = c.value
		kids, _ := a.vr.Children(&v, 0, 0)
		for _, k := range kids {
			l, ok := a.vr.AsIntrusiveList(k)
			if !ok {
				continue
			}
			next, err1 := a.p.Core.ReadUint64(l.Header)
			prev, err2 := a.p.Core.ReadUint64(l.Header + 8)
			if err1 != nil || err2 != nil || next == 0 || prev == 0 || !a.p.Core.Readable(next) || !a.p.Core.Readable(prev) {
				continue
			}
			if n2, err := a.p.Core.ReadUint64(prev); err != nil || n2 == 0 {
				continue
			}
			return c.value, c.where, true
		}
	}
	return 0, "", false
}

// pointerCandidates: the fault frame's registers (callee-saved ones first,
// where `this` survives calls), then words of its stack frame.
func (a *Analysis) pointerCandidates() []candidate {
	fc := a.Fault.Context
	var out []candidate
	order := []int{unwind.RBP, unwind.RBX, unwind.R12, unwind.R13, unwind.R14, unwind.R15, unwind.RDI, unwind.RSI, unwind.RAX, unwind.RCX, unwind.RDX, unwind.R8, unwind.R9}
	for _, n := range order {
		if v, ok := fc.Regs.Get(n); ok && v >= 4096 && a.p.Core.Readable(v) {
			out = append(out, candidate{v, "register %" + unwind.RegName(n)})
		}
	}
	rsp := fc.Regs.V[unwind.RSP]
	for off := uint64(0); off < 0x200; off += 8 {
		if v, err := a.p.Core.ReadUint64(rsp + off); err == nil && v >= 4096 && a.p.Core.Readable(v) {
			out = append(out, candidate{v, fmt.Sprintf("the stack slot %#x (rsp+%#x)", rsp+off, off)})
		}
	}
	return out
}

// walkList walks the list with the one walker and reads its findings
// with the profile's element states.
func (a *Analysis) walkList(w *ListWalk, l *values.IntrusiveList, mod *coreparse.Module) {
	const bound = 100000
	walk := a.vr.Walk(l, bound)
	w.Walk = walk
	owner := &values.Value{Mod: mod}
	state := func(hook uint64) l10n.Msg { return a.elementState(a.vr.ElementAt(owner, l, hook, "")) }
	badPrev := map[uint64]string{}
	for _, fd := range walk.Findings {
		said := fd.Said
		switch fd.Kind {
		case values.FindEmpty:
			w.Empty = true
		case values.FindInconsistentHeader:
			w.Unlinked = true
			if st := state(fd.Node); !st.IsZero() {
				said = l10n.T("walk.node-state", "Finding", said, "Element", w.Element, "State", st)
			}
		case values.FindNullLink:
			w.FirstNull = fd.Node
		case values.FindSizeUnderflow:
			w.SizeUnderflow = true
		case values.FindBadPrev:
			badPrev[fd.Node] = fmt.Sprintf("prev_ = %#x, but the node before is %#x", fd.Link, fd.Prev)
			continue // a node's problem, shown with the node
		}
		text := said.String()
		w.Found = append(w.Found, WalkFinding{Finding: fd, Text: text, Said: said})
		w.Findings = append(w.Findings, text)
		w.FindingsSaid = append(w.FindingsSaid, said)
	}
	for _, h := range walk.Hooks {
		st := state(h)
		n := ListNode{Hook: h, Element: h - uint64(l.HookOff), Problem: badPrev[h]}
		if !st.IsZero() {
			n.State = st.String()
		}
		n.Next, _ = a.p.Core.ReadUint64(h)
		n.Prev, _ = a.p.Core.ReadUint64(h + 8)
		w.Nodes = append(w.Nodes, n)
	}
}

// elementState is the profile's name for an element's state field, read
// with its type, in the catalog's words (zero when the profile names no
// state field).
func (a *Analysis) elementState(elem *values.Value) l10n.Msg {
	prof := a.o.Profile
	if prof == nil || prof.ElementStateField == "" || elem.Mod == nil {
		return l10n.Msg{}
	}
	m, err := a.vr.Member(elem, prof.ElementStateField)
	if err != nil {
		return l10n.Msg{}
	}
	x, err := a.vr.Int(m)
	if err != nil {
		return l10n.T("walk.state-unreadable")
	}
	if name, ok := prof.ElementStates[x]; ok {
		return stateSaid(name)
	}
	return l10n.Verbatim(fmt.Sprintf("%s=%#x", prof.ElementStateField, x))
}
