package main

import (
	"fmt"
	"io"

	"github.com/dsecore/dsecore/analysis/coroutines"
	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/internal/par"
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
  dsecore bt core --all --solib-search-path /opt/ceph-dse/lib --json
  dsecore bt core --task 67                          # one coroutine task's stack
  dsecore bt core --all --all-tasks --json           # every thread and every task`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := openCore(args[0])
			if err != nil {
				return err
			}
			defer p.Close()
			taskID, allTasks := config.GetInt64("task"), config.GetBool("all-tasks")
			wantTasks := taskID >= 0 || allTasks
			// The runtime names the Processer threads; tasks need the scan too.
			rt, err := discover(p, wantTasks)
			if err != nil {
				return err
			}
			var threads []*coreparse.Thread
			if !wantTasks || config.GetBool("all") || config.GetInt("thread") != 0 {
				if threads, err = selectThreads(p, config.GetInt("thread"), config.GetBool("all")); err != nil {
					return err
				}
			}
			doc := report.Backtrace{Warnings: p.Warnings}
			for _, t := range threads {
				doc.Threads = append(doc.Threads, report.ThreadBacktrace(p, t))
			}
			if wantTasks {
				doc.Coroutines = report.CoroutinesDoc(rt)
				var chosen []*coroutines.Task
				for _, t := range rt.Tasks {
					if allTasks || t.ID == taskID {
						chosen = append(chosen, t)
					}
				}
				doc.Tasks = make([]report.Task, len(chosen))
				par.Do(len(chosen), func(i int) { doc.Tasks[i] = report.TaskDoc(rt, chosen[i], true) })
				if !allTasks && len(doc.Tasks) == 0 {
					return fmt.Errorf("no task with id %d (%d tasks found; see dsecore tasks)", taskID, len(rt.Tasks))
				}
			}
			if config.GetBool("json") {
				return writeJSON(cmd.OutOrStdout(), doc)
			}
			printWarnings(cmd.ErrOrStderr(), doc.Warnings)
			printBacktraces(cmd.OutOrStdout(), doc.Threads)
			printTaskBacktraces(cmd.OutOrStdout(), doc.Tasks, len(doc.Threads) > 0)
			if wantTasks {
				fmt.Fprintf(cmd.OutOrStdout(), "\n(coroutine profile %s)\n", profileText(doc.Coroutines))
				if doc.Coroutines.NoTasks != "" {
					fmt.Fprintln(cmd.OutOrStdout(), doc.Coroutines.NoTasks)
				}
			}
			return nil
		},
	}
	addCoreFlags(cmd)
	cmd.Flags().Int("thread", 0, "only the thread with this LWP")
	cmd.Flags().Bool("all", false, "every thread")
	cmd.Flags().Int64("task", -1, "the coroutine task with this id (see dsecore tasks)")
	cmd.Flags().Bool("all-tasks", false, "every coroutine task (with --all: threads and tasks in one document)")
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

func printTaskBacktraces(w io.Writer, tasks []report.Task, sep bool) {
	for i, t := range tasks {
		if i > 0 || sep {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "Task %d [%s] on Processer %d%s, found by %s", t.ID, t.State, t.Processer, runningSuffix(t), t.FoundBy)
		if t.Func != "" {
			fmt.Fprintf(w, ", created in %s (%s:%d)", t.Func, t.File, t.Line)
		}
		fmt.Fprintln(w, ":")
		for n, f := range t.Frames {
			fmt.Fprintf(w, "#%-3d %s\n", n, formatFrame(f))
		}
		if len(t.Frames) == 0 {
			fmt.Fprintln(w, "     (no stack: the task has not started or is done)")
		}
		if t.Error != "" {
			fmt.Fprintf(w, "     (unwinding stopped: %s)\n", t.Error)
		}
	}
}

func runningSuffix(t report.Task) string {
	if t.Running {
		return fmt.Sprintf(" (running on LWP %d)", t.LWP)
	}
	return ""
}

func formatFrame(f report.Frame) string {
	if f.Boundary {
		return fmt.Sprintf("%18s --- %s ---", "", f.Function)
	}
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
