package main

import (
	"github.com/dsecore/dsecore/report"
	"github.com/spf13/cobra"
)

func newTasksCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tasks CORE",
		Short: "Every coroutine task of the libgo-style runtime: state, Processer, where it stands, where it was created",
		Long: `tasks walks the coroutine runtime's structures (as the profile describes them:
scheduler roots, Processers, their run/wait/new/done queues) and scans the
stacks for saved contexts, so tasks are found even without debug types.
One line per task: id, state, Processer, the top meaningful frame, and the
function/file/line it was created at.`,
		Example: `  dsecore tasks core --exe bin/ceph-dse
  dsecore tasks core --state block --processer 6
  dsecore tasks core --profile my-fork.yaml --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openSession(args[0])
			if err != nil {
				return err
			}
			defer s.Close()
			rt := s.Runtime()
			state, proc := config.GetString("state"), config.GetInt("processer")
			doc := struct {
				Coroutines *report.Coroutines `json:"coroutines"`
				Tasks      []report.Task      `json:"tasks"`
				Warnings   []string           `json:"warnings,omitempty"`
			}{Coroutines: report.CoroutinesDoc(rt), Tasks: []report.Task{}, Warnings: s.Warnings()}
			for _, t := range rt.Tasks {
				if (state != "" && t.State != state) || (proc >= 0 && t.Processer != proc) {
					continue
				}
				doc.Tasks = append(doc.Tasks, report.TaskDoc(rt, t, false))
			}
			if config.GetBool("json") {
				return writeJSON(cmd.OutOrStdout(), doc)
			}
			report.WriteWarnings(cmd.ErrOrStderr(), append(doc.Warnings, rt.Warnings...))
			report.WriteTasks(cmd.OutOrStdout(), doc.Coroutines, doc.Tasks, report.TaskTable{Title: true, Total: len(rt.Tasks), Shown: -1})
			return nil
		},
	}
	addCoreFlags(cmd)
	cmd.Flags().Bool("json", false, "print JSON")
	cmd.Flags().String("state", "", "only tasks in this state (runnable, block, new, done)")
	cmd.Flags().Int("processer", -1, "only tasks of this Processer")
	return cmd
}
