package report

import (
	"github.com/dsecore/dsecore/analysis/waits"
	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/disasm"
	"github.com/dsecore/dsecore/coreparse/unwind"
	"github.com/dsecore/dsecore/internal/l10n"
	"github.com/dsecore/dsecore/session"
)

// Inspect is the document of `dsecore inspect --json`: a one-page account
// of a core. Later layers (coroutines, fault analysis) add sections.
type Inspect struct {
	Core    string         `json:"core"`
	Process ProcessInfo    `json:"process"`
	Signal  *Signal        `json:"signal"` // the core's own record
	Fault   *Fault         `json:"fault"`  // the real fault context
	Crashed *Thread        `json:"crashed_thread"`
	Threads []ThreadBrief  `json:"threads"`
	Modules []ModuleStatus `json:"modules"`
	// Coroutines: the runtime's Processers and a line per task (no frames).
	Coroutines *Coroutines `json:"coroutines,omitempty"`
	Tasks      []Task      `json:"tasks,omitempty"`
	Analysis   *Analysis   `json:"analysis,omitempty"`
	// Waits: who waits for whom (analysis/waits; README: the waits table).
	Waits *waits.Result `json:"waits,omitempty"`
	// FaultProfile is the fault-analysis profile the document was made
	// with: what a reader (the gdb bridge's printers) shows of the
	// application's types, by the profile's names.
	FaultProfile *FaultProfile `json:"fault_profile,omitempty"`
	Warnings     []string      `json:"warnings,omitempty"`
}

// FaultProfile is the part of a fault-analysis profile a document's
// readers use.
type FaultProfile struct {
	Name string `json:"name"`
	// Summaries: per type, the members its one-line summary shows, in
	// order ("key/x": gdb's print format letter after the name).
	Summaries map[string][]string `json:"summaries,omitempty"`
}

// ProcessInfo comes from NT_PRPSINFO and the modules.
type ProcessInfo struct {
	PID     int    `json:"pid"`
	Command string `json:"command"` // pr_fname
	Args    string `json:"args"`    // pr_psargs
	Exe     string `json:"exe"`     // as the process saw it
	ExePath string `json:"exe_path"`
	Threads int    `json:"threads"`
}

// Signal is one signal record.
type Signal struct {
	Signo       int      `json:"signo"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Code        int      `json:"code"`
	CodeName    string   `json:"code_name"`
	Addr        string   `json:"addr,omitempty"`
	PID         int      `json:"sender_pid,omitempty"`
	Source      string   `json:"source"`
	SourceSaid  l10n.Msg `json:"-"` // Source in the catalog's words
	Text        string   `json:"text"`
	Sent        bool     `json:"sent"`              // no instruction caused it (kill, raise, pthread_kill, abort)
	Derived     bool     `json:"derived,omitempty"` // from the sigcontext, not a siginfo
}

// Exception is the CPU exception a signal frame's sigcontext records.
type Exception struct {
	Trapno     uint64   `json:"trapno"`
	Err        string   `json:"err"`
	CR2        string   `json:"cr2"`
	Name       string   `json:"name"`
	Access     string   `json:"access,omitempty"` // page faults: read, write, instruction fetch
	User       bool     `json:"user_mode,omitempty"`
	Protection bool     `json:"protection,omitempty"` // the page was present
	Text       string   `json:"text"`
	Said       l10n.Msg `json:"-"` // Text in the catalog's words
}

// WildPC is a faulting pc that is no code, and its caller when one is known.
type WildPC struct {
	PC         string   `json:"pc"`
	Why        string   `json:"why"`
	WhySaid    l10n.Msg `json:"-"` // Why in the catalog's words
	ReturnAddr string   `json:"return_address,omitempty"`
	Recovered  bool     `json:"recovered"`
	Call       string   `json:"call,omitempty"`
	CallPC     string   `json:"call_pc,omitempty"`
	Note       string   `json:"note,omitempty"`
}

// Fault is where the fatal signal really happened.
type Fault struct {
	Signal    *Signal           `json:"signal"`
	ReRaised  bool              `json:"reraised"` // the core's record is a handler's re-raise
	LWP       int               `json:"lwp"`
	PC        string            `json:"pc"`
	Function  string            `json:"function"`
	File      string            `json:"file,omitempty"`
	Line      int               `json:"line,omitempty"`
	Module    string            `json:"module,omitempty"`
	Registers map[string]string `json:"registers"`
	SigFrame  string            `json:"signal_frame,omitempty"` // address of the kernel's ucontext
	// SigInfoValid: the signal frame's siginfo checked out against its
	// sigcontext; else SigInfoNote says why not (and Signal is derived).
	SigInfoValid bool       `json:"siginfo_valid"`
	SigInfoNote  string     `json:"siginfo_note,omitempty"`
	SigInfoSaid  l10n.Msg   `json:"-"` // SigInfoNote in the catalog's words
	Exception    *Exception `json:"exception,omitempty"`
	// HandlerSigno: the handler's own signal number, and how it was found.
	HandlerSigno     int           `json:"handler_signo,omitempty"`
	HandlerSignoFrom string        `json:"handler_signo_from,omitempty"`
	Nested           *Signal       `json:"nested,omitempty"` // a second fault inside the handler: the core's record
	NestedPC         string        `json:"nested_pc,omitempty"`
	Wild             *WildPC       `json:"wild_pc,omitempty"`
	Window           []Instruction `json:"window,omitempty"`  // instructions around the faulting one
	Listing          string        `json:"listing,omitempty"` // the window as text
}

// ThreadBrief is one line of the thread list.
type ThreadBrief struct {
	LWP     int    `json:"lwp"`
	Pthread string `json:"pthread"`
	Name    string `json:"name"`
	Crashed bool   `json:"crashed"`
	Top     string `json:"top"` // innermost meaningful frame: "func at file:line"
	Frames  int    `json:"frames"`
	Error   string `json:"error,omitempty"`
}

// ModuleStatus is one loaded object and whether its files were found.
type ModuleStatus struct {
	Name      string `json:"name"`
	Path      string `json:"path,omitempty"`
	DebugPath string `json:"debug_path,omitempty"`
	Start     string `json:"start"`
	End       string `json:"end"`
	Bias      string `json:"bias"`
	BuildID   string `json:"build_id"`
	Status    string `json:"status"` // "ok", "no-debug-info", "missing", "build-id-mismatch"
	// SymbolStatus is what of its debug information was found, in one
	// line ("full", "partial: 1 of 2 .dwo missing: …", "names only
	// (MiniDebugInfo)", "debug file rejected: CRC mismatch; names only
	// (.dynsym)"); SymbolProblems one line per problem, naming the file
	// looked for and where.
	SymbolStatus   string   `json:"symbol_status"`
	SymbolProblems []string `json:"symbol_problems,omitempty"`
	// SymbolHead is SymbolStatus as the module list says it (a partial
	// status cut to what is missing) in the catalog's words.
	SymbolHead l10n.Msg `json:"-"`
}

// SignalDoc converts a model signal.
func SignalDoc(s *coreparse.Signal) *Signal {
	if s == nil {
		return nil
	}
	d := &Signal{Signo: s.Signo, Name: s.Name, Description: s.Description, Code: s.Code, CodeName: s.CodeName,
		PID: s.PID, Source: s.Source, SourceSaid: s.SourceSaid, Text: s.String(), Sent: s.Sent, Derived: s.Derived}
	if s.HasAddr {
		d.Addr = Hex(s.Addr)
	}
	return d
}

// ExceptionDoc converts a model exception.
func ExceptionDoc(e *coreparse.Exception) *Exception {
	if e == nil {
		return nil
	}
	return &Exception{Trapno: e.Trapno, Err: Hex(e.Err), CR2: Hex(e.CR2), Name: e.Name, Access: e.Access, User: e.User,
		Protection: e.Protection, Text: e.String(), Said: e.Said()}
}

// BuildInspect gathers the inspect document of a session: the process,
// its threads and modules, the coroutine runtime and the fault analysis.
func BuildInspect(s *session.Session) *Inspect {
	p := s.Process()
	rt := s.Runtime() // the Processers name the threads listed below
	doc := &Inspect{Core: s.CorePath(), Signal: SignalDoc(p.CoreSignal())}
	if ps := p.Core.PSInfo; ps != nil {
		doc.Process.PID = int(ps.PID)
		doc.Process.Command = ps.Fname
		doc.Process.Args = ps.Args
	}
	if p.Exe != nil {
		doc.Process.Exe, doc.Process.ExePath = p.Exe.Name, p.Exe.Path
	}
	doc.Process.Threads = len(p.Threads)

	var werr error
	doc.Fault, werr = FaultDoc(p)
	if werr != nil {
		doc.Warnings = append(doc.Warnings, "fault window: "+werr.Error())
	}

	for _, t := range p.Threads {
		th := ThreadBacktrace(p, t)
		if t.Crashed {
			c := th
			doc.Crashed = &c
		}
		doc.Threads = append(doc.Threads, ThreadBrief{LWP: th.LWP, Pthread: th.Pthread, Name: th.Name,
			Crashed: th.Crashed, Top: topFrame(th.Frames), Frames: len(th.Frames), Error: th.Error})
	}
	for _, m := range p.Modules {
		doc.Modules = append(doc.Modules, ModuleDoc(m))
	}
	// Always, with the profile: a reader of the document (the gdb bridge)
	// reads the runtime's objects by its names even when discovery failed.
	doc.Coroutines = CoroutinesDoc(rt)
	for _, t := range rt.Tasks {
		doc.Tasks = append(doc.Tasks, TaskDoc(rt, t, false))
	}
	doc.Analysis = SessionAnalysis(s)
	if fp := s.AnalysisProfile(); fp != nil {
		doc.FaultProfile = &FaultProfile{Name: fp.Name, Summaries: fp.Summaries}
	}
	doc.Waits = s.Waits()
	doc.Warnings = append(doc.Warnings, s.Warnings()...)
	return doc
}

// FaultDoc is the real fault context (nil without a crashed thread), and
// why its instruction window could not be made, if it could not.
func FaultDoc(p *coreparse.Process) (*Fault, error) {
	fc := p.Fault()
	if fc == nil {
		return nil, nil
	}
	f := &Fault{Signal: SignalDoc(fc.Real), ReRaised: fc.ReRaised, LWP: fc.Thread.LWP, PC: Hex(fc.PC),
		Registers: map[string]string{}}
	for n := 0; n <= unwind.RIP; n++ {
		if v, ok := fc.Regs.Get(n); ok {
			f.Registers[unwind.RegName(n)] = Hex(v)
		}
	}
	if fc.SigFrame != nil {
		f.SigFrame = Hex(fc.SigFrame.UContext)
		f.Registers["eflags"] = Hex(fc.SigFrame.Eflags)
	}
	if h := fc.Handler; h != nil {
		f.SigInfoValid, f.HandlerSigno, f.HandlerSignoFrom = h.SigInfoValid, h.HandlerSigno, h.HandlerSignoFrom
		if !h.SigInfoValid {
			f.SigInfoNote, f.SigInfoSaid = h.SigInfoNote, h.SigInfoSaid
		}
	}
	f.Exception = ExceptionDoc(fc.Exception)
	if fc.Nested != nil {
		f.Nested, f.NestedPC = SignalDoc(fc.Nested), Hex(fc.NestedPC)
	}
	if w := fc.Wild; w != nil {
		f.Wild = &WildPC{PC: Hex(w.PC), Why: w.Why, WhySaid: w.WhySaid, Recovered: w.Recovered, Call: w.Call, Note: w.Note}
		if w.ReturnAddr != 0 {
			f.Wild.ReturnAddr = Hex(w.ReturnAddr)
		}
		if w.Recovered {
			f.Wild.CallPC = Hex(w.CallPC)
		}
	}
	fr := p.Symbolize([]unwind.Frame{{PC: fc.PC, Exact: true}})
	if len(fr) > 0 {
		// The innermost function names the instruction; the concrete
		// function (last of the chain) is where it was compiled.
		f.Function = fr[0].Function
		f.File, f.Line, f.Module = fr[0].File, fr[0].Line, fr[0].Module
	}
	lst, err := p.Disassemble(fc.PC, 8, 4)
	if err != nil {
		return f, err
	}
	f.Window = Instructions(lst.Insts)
	f.Listing = lst.Format(disasm.FormatOptions{RawBytes: true})
	return f, nil
}

// ModuleDoc is a module and whether its files were found.
func ModuleDoc(m *coreparse.Module) ModuleStatus {
	ms := ModuleStatus{Name: m.Name, Path: m.Path, DebugPath: m.DebugPath, Start: Hex(m.Start), End: Hex(m.End),
		Bias: Hex(m.Bias), BuildID: m.BuildID(), Status: "ok"}
	switch {
	case m.Path == "":
		ms.Status = "missing"
	case m.BuildIDMismatch:
		ms.Status = "build-id-mismatch"
	case m.Syms == nil || !m.Syms.HasDWARF():
		ms.Status = "no-debug-info"
	}
	st := m.SymbolStatus()
	ms.SymbolStatus, ms.SymbolProblems, ms.SymbolHead = st.Text, st.Problems, st.Head
	if m.BuildIDMismatch {
		ms.SymbolStatus = "BUILD-ID MISMATCH: " + st.Text
		ms.SymbolHead = l10n.T("symstatus.mismatch", "Status", st.Said)
	}
	if head := statusHead(ms.SymbolStatus); ms.SymbolHead.String() != head {
		ms.SymbolHead = l10n.Untranslated(head) // a form the catalog does not say
	}
	return ms
}

// topFrame describes where a thread is: the first frame outside the C
// library's blocking primitives when there is one, so a thread list says
// "co::Processer::WaitCondition" rather than "futex_wait".
func topFrame(fs []Frame) string {
	if len(fs) == 0 {
		return "??"
	}
	pick := fs[0]
	for _, f := range fs {
		if f.Sigtramp {
			continue
		}
		if !coreparse.IsSystemLibrary(f.Module) {
			pick = f
			break
		}
	}
	s := pick.Text(FrameWhere)
	if pick.PC != fs[0].PC || pick.Function != fs[0].Function {
		s += " (in " + fs[0].Function + ")"
	}
	return s
}
