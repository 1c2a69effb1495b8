// Package agent is dsecore's node agent: it watches a node's core
// locations (systemd-coredump's store, core_pattern directories) and
// Ceph's crash directories, analyses each new core once it is complete, one
// at a time, in a child process with dropped privileges and resource
// limits, and puts the analysis where Ceph's crash pipeline carries it to
// the cluster: into the daemon's own report of the same crash when there
// is one (held back from ceph-crash until it is enriched), else into a new
// report in the crash directory (or posted with `ceph crash post`). Its
// state survives restarts: no core is analysed twice, none is skipped, and
// one that cannot be analysed is reported with the reason, once.
package agent

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/dsecore/dsecore/fleet/cluster"
)

// Config is the agent's configuration (dsecore.yaml's agent keys).
type Config struct {
	// Where cores appear: directories a core_pattern writes into
	// (searched recursively) and systemd-coredump's stores
	// (/var/lib/systemd/coredump: compressed, with user.coredump.*
	// attributes).
	CoreDirs     []string
	CoredumpDirs []string
	// CrashDirs are Ceph crash directories (/var/lib/ceph/crash): the
	// daemons' own reports are found (and held until enriched) there, and
	// the first receives a new report for a core no daemon reported.
	CrashDirs []string
	// StateDir keeps the agent's state (state.json).
	StateDir string
	// WorkDir is the analysis child's only writable directory: its
	// decompressed cores and DWARF cache. It belongs to User.
	WorkDir string
	// User is who the analysis child runs as: a user name ("dsecore", the
	// package's system user) or "UID:GID". Empty: the agent's own user
	// (only when the agent does not run as root).
	User string
	// Node names this node in the reports (default: the host name).
	Node string

	Interval    time.Duration // between scans (Run)
	Settle      time.Duration // a core_pattern core is complete once its size and time have not changed for this long
	HoldTimeout time.Duration // a daemon's report waits this long for its core before it goes to ceph-crash unanalysed
	MaxAttempts int           // analyses of one core interrupted (agent killed, child killed) before it is reported failed

	// Bounds of one analysis.
	MemoryLimit int64         // address space of the child, bytes
	CPULimit    time.Duration // CPU time of the child
	Timeout     time.Duration // wall time of the child
	MaxFiles    uint64        // open files of the child
	Nice        int           // the child's nice value

	// Post: the agent posts each report it writes (`ceph crash post`)
	// and moves its entry to posted/ as ceph-crash does, instead of
	// leaving it to ceph-crash. Ceph is the cluster it posts to (also
	// used to put the analysis into a daemon's report ceph-crash posted
	// before the analysis: `crash rm`, then `crash post`).
	Post bool
	Ceph cluster.Client

	// What the analysis reads (the session's options).
	SolibSearchPath  []string
	Sysroot          string
	DebugFileDirs    []string
	DebuginfodURLs   []string // none: the child has no network at all
	CoroutineProfile string
	AnalysisProfile  string
	MaxCoreSize      int64

	// Self is the dsecore executable the child runs (default: this one).
	Self string
	// Log receives one line per event (default: stderr).
	Log func(format string, args ...any)
	// StopAt, a test hook: the agent stops (blocks) at this point of
	// its first core ("analysing": the child is running; "written": the
	// report is written, the state not yet), so a test can kill it there.
	StopAt string
}

// Defaults of the bounds.
const (
	DefaultInterval    = 10 * time.Second
	DefaultSettle      = 5 * time.Second
	DefaultHoldTimeout = 2 * time.Minute
	DefaultMaxAttempts = 3
	DefaultMemoryLimit = 8 << 30
	DefaultCPULimit    = 30 * time.Minute
	DefaultTimeout     = 60 * time.Minute
	DefaultMaxFiles    = 1024
	DefaultNice        = 10
)

func (c Config) withDefaults() Config {
	if c.Interval <= 0 {
		c.Interval = DefaultInterval
	}
	if c.Settle < 0 {
		c.Settle = 0
	}
	if c.HoldTimeout <= 0 {
		c.HoldTimeout = DefaultHoldTimeout
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.MemoryLimit <= 0 {
		c.MemoryLimit = DefaultMemoryLimit
	}
	if c.CPULimit <= 0 {
		c.CPULimit = DefaultCPULimit
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxFiles == 0 {
		c.MaxFiles = DefaultMaxFiles
	}
	if c.Self == "" {
		// Its path, not /proc/self/exe: the child, once it has dropped
		// its privileges, may not follow the agent's /proc links.
		if exe, err := os.Executable(); err == nil {
			c.Self = exe
		} else {
			c.Self = "/proc/self/exe"
		}
	}
	if c.Node == "" {
		c.Node, _ = os.Hostname()
	}
	if c.Log == nil {
		c.Log = func(format string, args ...any) { fmt.Fprintf(os.Stderr, "dsecore agent: "+format+"\n", args...) }
	}
	return c
}

// check says what is wrong with a configuration before anything runs.
func (c Config) check() error {
	if len(c.CoreDirs)+len(c.CoredumpDirs) == 0 {
		return fmt.Errorf("no core location: set core-dir (a core_pattern directory) or coredump-dir (systemd-coredump's store)")
	}
	if len(c.CrashDirs) == 0 && !c.Post {
		return fmt.Errorf("no crash-dir: the reports go into a Ceph crash directory (or set post to post them)")
	}
	if c.StateDir == "" || c.WorkDir == "" {
		return fmt.Errorf("state-dir and work-dir must be set")
	}
	return nil
}

// ids resolves User to a uid and gid; ok false when the child keeps the
// agent's own.
func (c Config) ids() (uid, gid uint32, ok bool, err error) {
	if c.User == "" {
		if os.Geteuid() == 0 {
			return 0, 0, false, fmt.Errorf("the agent runs as root and no user is set for its analyses (user: dsecore)")
		}
		return 0, 0, false, nil
	}
	if u, g, found := strings.Cut(c.User, ":"); found {
		un, err1 := strconv.ParseUint(u, 10, 32)
		gn, err2 := strconv.ParseUint(g, 10, 32)
		if err1 != nil || err2 != nil {
			return 0, 0, false, fmt.Errorf("user %q: want a name or UID:GID", c.User)
		}
		return uint32(un), uint32(gn), true, nil
	}
	u, err := user.Lookup(c.User)
	if err != nil {
		return 0, 0, false, fmt.Errorf("user %q: %w (the package creates the dsecore system user)", c.User, err)
	}
	un, _ := strconv.ParseUint(u.Uid, 10, 32)
	gn, _ := strconv.ParseUint(u.Gid, 10, 32)
	return uint32(un), uint32(gn), true, nil
}
