package main

import (
	"fmt"

	"github.com/dsecore/dsecore/coreparse/values"
	"github.com/dsecore/dsecore/report"
	"github.com/spf13/cobra"
)

func newListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list CORE --header ADDR",
		Short: "Walk a boost::intrusive list or slist in the core from its header: nodes and what is wrong",
		Long: `list follows the next_ links of the boost::intrusive list (or slist) whose
header node is at ADDR, bounded, with the walker the fault analysis, the DAP
variables and the gdb bridge's list printer use, and reports the nodes (hook
addresses) and its findings: an inconsistent header, a NULL, poisoned or
unreadable link, a cycle, a prev_ that is not the node before, and, given
--size (size_), an underflowed or mismatched count.`,
		Example: `  dsecore list core --exe bin/ceph-dse --header 0x55defb4b2190 --size 18446744073709551615
  dsecore list core --header 0x7f0010 --kind slist --limit 100 --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			header, err := parseNum(config.GetString("header"))
			if err != nil || header == 0 {
				return fmt.Errorf("list: --header ADDR is required (the list header node's address): %q", config.GetString("header"))
			}
			kind := values.ListKind(config.GetString("kind"))
			if kind != values.List && kind != values.SList {
				return fmt.Errorf("list: --kind is list or slist, not %q", kind)
			}
			o := values.WalkOptions{Kind: kind, Limit: config.GetInt("limit")}
			if s := config.GetString("size"); s != "" {
				u, err := parseNum(s)
				if err != nil {
					return fmt.Errorf("--size: %w", err)
				}
				o.Size, o.HasSize = int64(u), true
			}
			s, err := openSession(args[0])
			if err != nil {
				return err
			}
			defer s.Close()
			doc := report.WalkDoc(values.WalkList(s.Process().Core, header, o))
			if config.GetBool("json") {
				return writeJSON(cmd.OutOrStdout(), doc)
			}
			report.WriteWalk(cmd.OutOrStdout(), &doc)
			return nil
		},
	}
	addCoreFlags(cmd)
	f := cmd.Flags()
	f.String("header", "", "address of the list's header node (data_.root_plus_size_.m_header)")
	f.String("kind", string(values.List), "list (doubly linked: next_, prev_) or slist (next_ only)")
	f.String("size", "", "the list's size_ (unsigned, as stored: 0xffffffffffffffff is -1), checked against the walk")
	f.Int("limit", 10000, "nodes walked at most")
	f.Bool("json", false, "print JSON")
	return cmd
}
