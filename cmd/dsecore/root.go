package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"

	"github.com/dsecore/dsecore/analysis/coroutines"
	"github.com/dsecore/dsecore/internal/memlimit"
	"github.com/dsecore/dsecore/internal/mmap"
	"github.com/dsecore/dsecore/internal/yamlfile"
	"github.com/dsecore/dsecore/session"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// config is the viper instance every command reads its settings from:
// flags first, then DSECORE_* variables, then the config file.
var config = viper.New()

func newRootCmd() *cobra.Command {
	var cfgFile, cpuProfile, memProfile string
	var stopProfile func()
	root := &cobra.Command{
		Use:   "dsecore",
		Short: "Post-mortem debugger backend for ceph-dse crash dumps",
		Long: `dsecore opens an ELF core of ceph-dse together with its executable and
libraries, symbolizes it with DWARF (inline frames, C++ names) and unwinds every
thread with CFI, through signal frames.

Settings come from flags, DSECORE_* environment variables (DSECORE_EXE,
DSECORE_SOLIB_SEARCH_PATH, DSECORE_SYSROOT, DSECORE_DEBUG_FILE_DIRECTORY, ...)
and one YAML file: --config FILE, else $DSECORE_CONFIG, else ./dsecore.yaml,
else ~/.config/dsecore/dsecore.yaml (nothing else is read as configuration), e.g.

  exe: /opt/ceph-dse/bin/ceph-dse
  solib-search-path: [/opt/ceph-dse/lib]
  debug-file-directory: [/usr/lib/debug]`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			running = cmd
			if cpuProfile != "" && !isFill() { // the fill writes no profile over its parent's
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					f.Close()
					return err
				}
				stopProfile = func() { pprof.StopCPUProfile(); f.Close() }
			}
			if err := loadConfig(cmd, cfgFile); err != nil {
				return err
			}
			return configureMemory()
		},
		PersistentPostRun: func(cmd *cobra.Command, args []string) {
			if stopProfile != nil {
				stopProfile()
			}
			if memProfile != "" && !isFill() {
				writeHeapProfile(memProfile)
			}
		},
	}
	root.PersistentFlags().StringVar(&cfgFile, "config", "", "config file (also $DSECORE_CONFIG; default ./dsecore.yaml, then ~/.config/dsecore/dsecore.yaml)")
	root.PersistentFlags().String("max-memory", "", "soft limit of the memory dsecore uses (e.g. 512M, 2G): near it the garbage collector works harder and caches shrink instead of the process dying (default: from the cgroup's memory.max and ulimit -v, else none)")
	root.PersistentFlags().String("lang", "", "language of the text and HTML output: en or zh-CN (default: from LC_ALL, LC_MESSAGES, LANG); JSON is the same in every language")
	root.PersistentFlags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile (go tool pprof) of this command to the file")
	root.PersistentFlags().MarkHidden("cpuprofile")
	root.PersistentFlags().StringVar(&memProfile, "memprofile", "", "write an allocation profile (go tool pprof -sample_index=alloc_space) of this command to the file")
	root.PersistentFlags().MarkHidden("memprofile")
	root.AddCommand(newBtCmd(), newInspectCmd(), newSymbolizeCmd(), newTasksCmd(), newDapCmd(), newSummarizeCmd(), newRenderCmd(), newListCmd(), newProfileCmd(), newWaitsCmd(), newAgentCmd(), newAgentChildCmd())
	for _, c := range extraCommands {
		root.AddCommand(c())
	}
	return root
}

// extraCommands are commands built in by a build tag (gendocs).
var extraCommands []func() *cobra.Command

// smallHeapGC lets the garbage collector run a fourth as often (GOGC 400)
// for a command whose heap stays small whatever the core: one thread's
// stack, whose peak RSS is the files it maps (~25 MiB with GOGC 100 or
// 400 on the field crash, ceph-mon and the 10,000-task core), not its
// ~10 MB of heap. Collections were ~15% of a warm first answer's CPU and
// their sweeps' fresh spans a sixth of its page faults. GOGC in the
// environment wins.
func smallHeapGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
}

// configureMemory sets the Go runtime's soft memory limit from
// --max-memory ($DSECORE_MAX_MEMORY, max-memory:), the cgroup and ulimit -v.
func configureMemory() error {
	var max int64
	if v := config.GetString("max-memory"); v != "" {
		n, err := memlimit.ParseSize(v)
		if err != nil {
			return fmt.Errorf("--max-memory: %w", err)
		}
		max = n
	}
	_, err := memlimit.Configure(max)
	return err
}

func loadConfig(cmd *cobra.Command, cfgFile string) error {
	config.SetEnvPrefix("DSECORE")
	config.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	config.AutomaticEnv()
	path, err := configPath(cfgFile)
	if err != nil {
		return err
	}
	if path != "" {
		if err := readConfig(path); err != nil {
			return err
		}
	}
	var bindErr error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if err := config.BindPFlag(f.Name, f); err != nil && bindErr == nil {
			bindErr = err
		}
	})
	return bindErr
}

// configPath is the one configuration file dsecore reads, by name only:
// --config FILE, else $DSECORE_CONFIG, else ./dsecore.yaml, else
// ~/.config/dsecore/dsecore.yaml; "" when there is none. Nothing else in
// the working directory is ever read as configuration (viper's search by
// base name would take an executable named dsecore for one). A file named
// explicitly must exist; one found by the search must be a regular file.
func configPath(cfgFile string) (string, error) {
	explicit, how := cfgFile, "--config"
	if explicit == "" {
		explicit, how = os.Getenv("DSECORE_CONFIG"), "DSECORE_CONFIG"
	}
	if explicit != "" {
		st, err := os.Stat(explicit)
		switch {
		case errors.Is(err, os.ErrNotExist):
			return "", fmt.Errorf("config: %s names %s, which does not exist", how, explicit)
		case err != nil:
			return "", fmt.Errorf("config: %s: %w", how, err)
		case !st.Mode().IsRegular():
			return "", fmt.Errorf("config: %s names %s, which is not a regular file", how, explicit)
		}
		return explicit, nil
	}
	candidates := []string{"dsecore.yaml"}
	if home, err := os.UserHomeDir(); err == nil {
		candidates = append(candidates, filepath.Join(home, ".config", "dsecore", "dsecore.yaml"))
	}
	for _, c := range candidates {
		if st, err := os.Stat(c); err == nil && st.Mode().IsRegular() {
			return c, nil
		}
	}
	return "", nil
}

// readConfig parses path as YAML and hands it to viper. A malformed file is
// one line naming the file and what the parser said, with its line and
// column.
func readConfig(path string) error {
	data, err := yamlfile.ReadMapping(path, nil)
	if err != nil {
		return fmt.Errorf("config %w", err)
	}
	config.SetConfigType("yaml")
	if err := config.ReadConfig(bytes.NewReader(data)); err != nil {
		return fmt.Errorf("config %s: %s", path, strings.Join(strings.Fields(err.Error()), " "))
	}
	return nil
}

// addCoreFlags declares the flags that say where a core's files are and
// how its coroutines are found; their defaults are the session's.
func addCoreFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.String("exe", "", "the executable (default: found from the core's file mappings)")
	pathsFlag(cmd, "solib-search-path", "directory searched for shared libraries by name, then by build-id")
	f.String("sysroot", "", "prefix prepended to every absolute path the core names")
	pathsFlag(cmd, "debug-file-directory", "root of separate debug files, searched by build-id and debuglink (default "+strings.Join(session.DefaultDebugFileDirs(), ", ")+")")
	f.Duration("debuginfod-timeout", 0, "per request to the debuginfod servers of $DEBUGINFOD_URLS (default $DEBUGINFOD_TIMEOUT seconds, else "+session.DefaultDebuginfodTimeout.String()+"); a server that fails is not asked again")
	f.Int("max-frames", session.DefaultMaxFrames, "frames unwound per stack at most (a deeper stack is cut and says so)")
	f.String("profile", session.DefaultCoroutineProfile, "coroutine runtime profile: a built-in name ("+strings.Join(coroutines.BuiltinNames(), ", ")+") or a YAML file")
	f.Bool("full-scan", false, "sweep all anonymous memory for saved task contexts even when the runtime's queues account for every task (slow on a large heap)")
}

// addAnalysisFlags declares the fault analysis' inputs.
func addAnalysisFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	pathsFlag(cmd, "log", "ceph-dse log file for correlation with the threads")
	pathsFlag(cmd, "log-dir", "directory of ceph-dse logs (*.log*)")
	f.String("dmesg", "", "the kernel's segfault line, or a file of kernel messages, to check against the core")
	f.String("analysis-profile", session.DefaultAnalysisProfile, "fault-analysis profile: "+session.DefaultAnalysisProfile+" (built in) or a YAML file")
	f.Int64("concurrency-window-us", session.DefaultConcurrencyWindowUS, "two threads logging the same step within this many µs are flagged as concurrent")
}

// sessionOptions are the session's options from the flags, DSECORE_*
// variables and the config file.
func sessionOptions(core string) session.Options {
	return session.Options{
		Core:                core,
		Exe:                 config.GetString("exe"),
		SolibSearchPath:     getPaths("solib-search-path"),
		Sysroot:             config.GetString("sysroot"),
		DebugFileDirs:       getPaths("debug-file-directory"),
		DebuginfodTimeout:   config.GetDuration("debuginfod-timeout"),
		CoroutineProfile:    config.GetString("profile"),
		AnalysisProfile:     config.GetString("analysis-profile"),
		FullScan:            config.GetBool("full-scan"),
		MaxFrames:           config.GetInt("max-frames"),
		Logs:                append(getPaths("log"), getPaths("log-dir")...),
		Dmesg:               config.GetString("dmesg"),
		ConcurrencyWindowUS: config.GetInt64("concurrency-window-us"),
	}
}

// openSession opens the core named on the command line.
func openSession(core string) (*session.Session, error) {
	return openSessionWith(sessionOptions(core))
}

// sessions are the sessions the command opened: at its end, main warns of
// their files that changed while they were read.
var sessions struct {
	sync.Mutex
	l []*session.Session
}

// openSessionWith opens a session for the command, remembered for the
// warning of files that changed.
func openSessionWith(o session.Options) (*session.Session, error) {
	s, err := session.Open(o)
	if err == nil {
		sessions.Lock()
		sessions.l = append(sessions.l, s)
		sessions.Unlock()
	}
	return s, err
}

// changedFiles are the files the command's sessions (and its mappings:
// symbolize's library) read that changed meanwhile, one line each.
func changedFiles() []string {
	sessions.Lock()
	l := append([]*session.Session(nil), sessions.l...)
	sessions.Unlock()
	var out []string
	for _, s := range l {
		out = append(out, s.Changed()...)
	}
	out = append(out, mmap.Changed()...)
	slices.Sort(out)
	return slices.Compact(out)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeHeapProfile writes the allocations of the run so far (every
// allocation's bytes and count, sampled as the runtime does).
func writeHeapProfile(path string) {
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dsecore:", err)
		return
	}
	defer f.Close()
	runtime.GC() // the profile is as of the last collection: this run's allocations up to now
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		fmt.Fprintln(os.Stderr, "dsecore:", err)
	}
}
