package report

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/dsecore/dsecore/analysis/coroutines"
	"github.com/dsecore/dsecore/internal/cxxname"
)

// The text forms of the documents: one writer per kind, used by every face
// that prints text (the CLI, the DAP console, the gdb bridge through
// `dsecore render`).

// WriteFrames writes a stack, one numbered line per frame (FrameLine).
func WriteFrames(w io.Writer, fs []Frame) { writeFrames(w, fs, nil) }

// writeFrames is WriteFrames, each distinct frame's text made once when
// memo is given (ten thousand task stacks share a few dozen frames).
func writeFrames(w io.Writer, fs []Frame, memo map[Frame]string) {
	var num [8]byte
	for n, f := range fs {
		text, ok := memo[f]
		if !ok {
			text = f.Text(FrameLine)
			if memo != nil {
				memo[f] = text
			}
		}
		// "#%-3d %s\n"
		b := strconv.AppendInt(append(num[:0], '#'), int64(n), 10)
		for len(b) < 4 {
			b = append(b, ' ')
		}
		io.WriteString(w, string(b))
		io.WriteString(w, " ")
		io.WriteString(w, text)
		io.WriteString(w, "\n")
	}
}

// WriteThreads writes threads' backtraces.
func WriteThreads(w io.Writer, threads []Thread) {
	for i, t := range threads {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "Thread LWP %d (pthread %s)%s%s:\n", t.LWP, t.Pthread, quoted(t.Name), flag(t.Crashed, " [crashed]"))
		WriteFrames(w, t.Frames)
		if t.Error != "" {
			fmt.Fprintf(w, "     (unwinding stopped: %s)\n", t.Error)
		}
	}
}

// WriteTaskStacks writes tasks' backtraces (sep: a blank line before the
// first, after threads).
func WriteTaskStacks(w io.Writer, tasks []Task, sep bool) {
	tw := NewTaskStackWriter(w, sep)
	for i := range tasks {
		tw.Write(&tasks[i])
	}
}

// WriteBacktrace writes `bt`'s document.
func WriteBacktrace(w io.Writer, doc *Backtrace) {
	WriteBacktraceStream(w, doc, TaskList(doc.Tasks))
}

// TaskTable says what a task table shows.
type TaskTable struct {
	// Title: a first line with the count of all tasks, the profile and the
	// scheduler's own count.
	Title bool
	Total int // all tasks, before any filter (for the title and "shown")
	// Shown marks one task with "*" (the gdb bridge's selected task); -1
	// none.
	Shown int64
}

// TaskState is a task's state as lists say it: "running" for the task a
// Processer runs.
func TaskState(t Task) string { return coroutines.StateWord(t.State, t.Running) }

// WriteTasks writes the task table: one row per task (its id, state,
// Processer, queue, how it was found, where it stands and where it was
// created).
func WriteTasks(w io.Writer, c *Coroutines, tasks []Task, o TaskTable) {
	if o.Title && c != nil {
		fmt.Fprintf(w, "%d tasks (profile %s; the scheduler counts %s)\n", o.Total, ProfileText(c), count(c.TaskCount))
	}
	// The columns, each with its width (0: the last, unpadded); a column
	// no task has anything in is left out (upstream libgo's tasks have no
	// created-at fields, a scan finds no queue).
	cols := []struct {
		head  string
		width int
	}{{"ID", 6}, {"STATE", 9}, {"PROC", 4}, {"QUEUE", 15}, {"FOUND BY", 12}, {"WHERE", 50}, {"CREATED AT", 0}}
	rows := make([][]string, len(tasks))
	used := make([]bool, len(cols))
	used[0], used[1] = true, true
	for i, t := range tasks {
		proc := "-"
		if t.Processer >= 0 {
			proc = fmt.Sprint(t.Processer)
		}
		created := ""
		if t.Func != "" {
			created = fmt.Sprintf("%s (%s:%d)", t.Func, filepath.Base(t.File), t.Line)
		}
		rows[i] = []string{fmt.Sprint(t.ID), TaskState(t), proc, orDash(t.Queue), t.FoundBy, t.Top, created}
		for c, v := range rows[i] {
			used[c] = used[c] || v != "" && v != "-"
		}
	}
	line := func(mark string, cells []string) {
		var b strings.Builder
		b.WriteString(mark)
		for c, v := range cells {
			if !used[c] {
				continue
			}
			if cols[c].width > 0 {
				fmt.Fprintf(&b, " %-*s", cols[c].width, v)
			} else {
				b.WriteString(" " + v)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	heads := make([]string, len(cols))
	for c := range cols {
		heads[c] = cols[c].head
	}
	line(" ", heads)
	for i, t := range tasks {
		mark := " "
		if o.Shown >= 0 && t.ID == o.Shown {
			mark = "*"
		}
		line(mark, rows[i])
	}
	if len(tasks) != o.Total {
		fmt.Fprintf(w, "(%d shown)\n", len(tasks))
	}
	if o.Title && c != nil {
		WriteProfileUse(w, c, "")
	}
}

// ProfileText names the profile a face used: "ceph-dse (built-in)",
// "my-fork (/etc/dsecore/fork.yaml)".
func ProfileText(c *Coroutines) string {
	if c.ProfileSource == "" || c.ProfileSource == c.Profile {
		return c.Profile
	}
	return c.Profile + " (" + c.ProfileSource + ")"
}

// WriteProfileUse writes, each after indent, why no task was found (when
// none was) and the profile lines that make the profile's adaptations to
// this build explicit (when it was adapted).
func WriteProfileUse(w io.Writer, c *Coroutines, indent string) {
	if c.NoTasks != "" {
		fmt.Fprintf(w, "%s%s\n", indent, c.NoTasks)
	}
	if c.NoRuntime != "" {
		fmt.Fprintf(w, "%s%s\n", indent, c.NoRuntime)
	}
	if len(c.ProfileLines) > 0 {
		fmt.Fprintf(w, "%s(the profile was adapted to this build; to say so in it: %s)\n", indent, strings.Join(c.ProfileLines, "; "))
	}
}

func count(n int64) string {
	if n < 0 {
		return "?"
	}
	return fmt.Sprint(n)
}

// WriteProcessers writes one line per Processer.
func WriteProcessers(w io.Writer, c *Coroutines) {
	for _, pr := range c.Processers {
		running := "idle"
		if pr.Running >= 0 {
			running = fmt.Sprintf("running task %d", pr.Running)
		}
		var qs []string
		for q, n := range pr.Queues {
			qs = append(qs, fmt.Sprintf("%s %d", strings.TrimSuffix(q, "_"), n))
		}
		sort.Strings(qs)
		// The counts by state, whatever the build calls its queues.
		byState := ""
		if len(pr.ByState) > 0 {
			byState = fmt.Sprintf(" (runnable %d, block %d, new %d, done %d)", pr.ByState["runnable"], pr.ByState["block"], pr.ByState["new"], pr.ByState["done"])
		}
		fmt.Fprintf(w, "  Processer_%-3d LWP %-8d %-16s %s%s\n", pr.ID, pr.LWP, running, strings.Join(qs, ", "), byState)
	}
}

// WriteModules writes the module list with each one's files.
func WriteModules(w io.Writer, mods []ModuleStatus) {
	fmt.Fprintf(w, "Modules (%d):\n", len(mods))
	for _, m := range mods {
		status := m.Status
		if status == "build-id-mismatch" {
			status = "BUILD-ID MISMATCH"
		}
		path := m.Path
		if path == "" {
			path = "(not found)"
		}
		fmt.Fprintf(w, "  %-18s %-40s %-20s build-id %s\n", m.Start, m.Name, status, m.BuildID)
		if path != m.Name {
			fmt.Fprintf(w, "  %-18s   local file: %s\n", "", path)
		}
		if m.DebugPath != "" {
			fmt.Fprintf(w, "  %-18s   debug file: %s\n", "", m.DebugPath)
		}
		if m.SymbolStatus != "" && m.Path != "" {
			fmt.Fprintf(w, "  %-18s   symbols: %s\n", "", statusHead(m.SymbolStatus))
		}
		for _, p := range m.SymbolProblems {
			fmt.Fprintf(w, "  %-18s     %s\n", "", p)
		}
	}
}

// statusHead is a symbol status without the problem it quotes (the
// problems follow it, one a line): "partial: 1 of 2 .dwo missing".
func statusHead(s string) string {
	if i := strings.Index(s, ": "); i >= 0 && strings.HasPrefix(s, "partial") {
		rest := s[i+2:]
		if j := strings.Index(rest, " (looked in "); j >= 0 {
			rest = rest[:j]
		}
		if j := strings.Index(rest, ": "); j >= 0 && strings.Contains(rest[:j], "missing") {
			rest = rest[:j]
		}
		return s[:i+2] + rest
	}
	return s
}

// AnalysisText says how much of the analysis to write.
type AnalysisText struct {
	// Brief lists the rules that fired instead of the evidence.
	Brief bool
}

// WriteAnalysis writes the fault analysis of an inspect document (its
// Fault and Analysis): the crash, the verdict, the faulting instruction
// and the bad register's origin, the objects, the list walk, the others on
// the object, the logs, the kernel's line, the evidence.
func WriteAnalysis(w io.Writer, doc *Inspect, o AnalysisText) {
	a := doc.Analysis
	if a == nil {
		fmt.Fprintln(w, "No fault analysis.")
		return
	}
	if f := doc.Fault; f != nil {
		sig := ""
		if f.Signal != nil {
			sig = f.Signal.Text
		} else if doc.Signal != nil {
			sig = doc.Signal.Text
		}
		fmt.Fprintf(w, "Crash: %s on LWP %d, in %s\n", sig, f.LWP, orUnknown(f.Function))
	}
	fmt.Fprintf(w, "Verdict (confidence %s): %s\n", a.Confidence, a.Verdict)
	if f := a.Fault; f != nil && f.Instruction != "" {
		fmt.Fprintf(w, "\nFaulting instruction: %s: %s   (%s)\n", f.PC, f.Instruction, f.Function)
		if f.File != "" {
			fmt.Fprintf(w, "  at %s:%d\n", f.File, f.Line)
		}
		if f.Register != "" {
			fmt.Fprintf(w, "Bad register: %%%s = %s\n", f.Register, f.Value)
		}
		if f.Description != "" {
			fmt.Fprintf(w, "  %s\n", f.Description)
		}
		for _, s := range f.Origin {
			fmt.Fprintf(w, "  origin: %s\n", s.Text)
		}
	}
	if len(a.Objects) > 0 {
		fmt.Fprintln(w)
		for _, ob := range a.Objects {
			var fs []string
			for k, v := range ob.Fields {
				fs = append(fs, k+"="+v)
			}
			sort.Strings(fs)
			fields := ""
			if len(fs) > 0 {
				fields = " {" + strings.Join(fs, ", ") + "}"
			}
			fmt.Fprintf(w, "Object (%s): %s at %s%s\n", ob.Role, ob.Type, orDash(ob.Address), fields)
			if ob.How != "" {
				fmt.Fprintf(w, "  found: %s\n", ob.How)
			}
		}
	}
	if lw := a.ListWalk; lw != nil {
		fmt.Fprintf(w, "\nList walk: %s (boost::intrusive::list of %s, hook at +%s), header %s: %d nodes, size_ %d\n",
			lw.List, lw.Element, lw.HookOffset, lw.Header, lw.Nodes, lw.Size)
		for _, x := range lw.Findings {
			fmt.Fprintf(w, "  - %s\n", x)
		}
	}
	if len(a.Others)+len(a.SameCode) > 0 {
		fmt.Fprintln(w, "\nOthers on the same object:")
		for _, h := range a.Others {
			path := h.Path
			if path == "" {
				path = h.Function
			}
			fmt.Fprintf(w, "  %s: %s holds %s (%s) in %s\n", h.Who, h.Where, h.Address, h.What, path)
		}
		for _, s := range a.SameCode {
			fmt.Fprintf(w, "  %s runs the same code: %s\n", s.Who, strings.Join(s.Functions, ", "))
		}
	}
	if m := a.Memory; m != nil {
		writeMemory(w, m)
	}
	if l := a.Logs; l != nil {
		fmt.Fprintf(w, "\nLogs: %d lines from %d files (%d lines of threads not in the core):\n", l.Lines, len(l.Files), l.Unmatched)
		keys := make([]string, 0, len(l.PerThread))
		for k := range l.PerThread {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "  %s:\n", k)
			for _, line := range l.PerThread[k] {
				fmt.Fprintf(w, "    %s\n", line)
			}
		}
		for _, c := range l.Concurrent {
			fmt.Fprintf(w, "  concurrent:\n    %s\n    %s\n", c[0], c[1])
		}
		for _, line := range l.Handler {
			fmt.Fprintf(w, "  handler: %s\n", line)
		}
		for _, n := range l.Notes {
			fmt.Fprintf(w, "  note: %s\n", n)
		}
	}
	if d := a.Dmesg; d != nil {
		fmt.Fprintf(w, "\nKernel line: ip matches %v, same thread %v, mapping base matches %v\n", d.IPMatches, d.SameThread, d.BaseOK)
		for _, n := range d.Notes {
			fmt.Fprintf(w, "  %s\n", n)
		}
	}
	if n := a.Nested; n != nil {
		fmt.Fprintf(w, "\nSecond fault (inside the handler): %s at %s\n  %s\n", n.Signal, n.PC, n.Description)
		for _, f := range n.Frames {
			fmt.Fprintf(w, "    %s\n", f)
		}
	}
	for _, h := range a.Handling {
		fmt.Fprintf(w, "Handling a signal: LWP %d (%s): %s\n", h.LWP, h.Role, h.Text)
	}
	if x := a.Assertion; x != nil {
		fmt.Fprintf(w, "\nAssertion: %s (%s:%d, read at %s)\n", x.Text, x.File, x.Line, x.Address)
	}
	if len(a.Timeline) > 0 && !o.Brief {
		writeTimeline(w, a.Timeline)
	}
	fmt.Fprintln(w)
	if o.Brief {
		fmt.Fprintf(w, "Rules: %s\n", strings.Join(a.Rules, ", "))
	} else {
		fmt.Fprintln(w, "Evidence:")
		for _, e := range a.Evidence {
			fmt.Fprintf(w, "  - [%s] %s\n", e.Rule, e.Text)
		}
	}
	for _, s := range a.Warnings {
		fmt.Fprintf(w, "  analysis warning: %s\n", s)
	}
}

// WriteInspect writes `inspect`'s document.
func WriteInspect(w io.Writer, doc *Inspect) {
	pr := doc.Process
	fmt.Fprintf(w, "Core: %s\n", doc.Core)
	fmt.Fprintf(w, "Process: pid %d, %s", pr.PID, orUnknown(pr.Exe))
	if pr.Args != "" {
		fmt.Fprintf(w, " (%s)", pr.Args)
	}
	fmt.Fprintf(w, ", %d threads\n", pr.Threads)
	if doc.Signal != nil {
		fmt.Fprintf(w, "Core's signal: %s — %s [%s]\n", doc.Signal.Text, doc.Signal.Description, doc.Signal.Source)
	}
	if f := doc.Fault; f != nil && f.Signal != nil {
		fmt.Fprintf(w, "Real fault:    %s — %s [%s]\n", f.Signal.Text, f.Signal.Description, f.Signal.Source)
		if f.ReRaised {
			fmt.Fprintf(w, "               (the core's record is the re-raise by the program's signal handler; the fault registers come from the kernel's signal frame at %s)\n", f.SigFrame)
		}
		loc := f.Function
		if f.File != "" {
			loc += fmt.Sprintf(" at %s:%d", f.File, f.Line)
		}
		if f.Module != "" {
			loc += " in " + f.Module
		}
		if f.SigInfoNote != "" {
			fmt.Fprintf(w, "               (%s)\n", f.SigInfoNote)
		}
		if f.Exception != nil {
			fmt.Fprintf(w, "  exception: %s\n", f.Exception.Text)
		}
		if f.Nested != nil {
			fmt.Fprintf(w, "Second fault:  %s [%s], pc %s, inside the handler\n", f.Nested.Text, f.Nested.Source, f.NestedPC)
		}
		fmt.Fprintf(w, "  thread LWP %d, pc %s: %s\n", f.LWP, f.PC, loc)
		if x := f.Wild; x != nil {
			fmt.Fprintf(w, "  pc %s is %s: no instruction there", x.PC, x.Why)
			if x.Recovered {
				fmt.Fprintf(w, "; caller recovered from the return address %s at rsp (after `%s` at %s)", x.ReturnAddr, x.Call, x.CallPC)
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "  registers: %s\n", formatRegs(f.Registers))
		switch {
		case f.Listing == "":
		case f.Signal.Sent && f.Nested == nil:
			fmt.Fprintf(w, "\nInterrupted at (=>; the signal was sent, this instruction did not fault), AT&T:\n%s", f.Listing)
		default:
			fmt.Fprintf(w, "\nFaulting instruction (=>), AT&T:\n%s", f.Listing)
		}
	}
	if doc.Analysis != nil {
		fmt.Fprintln(w)
		WriteAnalysis(w, doc, AnalysisText{})
	}
	if r := doc.Waits; r != nil && (r.Stats.Waiting > 0 || r.Watchdog != nil) {
		fmt.Fprintln(w)
		WriteWaits(w, r)
	}
	if c := doc.Crashed; c != nil {
		fmt.Fprintln(w)
		WriteThreads(w, []Thread{*c})
	}
	fmt.Fprintf(w, "\nThreads (%d):\n", len(doc.Threads))
	for _, t := range doc.Threads {
		fmt.Fprintf(w, "%s LWP %-8d %-16s %-14s %s\n", flag(t.Crashed, "*", " "), t.LWP, t.Pthread, orDash(t.Name), cxxname.Elide(t.Top))
	}
	if c := doc.Coroutines; c != nil && len(c.Processers)+len(doc.Tasks)+len(c.Warnings) > 0 || c.NoTasks != "" {
		fmt.Fprintf(w, "\nCoroutines (profile %s): %d Processers, %d tasks", ProfileText(c), len(c.Processers), len(doc.Tasks))
		if c.TaskCount >= 0 {
			fmt.Fprintf(w, " (the scheduler counts %d)", c.TaskCount)
		}
		fmt.Fprintln(w)
		WriteProfileUse(w, c, "  ")
		WriteProcessers(w, c)
		// The running tasks, and the first blocked ones.
		var some []Task
		blocked := 0
		for _, t := range doc.Tasks {
			if t.Running || t.State == "block" && blocked < 20 {
				if !t.Running {
					blocked++
				}
				some = append(some, t)
			}
		}
		if len(some) > 0 {
			WriteTasks(w, c, some, TaskTable{Total: len(doc.Tasks), Shown: -1})
		}
		if len(some) < len(doc.Tasks) {
			fmt.Fprintf(w, "  (running and the first blocked tasks; dsecore tasks lists all %d)\n", len(doc.Tasks))
		}
		for _, s := range c.Warnings {
			fmt.Fprintf(w, "  warning: %s\n", s)
		}
	}
	fmt.Fprintln(w)
	WriteModules(w, doc.Modules)
	if len(doc.Warnings) > 0 {
		fmt.Fprintf(w, "\nWarnings:\n")
		for _, s := range doc.Warnings {
			fmt.Fprintf(w, "  %s\n", s)
		}
	}
}

var regOrder = []string{"rip", "rsp", "rbp", "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "eflags"}

func formatRegs(r map[string]string) string {
	var parts []string
	seen := map[string]bool{}
	for _, n := range regOrder {
		if v, ok := r[n]; ok {
			parts = append(parts, n+"="+v)
			seen[n] = true
		}
	}
	var rest []string
	for n := range r {
		if !seen[n] {
			rest = append(rest, n)
		}
	}
	sort.Strings(rest)
	for _, n := range rest {
		parts = append(parts, n+"="+r[n])
	}
	return strings.Join(parts, " ")
}

// WriteWarnings writes warnings one per line.
func WriteWarnings(w io.Writer, warnings []string) {
	for _, s := range warnings {
		fmt.Fprintln(w, "warning:", s)
	}
}

func quoted(n string) string {
	if n == "" {
		return ""
	}
	return " \"" + n + "\""
}

// flag is yes when b, else no ("" when no is not given).
func flag(b bool, yes string, no ...string) string {
	if b {
		return yes
	}
	if len(no) > 0 {
		return no[0]
	}
	return ""
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func orUnknown(s string) string {
	if s == "" {
		return "??"
	}
	return s
}

// writeTimeline is the analysis' timeline: one line a step, its time (or
// "at dump"), then its evidence.
func writeTimeline(w io.Writer, steps []TimelineStep) {
	fmt.Fprintln(w, "\nTimeline:")
	for i, st := range steps {
		when := st.Time
		switch {
		case when != "":
			when = when[strings.IndexByte(when, ' ')+1:] // the day is the logs'
		case st.AtDump:
			when = "at dump"
		default:
			when = "-"
		}
		fmt.Fprintf(w, "  %2d. %-15s %s\n", i+1, when, st.Text)
		ev := st.Ref
		switch st.Evidence {
		case "log":
			ev = fmt.Sprintf("%s:%d", st.File, st.Line)
		case "frame":
			ev = fmt.Sprintf("%s, frame #%d %s", st.Who, st.Frame, st.Function)
		}
		fmt.Fprintf(w, "      evidence (%s): %s\n", st.Evidence, ev)
	}
}

// writeMemory is the analysis' memory section: the heap's state of each
// address of interest, then the holders, strongest first.
func writeMemory(w io.Writer, m *AnalysisMemory) {
	if len(m.Heap) == 0 && len(m.Holders) == 0 && m.Stats.Stacks == 0 && m.MallocError == "" {
		// Nothing was looked for: the fault names no object (a wild jump,
		// a signal sent), so neither the heap nor the holders were asked.
		fmt.Fprintln(w, "\nHeap and holders: no object of the fault to look for")
		return
	}
	fmt.Fprintln(w, "\nHeap (glibc malloc):")
	if !m.HeapKnown {
		fmt.Fprintf(w, "  cannot tell: %s\n", m.HeapReason)
	}
	for _, c := range m.Heap {
		rule := ""
		if c.Rule != "" && c.Rule != "unknown" {
			rule = " [" + c.Rule + "]"
		}
		fmt.Fprintf(w, "  %s: %s%s\n", c.Role, c.Text, rule)
	}
	if m.MallocError != "" {
		fmt.Fprintf(w, "  glibc aborted: %s\n", m.MallocError)
	}
	s := m.Stats
	fmt.Fprintf(w, "Holders (%d stacks, %d frames, %d variables, %d objects):\n", s.Stacks, s.Frames, s.Variables, s.Objects)
	if len(m.Holders) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for _, h := range m.Holders {
		raw := ""
		if h.Fallback {
			raw = " (raw " + h.How + ")"
		}
		fmt.Fprintf(w, "  %s: #%d %s: %s %s %s%s\n", h.Who, h.Frame, h.Function, h.Expr, h.Relation, h.Role, raw)
	}
	for _, b := range m.Bounds {
		fmt.Fprintf(w, "  bound: %s\n", b)
	}
}
