package main

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/dsecore/dsecore/analysis/coroutines"
	"github.com/dsecore/dsecore/fleet/agent"
	"github.com/dsecore/dsecore/fleet/cluster"
	"github.com/dsecore/dsecore/session"
	"github.com/spf13/cobra"
)

func newAgentCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "The node agent: explain each new core of this node into Ceph's crash reports",
		Long: `agent watches this node's core locations (--coredump-dir: systemd-coredump's
store; --core-dir: a directory core_pattern writes into) and Ceph's crash
directories (--crash-dir), analyses each new core once it is complete, one at
a time, in a child process that runs as --user (the package's dsecore system
user) with the core opened for it, limits on memory, CPU time and open files,
a nice value, writes only under --work-dir and no network unless debuginfod
servers are named; and puts the analysis where Ceph's crash pipeline takes
it to the cluster:

  - into the daemon's own report of the same crash (CRASH-DIR/CRASH_ID/meta),
    held back from ceph-crash (meta renamed meta.dsecore-hold) from when the
    agent sees it until its core is analysed, or --hold-timeout without a core;
  - else as a new report CRASH-DIR/CRASH_ID/{meta,done}, which ceph-crash
    posts; with --post the agent posts it itself (ceph crash post) and moves it
    to posted/, as ceph-crash does.

Its state (--state-dir) survives restarts: no core is analysed twice, none
is skipped; a core that cannot be analysed is reported (dsecore_error in its
report) with the reason, once. --once makes one pass and exits (for a
systemd timer or path unit): passes until no report is held and no core
is pending, at most the hold timeout.`,
		Example: `  dsecore agent --config /etc/dsecore/dsecore.yaml
  dsecore agent --once --coredump-dir /var/lib/systemd/coredump --crash-dir /var/lib/ceph/crash --user dsecore`,
		Args: cobra.NoArgs,
		RunE: runAgent,
	}
	f := cmd.Flags()
	f.StringSlice("core-dir", nil, "a directory cores are written into by core_pattern (repeatable; searched recursively)")
	f.StringSlice("coredump-dir", nil, "systemd-coredump's store (repeatable; e.g. /var/lib/systemd/coredump)")
	f.StringSlice("crash-dir", nil, "a Ceph crash directory (repeatable; e.g. /var/lib/ceph/crash): daemons' reports are enriched there, new ones written into the first")
	f.String("state-dir", "/var/lib/dsecore/agent", "the agent's state")
	f.String("work-dir", "/var/cache/dsecore/agent", "the analysis child's only writable directory (decompressed cores, DWARF cache)")
	f.String("user", "", "the user the analysis runs as: a name (dsecore) or UID:GID (required when the agent runs as root)")
	f.String("node", "", "this node's name in the reports (default: the host name)")
	f.Bool("once", false, "one pass, then exit")
	f.Duration("interval", agent.DefaultInterval, "between passes")
	f.Duration("settle", agent.DefaultSettle, "a core_pattern core is complete once unchanged this long")
	f.Duration("hold-timeout", agent.DefaultHoldTimeout, "how long a daemon's report waits for its core")
	f.Int("max-attempts", agent.DefaultMaxAttempts, "interrupted analyses of one core before it is reported failed")
	f.Int64("memory-limit", agent.DefaultMemoryLimit, "address space of an analysis, bytes")
	f.Duration("cpu-limit", agent.DefaultCPULimit, "CPU time of an analysis")
	f.Duration("timeout", agent.DefaultTimeout, "wall time of an analysis")
	f.Uint64("max-files", agent.DefaultMaxFiles, "open files of an analysis")
	f.Int("nice", agent.DefaultNice, "nice value of an analysis")
	f.Bool("post", false, "post each report (ceph crash post) and move it to posted/, instead of leaving it to ceph-crash")
	f.String("conf", "", "the cluster's ceph.conf, for --post and for replacing a daemon's report ceph-crash posted before the analysis")
	f.String("ceph-name", "", "the entity the ceph command authenticates as")
	f.String("keyring", "", "its keyring")
	f.StringSlice("debuginfod-url", nil, "debuginfod servers the analysis may ask (the only network it has)")
	f.StringSlice("solib-search-path", nil, "directory searched for libraries by name and, recursively, by build-id (repeatable)")
	f.String("sysroot", "", "prefix prepended to every absolute path the cores name")
	f.StringSlice("debug-file-directory", nil, "root of separate debug files (repeatable; default /usr/lib/debug)")
	f.String("profile", session.DefaultCoroutineProfile, "coroutine runtime profile: a built-in name ("+strings.Join(coroutines.BuiltinNames(), ", ")+") or a YAML file")
	f.String("analysis-profile", session.DefaultAnalysisProfile, "fault-analysis profile")
	f.Int64("max-core-size", session.DefaultMaxCoreSize, "largest decompressed core, in bytes")
	return cmd
}

func runAgent(cmd *cobra.Command, args []string) error {
	cfg := agent.Config{
		CoreDirs: config.GetStringSlice("core-dir"), CoredumpDirs: config.GetStringSlice("coredump-dir"),
		CrashDirs: config.GetStringSlice("crash-dir"), StateDir: config.GetString("state-dir"), WorkDir: config.GetString("work-dir"),
		User: config.GetString("user"), Node: config.GetString("node"), Interval: config.GetDuration("interval"),
		Settle: config.GetDuration("settle"), HoldTimeout: config.GetDuration("hold-timeout"), MaxAttempts: config.GetInt("max-attempts"),
		MemoryLimit: config.GetInt64("memory-limit"), CPULimit: config.GetDuration("cpu-limit"), Timeout: config.GetDuration("timeout"),
		MaxFiles: config.GetUint64("max-files"), Nice: config.GetInt("nice"), Post: config.GetBool("post"),
		Ceph:            cluster.Client{Conf: config.GetString("conf"), Name: config.GetString("ceph-name"), Keyring: config.GetString("keyring")},
		DebuginfodURLs:  config.GetStringSlice("debuginfod-url"),
		SolibSearchPath: config.GetStringSlice("solib-search-path"), Sysroot: config.GetString("sysroot"),
		DebugFileDirs: config.GetStringSlice("debug-file-directory"), CoroutineProfile: config.GetString("profile"),
		AnalysisProfile: config.GetString("analysis-profile"), MaxCoreSize: config.GetInt64("max-core-size"),
		StopAt: os.Getenv("DSECORE_AGENT_TEST_STOP_AT"),
	}
	a, err := agent.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if config.GetBool("once") {
		st, err := a.Pass(ctx)
		fmt.Fprintf(cmd.OutOrStdout(), "dsecore agent: %s\n", st)
		return err
	}
	return a.Run(ctx)
}

// newAgentChildCmd is the agent's analysis child (hidden): the job on
// stdin, the core on descriptor 3, the summary on stdout.
func newAgentChildCmd() *cobra.Command {
	return &cobra.Command{
		Use:    agent.ChildCommand,
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return agent.RunChild(os.Stdin, cmd.OutOrStdout())
		},
	}
}
