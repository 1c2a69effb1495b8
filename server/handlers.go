package server

import (
	"encoding/base64"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/disasm"
	"github.com/dsecore/dsecore/coreparse/unwind"
	"github.com/dsecore/dsecore/coreparse/values"
	"github.com/dsecore/dsecore/internal/par"
	"github.com/dsecore/dsecore/report"
	"github.com/google/go-dap"
)

func hexAddr(a uint64) string { return fmt.Sprintf("%#x", a) }

func (s *conn) stackTrace(r *dap.StackTraceRequest) {
	st := s.st
	fs, err := st.stack(r.Arguments.ThreadId)
	if err != nil {
		s.sendError(r.Seq, r.Command, 4000, err.Error())
		return
	}
	start := max(r.Arguments.StartFrame, 0)
	end := len(fs)
	if r.Arguments.Levels > 0 {
		end = min(len(fs), start+r.Arguments.Levels)
	}
	frames := []dap.StackFrame{}
	// The frames above a signal frame are the fatal-signal handler's
	// (Ceph's handle_oneshot_fatal_signal, its backtrace and re-raise):
	// shown, but deemphasized, so a client focuses the frame that faulted.
	handler := faultFrameIndex(fs) - 1
	// On the crashing thread, the frame the session stops on and the
	// frames above it, deemphasized (focus.go).
	focus := -1
	if r.Arguments.ThreadId == st.crashThreadID() {
		focus = st.crashFocus(fs)
	}
	for i := start; i < end; i++ {
		f := fs[i]
		sf := dap.StackFrame{Id: st.frameID(r.Arguments.ThreadId, i), Name: f.Function}
		switch {
		case f.Boundary:
			sf.Name = "──── the Processer's scheduler frames below ────"
			sf.PresentationHint = "label"
		case f.Sigtramp:
			sf.Name = "<signal handler called>"
			sf.PresentationHint = "label"
		default:
			if f.Inline {
				sf.Name += " [inlined]"
			}
			if f.Tailcall {
				sf.Name += " [tail call]"
			}
			// Frames found without CFI (the frame-pointer chain, a
			// return address on the stack) may be wrong: named so, and
			// deemphasized.
			if f.Raw != nil && f.Raw.Kind.Weak() && !f.Inline && !f.Tailcall {
				sf.Name += " [found by " + f.Raw.Kind.String() + "]"
				sf.PresentationHint = "subtle"
			}
			if f.Function == "??" {
				sf.PresentationHint = "subtle"
			}
		}
		if f.PC != 0 {
			// An instruction's start, never a return address minus one:
			// the call a caller frame is in.
			sf.InstructionPointerReference = hexAddr(st.p.CurrentInstruction(&f))
		}
		if f.Mod != nil {
			sf.ModuleId = f.Mod.Name
		}
		if !f.Boundary {
			sf.Source = st.sourceOf(f)
			sf.Line, sf.Column = f.Line, 1
			switch {
			case i < handler:
				sf.PresentationHint = "subtle"
				sf.Source = st.deemphasized(f, sf.Source, originHandler)
			case i < focus && !f.Sigtramp:
				sf.PresentationHint = "subtle"
				sf.Source = st.deemphasized(f, sf.Source, st.aboveFocus(f))
			case i == focus:
				sf.PresentationHint = "normal"
				sf.Source = st.focusSource(f)
			default:
				sf.Source = appSource(sf.Source, f)
			}
			if sf.Source != nil && sf.Source.SourceReference > 0 {
				// The frame's instruction in the disassembly's text.
				sf.Line = st.sourceLine(sf.Source.SourceReference, st.p.CurrentInstruction(&f))
			}
		}
		frames = append(frames, sf)
	}
	// A stack that ended early (not at its outermost frame, a zero pc or
	// the frame limit) says why in a last label frame.
	total := len(fs)
	if why := st.stopReason(r.Arguments.ThreadId); why != "" {
		total++
		if start <= len(fs) && (r.Arguments.Levels <= 0 || start+r.Arguments.Levels > len(fs)) {
			frames = append(frames, dap.StackFrame{Id: st.frameID(r.Arguments.ThreadId, len(fs)), Name: "unwinding stopped: " + why, PresentationHint: "label"})
		}
	}
	s.send(&dap.StackTraceResponse{Response: response(&r.Request), Body: dap.StackTraceResponseBody{StackFrames: frames, TotalFrames: total}})
}

// faultFrameIndex is the index, in the crashing thread's stack, of the
// frame where the fault happened: the one above the signal frame, or 0.
func faultFrameIndex(fs []coreparse.Frame) int {
	for i, f := range fs {
		if f.Sigtramp && i+1 < len(fs) {
			return i + 1
		}
	}
	return 0
}

func (s *conn) scopes(r *dap.ScopesRequest) {
	st := s.st
	fr, fs, err := st.frame(r.Arguments.FrameId)
	if err != nil {
		s.sendError(r.Seq, r.Command, 4001, err.Error())
		return
	}
	f := fs[fr.index]
	scopes := []dap.Scope{}
	if len(st.holderHits(fr)) > 0 {
		scopes = append(scopes, dap.Scope{Name: holderScopeName, VariablesReference: st.handle(varRef{kind: "holder", frame: r.Arguments.FrameId})})
	}
	if !f.Boundary && !f.Sigtramp {
		vars := []dap.Scope{
			{Name: "Arguments", PresentationHint: "arguments", VariablesReference: st.handle(varRef{kind: "args", frame: r.Arguments.FrameId})},
			{Name: "Locals", PresentationHint: "locals", VariablesReference: st.handle(varRef{kind: "locals", frame: r.Arguments.FrameId})}}
		if f.Raw != nil {
			regs := dap.Scope{Name: "Registers", PresentationHint: "registers", VariablesReference: st.handle(varRef{kind: "registers", frame: r.Arguments.FrameId})}
			if _, ps, ls, _ := st.frameScope(r.Arguments.FrameId); len(ps)+len(ls) == 0 {
				// No variable: no DWARF scope for this code (an
				// executable as Debian ships it, hand-written assembly):
				// the registers are what there is, first (the scope a
				// client expands).
				vars = append([]dap.Scope{regs}, vars...)
			} else {
				vars = append(vars, regs)
			}
		}
		scopes = append(scopes, vars...)
	}
	if fr.thread == st.crashThreadID() && st.p.Fault() != nil {
		// On the fault frame and its inline levels. The analysis is made
		// when the scope is expanded (it unwinds every task).
		fi := faultFrameIndex(fs)
		if fr.index >= fi && fs[fr.index].Raw == fs[fi].Raw {
			scopes = append(scopes, dap.Scope{Name: "Fault analysis", Expensive: true, VariablesReference: st.handle(varRef{kind: "analysis"})})
		}
	}
	s.send(&dap.ScopesResponse{Response: response(&r.Request), Body: dap.ScopesResponseBody{Scopes: scopes}})
}

// frameScope evaluates a frame's variables once.
func (st *state) frameScope(frameID int) (*values.Scope, []*values.Value, []*values.Value, error) {
	fr, fs, err := st.frame(frameID)
	if err != nil {
		return nil, nil, nil, err
	}
	vf := values.FrameOf(st.p, fs, fr.index)
	if vf == nil {
		return &values.Scope{}, nil, nil, fmt.Errorf("no module or registers for this frame")
	}
	ps, ls, err := st.vr.FrameVars(vf)
	sc := &values.Scope{Frame: vf, Vars: append(append([]*values.Value{}, ps...), ls...)}
	return sc, ps, ls, err
}

func (s *conn) variables(r *dap.VariablesRequest) {
	st := s.st
	ref, ok := st.ref(r.Arguments.VariablesReference)
	if !ok {
		s.sendError(r.Seq, r.Command, 4002, fmt.Sprintf("no variables reference %d", r.Arguments.VariablesReference))
		return
	}
	hex := r.Arguments.Format != nil && r.Arguments.Format.Hex
	var out []dap.Variable
	switch ref.kind {
	case "args", "locals":
		_, ps, ls, err := st.frameScope(ref.frame)
		vs := ps
		if ref.kind == "locals" {
			vs = ls
		}
		if err != nil && len(vs) == 0 {
			out = append(out, dap.Variable{Name: "<no variables>", Value: err.Error()})
		}
		for _, v := range vs {
			out = append(out, st.variable(v, hex))
		}
	case "registers":
		fr, fs, err := st.frame(ref.frame)
		if err == nil {
			f := fs[fr.index]
			for i := 0; i < unwind.NumRegs; i++ {
				v, ok := f.Raw.Regs.Get(i)
				val := "<not saved>"
				if ok {
					val = fmt.Sprintf("%#016x", v)
				}
				out = append(out, dap.Variable{Name: unwind.RegName(i), Value: val, EvaluateName: "$" + unwind.RegName(i)})
			}
			if f.Raw.CFA != 0 {
				out = append(out, dap.Variable{Name: "cfa", Value: fmt.Sprintf("%#016x", f.Raw.CFA)})
			}
		}
	case "value":
		kids, err := st.vr.Children(ref.value, r.Arguments.Start, r.Arguments.Count)
		if err != nil && len(kids) == 0 {
			out = append(out, dap.Variable{Name: "<error>", Value: err.Error()})
		}
		for _, k := range kids {
			out = append(out, st.variable(k, hex))
		}
	case "holder":
		out = st.holderVariables(ref.frame, hex)
	case "analysis":
		out = st.nodeVariables(append(analysisNodes(st.analysisDoc()), nonEmpty(waitsNode(st.sess.Waits()))...))
	case "node":
		out = st.nodeVariables(ref.node.kids())
	}
	if out == nil {
		out = []dap.Variable{}
	}
	s.send(&dap.VariablesResponse{Response: response(&r.Request), Body: dap.VariablesResponseBody{Variables: out}})
}

// variable renders a value as a DAP variable.
func (st *state) variable(v *values.Value, hex bool) dap.Variable {
	dv := dap.Variable{Name: v.Name, Value: st.vr.Summary(v, hex), Type: st.vr.TypeName(v)}
	if st.vr.HasChildren(v) {
		dv.VariablesReference = st.handle(varRef{kind: "value", value: v})
		dv.IndexedVariables = st.vr.IndexedCount(v)
	}
	if ty := st.vr.Resolved(v); ty != nil && v.Err == "" {
		if ty.Kind == 2 { // pointer: the pointee's memory
			if x, err := st.vr.Uint(v); err == nil && x != 0 {
				dv.MemoryReference = hexAddr(x)
			}
		} else if v.InMemory {
			dv.MemoryReference = hexAddr(v.Addr)
		}
	}
	if v.Where != "" && v.Err == "" {
		dv.PresentationHint = &dap.VariablePresentationHint{Attributes: []string{"readOnly"}}
	}
	return dv
}

func (s *conn) evaluate(r *dap.EvaluateRequest) {
	st := s.st
	expr := strings.TrimSpace(r.Arguments.Expression)
	hex := r.Arguments.Format != nil && r.Arguments.Format.Hex
	var sc *values.Scope
	if r.Arguments.FrameId > 0 {
		sc, _, _, _ = st.frameScope(r.Arguments.FrameId)
	} else if fs, err := st.stack(st.crashThreadID()); err == nil {
		id := st.frameID(st.crashThreadID(), faultFrameIndex(fs))
		sc, _, _, _ = st.frameScope(id)
	}
	if r.Arguments.Context == "repl" {
		if out, ok := s.command(expr, r.Arguments.FrameId); ok {
			s.send(&dap.EvaluateResponse{Response: response(&r.Request), Body: dap.EvaluateResponseBody{Result: out}})
			return
		}
	}
	v, err := st.vr.Eval(sc, expr)
	if err != nil {
		s.sendError(r.Seq, r.Command, 4003, err.Error())
		return
	}
	// A result a client may expand is kept for the session's life: within
	// its budget. A number or a pointer's value costs nothing kept.
	if st.vr.HasChildren(v) {
		if why := st.overBudget(); why != "" {
			s.sendError(r.Seq, r.Command, errOverBudget, "evaluate: "+why)
			return
		}
	}
	dv := st.variable(v, hex)
	s.send(&dap.EvaluateResponse{Response: response(&r.Request), Body: dap.EvaluateResponseBody{Result: dv.Value, Type: dv.Type,
		VariablesReference: dv.VariablesReference, IndexedVariables: dv.IndexedVariables, MemoryReference: dv.MemoryReference}})
}

var replCommands = []string{"bt", "tasks", "analysis", "info registers", "x/"}

// command runs a repl command: bt, tasks, analysis, info registers, x/NFU ADDR.
func (s *conn) command(line string, frameID int) (string, bool) {
	st := s.st
	var b strings.Builder
	switch {
	case line == "bt" || line == "backtrace":
		thread := st.crashThreadID()
		if frameID > 0 {
			if fr, _, err := st.frame(frameID); err == nil {
				thread = fr.thread
			}
		}
		fs, err := st.stack(thread)
		if err != nil {
			return err.Error(), true
		}
		report.WriteFrames(&b, report.Frames(fs))
		return b.String(), true
	case line == "tasks":
		rt := st.runtime()
		tasks := make([]report.Task, len(rt.Tasks))
		par.Do(len(rt.Tasks), func(i int) { tasks[i] = report.TaskDoc(rt, rt.Tasks[i], false) })
		report.WriteTasks(&b, report.CoroutinesDoc(rt), tasks, report.TaskTable{Title: true, Total: len(tasks), Shown: -1})
		return b.String(), true
	case line == "analysis":
		fd, _ := report.FaultDoc(st.p)
		report.WriteAnalysis(&b, &report.Inspect{Fault: fd, Analysis: st.analysisDoc()}, report.AnalysisText{Lang: st.lang()})
		return b.String(), true
	case line == "info registers" || line == "info reg":
		sc, _, _, _ := st.frameScope(max(frameID, 1))
		if sc == nil || sc.Frame == nil {
			return "no frame", true
		}
		for i := 0; i < unwind.NumRegs; i++ {
			if v, ok := sc.Frame.Regs.Get(i); ok {
				fmt.Fprintf(&b, "%-4s %#016x %d\n", unwind.RegName(i), v, int64(v))
			} else {
				fmt.Fprintf(&b, "%-4s <not saved>\n", unwind.RegName(i))
			}
		}
		return b.String(), true
	case strings.HasPrefix(line, "x/"):
		return s.examine(line, frameID), true
	}
	return "", false
}

// examine is gdb's x/NFU ADDR (F in x, d, u, c; U in b, h, w, g),
// printed as gdb prints it.
func (s *conn) examine(line string, frameID int) string {
	s.st.mu.Lock()
	last := s.st.examined
	s.st.mu.Unlock()
	e, addrExpr, err := report.ParseExamine(line, last)
	if err != nil {
		return err.Error()
	}
	s.st.mu.Lock()
	s.st.examined = e
	s.st.mu.Unlock()
	sc, _, _, _ := s.st.frameScope(max(frameID, 1))
	v, err := s.st.vr.Eval(sc, addrExpr)
	if err != nil {
		return err.Error()
	}
	addr, err := s.st.vr.Uint(v)
	if err != nil {
		if v.InMemory {
			addr = v.Addr
		} else {
			return err.Error()
		}
	}
	buf := make([]byte, e.Count*e.Size)
	k, _ := s.st.p.Core.ReadAt(buf, addr)
	var b strings.Builder
	report.WriteExamine(&b, e, addr, buf[:max(k, 0)], s.st.p.DataSymbol)
	return b.String()
}

func (s *conn) disassemble(r *dap.DisassembleRequest) {
	st := s.st
	base, err := strconv.ParseUint(strings.TrimPrefix(r.Arguments.MemoryReference, "0x"), 16, 64)
	if err != nil {
		s.sendError(r.Seq, r.Command, 4004, "bad memoryReference "+r.Arguments.MemoryReference)
		return
	}
	base += uint64(r.Arguments.Offset)
	count := min(max(r.Arguments.InstructionCount, 1), 4096)
	off := r.Arguments.InstructionOffset
	before, after := max(-off, 0), max(count+off, 1)
	// The address may be inside an instruction (a client's guess): the
	// instruction holding it is the reference one.
	l, err := st.p.DisassembleAt(base, before, after)
	out := []dap.DisassembledInstruction{}
	var insts []disasm.Inst
	pad := 0 // instructions asked for before the first one known
	if err == nil && l.PCIndex >= 0 {
		from := l.PCIndex + off
		for i := from; i < from+count; i++ {
			if i < 0 {
				pad++
			} else if i < len(l.Insts) {
				insts = append(insts, l.Insts[i])
			}
		}
	}
	// Before a start no boundary proves: placeholders, so that the
	// reference instruction stays at the index the client asked for.
	for ; pad > 0; pad-- {
		out = append(out, dap.DisassembledInstruction{Address: hexAddr(base), Instruction: "??"})
	}
	var prevFile string
	for _, in := range insts {
		di := dap.DisassembledInstruction{Address: hexAddr(in.Addr), InstructionBytes: fmt.Sprintf("% x", in.Bytes), Instruction: in.ATT}
		if in.Comment != "" {
			di.Instruction += "  " + in.Comment
		}
		if name, o, ok := st.p.Symbol(in.Addr); ok {
			di.Symbol = fmt.Sprintf("%s+%d", name, o)
		}
		if len(in.Marks) > 0 {
			m := in.Marks[len(in.Marks)-1]
			if m.File != prevFile {
				di.Location = &dap.Source{Name: filepath.Base(m.File), Path: st.mapPath(m.File)}
				prevFile = m.File
			}
			di.Line = m.Line
		}
		out = append(out, di)
	}
	// Pad to the count asked for, as the protocol wants.
	for len(out) < count {
		out = append(out, dap.DisassembledInstruction{Address: hexAddr(base), Instruction: "??"})
	}
	s.send(&dap.DisassembleResponse{Response: response(&r.Request), Body: dap.DisassembleResponseBody{Instructions: out}})
}

func formatInsts(insts []disasm.Inst) string {
	return disasm.FormatInsts(insts, disasm.FormatOptions{RawBytes: true})
}

func (s *conn) readMemory(r *dap.ReadMemoryRequest) {
	addr, err := strconv.ParseUint(strings.TrimPrefix(r.Arguments.MemoryReference, "0x"), 16, 64)
	if err != nil {
		s.sendError(r.Seq, r.Command, 4005, "bad memoryReference "+r.Arguments.MemoryReference)
		return
	}
	addr += uint64(r.Arguments.Offset)
	n := min(max(r.Arguments.Count, 0), 1<<20)
	buf := make([]byte, n)
	k, _ := s.st.p.Core.ReadAt(buf, addr)
	body := dap.ReadMemoryResponseBody{Address: hexAddr(addr), Data: base64.StdEncoding.EncodeToString(buf[:k]), UnreadableBytes: n - k}
	s.send(&dap.ReadMemoryResponse{Response: response(&r.Request), Body: body})
}

func (s *conn) modules(r *dap.ModulesRequest) {
	var out []dap.Module
	for _, m := range s.st.p.Modules {
		// What of its debug information was found: "full", "partial: …",
		// "names only (MiniDebugInfo)", "BUILD-ID MISMATCH: …".
		status := report.ModuleDoc(m).SymbolStatus
		dm := dap.Module{Id: m.Name, Name: filepath.Base(m.Name), Path: m.Path, SymbolStatus: status, SymbolFilePath: m.DebugPath,
			AddressRange: fmt.Sprintf("%#x-%#x", m.Start, m.End)}
		out = append(out, dm)
	}
	start := min(max(r.Arguments.StartModule, 0), len(out))
	end := len(out)
	if r.Arguments.ModuleCount > 0 {
		end = min(end, start+r.Arguments.ModuleCount)
	}
	// go-dap's Module has no extension fields: send the build-id and debug
	// file columns through a raw body.
	mods := make([]map[string]any, 0, end-start)
	for i, dm := range out[start:end] {
		m := s.st.p.Modules[start+i]
		mods = append(mods, map[string]any{"id": dm.Id, "name": dm.Name, "path": dm.Path, "symbolStatus": dm.SymbolStatus,
			"symbolFilePath": dm.SymbolFilePath, "addressRange": dm.AddressRange, "buildId": m.BuildID(), "debugFile": m.DebugPath})
	}
	s.send(&rawModulesResponse{Response: response(&r.Request), Body: rawModulesBody{Modules: mods, TotalModules: len(out)}})
}

type rawModulesBody struct {
	Modules      []map[string]any `json:"modules"`
	TotalModules int              `json:"totalModules"`
}

// rawModulesResponse is a modules response whose modules carry the extra
// columns of additionalModuleColumns.
type rawModulesResponse struct {
	dap.Response
	Body rawModulesBody `json:"body"`
}

func (s *conn) exceptionInfo(r *dap.ExceptionInfoRequest) {
	st := s.st
	body := dap.ExceptionInfoResponseBody{ExceptionId: "signal", BreakMode: "always", Description: report.VerdictText(report.AnalysisDoc(st.analysis()), st.lang())}
	if fc := st.p.Fault(); fc != nil && fc.Real != nil {
		body.ExceptionId = fc.Real.Name
		body.Details = &dap.ExceptionDetails{Message: fc.Real.String(), TypeName: fc.Real.Name}
		if fs, err := st.stack(st.crashThreadID()); err == nil {
			var b strings.Builder
			report.WriteFrames(&b, report.Frames(fs))
			body.Details.StackTrace = b.String()
		}
	}
	s.send(&dap.ExceptionInfoResponse{Response: response(&r.Request), Body: body})
}

func (s *conn) source(r *dap.SourceRequest) {
	st := s.st
	ref := r.Arguments.SourceReference
	if ref == 0 && r.Arguments.Source != nil {
		ref = r.Arguments.Source.SourceReference
	}
	st.mu.Lock()
	ok := ref >= 1 && ref <= len(st.sources)
	var src *sourceRef
	if ok {
		src = st.sources[ref-1]
	}
	st.mu.Unlock()
	if !ok {
		s.sendError(r.Seq, r.Command, 4006, fmt.Sprintf("no source reference %d", ref))
		return
	}
	s.send(&dap.SourceResponse{Response: response(&r.Request), Body: dap.SourceResponseBody{Content: src.text(st), MimeType: "text/x-asm"}})
}

func (s *conn) completions(r *dap.CompletionsRequest) {
	text := r.Arguments.Text
	col := r.Arguments.Column - 1
	if col < 0 || col > len(text) {
		col = len(text)
	}
	text = text[:col]
	word := text
	if i := strings.LastIndexAny(text, " ()*&+-/[],"); i >= 0 {
		word = text[i+1:]
	}
	var cands []string
	if !strings.Contains(text, " ") || strings.HasPrefix(text, "info") {
		cands = append(cands, replCommands...)
	}
	for i := 0; i < unwind.NumRegs; i++ {
		cands = append(cands, "$"+unwind.RegName(i))
	}
	if sc, _, _, _ := s.st.frameScope(max(r.Arguments.FrameId, 1)); sc != nil {
		for _, v := range sc.Vars {
			cands = append(cands, v.Name)
		}
	}
	var out []dap.CompletionItem
	seen := map[string]bool{}
	for _, c := range cands {
		if strings.HasPrefix(c, word) && !seen[c] && c != word {
			seen[c] = true
			out = append(out, dap.CompletionItem{Label: c, Start: col - len(word) + 1, Length: len(word)})
		}
	}
	if out == nil {
		out = []dap.CompletionItem{}
	}
	s.send(&dap.CompletionsResponse{Response: response(&r.Request), Body: dap.CompletionsResponseBody{Targets: out}})
}
