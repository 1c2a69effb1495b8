package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/dsecore/dsecore/internal/l10n"
	"github.com/dsecore/dsecore/report"
	"github.com/spf13/cobra"
)

// newRenderCmd: a JSON document dsecore printed, as the text dsecore prints
// (the same writers): for tools that keep the document and want the text
// without opening the core again (the gdb bridge).
func newRenderCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "render analysis|tasks|inspect|bt|waits",
		Short: "Print a JSON document of inspect --json (or bt --json) as dsecore's text",
		Long: `render reads a document dsecore wrote with --json (standard input, or --in
FILE) and writes it as the command itself writes text: analysis (the fault
analysis of an inspect document), tasks (its task table, filtered like
dsecore tasks), inspect, bt (a bt --json document), waits (its wait graph,
as dsecore waits writes it). No core is opened.`,
		Example: `  dsecore inspect core --json > doc.json
  dsecore render analysis --in doc.json
  dsecore render tasks --state block --processer 6 < doc.json`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"analysis", "tasks", "inspect", "bt", "waits"},
		RunE: func(cmd *cobra.Command, args []string) error {
			var in io.Reader = cmd.InOrStdin()
			if p := config.GetString("in"); p != "" {
				f, err := os.Open(p)
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			lang, err := langPrinter()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			dec := json.NewDecoder(in)
			if args[0] == "bt" {
				var doc report.Backtrace
				if err := dec.Decode(&doc); err != nil {
					return fmt.Errorf("render: not a bt --json document: %w", err)
				}
				report.WriteBacktrace(w, &doc)
				return nil
			}
			var doc report.Inspect
			if err := dec.Decode(&doc); err != nil {
				return fmt.Errorf("render: not an inspect --json document: %w", err)
			}
			switch args[0] {
			case "analysis":
				report.WriteAnalysis(w, &doc, report.AnalysisText{Brief: config.GetBool("brief"), Lang: lang})
			case "inspect":
				report.WriteInspect(w, &doc, lang)
			case "waits":
				if doc.Waits == nil {
					return fmt.Errorf("render: the document has no waits (an inspect --json document of an older dsecore)")
				}
				if doc.Waits.Summary != "" {
					fmt.Fprintln(w, lang.S(l10n.Untranslated(doc.Waits.Summary))) // JSON keeps no messages
				} else {
					fmt.Fprintln(w, lang.Sf("text.nothing-waits"))
				}
				report.WriteWaits(w, doc.Waits, lang)
			case "tasks":
				state, proc := config.GetString("state"), config.GetInt("processer")
				var tasks []report.Task
				for _, t := range doc.Tasks {
					if state != "" && t.State != state && report.TaskState(t) != state || proc >= 0 && t.Processer != proc {
						continue
					}
					tasks = append(tasks, t)
				}
				report.WriteTasks(w, doc.Coroutines, tasks, report.TaskTable{Title: true, Total: len(doc.Tasks), Shown: config.GetInt64("shown")})
			default:
				return fmt.Errorf("render: %q: want analysis, tasks, inspect, bt or waits", args[0])
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.String("in", "", "the document (default: standard input)")
	f.Bool("brief", false, "analysis: the rules that fired instead of the evidence")
	f.String("state", "", "tasks: only tasks in this state (runnable, block, new, done, running)")
	f.Int("processer", -1, "tasks: only tasks of this Processer")
	f.Int64("shown", -1, "tasks: mark this task with *")
	return cmd
}
