package fault

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/dsecore/dsecore/analysis/heap"
	"github.com/dsecore/dsecore/analysis/holders"
	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/values"
	"github.com/dsecore/dsecore/internal/cxxname"
	"github.com/dsecore/dsecore/internal/l10n"
)

// conclude turns the findings into rules that fired, evidence and one
// paragraph.
func (a *Analysis) conclude() {
	f := a.Fault
	fc := f.Context
	var para []l10n.Msg
	where := l10n.Verbatim("")
	if len(f.Frames) > 0 {
		inner := f.Frames[0]
		outer := f.Frames[len(f.Frames)-1]
		var chain []l10n.Msg
		for _, fr := range f.Frames {
			chain = append(chain, l10n.Verbatim(shortTemplate(fr.Function)))
		}
		where = l10n.Join("sep.inlined-in", chain...)
		if outer.File != "" {
			loc := fmt.Sprintf("%s:%d", filepath.Base(inner.File), inner.Line)
			if outer.File != inner.File || outer.Line != inner.Line {
				loc += fmt.Sprintf("; %s:%d", filepath.Base(outer.File), concreteLine(f))
			}
			where = l10n.T("fault.where-at", "Where", where, "Loc", loc)
		}
	}
	if fc.ReRaised {
		a.say("reraised-by-handler", "fault", l10n.T("evidence.reraised", "Core", SignalMsg(fc.Core), "Real", SignalMsg(fc.Real), "Frame", fmt.Sprintf("%#x", fc.SigFrame.UContext)))
	}
	para = a.concludeSignal(fc, para)
	in := f.Instruction
	switch f.Kind {
	case "null":
		a.say("null-pointer", "fault", l10n.T("evidence.insn", "Insn", in.ATT, "Desc", f.Said))
		para = append(para, l10n.T("verdict.null", "Access", accessMsg(in), "Where", where, "Desc", f.Said, "Insn", in.ATT))
	case "poison":
		a.say("poisoned-pointer", "fault", l10n.T("evidence.insn", "Insn", in.ATT, "Desc", f.Said))
		para = append(para, l10n.T("verdict.poison", "Where", where, "Desc", f.Said, "Insn", in.ATT))
	case "non-canonical", "unmapped", "protection":
		a.say("wild-pointer", "fault", l10n.T("evidence.insn", "Insn", in.ATT, "Desc", f.Said))
		para = append(para, l10n.T("verdict.wild-pointer", "Where", where, "Desc", f.Said, "Insn", in.ATT))
	case "guard-page":
		a.say("stack-overflow", "fault", f.Said)
		para = append(para, l10n.T("verdict.stack-overflow", "Where", where, "Desc", f.Said))
	}
	loaded := false
	for _, st := range f.Origin {
		if st.Field == "next_" {
			loaded = true
			a.say("loaded-from-list-link", "fault.origin", l10n.T("evidence.origin", "Text", st.Said, "PC", fmt.Sprintf("%#x", st.PC), "Insn", st.ATT))
		}
	}
	if loaded && (f.Kind == "null" || f.Kind == "poison") {
		if f.Kind == "null" {
			para = append(para, l10n.T("verdict.loaded-null", "Reg", f.BadRegister))
		} else {
			para = append(para, l10n.T("verdict.loaded-poison", "Reg", f.BadRegister))
		}
	}
	if f.Skipped > 0 {
		a.say("instrumentation", "fault.origin", l10n.T("evidence.instrumentation", "N", f.Skipped, "Reg", f.BadRegister))
	}
	var owner *Object
	for i := range a.Objects {
		if a.Objects[i].Role == "owner" {
			owner = &a.Objects[i]
		}
	}
	if owner != nil {
		a.say("owner-object", "objects", l10n.T("evidence.owner", "Type", owner.Type, "Addr", fmt.Sprintf("%#x", owner.Address), "How", owner.HowSaid))
	}
	if w := a.ListWalk; w != nil {
		for _, fnd := range w.Found {
			rule := "list-walk"
			if fnd.Kind == values.FindSizeUnderflow {
				rule = "size-underflow"
			}
			a.say(rule, "list_walk", fnd.Said)
		}
		if w.HookHow != "" {
			a.say("container-of", "list_walk", l10n.T("evidence.container-of", "Element", w.Element, "Offset", fmt.Sprintf("%#x", w.HookOffset), "How", l10n.Untranslated(w.HookHow)))
		}
	}
	// Who else: the holder search's holders (typed paths, raw matches as
	// the fallback), or without it the raw matches of findOthers.
	var otherWho []l10n.Msg
	var namedHolders []int // the holders the verdict names (memory.holders[i])
	if m := a.Memory; m != nil && m.Holders != nil {
		for i, hd := range m.Holders.Holders {
			b := hd.Best
			if !strings.HasPrefix(b.Role, "owner") && b.Role != "list header" && !strings.HasPrefix(b.Role, "list node") {
				continue // the freed object, free()'s argument: the heap's rules say what they mean
			}
			text := m.holderText(i)
			a.say("shared-object", fmt.Sprintf("memory.holders[%d]", i), text)
			if len(otherWho) < 2 {
				otherWho = append(otherWho, text)
				namedHolders = append(namedHolders, i)
			}
		}
	} else {
		seenWho := map[string]bool{}
		for i, h := range a.Others {
			if owner != nil && h.Address != owner.Address && h.Role != "list header" {
				continue
			}
			a.say("shared-object", fmt.Sprintf("others[%d]", i), l10n.T("evidence.other-holds", "Who", h.Said, "Frame", h.Frame, "Function", h.Function, "What", h.WhatSaid, "Addr", fmt.Sprintf("%#x", h.Address), "Where", h.WhereSaid))
			if !seenWho[h.Who] {
				seenWho[h.Who] = true
				otherWho = append(otherWho, l10n.T("verdict.other-holding", "Who", h.Said, "Path", h.Path,
					"What", h.bare, "Addr", fmt.Sprintf("%#x", h.Address), "Where", h.WhereSaid))
			}
		}
	}
	heapPara, uaf, dfree := a.concludeHeap()
	for i, s := range a.SameCode {
		a.say("same-operation", fmt.Sprintf("same_code[%d]", i), l10n.T("evidence.same-operation", "Who", s.Said, "Functions", strings.Join(s.Functions, ", ")))
	}
	if l := a.Logs; l != nil {
		for i, c := range l.Concurrent {
			gap := c[1].Time.Sub(c[0].Time).Microseconds()
			still := l10n.Verbatim("")
			if gap > a.o.ConcurrencyWindowUS {
				still = l10n.T("evidence.still-in-step", "Pthread", fmt.Sprintf("%x", c[0].Pthread))
			}
			a.say("log-concurrent", fmt.Sprintf("logs.concurrent[%d]", i), l10n.T("evidence.log-concurrent", "Message", strconv.Quote(c[0].Message),
				"First", fmt.Sprintf("%x", c[0].Pthread), "Second", fmt.Sprintf("%x", c[1].Pthread), "Gap", gap, "Still", still, "File1", c[0].File, "File2", c[1].File))
		}
		if l.HandlerOK != nil && *l.HandlerOK {
			a.say("handler-thread", "logs.handler", l10n.T("evidence.handler-thread", "Pthread", fmt.Sprintf("%#x", fc.Thread.Pthread), "LWP", fc.Thread.LWP))
		}
	}
	if d := a.Dmesg; d != nil {
		if d.IPMatches {
			a.say("dmesg-matches", "dmesg", l10n.T("evidence.dmesg-matches"))
		}
		if !d.IPMatches || !d.BaseOK || !d.SameThread {
			a.evidence("dmesg-mismatch", "dmesg", "%s", strings.Join(d.Notes, "; "))
		}
	}
	if as := a.Assertion; as != nil {
		a.say("assertion", "assertion", l10n.T("evidence.assertion", "Text", strconv.Quote(as.Text), "Addr", fmt.Sprintf("%#x", as.Address)))
		th := threadMsg(fc.Thread)
		if as.Function != "" {
			para = append(para, l10n.T("verdict.assertion-in", "Function", as.Function, "File", filepath.Base(as.File), "Line", as.Line, "Text", as.Text, "Thread", th))
		} else {
			para = append(para, l10n.T("verdict.assertion", "File", filepath.Base(as.File), "Line", as.Line, "Text", as.Text, "Thread", th))
		}
	} else if m := a.Memory; m != nil && m.MallocError != "" {
		para = append(para, l10n.T("verdict.malloc-abort", "Error", strconv.Quote(m.MallocError)))
	} else if fc.Real != nil && fc.Real.Signo == 6 && !a.hang() {
		para = append(para, l10n.T("verdict.abort-no-message"))
	}
	hangPara, hangWeight := a.concludeHang()
	para = append(para, hangPara...)
	concurrent := len(otherWho) > 0 || len(a.SameCode) > 0 || a.Logs != nil && len(a.Logs.Concurrent) > 0
	damaged := a.ListWalk != nil && (a.ListWalk.SizeUnderflow || a.ListWalk.FirstNull != 0) || loaded && f.Kind == "null"
	if len(otherWho) > 0 {
		para = append(para, l10n.T("verdict.another-path-object", "Who", l10n.Join("sep.semicolon", otherWho...)))
	} else if len(a.SameCode) > 0 {
		var who []l10n.Msg
		for _, s := range a.SameCode {
			who = append(who, l10n.T("path.who-in", "Who", s.Said, "Path", strings.Join(s.Functions, " → ")))
		}
		para = append(para, l10n.T("verdict.another-path-operation", "Who", l10n.Join("sep.semicolon", who...)))
	}
	para = append(para, heapPara...)
	if w := a.ListWalk; w != nil && w.SizeUnderflow {
		para = append(para, l10n.T("verdict.size-underflow", "Size", w.SizeSigned))
	}
	n := 0
	switch {
	case concurrent && damaged && owner != nil:
		para = append(para, l10n.T("verdict.concurrent-release", "Type", owner.Type, "Addr", fmt.Sprintf("%#x", owner.Address), "Paths", a.twoPaths(where)))
		a.say("verdict-concurrent-release", "verdict", l10n.T("evidence.verdict-concurrent-release"))
		n = 3
	case (f.Kind == "poison" || uaf) && !concurrent:
		para = append(para, l10n.T("verdict.use-after-free"))
		if uaf {
			a.say("verdict-use-after-free", "verdict", l10n.T("evidence.verdict-uaf-chunk"))
		} else {
			a.say("verdict-use-after-free", "verdict", l10n.T("evidence.verdict-uaf-poison"))
		}
		n = 2
	case dfree && !concurrent:
		para = append(para, l10n.T("verdict.double-free"))
		a.say("verdict-double-free", "verdict", l10n.T("evidence.verdict-double-free"))
		n = 2
	}
	n += hangWeight
	for _, r := range a.Rules {
		if r != "reraised-by-handler" && r != "instrumentation" && r != "container-of" && r != "no-siginfo" && r != "sigcontext" && r != "handler-signal" && r != "heap-unknown" {
			n++
		}
	}
	switch {
	case n >= 6:
		a.Confidence = "high"
	case n >= 3:
		a.Confidence = "medium"
	default:
		a.Confidence = "low"
	}
	if len(para) == 0 {
		para = append(para, l10n.T("verdict.no-rule", "Signal", SignalMsg(fc.Real), "Where", where))
	}
	// A verdict drawn from incomplete debug information (a supplementary
	// file or .dwo missing, a debug file rejected, names only) says so,
	// and is held with less confidence: names, inline frames, types and
	// variables may be missing from what it rests on: the fault's frame,
	// and the frames and types of the holders it names.
	type basis struct {
		mod   *coreparse.Module
		ref   string
		where l10n.Msg // zero for the fault's frame
	}
	var rests []basis
	if len(f.Frames) > 0 && f.Frames[0].Mod != nil {
		rests = append(rests, basis{f.Frames[0].Mod, "fault", l10n.Msg{}})
	}
	if m := a.Memory; m != nil && m.Holders != nil {
		for _, i := range namedHolders {
			hd := m.Holders.Holders[i]
			for _, mod := range hd.Best.Modules() {
				rests = append(rests, basis{mod, fmt.Sprintf("memory.holders[%d]", i), l10n.T("path.who-frame", "Who", hd.Said, "Frame", hd.Best.Frame, "Function", hd.Best.Function)})
			}
		}
	}
	lowered, said := false, map[*coreparse.Module]bool{}
	for _, b := range rests {
		if said[b.mod] {
			continue
		}
		said[b.mod] = true
		st := b.mod.SymbolStatus()
		if !st.Partial() {
			continue
		}
		a.say("partial-debug-info", b.ref, l10n.T("evidence.module-status", "Module", b.mod.BaseName(), "Status", st.Said))
		if b.where.IsZero() {
			para = append(para, l10n.T("verdict.partial-debug-info", "Module", b.mod.BaseName(), "Status", st.Said))
		} else {
			para = append(para, l10n.T("verdict.partial-debug-info-holder", "Module", b.mod.BaseName(), "Status", st.Said, "Holder", b.where))
		}
		if !lowered {
			lowered = true
			switch a.Confidence {
			case "high":
				a.Confidence = "medium"
			default:
				a.Confidence = "low"
			}
		}
	}
	a.Sentences = para
	a.Verdict = l10n.Join("sep.sentence", para...).String()
}

// twoPaths names the two paths of a concurrent release, from the facts:
// the crashed thread (and the task it was running) in the operations its
// stack is inside (else where it faulted), and the first other path found
// holding the same object (else the first inside the same operation).
func (a *Analysis) twoPaths(where l10n.Msg) l10n.Msg {
	crash := a.Fault.Context.Thread
	this := holders.ThreadWho(crash.LWP, crash.Name)
	if a.rt != nil {
		for _, t := range a.rt.Tasks {
			if t.Running && t.Thread == crash {
				this = l10n.T("path.running-task", "Who", this, "Task", t.ID)
			}
		}
	}
	ops := map[string]bool{}
	for _, op := range a.o.Profile.Operations {
		ops[op] = true
	}
	var in []string
	fs, _ := a.p.Backtrace(crash)
	for _, f := range fs {
		if ops[f.Function] && (len(in) == 0 || in[len(in)-1] != f.Function) {
			in = append(in, f.Function)
		}
	}
	if len(in) > 0 {
		this = l10n.T("path.who-in", "Who", this, "Path", strings.Join(in, " ← "))
	} else if where.String() != "" {
		this = l10n.T("path.who-in", "Who", this, "Path", where)
	}
	var other l10n.Msg
	if m := a.Memory; m != nil && m.Holders != nil {
		for i, hd := range m.Holders.Holders {
			if b := hd.Best.Role; strings.HasPrefix(b, "owner") || b == "list header" || strings.HasPrefix(b, "list node") {
				other = l10n.T("path.who-in", "Who", hd.Said, "Path", m.pathOf(i))
				break
			}
		}
	} else {
		for _, h := range a.Others {
			other = l10n.T("path.who-in", "Who", h.Said, "Path", h.Path)
			break
		}
	}
	if other.IsZero() && len(a.SameCode) > 0 {
		s := a.SameCode[0]
		other = l10n.T("path.who-in", "Who", s.Said, "Path", strings.Join(s.Functions, " ← "))
	}
	if other.IsZero() {
		return l10n.T("path.both-another", "This", this)
	}
	return l10n.T("path.both", "This", this, "Other", other)
}

// concludeHeap turns the heap's findings into sentences and evidence: use
// after free, double free, invalid free, heap corruption, each with where
// the chunk sits; with no libc debug info it says the heap cannot tell.
func (a *Analysis) concludeHeap() (para []l10n.Msg, uaf, dfree bool) {
	m := a.Memory
	if m == nil {
		return nil, false, false
	}
	for i, hf := range m.Heap {
		v := hf.Verdict
		ref := fmt.Sprintf("memory.heap[%d]", i)
		switch v.Rule {
		case "use-after-free":
			uaf = true
			a.say("heap-use-after-free", ref, l10n.T("evidence.heap", "Text", heapSaid(v), "Role", m.roleMsg(i)))
			if f := a.Fault; f != nil && strings.HasPrefix(hf.Role, "freed object") {
				para = append(para, l10n.T("verdict.heap-uaf-tcache", "Reg", f.BadRegister, "Val", fmt.Sprintf("%#x", f.BadValue),
					"Obj", fmt.Sprintf("%#x", hf.Finding.Address), "Text", heapSaid(v)))
			} else {
				para = append(para, l10n.T("verdict.heap-uaf", "Role", m.roleMsg(i), "Text", heapSaid(v)))
			}
		case "double-free":
			dfree = true
			a.say("heap-double-free", ref, l10n.T("evidence.heap", "Text", heapSaid(v), "Role", m.roleMsg(i)))
			para = append(para, l10n.T("verdict.heap-double-free", "Text", heapSaid(v)))
		case "invalid-free":
			a.evidence("heap-invalid-free", ref, "%s (%s)", v.Text, hf.Role)
			para = append(para, l10n.T("verdict.heap-invalid-free", "Text", heapSaid(v)))
		case "heap-corruption":
			a.evidence("heap-corruption", ref, "%s (%s)", v.Text, hf.Role)
			para = append(para, l10n.T("verdict.heap-corruption", "Role", m.roleMsg(i), "Text", heapSaid(v)))
		}
		if v.Rule != "heap-corruption" && hf.Finding != nil && hf.Finding.Corruption() && len(hf.Finding.Problems) > 0 {
			// Freed and then written: the chunk's own metadata says so too.
			for _, pr := range hf.Finding.Problems {
				a.evidence("heap-corruption", ref, "%s (%s)", pr.Text, hf.Role)
			}
			para = append(para, l10n.T("verdict.heap-corruption", "Role", m.roleMsg(i), "Text", l10n.Untranslated(hf.Finding.Problems[0].Text)))
		}
	}
	if m.MallocError != "" {
		a.say("malloc-abort", "memory.malloc_error", l10n.T("evidence.malloc-abort", "Error", strconv.Quote(m.MallocError)))
	}
	if !m.HeapKnown && len(m.Targets) > 0 {
		a.evidence("heap-unknown", "memory", "the heap cannot tell: %s", m.HeapReason)
	}
	return para, uaf, dfree
}

// threadMsg names a thread as coreparse.Thread.String does: "LWP 2905611
// (Processer_6)".
func threadMsg(t *coreparse.Thread) l10n.Msg {
	if t.Name == "" {
		return l10n.T("who.lwp", "LWP", t.LWP)
	}
	return l10n.T("who.lwp-named", "LWP", t.LWP, "Name", t.Name)
}

// heapSaid is the heap's verdict in the catalog's words (its English as
// it is when it has none).
func heapSaid(v heap.Verdict) l10n.Msg {
	if v.Said.IsZero() {
		return l10n.Untranslated(v.Text)
	}
	return v.Said
}

// accessMsg is the instruction's access: a read or a write.
func accessMsg(in *Instruction) l10n.Msg {
	if in != nil && in.Write {
		return l10n.T("access.write")
	}
	return l10n.T("access.read")
}

func concreteLine(f *Fault) int {
	if len(f.Frames) < 2 {
		if len(f.Frames) == 1 {
			return f.Frames[0].Line
		}
		return 0
	}
	// The concrete function's line is where the outermost inline call sits.
	return f.Frames[len(f.Frames)-1].Line
}

// shortTemplate shortens a long template argument list for prose, with
// the one rule every list uses (cxxname.Elide):
// "boost::intrusive::list_impl<…>::erase_and_dispose<dm_hash_node_t::delete_dm_obj_t>".
func shortTemplate(fn string) string { return cxxname.Elide(fn) }
