package main

import (
	"fmt"
	"io"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/report"
	"github.com/spf13/cobra"
)

func newBtCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bt CORE",
		Short: "Backtraces of the crashing thread, one thread, or all threads",
		Long: `bt unwinds threads of the core with DWARF CFI (through signal frames) and
prints their frames like gdb: inline frames are separate frames sharing their
physical frame's pc; caller frames show the return address.`,
		Example: `  dsecore bt core.ceph-dse.2905610                  # the crashing thread
  dsecore bt core --exe bin/ceph-dse --all           # every thread
  dsecore bt core --thread 2905611 --json            # one thread, as JSON
  dsecore bt core --all --solib-search-path /opt/ceph-dse/lib --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := openCore(args[0])
			if err != nil {
				return err
			}
			defer p.Close()
			threads, err := selectThreads(p, config.GetInt("thread"), config.GetBool("all"))
			if err != nil {
				return err
			}
			doc := report.Backtrace{Warnings: p.Warnings}
			for _, t := range threads {
				doc.Threads = append(doc.Threads, report.ThreadBacktrace(p, t))
			}
			if config.GetBool("json") {
				return writeJSON(cmd.OutOrStdout(), doc)
			}
			printWarnings(cmd.ErrOrStderr(), doc.Warnings)
			printBacktraces(cmd.OutOrStdout(), doc.Threads)
			return nil
		},
	}
	addCoreFlags(cmd)
	cmd.Flags().Int("thread", 0, "only the thread with this LWP")
	cmd.Flags().Bool("all", false, "every thread")
	return cmd
}

func selectThreads(p *coreparse.Process, lwp int, all bool) ([]*coreparse.Thread, error) {
	switch {
	case all:
		return p.Threads, nil
	case lwp != 0:
		t := p.ThreadByLWP(lwp)
		if t == nil {
			return nil, fmt.Errorf("no thread with LWP %d in the core (threads: %v)", lwp, lwps(p))
		}
		return []*coreparse.Thread{t}, nil
	default:
		return []*coreparse.Thread{p.CrashedThread()}, nil
	}
}

func lwps(p *coreparse.Process) []int {
	var l []int
	for _, t := range p.Threads {
		l = append(l, t.LWP)
	}
	return l
}

func printBacktraces(w io.Writer, threads []report.Thread) {
	for i, t := range threads {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "Thread LWP %d (pthread %s)%s%s:\n", t.LWP, t.Pthread, nameSuffix(t.Name), crashedSuffix(t.Crashed))
		for n, f := range t.Frames {
			fmt.Fprintf(w, "#%-3d %s\n", n, formatFrame(f))
		}
		if t.Error != "" {
			fmt.Fprintf(w, "     (unwinding stopped: %s)\n", t.Error)
		}
	}
}

func formatFrame(f report.Frame) string {
	if f.Sigtramp {
		return fmt.Sprintf("%18s <signal handler called>", f.PC)
	}
	s := fmt.Sprintf("%18s in %s", f.PC, f.Function)
	if f.Inline {
		s = fmt.Sprintf("%18s in %s [inlined]", "", f.Function)
	}
	switch {
	case f.File != "":
		s += fmt.Sprintf(" at %s:%d", f.File, f.Line)
	case f.Module != "":
		s += " from " + f.Module
	}
	return s
}

func nameSuffix(n string) string {
	if n == "" {
		return ""
	}
	return " \"" + n + "\""
}

func crashedSuffix(c bool) string {
	if c {
		return " [crashed]"
	}
	return ""
}
