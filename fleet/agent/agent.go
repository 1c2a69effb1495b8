package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dsecore/dsecore/batch"
	"github.com/dsecore/dsecore/coreparse/corefile"
	"github.com/dsecore/dsecore/coreparse/corestore"
)

// Agent is one node's agent.
type Agent struct {
	mu       sync.Mutex // the state: a pass and the holder share it
	cfg      Config
	st       *State
	uid, gid uint32
	drop     bool
	nodeSet  bool // Node was configured (else a core's own host name wins)
	stopped  bool
	told     bool // the analysis child's confinement was logged
}

// Stats count what one pass did.
type Stats struct {
	Analysed int // cores analysed, their reports written
	Failed   int // cores reported with the reason they could not be analysed
	Enriched int // of those, reports that were the daemon's own
	Pending  int // cores seen, not yet complete
	Held     int // daemons' reports held for their cores
	Released int // held reports given back unanalysed (no core came)
}

func (s Stats) String() string {
	return fmt.Sprintf("%d analysed (%d into the daemon's own report), %d failed, %d pending, %d held, %d released",
		s.Analysed, s.Enriched, s.Failed, s.Pending, s.Held, s.Released)
}

// New checks the configuration, prepares the state and work directories
// and loads the state.
func New(cfg Config) (*Agent, error) {
	nodeSet := cfg.Node != ""
	cfg = cfg.withDefaults()
	if err := cfg.check(); err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, nodeSet: nodeSet}
	var err error
	if a.uid, a.gid, a.drop, err = cfg.ids(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.WorkDir, 0o700); err != nil {
		return nil, err
	}
	if a.drop {
		// The child's only writable place is its own.
		if err := os.Chown(cfg.WorkDir, int(a.uid), int(a.gid)); err != nil {
			return nil, fmt.Errorf("work-dir %s: %w", cfg.WorkDir, err)
		}
	}
	if a.st, err = loadState(cfg.StateDir); err != nil {
		return nil, err
	}
	return a, nil
}

// State is the agent's state as loaded and kept.
func (a *Agent) State() *State { return a.st }

// Run scans every Interval until ctx ends. The crash directories are
// scanned for new daemons' reports to hold every Interval also while a
// core is being analysed: ceph-crash must not post one first.
func (a *Agent) Run(ctx context.Context) error {
	a.cfg.Log("watching %s; reports into %s; analyses as %s", strings.Join(append(append([]string{}, a.cfg.CoreDirs...), a.cfg.CoredumpDirs...), ", "),
		strings.Join(a.cfg.CrashDirs, ", "), a.who())
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(a.cfg.Interval):
			}
			a.mu.Lock()
			a.scanCrashDirs()
			if err := a.st.save(); err != nil {
				a.cfg.Log("saving the state: %v", err)
			}
			a.mu.Unlock()
		}
	}()
	for {
		if _, err := a.Once(ctx); err != nil {
			a.cfg.Log("%v", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(a.cfg.Interval):
		}
	}
}

func (a *Agent) who() string {
	if !a.drop {
		return fmt.Sprintf("uid %d (the agent's own)", os.Geteuid())
	}
	return fmt.Sprintf("uid %d gid %d", a.uid, a.gid)
}

// Once is one pass: hold the daemons' new reports, find the cores and
// analyse each complete one, give back the holds no core claims.
func (a *Agent) Once(ctx context.Context) (Stats, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var st Stats
	a.scanCrashDirs()
	ready := a.scanCores()
	if err := a.st.save(); err != nil {
		return st, fmt.Errorf("saving the state: %w", err)
	}
	for _, in := range ready {
		if ctx.Err() != nil {
			break
		}
		a.process(ctx, in, &st)
		if err := a.st.save(); err != nil {
			return st, fmt.Errorf("saving the state: %w", err)
		}
	}
	st.Released = a.releaseHolds()
	for _, cs := range a.st.Cores {
		if cs.Status == Seen {
			st.Pending++
		}
	}
	st.Held = len(a.st.Holds)
	return st, a.st.save()
}

// Pass is the agent's one pass for a systemd timer or path unit (--once):
// passes every Interval until no report is held and no core is pending,
// bounded by the hold timeout (and twice the settle time): a report it
// held is not left held until some later run.
func (a *Agent) Pass(ctx context.Context) (Stats, error) {
	deadline := time.Now().Add(a.cfg.HoldTimeout + 2*a.cfg.Settle + a.cfg.Interval)
	var total Stats
	for {
		st, err := a.Once(ctx)
		total.Analysed += st.Analysed
		total.Failed += st.Failed
		total.Enriched += st.Enriched
		total.Released += st.Released
		total.Pending, total.Held = st.Pending, st.Held
		if err != nil || st.Held == 0 && st.Pending == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return total, err
		}
		select {
		case <-ctx.Done():
			return total, nil
		case <-time.After(a.cfg.Interval):
		}
	}
}

// scanCores updates what is known of every core found and returns the
// complete ones not yet analysed, oldest first.
func (a *Agent) scanCores() []corestore.Input {
	now := time.Now()
	var found []corestore.Input
	present := map[string]bool{}
	for _, group := range [][]string{a.cfg.CoreDirs, a.cfg.CoredumpDirs} {
		for _, d := range group {
			if _, err := os.Stat(d); err != nil {
				continue // a location that does not exist yet holds no core
			}
			ins, _ := corestore.Collect([]string{d}, corestore.Options{})
			for _, in := range ins {
				if strings.HasPrefix(filepath.Base(in.Path), ".#") || a.ours(in.Path) {
					continue // systemd-coredump's file being written; the agent's own files
				}
				present[in.Path] = true
				found = append(found, in)
			}
		}
	}
	var ready []corestore.Input
	for _, in := range found {
		cs := a.st.Cores[in.Path]
		same := cs != nil && cs.Size == in.Size && cs.MTime.Equal(in.MTime)
		switch {
		case cs == nil || !same && (cs.Status == Done || cs.Status == Failed):
			cs = &CoreState{Path: in.Path, Size: in.Size, MTime: in.MTime, Status: Seen, FirstSeen: now, ObservedAt: now}
			a.st.Cores[in.Path] = cs
		case !same:
			cs.Size, cs.MTime, cs.ObservedAt = in.Size, in.MTime, now
		}
		if cs.Status == Done || cs.Status == Failed {
			continue
		}
		if cs.ProcessName == "" {
			cs.ProcessName = processName(in.Path)
		}
		if a.complete(in, cs, now) {
			ready = append(ready, in)
		}
	}
	// A core deleted before its analysis is not the agent's to report.
	for p, cs := range a.st.Cores {
		if !present[p] && (cs.Status == Seen || cs.Status == Running) {
			a.cfg.Log("%s: gone before it was analysed", p)
			delete(a.st.Cores, p)
		}
	}
	sort.SliceStable(ready, func(i, j int) bool { return ready[i].Time.Before(ready[j].Time) })
	return ready
}

// ours: the agent's own directories are not core locations.
func (a *Agent) ours(path string) bool {
	for _, d := range []string{a.cfg.WorkDir, a.cfg.StateDir} {
		if rel, err := filepath.Rel(d, path); err == nil && !strings.HasPrefix(rel, "..") {
			return true
		}
	}
	return false
}

// complete: systemd-coredump's file is complete once it has its final
// name (it writes a hidden temporary file and links it); a core a
// core_pattern writes is complete when its size and time have not changed
// for Settle and the process it names is not dumping (the kernel writes a
// core while the dying process is in /proc with CoreDumping: 1).
func (a *Agent) complete(in corestore.Input, cs *CoreState, now time.Time) bool {
	for _, d := range a.cfg.CoredumpDirs {
		if rel, err := filepath.Rel(d, in.Path); err == nil && !strings.HasPrefix(rel, "..") {
			return true
		}
	}
	if now.Sub(cs.ObservedAt) < a.cfg.Settle {
		return false
	}
	return !dumping(in.Path)
}

// dumping says whether the process that a core's notes name is still
// writing it.
func dumping(path string) bool {
	c, err := corefile.Open(path)
	if err != nil {
		return false
	}
	pid := 0
	if c.PSInfo != nil {
		pid = int(c.PSInfo.PID)
	}
	c.Close()
	if pid <= 0 {
		return false
	}
	return procFields(fmt.Sprintf("/proc/%d/status", pid), "CoreDumping")["CoreDumping"] == "1"
}

// processName is the crashed process's name: systemd-coredump's
// attribute, else the core's NT_PRPSINFO; "" when neither is readable yet.
func processName(path string) string {
	if x := coredumpXattrs(path); x["comm"] != "" {
		return x["comm"]
	}
	c, err := corefile.Open(path)
	if err != nil {
		return ""
	}
	defer c.Close()
	if c.PSInfo != nil {
		return c.PSInfo.Fname
	}
	return ""
}

// process analyses one complete core and delivers its report.
func (a *Agent) process(ctx context.Context, in corestore.Input, st *Stats) {
	cs := a.st.Cores[in.Path]
	if cs.Status == Running && cs.Attempts >= a.cfg.MaxAttempts {
		a.finish(ctx, cs, a.failed(in, fmt.Errorf("its analysis was interrupted %d times (the agent or its analysis killed before it ended)", cs.Attempts)), st)
		return
	}
	cs.Status = Running
	cs.Attempts++
	if err := a.st.save(); err != nil {
		a.cfg.Log("saving the state: %v", err)
		return
	}
	c := a.input(in)
	a.mu.Unlock() // the holder goes on while the core is read
	an := a.runChild(ctx, c, in.Compression, nil, func(pid int) { a.stop("analysing", in.Path) })
	a.mu.Lock()
	if ctx.Err() != nil {
		return // stopping: the core stays Running, analysed again at the next start
	}
	if an.notStarted {
		a.cfg.Log("%s: %s (tried again at the next pass)", in.Path, an.reason)
		cs.Attempts--
		cs.Reason = an.reason
		return
	}
	if !a.told && len(an.res.Sandbox) > 0 {
		a.told = true
		a.cfg.Log("analyses run as %s: %s", a.who(), strings.Join(an.res.Sandbox, "; "))
	}
	var sum batch.Core
	if an.reason != "" {
		sum = batch.Failed(c, errors.New(an.reason))
	} else {
		sum = an.res.Core
		sum.Path, sum.Size, sum.MTime, sum.Time, sum.Compression, sum.Node = c.Path, c.Size, c.MTime, c.Time, c.Compression, c.Node
	}
	a.fromXattrs(&sum)
	a.finish(ctx, cs, sum, st)
}

func (a *Agent) failed(in corestore.Input, err error) batch.Core {
	c := a.input(in)
	a.fromXattrs(&c)
	return batch.Failed(c, err)
}

// input is a core's summary before its analysis: where and when.
func (a *Agent) input(in corestore.Input) batch.Core {
	c := batch.Core{Path: in.Path, Size: in.Size, MTime: in.MTime, Time: in.Time, Compression: in.Compression, Node: a.cfg.Node, Task: -1}
	x := coredumpXattrs(in.Path)
	if us, err := strconv.ParseInt(x["timestamp"], 10, 64); err == nil && us > 0 {
		c.Time = time.UnixMicro(us)
	}
	if !a.nodeSet && x["hostname"] != "" {
		c.Node = x["hostname"]
	}
	return c
}

// fromXattrs fills the process facts the analysis could not read from
// systemd-coredump's attributes.
func (a *Agent) fromXattrs(c *batch.Core) {
	x := coredumpXattrs(c.Path)
	if c.PID == 0 {
		c.PID, _ = strconv.Atoi(x["pid"])
	}
	if c.Process == "" {
		c.Process = x["comm"]
	}
	if cs := a.st.Cores[c.Path]; c.Process == "" && cs != nil {
		c.Process = cs.ProcessName // the core's NT_PRPSINFO
	}
	if c.Exe == "" {
		c.Exe = x["exe"]
	}
	if c.Signal == "" && x["signal"] != "" {
		if n, err := strconv.Atoi(x["signal"]); err == nil {
			c.SignalName = corefile.SignalName(n)
		}
	}
}

// finish delivers a core's report and records the core as done or failed.
func (a *Agent) finish(ctx context.Context, cs *CoreState, sum batch.Core, st *Stats) {
	d, err := a.deliver(ctx, sum)
	if err != nil {
		// The report could not be written (a full disk, a crash directory
		// gone): the core stays to be tried again, its attempts counted.
		a.cfg.Log("%s: its report could not be written: %v", sum.Path, err)
		cs.Reason = "report not written: " + err.Error()
		return
	}
	a.stop("written", sum.Path)
	cs.CrashID, cs.Report, cs.Enriched, cs.Warnings = d.crashID, d.where, d.enriched, d.warnings
	cs.Finished = time.Now()
	cs.Verdict = sum.Verdict
	if sum.Error != "" {
		cs.Status, cs.Reason = Failed, sum.Error
		st.Failed++
		a.cfg.Log("%s: not analysed: %s; reported as crash %s in %s", sum.Path, sum.Error, d.crashID, d.where)
	} else {
		cs.Status, cs.Reason = Done, ""
		st.Analysed++
		a.cfg.Log("%s: %s; crash %s in %s", sum.Path, firstLine(sum.Verdict), d.crashID, d.where)
	}
	if d.enriched {
		st.Enriched++
	}
	for _, w := range d.warnings {
		a.cfg.Log("%s: %s", sum.Path, w)
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if s == "" {
		return "no verdict"
	}
	return s
}

// stop is the StopAt test hook: at the named point of the first core, say
// so (stderr and StateDir/stopped-at) and block until killed.
func (a *Agent) stop(point, core string) {
	if a.cfg.StopAt != point || a.stopped {
		return
	}
	a.stopped = true
	a.st.save()
	msg := fmt.Sprintf("%s %s\n", point, core)
	os.WriteFile(filepath.Join(a.cfg.StateDir, "stopped-at"), []byte(msg), 0o600)
	a.cfg.Log("test hook: stopped at %s", strings.TrimSpace(msg))
	select {}
}
