package main

import (
	"fmt"

	"github.com/dsecore/dsecore/analysis/coroutines"
	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/internal/mmap"
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
physical frame's pc; caller frames show the return address.

Threads are named as the core names them (the main thread by the program's
name, the crashing one by Ceph's fatal-signal handler's message when it
wrote one), else after their entry routine (the outermost function of the
application on the stack: AdminSocket::entry, EventCenter::process_events).
A thread's stack needs no coroutine discovery, so --all does not run it and
Processer threads show their entry routine, not "Processer_N"; --task and
--all-tasks discover the runtime, and then the Processers name their threads.`,
		Example: `  dsecore bt core.ceph-dse.2905610                  # the crashing thread
  dsecore bt core --exe bin/ceph-dse --all           # every thread
  dsecore bt core --thread 2905611 --json            # one thread, as JSON
  dsecore bt core --all --solib-search-path /opt/ceph-dse/lib --json
  dsecore bt core --task 67                          # one coroutine task's stack
  dsecore bt core --all --all-tasks --json           # every thread and every task`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			taskID, allTasks, asJSON := config.GetInt64("task"), config.GetBool("all-tasks"), config.GetBool("json")
			wantTasks := taskID >= 0 || allTasks
			if !wantTasks && !config.GetBool("all") {
				smallHeapGC() // one thread's stack: the first answer
			}
			// The tasks' saved contexts are checked by the unwinds that
			// give their stacks (report.Tasks), not by a pass of their own
			// before: FoundBy and the runtime's warnings are read after.
			// One core, then exit: the exit unmaps the files at once.
			mmap.LeaveToExit()
			o := sessionOptions(args[0])
			o.DeferConfirm = true
			// The first answer cold: the caches it needs not are left to
			// the background fill (fill.go).
			o.AnswerFirst = !wantTasks && !config.GetBool("all") && answerFirst()
			s, err := openSessionWith(o)
			if err != nil {
				return err
			}
			defer func() {
				s.Close()
				if err == nil && s.Deferred() {
					pendingFill = s.CacheDir()
				}
			}()
			p := s.Process()
			// A thread's stack needs no coroutine discovery; tasks do (and
			// then the Processers name their threads).
			var rt *coroutines.Runtime
			if wantTasks {
				rt = s.Discovered()
			}
			var threads []*coreparse.Thread
			if !wantTasks || config.GetBool("all") || config.GetInt("thread") != 0 {
				if threads, err = selectThreads(p, config.GetInt("thread"), config.GetBool("all")); err != nil {
					return err
				}
			}
			doc := report.Backtrace{Warnings: s.Warnings()}
			// Every thread's stack on all CPUs (64 Processer threads are
			// as many independent unwinds), in the threads' order.
			if len(threads) > 0 {
				doc.Threads = make([]report.Thread, len(threads))
			}
			par.Do(len(threads), func(i int) { doc.Threads[i] = report.ThreadBacktrace(p, threads[i]) })
			// The tasks' stacks are written as they are made (report.Tasks:
			// a chunk at a time on all CPUs), never held all at once.
			tasks := report.TaskList(nil)
			if wantTasks {
				var chosen []*coroutines.Task
				for _, t := range rt.Tasks {
					if allTasks || t.ID == taskID {
						chosen = append(chosen, t)
					}
				}
				if !allTasks && len(chosen) == 0 {
					return fmt.Errorf("no task with id %d (%d tasks found; see dsecore tasks)", taskID, len(rt.Tasks))
				}
				tasks = func(each func(*report.Task) error) error {
					if err := report.Tasks(rt, chosen, true, !asJSON, each); err != nil {
						return err
					}
					rt.Confirm() // the contexts no stack above checked
					doc.Coroutines = report.CoroutinesDoc(rt)
					return nil
				}
			}
			if asJSON {
				return report.WriteBacktraceJSON(cmd.OutOrStdout(), &doc, tasks)
			}
			report.WriteWarnings(cmd.ErrOrStderr(), doc.Warnings)
			if err := report.WriteBacktraceStream(cmd.OutOrStdout(), &doc, tasks); err != nil {
				return err
			}
			return nil
		},
	}
	addCoreFlags(cmd)
	cmd.Flags().Bool("json", false, "print JSON")
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
