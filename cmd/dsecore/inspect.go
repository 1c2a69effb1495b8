package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/dsecore/dsecore/analysis/fault"
	"github.com/dsecore/dsecore/report"
	"github.com/spf13/cobra"
)

func newInspectCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "inspect CORE",
		Short: "A one-page account of a core: process, signal, real fault, crashing stack, threads, modules",
		Long: `inspect opens the core with its executable and libraries and reports:
the process; the core's own signal record and the real fault (when a handler
re-raised the signal, the core says "sent by tkill" and the real fault lies in
the kernel's signal frame on the stack: both are shown); the crashing thread's
stack; every thread with where it stands; every module with its build-id and
whether its files were found (a build-id mismatch is loud).`,
		Example: `  dsecore inspect core --exe bin/ceph-dse
  dsecore inspect core --solib-search-path /opt/ceph-dse/lib --json
  DSECORE_SOLIB_SEARCH_PATH=/opt/ceph-dse/lib dsecore inspect core`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := openCore(args[0])
			if err != nil {
				return err
			}
			defer p.Close()
			rt, err := discover(p, true)
			if err != nil {
				return err
			}
			doc := report.BuildInspect(p, args[0], rt)
			prof, err := fault.LoadProfile(config.GetString("analysis-profile"))
			if err != nil {
				return err
			}
			logs := append(config.GetStringSlice("log"), config.GetStringSlice("log-dir")...)
			a := fault.Analyze(p, rt, fault.Options{Profile: prof, Logs: logs, Dmesg: config.GetString("dmesg"),
				ConcurrencyWindowUS: config.GetInt64("concurrency-window-us")})
			doc.Analysis = report.AnalysisDoc(a)
			if config.GetBool("json") {
				return writeJSON(cmd.OutOrStdout(), doc)
			}
			printInspect(cmd.OutOrStdout(), doc)
			return nil
		},
	}
	addCoreFlags(cmd)
	f := cmd.Flags()
	f.StringSlice("log", nil, "ceph-dse log file (repeatable) for correlation with the threads")
	f.StringSlice("log-dir", nil, "directory of ceph-dse logs (*.log*)")
	f.String("dmesg", "", "the kernel's segfault line, or a file of kernel messages, to check against the core")
	f.String("analysis-profile", "dcache", "fault-analysis profile: dcache (built in) or a YAML file")
	f.Int64("concurrency-window-us", 1000, "two threads logging the same step within this many µs are flagged as concurrent")
	return cmd
}

func printInspect(w io.Writer, doc *report.Inspect) {
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
		fmt.Fprintf(w, "  thread LWP %d, pc %s: %s\n", f.LWP, f.PC, loc)
		fmt.Fprintf(w, "  registers: %s\n", formatRegs(f.Registers))
		if f.Listing != "" {
			fmt.Fprintf(w, "\nFaulting instruction (=>), AT&T:\n%s", f.Listing)
		}
	}
	if an := doc.Analysis; an != nil {
		printAnalysis(w, an)
	}
	if c := doc.Crashed; c != nil {
		fmt.Fprintln(w)
		printBacktraces(w, []report.Thread{*c})
	}
	fmt.Fprintf(w, "\nThreads (%d):\n", len(doc.Threads))
	for _, t := range doc.Threads {
		mark := " "
		if t.Crashed {
			mark = "*"
		}
		name := t.Name
		if name == "" {
			name = "-"
		}
		fmt.Fprintf(w, "%s LWP %-8d %-16s %-14s %s\n", mark, t.LWP, t.Pthread, name, t.Top)
	}
	if c := doc.Coroutines; c != nil {
		fmt.Fprintf(w, "\nCoroutines (profile %s): %d Processers, %d tasks", profileText(c), len(c.Processers), len(doc.Tasks))
		if c.TaskCount >= 0 {
			fmt.Fprintf(w, " (the scheduler counts %d)", c.TaskCount)
		}
		fmt.Fprintln(w)
		if c.NoTasks != "" {
			fmt.Fprintf(w, "  %s\n", c.NoTasks)
		}
		for _, pr := range c.Processers {
			running := "idle"
			if pr.Running >= 0 {
				running = fmt.Sprintf("running task %d", pr.Running)
			}
			fmt.Fprintf(w, "  Processer_%-3d LWP %-8d %-16s runnable %d, wait %d, new %d, done %d\n", pr.ID, pr.LWP, running,
				pr.ByState["runnable"], pr.ByState["block"], pr.ByState["new"], pr.ByState["done"])
		}
		shown := 0
		for _, t := range doc.Tasks {
			if t.Running || t.State == "block" && shown < 20 {
				if !t.Running {
					shown++
				}
				fmt.Fprintf(w, "  task %-6d %-9s Processer %-3d %s\n", t.ID, t.State+map[bool]string{true: "*", false: ""}[t.Running], t.Processer, t.Top)
			}
		}
		if n := len(doc.Tasks); n > shown {
			fmt.Fprintf(w, "  (running tasks marked *; %d blocked shown; dsecore tasks lists all %d)\n", shown, n)
		}
		for _, s := range c.Warnings {
			fmt.Fprintf(w, "  warning: %s\n", s)
		}
	}
	fmt.Fprintf(w, "\nModules (%d):\n", len(doc.Modules))
	for _, m := range doc.Modules {
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
	}
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

func printAnalysis(w io.Writer, a *report.Analysis) {
	fmt.Fprintf(w, "\nVerdict (confidence %s): %s\n", a.Confidence, a.Verdict)
	fmt.Fprintln(w, "Evidence:")
	for _, e := range a.Evidence {
		fmt.Fprintf(w, "  - [%s] %s\n", e.Rule, e.Text)
	}
	if l := a.Logs; l != nil {
		fmt.Fprintf(w, "Logs (%d lines from %d files; %d lines of threads not in the core):\n", l.Lines, len(l.Files), l.Unmatched)
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
		for _, n := range l.Notes {
			fmt.Fprintf(w, "  note: %s\n", n)
		}
	}
	if d := a.Dmesg; d != nil {
		fmt.Fprintf(w, "Kernel line: ip matches %v, same thread %v, mapping base matches %v\n", d.IPMatches, d.SameThread, d.BaseOK)
		for _, n := range d.Notes {
			fmt.Fprintf(w, "  %s\n", n)
		}
	}
	for _, s := range a.Warnings {
		fmt.Fprintf(w, "  analysis warning: %s\n", s)
	}
}
