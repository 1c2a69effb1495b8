package main

import (
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
			lang, err := langPrinter()
			if err != nil {
				return err
			}
			s, err := openSession(args[0])
			if err != nil {
				return err
			}
			defer s.Close()
			doc := report.BuildInspect(s)
			if config.GetBool("json") {
				return writeJSON(cmd.OutOrStdout(), doc)
			}
			report.WriteInspect(cmd.OutOrStdout(), doc, lang)
			return nil
		},
	}
	addCoreFlags(cmd)
	cmd.Flags().Bool("json", false, "print JSON")
	addAnalysisFlags(cmd)
	return cmd
}
