package main

import (
	"fmt"
	"io"
	"strings"

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
			p, err := openCore(args[0])
			if err != nil {
				return err
			}
			defer p.Close()
			rt, err := discover(p, true)
			if err != nil {
				return err
			}
			state, proc := config.GetString("state"), config.GetInt("processer")
			doc := struct {
				Coroutines *report.Coroutines `json:"coroutines"`
				Tasks      []report.Task      `json:"tasks"`
				Warnings   []string           `json:"warnings,omitempty"`
			}{Coroutines: report.CoroutinesDoc(rt), Tasks: []report.Task{}, Warnings: p.Warnings}
			for _, t := range rt.Tasks {
				if (state != "" && t.State != state) || (proc >= 0 && t.Processer != proc) {
					continue
				}
				doc.Tasks = append(doc.Tasks, report.TaskDoc(rt, t, false))
			}
			if config.GetBool("json") {
				return writeJSON(cmd.OutOrStdout(), doc)
			}
			printWarnings(cmd.ErrOrStderr(), append(doc.Warnings, rt.Warnings...))
			printTasks(cmd.OutOrStdout(), doc.Coroutines, doc.Tasks)
			return nil
		},
	}
	addCoreFlags(cmd)
	cmd.Flags().String("state", "", "only tasks in this state (runnable, block, new, done)")
	cmd.Flags().Int("processer", -1, "only tasks of this Processer")
	return cmd
}

// profileText names the profile a face used: "ceph-dse (built-in)".
func profileText(c *report.Coroutines) string {
	if c.ProfileSource == "" || c.ProfileSource == c.Profile {
		return c.Profile
	}
	return c.Profile + " (" + c.ProfileSource + ")"
}

func printTasks(w io.Writer, c *report.Coroutines, tasks []report.Task) {
	fmt.Fprintf(w, "%-6s %-9s %-4s %-9s %-60s %s\n", "ID", "STATE", "PROC", "FOUND BY", "WHERE", "CREATED AT")
	for _, t := range tasks {
		state := t.State
		if t.Running {
			state += "*"
		}
		created := ""
		if t.Func != "" {
			created = fmt.Sprintf("%s (%s:%d)", t.Func, baseName(t.File), t.Line)
		}
		fmt.Fprintf(w, "%-6d %-9s %-4d %-9s %-60s %s\n", t.ID, state, t.Processer, t.FoundBy, t.Top, created)
	}
	fmt.Fprintf(w, "(%d tasks; * = running; profile %s)\n", len(tasks), profileText(c))
	if c.NoTasks != "" {
		fmt.Fprintln(w, c.NoTasks)
	}
	if len(c.ProfileLines) > 0 {
		fmt.Fprintf(w, "(the profile was adapted to this build; to say so in it: %s)\n", strings.Join(c.ProfileLines, "; "))
	}
}
