package main

import (
	"github.com/dsecore/dsecore/analysis/waits"
	"github.com/dsecore/dsecore/report"
	"github.com/spf13/cobra"
)

func newWaitsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "waits CORE",
		Short: "Who waits for whom: every thread's and task's lock, its owner, deadlocks, chains, the heartbeat watchdog",
		Long: `waits unwinds every thread and coroutine task and says what each is blocked
on (glibc's mutex, rwlock, condition and semaphore paths, a raw futex, the
coroutine runtime's Rutex behind co_mutex and co_condition_variable), the
object by C++ expression, and who holds it: the owner the lock word records
(pthread_mutex_t.__owner, the rwlock's writer, ceph::mutex_debug's
locked_by) or, for locks that record none, the frame holding a guard on it
(marked inferred). From the edges: the deadlock cycles with each member's
holding and waiting frame, the waiters behind them, the chains ending in a
holder that waits for no lock, and Ceph's heartbeat watchdog (from --log /
--log-dir and from its frames).`,
		Example: `  dsecore waits core --exe bin/ceph-dse
  dsecore waits core --log-dir /var/log/ceph --json
  dsecore waits core --dot | dot -Tsvg > waits.svg`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openSession(args[0])
			if err != nil {
				return err
			}
			defer s.Close()
			res := s.Waits()
			switch {
			case config.GetBool("json"):
				return writeJSON(cmd.OutOrStdout(), struct {
					Waits    *waits.Result `json:"waits"`
					Warnings []string      `json:"warnings,omitempty"`
				}{res, s.Warnings()})
			case config.GetBool("dot"):
				report.WaitsDOT(cmd.OutOrStdout(), res)
				return nil
			}
			lang, err := langPrinter()
			if err != nil {
				return err
			}
			report.WriteWarnings(cmd.ErrOrStderr(), append(s.Warnings(), res.Warnings...))
			if !res.SummarySaid.IsZero() {
				cmd.Println(lang.S(res.SummarySaid))
			} else if res.Summary != "" {
				cmd.Println(res.Summary)
			} else {
				cmd.Println(lang.Sf("text.nothing-waits"))
			}
			report.WriteWaits(cmd.OutOrStdout(), res, lang)
			return nil
		},
	}
	addCoreFlags(cmd)
	cmd.Flags().Bool("json", false, "print JSON")
	cmd.Flags().Bool("dot", false, "print the graph in Graphviz's DOT")
	cmd.MarkFlagsMutuallyExclusive("json", "dot")
	addAnalysisFlags(cmd) // --log, --log-dir: the heartbeat watchdog's lines
	return cmd
}
