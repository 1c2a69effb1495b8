package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/dsecore/dsecore/analysis/coroutines"
	"github.com/spf13/cobra"
)

func newProfileCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "profile",
		Short: "Check a coroutine runtime profile against a core, or write one for a build",
		Long: `A profile names the coroutine runtime's types, members, roots and saved-context
layout (--profile: a built-in name or a YAML file). A fork of libgo that renamed
a member needs only a profile; these commands help write it.

  profile check CORE   every key of the profile: what it resolved to in this
                       core's DWARF (type, offset), what dsecore adapted to this
                       build and why, what failed and what is there instead
  profile init CORE    a complete profile for this build, from its DWARF (types
                       found by shape), symbols and the switch routine's code,
                       for a person to review and commit`,
	}
	cmd.AddCommand(newProfileCheckCmd(), newProfileInitCmd())
	return cmd
}

func newProfileCheckCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "check CORE",
		Short: "Every key of the profile against this core: resolved, adapted or failed",
		Example: `  dsecore profile check core --exe bin/ceph-dse
  dsecore profile check core --profile my-fork.yaml --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o := sessionOptions(args[0])
			o.NoConfirm = true
			s, err := openSessionWith(o)
			if err != nil {
				return err
			}
			defer s.Close()
			// Every key against this core, even on a core without the
			// runtime (which Runtime() would not discover).
			prof := s.CoroutineProfile()
			rt := s.RuntimeWith(prof)
			res := rt.Resolution
			doc := profileCheckDoc{Resolution: res, Tasks: len(rt.Tasks), TaskCount: rt.TaskCount, Processers: len(rt.Processers),
				ProfileLines: res.Lines(), NoTasks: rt.NoTasks, Warnings: append(s.Warnings(), rt.Warnings...)}
			for _, t := range rt.Tasks {
				if t.FoundBy == "scan" {
					doc.ScanOnly++
				}
			}
			if config.GetBool("json") {
				if err := writeJSON(cmd.OutOrStdout(), doc); err != nil {
					return err
				}
			} else {
				printProfileCheck(cmd.OutOrStdout(), args[0], &doc)
			}
			if n := res.Count("failed") + res.Count("pending"); n > 0 {
				return fmt.Errorf("profile %s: %d keys do not resolve in this core", prof.Describe(), n)
			}
			return nil
		},
	}
	addCoreFlags(cmd)
	cmd.Flags().Bool("json", false, "print JSON")
	return cmd
}

type profileCheckDoc struct {
	*coroutines.Resolution
	Tasks        int      `json:"tasks"`      // tasks found with the profile (and the scan)
	ScanOnly     int      `json:"scan_only"`  // of them, found by the stack scan alone
	TaskCount    int64    `json:"task_count"` // the scheduler's count, -1 when unknown
	Processers   int      `json:"processers"`
	ProfileLines []string `json:"profile_lines,omitempty"` // what makes the adaptations explicit
	NoTasks      string   `json:"no_tasks,omitempty"`
	Warnings     []string `json:"warnings,omitempty"`
}

func printProfileCheck(w io.Writer, core string, d *profileCheckDoc) {
	res := d.Resolution
	src := res.Source
	if src == "" {
		src = "?"
	}
	fmt.Fprintf(w, "Profile %s (%s) on %s\n", res.Profile, src, core)
	if res.Module != "" {
		fmt.Fprintf(w, "Types from the DWARF of %s\n", res.Module)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tCONFIGURED\tSTATUS\tRESOLVED\tTYPE\tOFFSET\tIN")
	for _, k := range res.Keys {
		off := ""
		if k.Offset >= 0 {
			off = fmt.Sprintf("%#x", k.Offset)
		}
		status := k.Status
		switch status {
		case "adapted":
			status = "ADAPTED"
		case "failed", "pending":
			status = "FAILED"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.Key, short(k.Want, 40), status, short(k.Got, 40), short(k.Type, 44), off, k.In)
	}
	tw.Flush()
	var notes []string
	for _, k := range res.Keys {
		if k.Note == "" || k.Status == "ok" && !strings.Contains(k.Note, ", not ") {
			continue
		}
		n := fmt.Sprintf("  %s (%s): %s", k.Key, k.Status, k.Note)
		if k.Fix != "" {
			n += "\n      profile line: " + k.Fix
		}
		notes = append(notes, n)
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\n%s\n", strings.Join(notes, "\n"))
	}
	fmt.Fprintf(w, "\n%d keys: %d ok, %d adapted, %d failed, %d absent, %d unset\n", len(res.Keys), res.Count("ok"), res.Count("adapted"),
		res.Count("failed")+res.Count("pending"), res.Count("absent"), res.Count("unset"))
	count := ""
	if d.TaskCount >= 0 {
		count = fmt.Sprintf(" (the scheduler counts %d)", d.TaskCount)
	}
	fmt.Fprintf(w, "In this core: %d Processers, %d tasks%s", d.Processers, d.Tasks, count)
	if d.ScanOnly > 0 {
		fmt.Fprintf(w, ", %d of them found by the stack scan alone", d.ScanOnly)
	}
	fmt.Fprintln(w)
	if d.NoTasks != "" {
		fmt.Fprintln(w, d.NoTasks)
	}
	if len(d.ProfileLines) > 0 {
		fmt.Fprintf(w, "\nTo make the adaptations explicit, a profile for this build (base: %s):\n", res.Profile)
		for _, l := range d.ProfileLines {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
}

func short(s string, n int) string {
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}

func newProfileInitCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "init CORE",
		Short: "Write a complete profile for this build, from its DWARF, symbols and code",
		Long: `init starts from a profile (--base, default ceph-dse) and checks every key
against the core: where this build names a member or type otherwise, it finds
it by shape (the scheduler's container of Processer pointers, the Processer's
queues of tasks, the task's context, stack and created-at fields, the
thread-locals), takes the saved-context layout from the switch routine's code,
and the roots from the variables of the scheduler's type. Every key is written,
each with a comment saying how it was found; review the ADAPTED ones.`,
		Example: `  dsecore profile init core --exe bin/ceph-dse > fork.yaml
  dsecore profile init core --base libgo-v3 --out fork.yaml
  dsecore tasks core --profile fork.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// The session's profile is the base: init starts from it.
			o := sessionOptions(args[0])
			o.CoroutineProfile, o.NoConfirm = config.GetString("base"), true
			s, err := openSessionWith(o)
			if err != nil {
				return err
			}
			defer s.Close()
			p, base := s.Process(), s.CoroutineProfile()
			gen, comments, rt := coroutines.Generate(p, base)
			exe := "?"
			if p.Exe != nil {
				exe = p.Exe.Path + " (build-id " + p.Exe.BuildID() + ")"
			}
			header := fmt.Sprintf("dsecore profile init: the coroutine runtime of %s,\nfrom the core %s, starting from the profile %s.\n"+
				"Review the keys marked ADAPTED; `dsecore profile check CORE --profile THIS-FILE` shows what each resolves to.",
				exe, args[0], base.Describe())
			y, err := gen.YAML(header, comments)
			if err != nil {
				return err
			}
			// What the profile finds, read back as a user will read it.
			check, err := coroutines.ParseProfile(y, "the generated profile")
			if err != nil {
				return fmt.Errorf("internal error: the generated profile does not load: %w", err)
			}
			rt2 := s.RuntimeWith(check)
			if out := config.GetString("out"); out != "" {
				if err := os.WriteFile(out, y, 0o644); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s\n", out)
			} else if _, err := cmd.OutOrStdout().Write(y); err != nil {
				return err
			}
			res := rt.Resolution
			count := ""
			if rt2.TaskCount >= 0 {
				count = fmt.Sprintf(" (the scheduler counts %d)", rt2.TaskCount)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "profile %s: %d keys adapted from %s, %d not resolved; in this core it finds %d Processers and %d tasks%s\n",
				gen.Name, res.Count("adapted"), base.Name, res.Count("failed")+res.Count("pending"), len(rt2.Processers), len(rt2.Tasks), count)
			if rt2.Resolution != nil && rt2.Resolution.Count("adapted") > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: the generated profile still needs adapting: %s\n", strings.Join(rt2.Resolution.Lines(), "; "))
			}
			return nil
		},
	}
	addCoreFlags(cmd)
	cmd.Flags().String("base", coroutines.DefaultProfile, "the profile to start from: a built-in name ("+strings.Join(coroutines.BuiltinNames(), ", ")+") or a YAML file")
	cmd.Flags().String("out", "", "write the profile to this file (default: standard output)")
	return cmd
}
