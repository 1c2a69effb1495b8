package report

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/dsecore/dsecore/analysis/coroutines"
	"github.com/dsecore/dsecore/analysis/fault"
	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/internal/cxxname"
	"github.com/dsecore/dsecore/internal/l10n"
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
func WriteThreads(w io.Writer, threads []Thread) { writeThreads(w, threads, nil) }

// writeThreads writes threads' backtraces, their headings in lang's words
// (nil: English).
func writeThreads(w io.Writer, threads []Thread, lang *l10n.Printer) {
	tr := printer(lang)
	for i, t := range threads {
		if i > 0 {
			fmt.Fprintln(w)
		}
		id := "text.thread-head"
		if t.Crashed {
			id = "text.thread-head-crashed"
		}
		fmt.Fprintln(w, tr.Sf(id, "LWP", t.LWP, "Pthread", t.Pthread, "Name", quoted(t.Name)))
		WriteFrames(w, t.Frames)
		if t.Error != "" {
			fmt.Fprintf(w, "     %s\n", tr.Sf("text.unwinding-stopped", "Err", l10n.Untranslated(t.Error)))
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
	// Lang renders the table's words (nil: English).
	Lang *l10n.Printer
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
	}{{"id", 6}, {"state", 9}, {"proc", 4}, {"queue", 15}, {"found-by", 12}, {"where", 50}, {"created-at", 0}}
	tr := printer(o.Lang)
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
		heads[c] = tr.Sf("text.col-" + cols[c].head)
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
		fmt.Fprintln(w, tr.Sf("text.n-shown", "N", len(tasks)))
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
func WriteProcessers(w io.Writer, c *Coroutines) { writeProcessers(w, c, nil) }

// writeProcessers writes one line per Processer, in lang's words (nil:
// English).
func writeProcessers(w io.Writer, c *Coroutines, lang *l10n.Printer) {
	tr := printer(lang)
	for _, pr := range c.Processers {
		running := tr.Sf("text.processer-idle")
		if pr.Running >= 0 {
			running = tr.Sf("text.processer-running", "Task", pr.Running)
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
func WriteModules(w io.Writer, mods []ModuleStatus) { writeModules(w, mods, nil) }

// writeModules writes the module list, its labels in lang's words (nil:
// English).
func writeModules(w io.Writer, mods []ModuleStatus, lang *l10n.Printer) {
	tr := printer(lang)
	fmt.Fprintln(w, tr.Sf("text.modules", "N", len(mods)))
	for _, m := range mods {
		status := m.Status
		if status == "build-id-mismatch" {
			status = "BUILD-ID MISMATCH"
		}
		path := m.Path
		if path == "" {
			path = tr.Sf("text.module-not-found")
		}
		fmt.Fprintf(w, "  %-18s %-40s %-20s build-id %s\n", m.Start, m.Name, status, m.BuildID)
		if path != m.Name {
			fmt.Fprintf(w, "  %-18s   %s\n", "", tr.Sf("text.module-local-file", "Path", path))
		}
		if m.DebugPath != "" {
			fmt.Fprintf(w, "  %-18s   %s\n", "", tr.Sf("text.module-debug-file", "Path", m.DebugPath))
		}
		if m.SymbolStatus != "" && m.Path != "" {
			fmt.Fprintf(w, "  %-18s   %s\n", "", tr.Sf("text.module-symbols", "Status", symbolHead(m)))
		}
		for _, p := range m.SymbolProblems {
			fmt.Fprintf(w, "  %-18s     %s\n", "", p)
		}
	}
}

// handlingRole is a handling thread's role in the catalog's words.
func handlingRole(role string) l10n.Msg {
	switch role {
	case "spinning", "first-fault":
		return l10n.T("handling.role-" + role)
	}
	return l10n.Verbatim(role)
}

// symbolHead is a module's symbol status for the module list, in the
// catalog's words (a document read back from JSON: its English head).
func symbolHead(m ModuleStatus) l10n.Msg {
	if !m.SymbolHead.IsZero() {
		return m.SymbolHead
	}
	return l10n.Untranslated(statusHead(m.SymbolStatus))
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

// AnalysisText says how much of the analysis to write, and in which
// language.
type AnalysisText struct {
	// Brief lists the rules that fired instead of the evidence.
	Brief bool
	// Lang renders the words (nil: English).
	Lang *l10n.Printer
}

// WriteAnalysis writes the fault analysis of an inspect document (its
// Fault and Analysis): the crash, the verdict, the faulting instruction
// and the bad register's origin, the objects, the list walk, the others on
// the object, the logs, the kernel's line, the evidence.
func WriteAnalysis(w io.Writer, doc *Inspect, o AnalysisText) {
	tr := printer(o.Lang)
	a := doc.Analysis
	if a == nil {
		fmt.Fprintln(w, tr.Sf("text.no-analysis"))
		return
	}
	if f := doc.Fault; f != nil {
		sig := l10n.Verbatim("")
		if f.Signal != nil {
			sig = signalMsg(f.Signal)
		} else if doc.Signal != nil {
			sig = signalMsg(doc.Signal)
		}
		fmt.Fprintln(w, tr.Sf("text.crash", "Signal", sig, "LWP", f.LWP, "Function", orUnknown(f.Function)))
	}
	fmt.Fprintln(w, tr.Sf("text.verdict", "Confidence", confidenceMsg(a.Confidence), "Verdict", VerdictText(a, tr)))
	if f := a.Fault; f != nil && f.Instruction != "" {
		fmt.Fprintf(w, "\n%s\n", tr.Sf("text.faulting-instruction", "PC", f.PC, "Insn", f.Instruction, "Function", f.Function))
		if f.File != "" {
			fmt.Fprintf(w, "  %s\n", tr.Sf("text.at-line", "File", f.File, "Line", f.Line))
		}
		if f.Register != "" {
			fmt.Fprintln(w, tr.Sf("text.bad-register", "Reg", f.Register, "Val", f.Value))
		}
		if f.Description != "" {
			fmt.Fprintf(w, "  %s\n", FaultText(f, tr))
		}
		for _, s := range f.Origin {
			fmt.Fprintf(w, "  %s\n", tr.Sf("text.origin", "Text", OriginText(s, tr)))
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
			fmt.Fprintln(w, tr.Sf("text.object", "Role", fault.ObjectRole(ob.Role), "Type", ob.Type, "Addr", orDash(ob.Address), "Fields", fields))
			if ob.How != "" {
				fmt.Fprintf(w, "  %s\n", tr.Sf("text.found", "How", said(ob.HowSaid, ob.How)))
			}
		}
	}
	if lw := a.ListWalk; lw != nil {
		fmt.Fprintf(w, "\n%s\n", tr.Sf("text.list-walk", "List", lw.List, "Element", lw.Element, "Hook", lw.HookOffset, "Header", lw.Header, "N", lw.Nodes, "Size", lw.Size))
		for i := range lw.Findings {
			fmt.Fprintf(w, "  - %s\n", FindingText(lw, i, tr))
		}
	}
	if len(a.Others)+len(a.SameCode) > 0 {
		fmt.Fprintf(w, "\n%s\n", tr.Sf("text.others"))
		for _, h := range a.Others {
			path := h.Path
			if path == "" {
				path = h.Function
			}
			fmt.Fprintf(w, "  %s\n", tr.Sf("text.other-holds", "Who", said(h.Said, h.Who), "Where", said(h.WhereSaid, h.Where), "Addr", h.Address,
				"What", said(h.WhatSaid, h.What), "Path", path))
		}
		for _, s := range a.SameCode {
			fmt.Fprintf(w, "  %s\n", tr.Sf("text.same-code", "Who", said(s.Said, s.Who), "Functions", strings.Join(s.Functions, ", ")))
		}
	}
	if m := a.Memory; m != nil {
		writeMemory(w, m, tr)
	}
	if l := a.Logs; l != nil {
		fmt.Fprintf(w, "\n%s\n", tr.Sf("text.logs", "Lines", l.Lines, "Files", len(l.Files), "Unmatched", l.Unmatched))
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
			fmt.Fprintf(w, "  %s\n    %s\n    %s\n", tr.Sf("text.logs-concurrent"), c[0], c[1])
		}
		for _, line := range l.Handler {
			fmt.Fprintf(w, "  %s\n", tr.Sf("text.logs-handler", "Line", line))
		}
		for _, n := range l.Notes {
			fmt.Fprintf(w, "  %s\n", tr.Sf("text.note", "Text", l10n.Untranslated(n)))
		}
	}
	if d := a.Dmesg; d != nil {
		fmt.Fprintf(w, "\n%s\n", tr.Sf("text.kernel-line", "IP", boolMsg(d.IPMatches), "Thread", boolMsg(d.SameThread), "Base", boolMsg(d.BaseOK)))
		for _, n := range d.Notes {
			fmt.Fprintf(w, "  %s\n", tr.S(l10n.Untranslated(n)))
		}
	}
	if n := a.Nested; n != nil {
		fmt.Fprintf(w, "\n%s\n  %s\n", tr.Sf("text.second-fault-analysis", "Signal", n.Signal, "PC", n.PC), tr.S(said(n.Said, n.Description)))
		for _, f := range n.Frames {
			fmt.Fprintf(w, "    %s\n", f)
		}
	}
	for _, h := range a.Handling {
		fmt.Fprintln(w, tr.Sf("text.handling", "LWP", h.LWP, "Role", handlingRole(h.Role), "Text", said(h.Said, h.Text)))
	}
	if x := a.Assertion; x != nil {
		fmt.Fprintf(w, "\n%s\n", tr.Sf("text.assertion", "Text", x.Text, "File", x.File, "Line", x.Line, "Addr", x.Address))
	}
	if len(a.Timeline) > 0 && !o.Brief {
		writeTimeline(w, a.Timeline, tr)
	}
	fmt.Fprintln(w)
	if o.Brief {
		fmt.Fprintln(w, tr.Sf("text.rules", "Rules", strings.Join(a.Rules, ", ")))
	} else {
		fmt.Fprintln(w, tr.Sf("text.evidence"))
		for _, e := range a.Evidence {
			fmt.Fprintf(w, "  - [%s] %s\n", e.Rule, EvidenceText(e, tr))
		}
	}
	for _, s := range a.Warnings {
		fmt.Fprintf(w, "  %s\n", tr.Sf("text.analysis-warning", "Text", l10n.Untranslated(s)))
	}
}

// WriteInspect writes `inspect`'s document in lang's words (nil:
// English).
func WriteInspect(w io.Writer, doc *Inspect, lang *l10n.Printer) {
	tr := printer(lang)
	pr := doc.Process
	fmt.Fprintln(w, tr.Sf("text.core", "Path", doc.Core))
	args := ""
	if pr.Args != "" {
		args = fmt.Sprintf(" (%s)", pr.Args)
	}
	fmt.Fprintln(w, tr.Sf("text.process", "PID", pr.PID, "Exe", orUnknown(pr.Exe), "Args", args, "N", pr.Threads))
	if doc.Signal != nil {
		fmt.Fprintln(w, tr.Sf("text.core-signal", "Signal", signalMsg(doc.Signal), "Description", coreparse.DescriptionSaid(doc.Signal.Signo), "Source", said(doc.Signal.SourceSaid, doc.Signal.Source)))
	}
	if f := doc.Fault; f != nil && f.Signal != nil {
		fmt.Fprintln(w, tr.Sf("text.real-fault", "Signal", signalMsg(f.Signal), "Description", coreparse.DescriptionSaid(f.Signal.Signo), "Source", said(f.Signal.SourceSaid, f.Signal.Source)))
		if f.ReRaised {
			fmt.Fprintf(w, "               %s\n", tr.Sf("text.reraised", "Frame", f.SigFrame))
		}
		loc := l10n.Verbatim(f.Function)
		if f.File != "" {
			loc = l10n.T("text.loc-at", "Function", f.Function, "File", f.File, "Line", f.Line)
		}
		if f.Module != "" {
			loc = l10n.T("text.loc-in", "Where", loc, "Module", f.Module)
		}
		if f.SigInfoNote != "" {
			fmt.Fprintf(w, "               (%s)\n", tr.S(said(f.SigInfoSaid, f.SigInfoNote)))
		}
		if f.Exception != nil {
			fmt.Fprintf(w, "  %s\n", tr.Sf("text.exception", "Text", said(f.Exception.Said, f.Exception.Text)))
		}
		if f.Nested != nil {
			fmt.Fprintln(w, tr.Sf("text.second-fault", "Signal", signalMsg(f.Nested), "Source", said(f.Nested.SourceSaid, f.Nested.Source), "PC", f.NestedPC))
		}
		fmt.Fprintf(w, "  %s\n", tr.Sf("text.fault-thread", "LWP", f.LWP, "PC", f.PC, "Where", loc))
		if x := f.Wild; x != nil {
			fmt.Fprintf(w, "  %s", tr.Sf("text.wild-pc", "PC", x.PC, "Why", said(x.WhySaid, x.Why)))
			if x.Recovered {
				fmt.Fprint(w, tr.Sf("text.wild-caller", "Return", x.ReturnAddr, "Call", x.Call, "CallPC", x.CallPC))
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "  %s\n", tr.Sf("text.registers", "Regs", formatRegs(f.Registers)))
		switch {
		case f.Listing == "":
		case f.Signal.Sent && f.Nested == nil:
			fmt.Fprintf(w, "\n%s\n%s", tr.Sf("text.interrupted-listing"), f.Listing)
		default:
			fmt.Fprintf(w, "\n%s\n%s", tr.Sf("text.faulting-listing"), f.Listing)
		}
	}
	if doc.Analysis != nil {
		fmt.Fprintln(w)
		WriteAnalysis(w, doc, AnalysisText{Lang: tr})
	}
	if r := doc.Waits; r != nil && (r.Stats.Waiting > 0 || r.Watchdog != nil) {
		fmt.Fprintln(w)
		WriteWaits(w, r, tr)
	}
	if c := doc.Crashed; c != nil {
		fmt.Fprintln(w)
		writeThreads(w, []Thread{*c}, tr)
	}
	fmt.Fprintf(w, "\n%s\n", tr.Sf("text.threads", "N", len(doc.Threads)))
	for _, t := range doc.Threads {
		fmt.Fprintf(w, "%s LWP %-8d %-16s %-14s %s\n", flag(t.Crashed, "*", " "), t.LWP, t.Pthread, orDash(t.Name), cxxname.Elide(t.Top))
	}
	if c := doc.Coroutines; c != nil && len(c.Processers)+len(doc.Tasks)+len(c.Warnings) > 0 || c.NoTasks != "" {
		counts := ""
		if c.TaskCount >= 0 {
			counts = tr.Sf("text.scheduler-counts", "N", c.TaskCount)
		}
		fmt.Fprintln(w, "\n"+tr.Sf("text.coroutines", "Profile", ProfileText(c), "Processers", len(c.Processers), "N", len(doc.Tasks), "Counts", counts))
		WriteProfileUse(w, c, "  ")
		writeProcessers(w, c, tr)
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
			WriteTasks(w, c, some, TaskTable{Total: len(doc.Tasks), Shown: -1, Lang: tr})
		}
		if len(some) < len(doc.Tasks) {
			fmt.Fprintf(w, "  %s\n", tr.Sf("text.tasks-shown", "N", len(doc.Tasks)))
		}
		for _, s := range c.Warnings {
			fmt.Fprintf(w, "  %s\n", tr.Sf("text.warning", "Text", l10n.Untranslated(s)))
		}
	}
	fmt.Fprintln(w)
	writeModules(w, doc.Modules, tr)
	if len(doc.Warnings) > 0 {
		fmt.Fprintf(w, "\n%s\n", tr.Sf("text.warnings"))
		for _, s := range doc.Warnings {
			fmt.Fprintf(w, "  %s\n", tr.S(l10n.Untranslated(s)))
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
func writeTimeline(w io.Writer, steps []TimelineStep, tr *l10n.Printer) {
	fmt.Fprintf(w, "\n%s\n", tr.Sf("text.timeline"))
	for i, st := range steps {
		when := st.Time
		switch {
		case when != "":
			when = when[strings.IndexByte(when, ' ')+1:] // the day is the logs'
		case st.AtDump:
			when = tr.Sf("text.at-dump")
		default:
			when = "-"
		}
		fmt.Fprintf(w, "  %2d. %-15s %s\n", i+1, when, StepText(st, tr))
		ev := l10n.Verbatim(st.Ref)
		switch st.Evidence {
		case "log":
			ev = l10n.Verbatim(fmt.Sprintf("%s:%d", st.File, st.Line))
		case "frame":
			ev = l10n.T("text.evidence-frame", "Who", said(st.WhoSaid, st.Who), "Frame", st.Frame, "Function", st.Function)
		}
		fmt.Fprintf(w, "      %s\n", tr.Sf("text.evidence-of", "Kind", st.Evidence, "Ref", ev))
	}
}

// writeMemory is the analysis' memory section: the heap's state of each
// address of interest, then the holders, strongest first.
func writeMemory(w io.Writer, m *AnalysisMemory, tr *l10n.Printer) {
	if len(m.Heap) == 0 && len(m.Holders) == 0 && m.Stats.Stacks == 0 && m.MallocError == "" {
		// Nothing was looked for: the fault names no object (a wild jump,
		// a signal sent), so neither the heap nor the holders were asked.
		fmt.Fprintf(w, "\n%s\n", tr.Sf("text.memory-none"))
		return
	}
	fmt.Fprintf(w, "\n%s\n", tr.Sf("text.heap"))
	if !m.HeapKnown {
		fmt.Fprintf(w, "  %s\n", tr.Sf("text.heap-unknown", "Reason", l10n.Untranslated(m.HeapReason)))
	}
	for _, c := range m.Heap {
		rule := ""
		if c.Rule != "" && c.Rule != "unknown" {
			rule = " [" + c.Rule + "]"
		}
		fmt.Fprintf(w, "  %s: %s%s\n", tr.S(chunkRole(c)), ChunkText(c, tr), rule)
	}
	if m.MallocError != "" {
		fmt.Fprintf(w, "  %s\n", tr.Sf("text.glibc-aborted", "Error", m.MallocError))
	}
	s := m.Stats
	fmt.Fprintln(w, tr.Sf("text.holders", "Stacks", s.Stacks, "Frames", s.Frames, "Variables", s.Variables, "Objects", s.Objects))
	if len(m.Holders) == 0 {
		fmt.Fprintf(w, "  %s\n", tr.Sf("text.none"))
	}
	for _, h := range m.Holders {
		raw := ""
		if h.Fallback {
			raw = " (raw " + h.How + ")"
		}
		fmt.Fprintf(w, "  %s: #%d %s: %s %s %s%s\n", tr.S(said(h.Said, h.Who)), h.Frame, h.Function, h.Expr, h.Relation, h.Role, raw)
	}
	for _, b := range m.Bounds {
		fmt.Fprintf(w, "  %s\n", tr.Sf("text.bound", "Text", l10n.Untranslated(b)))
	}
}
