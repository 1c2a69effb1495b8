package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dsecore/dsecore/batch"
	"github.com/dsecore/dsecore/coreparse/corestore"
	"github.com/dsecore/dsecore/session"
	"github.com/landlock-lsm/go-landlock/landlock"
	"golang.org/x/sys/unix"
)

// ChildCommand is the hidden subcommand of dsecore that analyses one core
// for the agent (RunChild).
const ChildCommand = "agent-child"

// job is what the agent asks of its analysis child, on the child's stdin;
// the core itself is the child's descriptor 3, opened by the agent.
type job struct {
	Core    batch.Core `json:"core"` // the input fields: path, size, times, node
	Compr   string     `json:"compression,omitempty"`
	WorkDir string     `json:"work_dir"`

	SolibSearchPath  []string `json:"solib_search_path,omitempty"`
	Sysroot          string   `json:"sysroot,omitempty"`
	DebugFileDirs    []string `json:"debug_file_dirs,omitempty"`
	DebuginfodURLs   []string `json:"debuginfod_urls"`
	CoroutineProfile string   `json:"coroutine_profile,omitempty"`
	AnalysisProfile  string   `json:"analysis_profile,omitempty"`
	MaxCoreSize      int64    `json:"max_core_size,omitempty"`

	MemoryLimit int64  `json:"memory_limit"`
	CPUSeconds  uint64 `json:"cpu_seconds"`
	MaxFiles    uint64 `json:"max_files"`
	Nice        int    `json:"nice"`
	// Probe (tests): files the child tries to create once confined, and
	// "tcp:HOST:PORT" addresses it tries to connect to.
	Probe []string `json:"probe,omitempty"`
}

// childResult is what the child answers on its stdout.
type childResult struct {
	Core batch.Core `json:"core"`
	// What the child was, from its own /proc/self (status: Uid, Gid,
	// Groups, NoNewPrivs; limits) and how it was confined.
	Status  map[string]string `json:"status"`
	Limits  map[string]string `json:"limits"`
	Sandbox []string          `json:"sandbox"`
	Probe   map[string]string `json:"probe,omitempty"` // path: "written" or the error
}

const coreFD = 3

// RunChild is the analysis child: it confines itself (resource limits,
// nice, Landlock: writes only under its work directory, no network unless
// debuginfod servers are named), then reads the core through the
// descriptor its parent opened and writes the core's summary as JSON.
// It runs as the unprivileged user the agent started it as.
func RunChild(stdin io.Reader, stdout io.Writer) error {
	var j job
	if err := json.NewDecoder(io.LimitReader(stdin, 1<<20)).Decode(&j); err != nil {
		return fmt.Errorf("agent-child: reading the job: %w", err)
	}
	res := childResult{}
	var err error
	if res.Sandbox, err = confine(j); err != nil {
		return fmt.Errorf("agent-child: confining: %w", err)
	}
	res.Status = procFields("/proc/self/status", "Uid", "Gid", "Groups", "NoNewPrivs")
	res.Limits = limits()
	if len(j.Probe) > 0 {
		res.Probe = map[string]string{}
		for _, p := range j.Probe {
			if addr, ok := strings.CutPrefix(p, "tcp:"); ok {
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					res.Probe[p] = err.Error()
					continue
				}
				c.Close()
				res.Probe[p] = "connected"
				continue
			}
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
			if err != nil {
				res.Probe[p] = err.Error()
				continue
			}
			f.Close()
			res.Probe[p] = "written"
		}
	}
	res.Core = analyseFD(j)
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	return enc.Encode(res)
}

// confine applies the job's bounds to this process.
func confine(j job) ([]string, error) {
	var did []string
	set := func(what string, res int, v uint64) error {
		if err := unix.Setrlimit(res, &unix.Rlimit{Cur: v, Max: v}); err != nil {
			return fmt.Errorf("%s limit: %w", what, err)
		}
		did = append(did, fmt.Sprintf("%s limit %d", what, v))
		return nil
	}
	if j.MemoryLimit > 0 {
		if err := set("address space", unix.RLIMIT_AS, uint64(j.MemoryLimit)); err != nil {
			return did, err
		}
		// The collector keeps the heap well inside the address space.
		debug.SetMemoryLimit(j.MemoryLimit / 2)
	}
	if j.CPUSeconds > 0 {
		// SIGXCPU at the soft limit, SIGKILL at the hard one.
		if err := unix.Setrlimit(unix.RLIMIT_CPU, &unix.Rlimit{Cur: j.CPUSeconds, Max: j.CPUSeconds + 5}); err != nil {
			return did, fmt.Errorf("CPU limit: %w", err)
		}
		did = append(did, fmt.Sprintf("CPU time limit %d s", j.CPUSeconds))
	}
	if j.MaxFiles > 0 {
		if err := set("open files", unix.RLIMIT_NOFILE, j.MaxFiles); err != nil {
			return did, err
		}
	}
	if err := set("core file", unix.RLIMIT_CORE, 0); err != nil {
		return did, err
	}
	if j.Nice != 0 {
		if err := unix.Setpriority(unix.PRIO_PROCESS, 0, j.Nice); err != nil {
			return did, fmt.Errorf("nice: %w", err)
		}
		did = append(did, fmt.Sprintf("nice %d", j.Nice))
	}
	// Landlock: read anything (the core's libraries and debug files are
	// found by path), write only under the work directory; TCP only to
	// the debuginfod servers' ports, none without them; no signals or
	// abstract sockets beyond this process.
	rules := []landlock.Rule{landlock.RODirs("/"), landlock.RWDirs(j.WorkDir)}
	for _, u := range j.DebuginfodURLs {
		if port := urlPort(u); port != 0 {
			rules = append(rules, landlock.ConnectTCP(port))
		}
	}
	if err := landlock.V6.BestEffort().Restrict(rules...); err != nil {
		return did, fmt.Errorf("landlock: %w", err)
	}
	abi, _ := landlockABI()
	if abi < 1 {
		did = append(did, "no Landlock in this kernel: writes are bounded by the user's permissions only")
	} else {
		net := "no network"
		if len(j.DebuginfodURLs) > 0 {
			net = "TCP connect only to the debuginfod servers' ports"
		}
		did = append(did, fmt.Sprintf("Landlock ABI %d: writes only under %s; %s", abi, j.WorkDir, net))
	}
	return did, nil
}

func landlockABI() (int, error) {
	r, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

func urlPort(s string) uint16 {
	u, err := url.Parse(s)
	if err != nil {
		return 0
	}
	if p := u.Port(); p != "" {
		n, _ := strconv.Atoi(p)
		return uint16(n)
	}
	switch u.Scheme {
	case "https":
		return 443
	case "http":
		return 80
	}
	return 0
}

// analyseFD summarizes the core on descriptor 3 (decompressed first into
// the work directory when it is systemd-coredump's compressed file).
func analyseFD(j job) batch.Core {
	c := j.Core
	path := fmt.Sprintf("/dev/fd/%d", coreFD)
	if j.Compr != "" {
		dir := filepath.Join(j.WorkDir, "cores")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return batch.Failed(c, err)
		}
		f := os.NewFile(coreFD, "core")
		tmp, err := corestore.Decompress(f, j.Compr, dir, j.MaxCoreSize)
		f.Close()
		if err != nil {
			return batch.Failed(c, err)
		}
		defer os.Remove(tmp)
		path = tmp
	}
	urls := j.DebuginfodURLs
	if urls == nil {
		urls = []string{}
	}
	s, err := session.Open(session.Options{Core: path, SolibSearchPath: j.SolibSearchPath, Sysroot: j.Sysroot,
		DebugFileDirs: j.DebugFileDirs, DebuginfodURLs: urls, CacheDir: j.WorkDir, MaxCoreSize: j.MaxCoreSize,
		CoroutineProfile: j.CoroutineProfile, AnalysisProfile: j.AnalysisProfile})
	if err != nil {
		return batch.Failed(c, errors.New(strings.ReplaceAll(err.Error(), path, j.Core.Path)))
	}
	defer s.Close()
	return batch.Summarize(s, c, batch.Options{})
}

// procFields reads "Key:\tvalue" lines of a /proc file.
func procFields(path string, keys ...string) map[string]string {
	out := map[string]string{}
	b, err := os.ReadFile(path)
	if err != nil {
		return out
	}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		for _, want := range keys {
			if k == want {
				out[k] = strings.Join(strings.Fields(v), " ")
			}
		}
	}
	return out
}

// limits reads the soft limits of /proc/self/limits that the agent sets.
func limits() map[string]string {
	out := map[string]string{}
	b, err := os.ReadFile("/proc/self/limits")
	if err != nil {
		return out
	}
	for _, l := range strings.Split(string(b), "\n") {
		for _, name := range []string{"Max cpu time", "Max address space", "Max open files", "Max core file size"} {
			if strings.HasPrefix(l, name) {
				f := strings.Fields(strings.TrimPrefix(l, name))
				if len(f) > 0 {
					out[name] = f[0]
				}
			}
		}
	}
	return out
}

// analysis is one run of the child.
type analysis struct {
	res    childResult
	pid    int
	reason string // why there is no summary (the child failed), else ""
	// notStarted: the child could not be started (the agent's problem,
	// not the core's): tried again at the next pass.
	notStarted bool
}

// runChild analyses one core in a child process: the core opened here
// (with the agent's privileges) and passed as descriptor 3, the child
// started as the configured user with no supplementary groups, killed if
// the agent dies, bounded in wall time; started is called with its pid.
func (a *Agent) runChild(ctx context.Context, c batch.Core, compr string, probe []string, started func(pid int)) analysis {
	f, err := os.Open(c.Path)
	if err != nil {
		return analysis{reason: "cannot open the core: " + err.Error(), notStarted: os.IsNotExist(err)}
	}
	defer f.Close()
	j := job{Core: c, Compr: compr, WorkDir: a.cfg.WorkDir, SolibSearchPath: a.cfg.SolibSearchPath, Sysroot: a.cfg.Sysroot,
		DebugFileDirs: a.cfg.DebugFileDirs, DebuginfodURLs: a.cfg.DebuginfodURLs, CoroutineProfile: a.cfg.CoroutineProfile,
		AnalysisProfile: a.cfg.AnalysisProfile, MaxCoreSize: a.cfg.MaxCoreSize, MemoryLimit: a.cfg.MemoryLimit,
		CPUSeconds: uint64(a.cfg.CPULimit.Seconds()), MaxFiles: a.cfg.MaxFiles, Nice: a.cfg.Nice, Probe: probe}
	if j.DebuginfodURLs == nil {
		j.DebuginfodURLs = []string{}
	}
	in, _ := json.Marshal(j)
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, a.cfg.Self, ChildCommand)
	// The job is written once started has returned: until then the child
	// waits for it (a test reads the child's /proc entry there).
	jobR, jobW, err := os.Pipe()
	if err != nil {
		return analysis{reason: "cannot start the analysis: " + err.Error(), notStarted: true}
	}
	defer jobR.Close()
	defer jobW.Close()
	cmd.Stdin = jobR
	var stdout bytes.Buffer
	stderr := &tail{max: 4096}
	cmd.Stdout = &limited{w: &stdout, n: 64 << 20}
	cmd.Stderr = stderr
	cmd.ExtraFiles = []*os.File{f}
	cmd.Dir = a.cfg.WorkDir
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + a.cfg.WorkDir, "XDG_CACHE_HOME=" + a.cfg.WorkDir, "LANG=C.UTF-8"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if a.drop {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: a.uid, Gid: a.gid, Groups: []uint32{}}
	}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return analysis{reason: "cannot start the analysis: " + err.Error(), notStarted: true}
	}
	jobR.Close()
	if started != nil {
		started(cmd.Process.Pid)
	}
	jobW.Write(in)
	jobW.Close()
	err = cmd.Wait()
	out := analysis{pid: cmd.Process.Pid}
	if err != nil {
		why := err.Error()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			switch ws.Signal() {
			case syscall.SIGXCPU:
				why = fmt.Sprintf("the analysis reached its CPU time limit (%s)", a.cfg.CPULimit)
			case syscall.SIGKILL:
				if ctx.Err() != nil {
					why = fmt.Sprintf("the analysis took longer than its time limit (%s)", a.cfg.Timeout)
				} else {
					why = fmt.Sprintf("the analysis was killed (after %s)", time.Since(t0).Round(time.Second))
				}
			default:
				why = "the analysis died of " + ws.Signal().String()
			}
		}
		if s := strings.TrimSpace(stderr.String()); s != "" {
			if strings.Contains(s, "out of memory") || strings.Contains(s, "cannot allocate memory") {
				why += fmt.Sprintf(" (out of memory: its address space is limited to %d MiB)", a.cfg.MemoryLimit>>20)
			}
			lines := strings.Split(s, "\n")
			why += ": " + lines[len(lines)-1]
		}
		out.reason = why
		return out
	}
	if err := json.Unmarshal(stdout.Bytes(), &out.res); err != nil {
		out.reason = "the analysis answered no summary: " + err.Error()
	}
	return out
}

// tail keeps the last max bytes written.
type tail struct {
	b   []byte
	max int
}

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}
func (t *tail) String() string { return string(t.b) }

// limited stops at n bytes.
type limited struct {
	w io.Writer
	n int64
}

func (l *limited) Write(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errors.New("the analysis wrote more than its answer may hold")
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.w.Write(p)
	l.n -= int64(n)
	return n, err
}
