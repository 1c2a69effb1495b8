package report

import (
	"fmt"

	"github.com/dsecore/dsecore/analysis/fault"
	"github.com/dsecore/dsecore/coreparse/disasm"
	"github.com/dsecore/dsecore/internal/l10n"
)

// Analysis is the `analysis` section of `inspect --json`. Field names are a
// public contract (see the README): add, never rename.
type Analysis struct {
	Fault      *AnalysisFault  `json:"fault"`
	Objects    []AnalysisObj   `json:"objects"`
	ListWalk   *AnalysisWalk   `json:"list_walk,omitempty"`
	Others     []AnalysisHit   `json:"others"`
	SameCode   []AnalysisSame  `json:"same_code"`
	Logs       *AnalysisLogs   `json:"logs,omitempty"`
	Dmesg      *AnalysisDmesg  `json:"dmesg,omitempty"`
	Assertion  *AnalysisAssert `json:"assertion,omitempty"`
	Nested     *AnalysisNested `json:"nested,omitempty"`
	Handling   []AnalysisHndl  `json:"handling"`
	Memory     *AnalysisMemory `json:"memory,omitempty"` // the heap and the holders (MemoryDoc)
	Timeline   []TimelineStep  `json:"timeline"`         // what each path did, in order, each step with its evidence
	Verdict    string          `json:"verdict"`
	Sentences  []l10n.Msg      `json:"-"` // the verdict in the catalog's words (none in a document read back from JSON)
	Confidence string          `json:"confidence"`
	Rules      []string        `json:"rules"`
	Evidence   []AnalysisEvid  `json:"evidence"`
	Warnings   []string        `json:"warnings,omitempty"`
}

// AnalysisFault is the faulting instruction and the bad register.
type AnalysisFault struct {
	PC          string         `json:"pc"`
	Instruction string         `json:"instruction"` // AT&T
	Intel       string         `json:"intel"`
	Operand     string         `json:"operand,omitempty"`  // the memory operand, AT&T
	Register    string         `json:"register,omitempty"` // the register that made the access fault
	Value       string         `json:"value,omitempty"`
	Address     string         `json:"address,omitempty"` // computed effective address
	SiAddr      string         `json:"si_addr,omitempty"`
	SiCode      string         `json:"si_code"`
	Matches     bool           `json:"address_matches_si_addr"`
	Access      string         `json:"access,omitempty"` // read / write
	Kind        string         `json:"kind"`             // null, poison, non-canonical, unmapped, protection, guard-page
	Description string         `json:"description"`
	Said        l10n.Msg       `json:"-"`        // Description in the catalog's words
	Function    string         `json:"function"` // innermost (inlined) function
	Inline      []string       `json:"inline_chain"`
	File        string         `json:"file,omitempty"`
	Line        int            `json:"line,omitempty"`
	Origin      []AnalysisStep `json:"origin"`
	Skipped     int            `json:"instrumentation_skipped"`
	Listing     string         `json:"listing,omitempty"` // around the faulting instruction (=>); empty for a sent signal
	// Sent: the signal was sent (kill, raise, pthread_kill: SI_USER,
	// SI_TKILL, no CPU exception in the sigcontext): no instruction
	// faulted, Instruction and Listing are empty, InterruptedListing is
	// the code the thread was at when it arrived.
	Sent               bool   `json:"sent,omitempty"`
	InterruptedListing string `json:"interrupted_listing,omitempty"`
}

// AnalysisNested is a second fault inside the handler.
type AnalysisNested struct {
	Signal      string   `json:"signal"` // the core's record, in words
	PC          string   `json:"pc"`
	Frames      []string `json:"frames"` // from the second fault down to the signal trampoline: "function (module)"
	ReadsWildPC bool     `json:"reads_wild_pc"`
	Description string   `json:"description"`
	Said        l10n.Msg `json:"-"` // Description in the catalog's words
}

// AnalysisHndl is another thread caught handling a signal of its own.
type AnalysisHndl struct {
	LWP       int      `json:"lwp"`
	Name      string   `json:"name,omitempty"`
	Signal    string   `json:"signal,omitempty"`    // its signal frame's signal, in words
	Exception string   `json:"exception,omitempty"` // its sigcontext's exception, in words
	PC        string   `json:"pc"`
	Function  string   `json:"function"`
	InHandler bool     `json:"in_handler"`
	AtFault   string   `json:"at_fault,omitempty"`
	Role      string   `json:"role"` // first-fault, spinning
	Text      string   `json:"text"`
	Said      l10n.Msg `json:"-"` // Text in the catalog's words
}

// AnalysisObj is a typed object.
type AnalysisObj struct {
	Role    string            `json:"role"`
	Type    string            `json:"type"`
	Address string            `json:"address,omitempty"`
	How     string            `json:"how"`
	HowSaid l10n.Msg          `json:"-"` // How in the catalog's words
	Fields  map[string]string `json:"fields,omitempty"`
	// FromDWARF: the address is `this` from its DWARF location, not the
	// marked fallback guess.
	FromDWARF bool `json:"from_dwarf"`
}

// AnalysisWalk is the intrusive list walk.
type AnalysisWalk struct {
	Header       string        `json:"header"`
	List         string        `json:"list"`
	Element      string        `json:"element"`
	HookOffset   string        `json:"hook_offset"`
	HookHow      string        `json:"hook_how"`
	Nodes        int           `json:"nodes"`
	Size         int64         `json:"size"`
	Findings     []string      `json:"findings"`
	FindingsSaid []l10n.Msg    `json:"-"` // Findings in the catalog's words
	FirstNull    string        `json:"first_null_after,omitempty"`
	Underflow    bool          `json:"size_underflow"`
	Found        []WalkFinding `json:"found"`
}

// AnalysisHit is an address of interest found outside the fault.
type AnalysisHit struct {
	Who      string   `json:"who"`
	Said     l10n.Msg `json:"-"` // Who in the catalog's words
	LWP      int      `json:"lwp,omitempty"`
	Task     int64    `json:"task"`
	Frame    int      `json:"frame"`
	Function string   `json:"function"`
	Path     string   `json:"path"`
	Where    string   `json:"where"`
	Address  string   `json:"address"`
	What     string   `json:"what"`
	// WhereSaid and WhatSaid are Where and What in the catalog's words.
	WhereSaid, WhatSaid l10n.Msg `json:"-"`
}

// AnalysisSame is a thread or task inside the same operations.
type AnalysisSame struct {
	Who       string   `json:"who"`
	Said      l10n.Msg `json:"-"` // Who in the catalog's words
	LWP       int      `json:"lwp,omitempty"`
	Task      int64    `json:"task"`
	Functions []string `json:"functions"`
}

// TimelineStep is one step of the timeline: what a path did (or where it
// stood at the dump) and the evidence it rests on.
type TimelineStep struct {
	Time   string `json:"time,omitempty"` // the log line's, with µs; none for the fault and the state at the dump
	AtDump bool   `json:"at_dump"`        // the state when the core was written, not an event
	Who    string `json:"who"`
	LWP    int    `json:"lwp,omitempty"`
	Task   int64  `json:"task"` // -1 for a thread
	Text   string `json:"text"`
	// Said and WhoSaid are Text and Who in the catalog's words.
	Said, WhoSaid l10n.Msg `json:"-"`
	Evidence      string   `json:"evidence"` // log, fault, frame, list, heap
	Ref           string   `json:"ref"`      // where in the analysis: logs, fault, memory.holders[0], same_code[0], list_walk, memory.heap[0]
	Source        string   `json:"source"`   // the evidence quoted: the log line, the frame's value, the walker's finding
	File          string   `json:"file,omitempty"`
	Line          int      `json:"line,omitempty"` // the log file's line
	Frame         int      `json:"frame,omitempty"`
	Function      string   `json:"function,omitempty"`
}

// AnalysisLogs is what the logs say.
type AnalysisLogs struct {
	Files      []string            `json:"files"`
	Lines      int                 `json:"lines"`
	Unmatched  int                 `json:"unmatched"`
	PerThread  map[string][]string `json:"per_thread"` // "LWP n (name)" → last lines before the crash
	Concurrent [][2]string         `json:"concurrent"`
	Handler    []string            `json:"handler"`
	HandlerOK  *bool               `json:"handler_thread_matches,omitempty"`
	Notes      []string            `json:"notes,omitempty"`
}

// AnalysisStep is one instruction that wrote the bad register.
type AnalysisStep struct {
	PC          string   `json:"pc"`
	Instruction string   `json:"instruction"`
	Register    string   `json:"register"` // the register it wrote
	Function    string   `json:"function"`
	File        string   `json:"file,omitempty"`
	Line        int      `json:"line,omitempty"`
	Text        string   `json:"text"`
	Said        l10n.Msg `json:"-"`         // Text in the catalog's words
	LoopBack    bool     `json:"loop_back"` // executed in the previous iteration of the loop
}

// AnalysisEvid is one fact the verdict rests on.
type AnalysisEvid struct {
	Rule string   `json:"rule"`
	Text string   `json:"text"`
	Said l10n.Msg `json:"-"`   // Text in the catalog's words
	Ref  string   `json:"ref"` // the section it points at
}

// AnalysisAssert is a failed assertion read from the core.
type AnalysisAssert struct {
	Text     string `json:"text"`
	Function string `json:"function,omitempty"`
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
	Address  string `json:"address"` // where it was read
}

// AnalysisDmesg compares a kernel segfault line with the core.
type AnalysisDmesg struct {
	Line       string   `json:"line"`
	IPMatches  bool     `json:"ip_matches"`
	BaseOK     bool     `json:"base_matches"`
	SameThread bool     `json:"same_thread"`
	Notes      []string `json:"notes"`
}

// AnalysisDoc converts the analysis.
func AnalysisDoc(a *fault.Analysis) *Analysis {
	d := &Analysis{Verdict: a.Verdict, Sentences: a.Sentences, Confidence: a.Confidence, Rules: a.Rules, Evidence: []AnalysisEvid{}, Warnings: a.Warnings,
		Objects: []AnalysisObj{}, Others: []AnalysisHit{}, SameCode: []AnalysisSame{}}
	if d.Rules == nil {
		d.Rules = []string{}
	}
	for _, e := range a.Evidence {
		d.Evidence = append(d.Evidence, AnalysisEvid{Rule: e.Rule, Text: e.Text, Said: e.Said, Ref: e.Ref})
	}
	if x := a.Assertion; x != nil {
		d.Assertion = &AnalysisAssert{Text: x.Text, Function: x.Function, File: x.File, Line: x.Line, Address: Hex(x.Address)}
	}
	if n := a.Nested; n != nil {
		d.Nested = &AnalysisNested{Signal: n.Signal.String(), PC: Hex(n.PC), Frames: []string{}, ReadsWildPC: n.ReadsWildPC, Description: n.Description, Said: n.Said}
		for _, f := range n.Frames {
			d.Nested.Frames = append(d.Nested.Frames, fmt.Sprintf("%s (%s)", f.Function, f.Module))
		}
	}
	d.Handling = []AnalysisHndl{}
	for _, h := range a.Handling {
		x := AnalysisHndl{LWP: h.Thread.LWP, Name: h.Thread.Name, PC: Hex(h.PC), Function: h.Function, InHandler: h.InHandler, AtFault: h.AtFault, Role: h.Role, Text: h.Text, Said: h.Said}
		if h.Signal != nil {
			x.Signal = h.Signal.String()
		}
		if h.Exception != nil {
			x.Exception = h.Exception.String()
		}
		d.Handling = append(d.Handling, x)
	}
	if x := a.Dmesg; x != nil {
		d.Dmesg = &AnalysisDmesg{Line: x.Line, IPMatches: x.IPMatches, BaseOK: x.BaseOK, SameThread: x.SameThread, Notes: x.Notes}
	}
	if f := a.Fault; f != nil {
		af := &AnalysisFault{PC: Hex(f.Context.PC), Kind: f.Kind, Description: f.Description, Said: f.Said, Origin: []AnalysisStep{}, Skipped: f.Skipped}
		for _, o := range f.Origin {
			af.Origin = append(af.Origin, AnalysisStep{PC: Hex(o.PC), Instruction: o.ATT, Register: o.Register, Function: o.Function,
				File: o.File, Line: o.Line, Text: o.Text, Said: o.Said, LoopBack: o.LoopBack})
		}
		if r := f.Context.Real; r != nil {
			af.SiCode = r.CodeName
			if r.HasAddr {
				af.SiAddr = Hex(r.Addr)
			}
		}
		if in := f.Instruction; in != nil {
			af.Instruction, af.Intel = in.ATT, in.Intel
			if in.Mem != nil {
				af.Operand = in.MemText
				af.Access = map[bool]string{true: "write", false: "read"}[in.Write]
				if in.HasAddr {
					af.Address = Hex(in.Address)
					af.Matches = f.Context.Real != nil && f.Context.Real.HasAddr && f.Context.Real.Addr == in.Address
				}
			}
		}
		if f.BadRegister != "" {
			af.Register, af.Value = f.BadRegister, Hex(f.BadValue)
		}
		for i, fr := range f.Frames {
			if i == 0 {
				af.Function, af.File, af.Line = fr.Function, fr.File, fr.Line
			}
			af.Inline = append(af.Inline, fr.Function)
		}
		if f.Window != nil {
			l := f.Window.Format(disasm.FormatOptions{RawBytes: true})
			if f.Kind == "sent" {
				af.InterruptedListing = l
			} else {
				af.Listing = l
			}
		}
		af.Sent = f.Kind == "sent"
		d.Fault = af
	}
	for _, o := range a.Objects {
		od := AnalysisObj{Role: o.Role, Type: o.Type, How: o.How, HowSaid: o.HowSaid, Fields: o.Fields, FromDWARF: o.FromDWARF}
		if o.Address != 0 {
			od.Address = Hex(o.Address)
		}
		d.Objects = append(d.Objects, od)
	}
	if w := a.ListWalk; w != nil {
		wd := &AnalysisWalk{Header: Hex(w.Header), List: w.ListType, Element: w.Element, HookOffset: fmt.Sprintf("%#x", w.HookOffset),
			HookHow: w.HookHow, Nodes: len(w.Nodes), Size: w.SizeSigned, Findings: w.Findings, FindingsSaid: w.FindingsSaid, Underflow: w.SizeUnderflow}
		if w.FirstNull != 0 {
			wd.FirstNull = Hex(w.FirstNull)
		}
		wd.Found = []WalkFinding{}
		for _, f := range w.Found {
			wd.Found = append(wd.Found, walkFinding(f.Finding, f.Text))
		}
		d.ListWalk = wd
	}
	for _, h := range a.Others {
		d.Others = append(d.Others, AnalysisHit{Who: h.Who, Said: h.Said, WhereSaid: h.WhereSaid, WhatSaid: h.WhatSaid, LWP: h.LWP, Task: h.TaskID, Frame: h.Frame, Function: h.Function, Path: h.Path,
			Where: h.Where, Address: Hex(h.Address), What: h.What})
	}
	for _, s := range a.SameCode {
		d.SameCode = append(d.SameCode, AnalysisSame{Who: s.Who, Said: s.Said, LWP: s.LWP, Task: s.TaskID, Functions: s.Functions})
	}
	if l := a.Logs; l != nil {
		ld := &AnalysisLogs{Files: l.Files, Lines: l.Lines, Unmatched: l.Unmatched, PerThread: map[string][]string{},
			Concurrent: [][2]string{}, Handler: []string{}, HandlerOK: l.HandlerOK, Notes: l.Notes}
		for lwp, ls := range l.PerThread {
			key := fmt.Sprintf("LWP %d", lwp)
			if len(ls) > 0 && ls[0].Thread != nil && ls[0].Thread.Name != "" {
				key += " (" + ls[0].Thread.Name + ")"
			}
			for _, x := range ls {
				ld.PerThread[key] = append(ld.PerThread[key], x.File+": "+x.Raw)
			}
		}
		for _, c := range l.Concurrent {
			ld.Concurrent = append(ld.Concurrent, [2]string{c[0].File + ": " + c[0].Raw, c[1].File + ": " + c[1].Raw})
		}
		for _, h := range l.Handler {
			ld.Handler = append(ld.Handler, h.File+": "+h.Raw)
		}
		d.Logs = ld
	}
	d.Memory = MemoryDoc(a.Memory)
	d.Timeline = []TimelineStep{}
	for _, st := range a.Timeline {
		ts := TimelineStep{AtDump: st.AtDump, Who: st.Who, LWP: st.LWP, Task: st.TaskID, Text: st.Text, Said: st.Said, WhoSaid: st.WhoSaid, Evidence: st.Evidence,
			Ref: st.Ref, Source: st.Source, File: st.File, Line: st.Line, Frame: st.Frame, Function: st.Function}
		if !st.Time.IsZero() {
			ts.Time = st.Time.Format("2006-01-02 15:04:05.000000")
		}
		d.Timeline = append(d.Timeline, ts)
	}
	return d
}
