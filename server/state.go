package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/dsecore/dsecore/analysis/coroutines"
	"github.com/dsecore/dsecore/analysis/fault"
	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/disasm"
	"github.com/dsecore/dsecore/coreparse/unwind"
	"github.com/dsecore/dsecore/coreparse/values"
	"github.com/dsecore/dsecore/internal/cxxname"
	"github.com/dsecore/dsecore/internal/l10n"
	"github.com/dsecore/dsecore/internal/par"
	"github.com/dsecore/dsecore/report"
	"github.com/dsecore/dsecore/session"
	"github.com/google/go-dap"
)

// LaunchArgs are launch's (and attach's) arguments. Fields left out take
// the server's defaults (dsecore dap's flags), then the session's.
type LaunchArgs struct {
	CoreFile           string            `json:"coreFile"`
	Program            string            `json:"program"`
	SolibSearchPath    []string          `json:"solibSearchPath"`
	Sysroot            string            `json:"sysroot"`
	DebugFileDirectory []string          `json:"debugFileDirectory"`
	SourceFileMap      map[string]string `json:"sourceFileMap"`
	SubstitutePath     []struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"substitutePath"`
	LogFiles        []string `json:"logFiles"`
	Dmesg           string   `json:"dmesg"`           // the kernel's segfault line (or a file of kernel messages)
	Profile         string   `json:"profile"`         // coroutine runtime profile
	AnalysisProfile string   `json:"analysisProfile"` // fault-analysis profile
	FullScan        bool     `json:"fullScan"`
	ShowTasks       string   `json:"showTasks"` // all (default), crash-related, none
	// Bounds on walks of target memory (0: the defaults, 512 frames per
	// stack and 10,000 list or array elements); a walk that hits one says so.
	MaxFrames   int `json:"maxFrames"`
	MaxElements int `json:"maxElements"`
	// AuthToken is the token of the server's --auth-token-file, when it
	// has one (a server on a non-loopback address must).
	AuthToken string `json:"authToken"`
	// Lang is the client's display language (VS Code's vscode.env.language:
	// "zh-cn", "en"): the words the server writes for people (the verdict
	// in dsecore/analysis' localized part, the exception widget, the
	// console's analysis) are the message catalog's in it; English when
	// the catalog has no such language.
	Lang string `json:"lang"`
}

// sessionOptions are the session's options: the server's defaults with
// what the client named.
func (a LaunchArgs) sessionOptions(base session.Options) session.Options {
	o := base
	o.Core = a.CoreFile
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&o.Exe, a.Program)
	set(&o.Sysroot, a.Sysroot)
	set(&o.CoroutineProfile, a.Profile)
	set(&o.AnalysisProfile, a.AnalysisProfile)
	set(&o.Dmesg, a.Dmesg)
	if len(a.SolibSearchPath) > 0 {
		o.SolibSearchPath = a.SolibSearchPath
	}
	if len(a.DebugFileDirectory) > 0 {
		o.DebugFileDirs = a.DebugFileDirectory
	}
	if len(a.LogFiles) > 0 {
		o.Logs = a.LogFiles
	}
	o.FullScan = o.FullScan || a.FullScan
	if a.MaxFrames > 0 {
		o.MaxFrames = a.MaxFrames
	}
	if a.MaxElements > 0 {
		o.MaxElements = a.MaxElements
	}
	return o
}

// taskBase offsets coroutine task thread ids past any LWP (pid_max is at
// most 2^22).
const taskBase = 1 << 30

// state is an opened core and the handles given to the client.
type state struct {
	args LaunchArgs
	sess *session.Session
	p    *coreparse.Process
	vr   *values.Reader

	threadList  []dap.Thread // through threads()
	threadsOnce sync.Once

	output func(category, text string) // to the client's console
	// counted reports a step over n items as progress events (a no-op
	// when the client did not ask for them).
	counted            func(id, title string, n int) *counter
	rtWarned, anWarned bool

	mu     sync.Mutex
	stacks map[int][]coreparse.Frame // by DAP thread id
	// stopped says why a stack's unwind ended early (by DAP thread id),
	// absent when it ended normally.
	stopped  map[int]string
	frames   []frameRef       // frame id - 1
	frameIDs map[frameRef]int // a frame's id, once given
	handles  []varRef         // variablesReference - 1
	scopeIDs map[varRef]int   // a scope's reference, once given
	held     int64            // bytes the value and node references keep alive
	maxHeld  int64            // the session's budget for them (Limits.MaxHeldBytes)
	sources  []*sourceRef     // sourceReference - 1
	srcByFn  map[string]int
	scopes   map[int]*values.Scope // frame id → evaluated variables
	// examined is the console's last x/ format and unit: gdb's defaults
	// for the next one.
	examined report.Examine
}

type frameRef struct {
	thread int
	index  int
}

type varRef struct {
	kind  string // "args", "locals", "registers", "analysis", "holder", "value", "node"
	frame int    // frame id
	value *values.Value
	node  *node // a part of a document (the fault analysis)
}

// sourceRef is a disassembly source: its text is made when the client
// asks for it (a stackTrace only names it).
type sourceRef struct {
	name    string
	frame   coreparse.Frame
	once    sync.Once
	content string
	lines   map[uint64]int // instruction address → its line in content (1-based)
}

// text is the source's content, made on first use.
func (r *sourceRef) text(s *state) string {
	r.once.Do(func() { r.content, r.lines = s.disassemblyText(r.frame) })
	return r.content
}

// line is the line of the instruction at addr in the source's content, 0
// when the content does not hold it.
func (r *sourceRef) line(s *state, addr uint64) int {
	r.text(s)
	return r.lines[addr]
}

func (s *state) close() { s.sess.Close() }

// runtime is the session's coroutine runtime (discovered on first use; its
// warnings then go to the client's console).
func (s *state) runtime() *coroutines.Runtime {
	rt := s.sess.Runtime()
	// The profile used, and what it found, with the runtime's warnings.
	used := fmt.Sprintf("coroutine profile %s: %d tasks on %d Processers", rt.DescribeProfile(), len(rt.Tasks), len(rt.Processers))
	if rt.TaskCount >= 0 {
		used += fmt.Sprintf(" (the scheduler counts %d)", rt.TaskCount)
	}
	if rt.NoTasks != "" {
		used += "; " + rt.NoTasks
	}
	s.warnOnce(&s.rtWarned, append(append([]string(nil), rt.Warnings...), used))
	return rt
}

// lang renders the words for people in the launch's language.
func (s *state) lang() *l10n.Printer { return l10n.New(s.args.Lang) }

// analysis is the session's fault analysis (made on first use: it unwinds
// every task, which a client showing the crashing stack does not wait for).
func (s *state) analysis() *fault.Analysis {
	a := s.sess.Analysis()
	s.runtime()
	s.warnOnce(&s.anWarned, a.Warnings)
	return a
}

func (s *state) warnOnce(done *bool, ws []string) {
	s.mu.Lock()
	first := !*done
	*done = true
	s.mu.Unlock()
	if first && s.output != nil {
		for _, w := range ws {
			s.output("console", w)
		}
	}
}

// progress reports a session's lazy steps as DAP progress events, when
// the client takes them.
func (s *conn) progress(step string, done bool) {
	if !s.clientProgress {
		return
	}
	titles := map[string]string{"coroutines": "Finding coroutine tasks", "analysis": "Analysing the fault"}
	if !done {
		s.send(&dap.ProgressStartEvent{Event: s.event("progressStart"), Body: dap.ProgressStartEventBody{ProgressId: step, Title: titles[step]}})
	} else {
		s.send(&dap.ProgressEndEvent{Event: s.event("progressEnd"), Body: dap.ProgressEndEventBody{ProgressId: step, Message: "done"}})
	}
}

// counter is a step over n items reported as progressStart, a
// progressUpdate at every tenth done, progressEnd. Its methods are safe
// for concurrent use; updates go out in order.
type counter struct {
	c       *conn
	id      string
	mu      sync.Mutex
	n, done int
	sent    int // percent last reported
}

// counted starts a counted step (nil, a no-op, when the client takes no
// progress events or there is nothing to count).
func (s *conn) counted(id, title string, n int) *counter {
	if !s.clientProgress || n == 0 {
		return nil
	}
	s.send(&dap.ProgressStartEvent{Event: s.event("progressStart"), Body: dap.ProgressStartEventBody{ProgressId: id, Title: title,
		Message: fmt.Sprintf("0 of %d", n), Percentage: 0}})
	return &counter{c: s, id: id, n: n}
}

// add counts one item done.
func (k *counter) add() {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.done++
	if pct := k.done * 100 / k.n; pct/10 > k.sent/10 && k.done < k.n {
		k.sent = pct
		k.c.send(&dap.ProgressUpdateEvent{Event: k.c.event("progressUpdate"), Body: dap.ProgressUpdateEventBody{ProgressId: k.id,
			Message: fmt.Sprintf("%d of %d", k.done, k.n), Percentage: pct}})
	}
}

// end ends the step.
func (k *counter) end() {
	if k == nil {
		return
	}
	k.c.send(&dap.ProgressEndEvent{Event: k.c.event("progressEnd"), Body: dap.ProgressEndEventBody{ProgressId: k.id, Message: fmt.Sprintf("%d done", k.n)}})
}

func (s *conn) output(category, text string) {
	s.send(&dap.OutputEvent{Event: s.event("output"), Body: dap.OutputEventBody{Category: category, Output: "dsecore: " + text + "\n"}})
}

func (s *conn) launch(req *dap.Request, raw json.RawMessage) {
	var a LaunchArgs
	if err := json.Unmarshal(raw, &a); err != nil {
		s.sendError(req.Seq, req.Command, 3000, "bad launch arguments: "+err.Error())
		return
	}
	if a.CoreFile == "" {
		s.sendError(req.Seq, req.Command, 3001, "launch needs coreFile: the core file to open")
		return
	}
	if s.st != nil {
		s.sendError(req.Seq, req.Command, 3002, "a core is already open in this session")
		return
	}
	if len(s.cfg.Token) > 0 && !tokenOK(a.AuthToken, s.cfg.Token) {
		// One guess per connection: a wrong token ends it.
		why := req.Command + ": no authToken, or not the server's: this server (--auth-token-file) serves only clients that send its token"
		if a.AuthToken != "" {
			why = req.Command + ": wrong authToken: this server (--auth-token-file) serves only clients that send its token"
		}
		s.logf("refused %s: %s", req.Command, why)
		s.sendError(req.Seq, req.Command, errAuth, why)
		s.endSession(why)
		return
	}
	a.AuthToken = ""
	a, err := s.cfg.Paths.checkLaunch(a)
	if err != nil {
		s.logf("refused %s: %v", req.Command, err)
		s.sendError(req.Seq, req.Command, errAccessDenied, fmt.Sprintf("%s: %v", req.Command, err))
		return
	}
	if a.ShowTasks == "" {
		a.ShowTasks = "all"
	}
	if s.clientProgress {
		s.send(&dap.ProgressStartEvent{Event: s.event("progressStart"), Body: dap.ProgressStartEventBody{ProgressId: "load", Title: "Opening the core", Message: filepath.Base(a.CoreFile)}})
	}
	endLoad := func(msg string) {
		if s.clientProgress {
			s.send(&dap.ProgressEndEvent{Event: s.event("progressEnd"), Body: dap.ProgressEndEventBody{ProgressId: "load", Message: msg}})
		}
	}
	o := a.sessionOptions(s.base)
	o.Progress = s.progress
	sess, err := session.Open(o)
	if err != nil {
		endLoad("failed")
		s.sendError(req.Seq, req.Command, 3003, fmt.Sprintf("cannot open %s: %v", a.CoreFile, err))
		return
	}
	endLoad("done")
	st := &state{args: a, sess: sess, output: s.output, counted: s.counted, p: sess.Process(), vr: sess.Values(), stacks: map[int][]coreparse.Frame{}, stopped: map[int]string{}, srcByFn: map[string]int{}, scopes: map[int]*values.Scope{},
		maxHeld: s.cfg.Limits.MaxHeldBytes}
	s.st = st
	p := st.p

	// Missing and mismatched files, loudly.
	var important []string
	for _, m := range p.Modules {
		switch {
		case m.BuildIDMismatch:
			important = append(important, fmt.Sprintf("BUILD-ID MISMATCH: %s: the core has %x, %s has %x: its symbols would lie and are not used",
				m.Name, m.CoreBuildID, m.Path, m.FileBuildID))
		case m.Path == "":
			important = append(important, fmt.Sprintf("not found: %s (set solibSearchPath or sysroot)", m.Name))
		}
	}
	for _, w := range important {
		s.output("important", w)
	}
	for _, w := range sess.Warnings() {
		cat := "console"
		if strings.Contains(w, "MISMATCH") {
			cat = "important"
		}
		s.output(cat, w)
	}
	resp := &dap.LaunchResponse{Response: response(req)}
	if len(important) > 0 {
		resp.Message = strings.Join(important, "; ")
	}
	if req.Command == "attach" {
		s.send(&dap.AttachResponse{Response: resp.Response})
	} else {
		s.send(resp)
	}
	s.send(&dap.InitializedEvent{Event: s.event("initialized")})
}

// crashThreadID is the DAP thread id of the crashing thread.
func (s *state) crashThreadID() int {
	if t := s.p.CrashedThread(); t != nil {
		return t.LWP
	}
	return s.p.Threads[0].LWP
}

func (s *conn) sendStopped() {
	st := s.st
	desc := "the process was stopped when the core was written"
	if fc := st.p.Fault(); fc != nil && fc.Real != nil {
		desc = fc.Real.Name
		if fc.Real.CodeName != "" {
			desc += " (" + fc.Real.CodeName + ")"
		}
		if fc.Real.HasAddr {
			desc += fmt.Sprintf(" at %#x", fc.Real.Addr)
		}
		if fc.Real.Sent {
			desc += st.sentFrom()
		} else if fn := faultFunction(st); fn != "" {
			desc += " in " + fn + "()"
		}
	}
	s.send(&dap.StoppedEvent{Event: s.event("stopped"), Body: dap.StoppedEventBody{Reason: "exception", Description: desc,
		ThreadId: st.crashThreadID(), AllThreadsStopped: true, Text: desc}})
}

// faultFunction is the concrete function of the fault ("dm_hash_node_t::clear").
func faultFunction(st *state) string {
	fc := st.p.Fault()
	if fc == nil {
		return ""
	}
	fs := st.p.Symbolize([]unwind.Frame{{PC: fc.PC, Exact: true}})
	if len(fs) == 0 || fs[len(fs)-1].Function == "??" {
		return ""
	}
	return fs[len(fs)-1].Function
}

// taskThreadID is a task's DAP thread id.
func taskThreadID(t *coroutines.Task, i int) int {
	if t.ID >= 0 {
		return taskBase + int(t.ID)
	}
	return taskBase + 1<<24 + i
}

func (s *state) shownTasks() []*coroutines.Task {
	if s.args.ShowTasks == "none" {
		return nil
	}
	rt := s.runtime()
	if s.args.ShowTasks != "crash-related" {
		return rt.Tasks
	}
	want := map[int64]bool{}
	if an := s.analysis(); an != nil {
		for _, h := range an.Others {
			want[h.TaskID] = true
		}
		for _, h := range an.SameCode {
			want[h.TaskID] = true
		}
	}
	var out []*coroutines.Task
	for _, t := range rt.Tasks {
		if t.Running || want[t.ID] {
			out = append(out, t)
		}
	}
	return out
}

// threads is the thread list: every LWP, then the shown tasks named from
// the top of their stacks. A core never changes: it is made once.
func (s *state) threads() []dap.Thread {
	s.threadsOnce.Do(func() { s.threadList = s.makeThreads() })
	return s.threadList
}

func (s *state) makeThreads() []dap.Thread {
	var out []dap.Thread
	rt := s.runtime() // first: the Processers name their threads
	ts := append([]*coreparse.Thread(nil), s.p.Threads...)
	sort.SliceStable(ts, func(i, j int) bool { return ts[i].LWP < ts[j].LWP })
	// The others are named by their stacks (their entry routine): the
	// stacks the client asks for next, made now on all CPUs.
	par.Do(len(ts), func(i int) {
		if ts[i].Name == "" {
			s.stack(ts[i].LWP)
		}
	})
	for _, t := range ts {
		name := fmt.Sprintf("LWP %d", t.LWP)
		if t.Name != "" {
			name += " " + t.Name
		}
		out = append(out, dap.Thread{Id: t.LWP, Name: name})
	}
	tasks := s.shownTasks()
	// Each task is named by its top frame (the runtime's one rule), found
	// among the first frames of its stack: ten thousand stacks' tops,
	// unwound on all CPUs.
	wheres := make([]string, len(tasks))
	var k *counter
	if s.counted != nil {
		k = s.counted("tasks", "Naming coroutine tasks", len(tasks))
	}
	par.Do(len(tasks), func(i int) {
		t := tasks[i]
		wheres[i] = t.Func
		if f, ok := rt.TopFrameOf(t, 8); ok {
			wheres[i] = f.Function
		}
		k.add()
	})
	k.end()
	for i, t := range tasks {
		where := cxxname.Elide(wheres[i])
		state := coroutines.StateWord(t.State, t.Running)
		out = append(out, dap.Thread{Id: taskThreadID(t, i), Name: fmt.Sprintf("task %d [%s] %s", t.ID, state, where)})
	}
	return out
}

func (s *state) taskStack(t *coroutines.Task) ([]coreparse.Frame, error) {
	if t.SP == 0 && !t.Running {
		return nil, fmt.Errorf("task %d has no saved context (%s)", t.ID, t.State)
	}
	return s.runtime().Stack(t)
}

// stack returns a DAP thread's frames.
func (s *state) stack(id int) ([]coreparse.Frame, error) {
	s.mu.Lock()
	fs, ok := s.stacks[id]
	s.mu.Unlock()
	if ok {
		return fs, nil
	}
	var err error
	if id >= taskBase {
		found := false
		for i, t := range s.shownTasks() {
			if taskThreadID(t, i) == id {
				fs, err = s.taskStack(t)
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("no thread %d", id)
		}
	} else {
		t := s.p.ThreadByLWP(id)
		if t == nil {
			return nil, fmt.Errorf("no thread %d", id)
		}
		fs, err = s.p.Backtrace(t)
	}
	if err != nil && len(fs) == 0 {
		return nil, err
	}
	s.mu.Lock()
	s.stacks[id] = fs
	var se *unwind.StopError
	if errors.As(err, &se) && se.Reason != unwind.StopMaxFrames {
		s.stopped[id] = err.Error()
	}
	s.mu.Unlock()
	return fs, nil
}

// stopReason is why a stack (already unwound) ended early, "" when it did not.
func (s *state) stopReason(id int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopped[id]
}

// frameID is a frame's id: one per frame for the session's life (a
// client asking for the same stack again gets the same ids, and the
// table does not grow).
func (s *state) frameID(thread, index int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := frameRef{thread, index}
	if id, ok := s.frameIDs[f]; ok {
		return id
	}
	if s.frameIDs == nil {
		s.frameIDs = map[frameRef]int{}
	}
	s.frames = append(s.frames, f)
	s.frameIDs[f] = len(s.frames)
	return len(s.frames)
}

func (s *state) frame(id int) (frameRef, []coreparse.Frame, error) {
	s.mu.Lock()
	if id < 1 || id > len(s.frames) {
		s.mu.Unlock()
		return frameRef{}, nil, fmt.Errorf("no frame %d", id)
	}
	f := s.frames[id-1]
	s.mu.Unlock()
	fs, err := s.stack(f.thread)
	if err != nil || f.index >= len(fs) {
		return f, nil, fmt.Errorf("no frame %d", id)
	}
	return f, fs, nil
}

// handle is a variablesReference for v. A frame's scopes get one each,
// given again when asked again; each value or analysis node listed gets a
// new one (a client may expand it any time later), and what those keep
// alive counts against the session's budget: past it, handle gives 0 (the
// value is shown but cannot be expanded) and evaluate answers an error.
func (s *state) handle(v varRef) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v.value == nil && v.node == nil {
		if id, ok := s.scopeIDs[v]; ok {
			return id
		}
		if s.scopeIDs == nil {
			s.scopeIDs = map[varRef]int{}
		}
		s.handles = append(s.handles, v)
		s.scopeIDs[v] = len(s.handles)
		return len(s.handles)
	}
	cost := heldCost(v)
	if s.maxHeld > 0 && s.held+cost > s.maxHeld {
		return 0
	}
	s.held += cost
	s.handles = append(s.handles, v)
	return len(s.handles)
}

// heldCost estimates what a reference keeps alive: its table slot and
// value (or node), and the bytes they hold.
func heldCost(v varRef) int64 {
	n := int64(256)
	if v.value != nil {
		n += int64(len(v.value.Name) + len(v.value.Bytes) + len(v.value.Err) + len(v.value.Where))
	}
	return n
}

// overBudget says, when the session's references have used their budget,
// what to answer a request that would make more.
func (s *state) overBudget() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.maxHeld <= 0 || s.held+heldCost(varRef{}) <= s.maxHeld {
		return ""
	}
	return fmt.Sprintf("this session keeps %d KiB of evaluate and variables results alive for the references it gave (its budget, --max-evaluate-memory, is %d KiB): "+
		"no more are made; disconnect and launch again for a fresh session", s.held>>10, s.maxHeld>>10)
}

func (s *state) ref(id int) (varRef, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id < 1 || id > len(s.handles) {
		return varRef{}, false
	}
	return s.handles[id-1], true
}

// mapPath applies substitutePath (ordered, first match wins), then
// sourceFileMap (longest prefix).
func (s *state) mapPath(p string) string {
	for _, r := range s.args.SubstitutePath {
		if r.From != "" && strings.HasPrefix(p, r.From) {
			return r.To + strings.TrimPrefix(p, r.From)
		}
	}
	best := ""
	for from := range s.args.SourceFileMap {
		if strings.HasPrefix(p, from) && len(from) > len(best) {
			best = from
		}
	}
	if best != "" {
		return s.args.SourceFileMap[best] + strings.TrimPrefix(p, best)
	}
	return p
}

// sourceOf is a frame's source: the mapped file when it is on disk, else
// a source reference whose content is the function's disassembly.
func (s *state) sourceOf(f coreparse.Frame) *dap.Source {
	if f.File != "" {
		if p := s.mapPath(f.File); fileExists(p) {
			return &dap.Source{Name: filepath.Base(p), Path: p}
		}
	}
	if f.PC == 0 || f.Sigtramp || f.Boundary || !s.p.Core.Readable(f.LookupPC) {
		return nil // nothing to disassemble (a wild pc: no memory there)
	}
	// One source per function (per part of a split function): its whole
	// disassembly, each frame in it at its own line. Without known bounds,
	// a window around the frame's pc, one per pc.
	key := fmt.Sprintf("%#x", f.PC)
	if lo, _, ok := s.p.FunctionBounds(f.LookupPC); ok {
		key = fmt.Sprintf("%s@%#x", f.Function, lo)
	}
	s.mu.Lock()
	ref, ok := s.srcByFn[key]
	s.mu.Unlock()
	if !ok {
		s.mu.Lock()
		if ref, ok = s.srcByFn[key]; !ok {
			s.sources = append(s.sources, &sourceRef{name: key, frame: f})
			ref = len(s.sources)
			s.srcByFn[key] = ref
		}
		s.mu.Unlock()
	}
	key = f.Function
	if key == "??" || key == "" {
		key = fmt.Sprintf("%#x", f.PC)
	}
	name := key + " (disassembly)"
	if f.File != "" {
		name = filepath.Base(f.File) + " (not on disk: disassembly)"
	}
	return &dap.Source{Name: name, SourceReference: ref, PresentationHint: "deemphasize", Origin: "disassembly from the core"}
}

// sourceLine is the line of the instruction at addr in the disassembly
// source ref (1 when the text does not hold it).
func (s *state) sourceLine(ref int, addr uint64) int {
	s.mu.Lock()
	var src *sourceRef
	if ref >= 1 && ref <= len(s.sources) {
		src = s.sources[ref-1]
	}
	s.mu.Unlock()
	if src == nil {
		return 1
	}
	if n := src.line(s, addr); n > 0 {
		return n
	}
	return 1
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// disassemblyText is the whole function holding a frame's pc, decoded
// from its start (the symbol, DWARF or FDE bounds), and the line of each
// instruction in it; without known bounds, a window from the frame's
// current instruction on.
func (s *state) disassemblyText(f coreparse.Frame) (string, map[uint64]int) {
	insts, err := s.p.FunctionDisassembly(f.LookupPC)
	if len(insts) == 0 {
		l, werr := s.p.DisassembleFrame(&f, 50, 200)
		if werr != nil {
			if err == nil {
				err = werr
			}
			return "; " + err.Error(), nil
		}
		insts = l.Insts
	}
	head := fmt.Sprintf("; %s (disassembly of the core's memory)\n", f.Function)
	text := head + formatInsts(insts)
	return text, instLines(text, insts)
}

// instLines finds each instruction's line in a listing's text (1-based).
func instLines(text string, insts []disasm.Inst) map[uint64]int {
	at := make(map[uint64]bool, len(insts))
	for _, in := range insts {
		at[in.Addr] = true
	}
	lines := map[uint64]int{}
	for i, ln := range strings.Split(text, "\n") {
		if len(ln) < 4 || (ln[:3] != "   " && ln[:3] != "=> ") {
			continue
		}
		h, _, ok := strings.Cut(ln[3:], ":")
		if !ok {
			continue
		}
		if a, err := strconv.ParseUint(h, 16, 64); err == nil && at[a] {
			lines[a] = i + 1
		}
	}
	return lines
}

func (s *state) loadedSources() []dap.Source {
	seen := map[string]bool{}
	var out []dap.Source
	for _, t := range s.p.Threads {
		fs, err := s.stack(t.LWP)
		if err != nil {
			continue
		}
		for _, f := range fs {
			if f.File == "" {
				continue
			}
			p := s.mapPath(f.File)
			if seen[p] || !fileExists(p) {
				continue
			}
			seen[p] = true
			out = append(out, dap.Source{Name: filepath.Base(p), Path: p})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}
