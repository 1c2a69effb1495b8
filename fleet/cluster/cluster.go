// Package cluster speaks to a Ceph cluster's crash store through the
// `ceph` command, as ceph-crash does (`ceph crash post -i -`), and reads
// it back as crash summaries: `ceph crash ls --format json` is every
// report the mgr's crash module holds, each whole.
package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/dsecore/dsecore/analysis/cephcrash"
	"github.com/dsecore/dsecore/analysis/signature"
	"github.com/dsecore/dsecore/batch"
)

// Client runs the `ceph` command against one cluster.
type Client struct {
	Bin     string        // default "ceph"
	Conf    string        // -c: ceph.conf (default: the command's own, $CEPH_CONF or /etc/ceph/ceph.conf)
	Name    string        // -n: the entity to authenticate as (default: the command's, client.admin)
	Keyring string        // --keyring
	Timeout time.Duration // per command (default 60 s): ceph-crash runs each post under `timeout 30`
}

func (c Client) run(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	bin := c.Bin
	if bin == "" {
		bin = "ceph"
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	var all []string
	if c.Conf != "" {
		all = append(all, "-c", c.Conf)
	}
	if c.Name != "" {
		all = append(all, "-n", c.Name)
	}
	if c.Keyring != "" {
		all = append(all, "--keyring", c.Keyring)
	}
	all = append(all, "--connect-timeout", strconv.Itoa(int(timeout.Seconds())))
	all = append(all, args...)
	ctx, cancel := context.WithTimeout(ctx, timeout+5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, all...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return stdout.Bytes(), fmt.Errorf("ceph %s: %s", strings.Join(args, " "), msg)
	}
	return stdout.Bytes(), nil
}

// Ls is every crash report the cluster holds (`ceph crash ls`), each as
// the JSON object the crash module stores (with its stack_sig, and
// archived once archived).
func (c Client) Ls(ctx context.Context) ([]json.RawMessage, error) {
	out, err := c.run(ctx, nil, "crash", "ls", "--format", "json")
	if err != nil {
		return nil, err
	}
	var crashes []json.RawMessage
	if err := json.Unmarshal(out, &crashes); err != nil {
		return nil, fmt.Errorf("ceph crash ls: not a JSON list: %w", err)
	}
	return crashes, nil
}

// Info is one crash report (`ceph crash info ID`); found false when the
// cluster does not hold it.
func (c Client) Info(ctx context.Context, id string) (doc json.RawMessage, found bool, err error) {
	out, err := c.run(ctx, nil, "crash", "info", id)
	if err != nil {
		if strings.Contains(err.Error(), "not found") {
			return nil, false, nil
		}
		return nil, false, err
	}
	return out, true, nil
}

// Post is `ceph crash post -i -`: the mgr keeps the report unless it
// already holds one of the same crash_id (then it keeps the one it has,
// silently: a post never replaces).
func (c Client) Post(ctx context.Context, meta []byte) error {
	_, err := c.run(ctx, meta, "crash", "post", "-i", "-")
	return err
}

// Rm is `ceph crash rm ID` (the mgr's "profile crash" does not allow it:
// the key needs the crash module's rm command).
func (c Client) Rm(ctx context.Context, id string) error {
	_, err := c.run(ctx, nil, "crash", "rm", id)
	return err
}

// Time reads a crash report's timestamp as the crash module does
// (time_from_string: "%Y-%m-%dT%H:%M:%S.%f", else "%Y-%m-%d %H:%M:%S.%f",
// a trailing Z dropped; always UTC).
func Time(s string) (time.Time, error) {
	s = strings.TrimRight(s, "Z")
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("timestamp %q is not the crash module's format", s)
}

// Crash is the fields of a crash report the cluster view reads.
type Crash struct {
	CrashID     string   `json:"crash_id"`
	Timestamp   string   `json:"timestamp"`
	ProcessName string   `json:"process_name"`
	EntityName  string   `json:"entity_name"`
	CephVersion string   `json:"ceph_version"`
	Hostname    string   `json:"utsname_hostname"`
	Backtrace   []string `json:"backtrace"`
	StackSig    string   `json:"stack_sig"`
	Archived    string   `json:"archived"`

	Core         string   `json:"dsecore_core"`
	Node         string   `json:"dsecore_node"`
	Error        string   `json:"dsecore_error"`
	RealFault    string   `json:"dsecore_real_fault"`
	Verdict      string   `json:"dsecore_verdict"`
	Confidence   string   `json:"dsecore_confidence"`
	VerdictRule  string   `json:"dsecore_verdict_rule"`
	Evidence     []string `json:"dsecore_evidence"`
	Frames       []string `json:"dsecore_frames"`
	Signature    string   `json:"dsecore_signature"`
	SigFrames    []string `json:"dsecore_signature_frames"`
	SigDegraded  bool     `json:"dsecore_signature_degraded"`
	Build        []string `json:"dsecore_build"`
	LWP          int      `json:"dsecore_lwp"`
	ThreadName   string   `json:"dsecore_thread_name"`
	DsecoreStack string   `json:"dsecore_stack_sig"`
}

// Analysed says whether a dsecore agent's analysis is in the report.
func (c *Crash) Analysed() bool {
	return c.Signature != "" || c.Verdict != "" || c.Error != "" || c.RealFault != ""
}

// Core is a crash report as a core's summary: the cluster view groups
// them as `summarize` groups a directory's cores. Path is the crash_id
// (the store's name for it), Node the agent's node name, else the
// daemon's host.
func (c *Crash) Summary() batch.Core {
	s := batch.Core{Path: c.CrashID, Node: c.Node, Process: c.ProcessName, Signal: c.RealFault, Verdict: c.Verdict,
		Confidence: c.Confidence, VerdictRule: c.VerdictRule, Evidence: c.Evidence, TopFrames: c.Frames, Error: c.Error,
		LWP: c.LWP, ThreadName: c.ThreadName, Task: -1}
	if s.Node == "" {
		s.Node = c.Hostname
	}
	if t, err := Time(c.Timestamp); err == nil {
		s.Time, s.MTime = t, t
	} else {
		s.Warnings = append(s.Warnings, err.Error())
	}
	if c.ProcessName != "" || len(c.Backtrace) > 0 {
		s.Ceph = &cephcrash.Report{ProcessName: c.ProcessName, EntityName: c.EntityName, CephVersion: c.CephVersion,
			Backtrace: c.Backtrace, StackSig: c.StackSig}
	}
	if v, h, ok := strings.Cut(c.Signature, ":"); ok {
		s.Signature = &signature.Signature{Version: v, Hash: h, Frames: c.SigFrames, Raw: c.SigFrames, Degraded: c.SigDegraded}
	}
	for _, b := range c.Build {
		if m, id, ok := strings.Cut(b, " "); ok {
			if s.Build == nil {
				s.Build = map[string]string{}
			}
			s.Build[m] = id
		}
	}
	if c.Archived != "" {
		s.Warnings = append(s.Warnings, "archived "+c.Archived)
	}
	if !c.Analysed() {
		s.Error = "no dsecore analysis in this report (the daemon's own, with Ceph's stack_sig " + short(c.StackSig) + "): no agent read its core"
	} else if s.Signature == nil && s.Error == "" {
		s.Error = "analysed without a signature"
	}
	return s
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	if s == "" {
		return "(none)"
	}
	return s
}

// Cores reads crash reports (from Ls) as summaries, those of [since,
// until] (zero: no bound); a report that is not an object is a warning.
func Cores(raw []json.RawMessage, since, until time.Time) ([]batch.Core, []string) {
	var out []batch.Core
	var warnings []string
	for _, r := range raw {
		var c Crash
		if err := json.Unmarshal(r, &c); err != nil {
			warnings = append(warnings, fmt.Sprintf("a crash report the cluster holds is not readable: %v", err))
			continue
		}
		s := c.Summary()
		if !since.IsZero() && s.Time.Before(since) || !until.IsZero() && s.Time.After(until) {
			continue
		}
		out = append(out, s)
	}
	return out, warnings
}
