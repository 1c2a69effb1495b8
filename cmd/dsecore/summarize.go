package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dsecore/dsecore/analysis/coroutines"
	"github.com/dsecore/dsecore/batch"
	"github.com/dsecore/dsecore/coreparse/corestore"
	"github.com/dsecore/dsecore/fleet/cluster"
	"github.com/dsecore/dsecore/report"
	"github.com/dsecore/dsecore/session"
	"github.com/spf13/cobra"
)

func newSummarizeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "summarize PATH... | --ceph",
		Short: "Summarize many cores: per-core facts and verdicts, grouped by crash signature",
		Long: `summarize takes cores, directories of cores (searched recursively; a
first-level subdirectory names the node), globs and systemd-coredump's store
(/var/lib/systemd/coredump, core.*.zst|lz4|xz), and reports per core the
process, time, signal and real fault, crashing thread or task, top frames, the
fault-analysis verdict, the build and a crash signature, then groups the cores
by signature (and groups into families that share their top frames).

Executables and libraries are found from the paths the cores name, then by
build-id in --solib-search-path/--sysroot and through debuginfod
(DEBUGINFOD_URLS). Cores that cannot be read, or whose files are missing,
are reported, never fatal. Results are cached per core in --cache-dir.

With --ceph it reads a Ceph cluster's crash store instead (` + "`ceph crash ls`" + `,
through the ceph command and --conf): every node's crash reports, with the
analysis dsecore agents put into them, grouped by dsecore's signature with
their verdicts, nodes, first and last times and builds. A report no agent
analysed (a daemon's own, whose core never reached one) is listed with
Ceph's stack_sig.`,
		Example: `  dsecore summarize /var/lib/systemd/coredump --since 2026-11-01
  dsecore summarize nodes/ --solib-search-path /opt/ceph-dse/lib --format html --out report.html
  dsecore summarize 'cores/*/core*' --format json --baseline last-week.json
  dsecore summarize cores/ --format ceph-crash --out /var/lib/ceph/crash --ceph-crash-dir /var/lib/ceph/crash
  dsecore summarize --ceph --conf /etc/ceph/ceph.conf --since 2026-11-01 --format html --out cluster.html`,
		Args: func(cmd *cobra.Command, args []string) error {
			if ceph, _ := cmd.Flags().GetBool("ceph"); ceph {
				if len(args) > 0 {
					return fmt.Errorf("--ceph reads the cluster's crash store: no PATH (got %s)", strings.Join(args, " "))
				}
				return nil
			}
			return cobra.MinimumNArgs(1)(cmd, args)
		},
		RunE: runSummarize,
	}
	f := cmd.Flags()
	pathsFlag(cmd, "solib-search-path", "directory searched for libraries by name and, recursively, by build-id")
	f.String("sysroot", "", "prefix prepended to every absolute path the cores name")
	pathsFlag(cmd, "debug-file-directory", "root of separate debug files (default /usr/lib/debug)")
	f.String("profile", session.DefaultCoroutineProfile, "coroutine runtime profile: a built-in name ("+strings.Join(coroutines.BuiltinNames(), ", ")+") or a YAML file")
	f.String("analysis-profile", session.DefaultAnalysisProfile, "fault-analysis profile: "+session.DefaultAnalysisProfile+" (built in) or a YAML file")
	f.String("format", "table", "table, json, markdown, html or ceph-crash")
	f.String("out", "", "write the report to this file (ceph-crash: a Ceph crash directory, one <crash_id>/{meta,done} per core, which ceph-crash posts)")
	pathsFlag(cmd, "ceph-crash-dir", "Ceph crash directory (e.g. /var/lib/ceph/crash) holding the daemons' own reports: the host fields (utsname_*, os_*) of the report of the same crash are taken from it, and its stack_sig compared")
	f.Int("jobs", runtime.NumCPU(), "cores summarized in parallel")
	f.String("cache-dir", session.DefaultCacheDir(), "decompressed cores, debuginfod downloads, libraries' inflated DWARF and symbol indexes, and per-core results")
	f.Bool("no-cache", false, "summarize every core again instead of reusing cached results")
	f.String("since", "", "only cores from this time on (2006-01-02 or RFC 3339)")
	f.String("until", "", "only cores up to this time")
	f.String("baseline", "", "an earlier --format json report: groups it lacks are marked new")
	f.Int("frames", 0, "frames hashed into a signature (default 5)")
	f.Int64("max-core-size", session.DefaultMaxCoreSize, "largest decompressed core, in bytes")
	f.Duration("debuginfod-timeout", 0, "per debuginfod request (default $DEBUGINFOD_TIMEOUT seconds, else "+session.DefaultDebuginfodTimeout.String()+")")
	f.Bool("ceph", false, "summarize the crash reports of a Ceph cluster (ceph crash ls) instead of cores")
	f.String("conf", "", "--ceph: the cluster's ceph.conf (default: the ceph command's, $CEPH_CONF or /etc/ceph/ceph.conf)")
	f.String("ceph-name", "", "--ceph: the entity the ceph command authenticates as (default client.admin)")
	f.String("keyring", "", "--ceph: its keyring")
	f.String("progress", "auto", "progress bar on stderr: auto (when it is a terminal), always, never")
	return cmd
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot read time %q (want 2006-01-02 or RFC 3339)", s)
}

func runSummarize(cmd *cobra.Command, args []string) error {
	format := config.GetString("format")
	switch format {
	case "table", "json", "markdown", "html", "ceph-crash":
	default:
		return fmt.Errorf("--format %q: want table, json, markdown, html or ceph-crash", format)
	}
	if _, err := langPrinter(); err != nil {
		return err // said before any core is read
	}
	since, err := parseTime(config.GetString("since"))
	if err != nil {
		return err
	}
	until, err := parseTime(config.GetString("until"))
	if err != nil {
		return err
	}
	baseline, err := readBaseline(config.GetString("baseline"))
	if err != nil {
		return err
	}
	if config.GetBool("ceph") {
		if format == "ceph-crash" {
			return fmt.Errorf("--ceph reads the crash store: --format ceph-crash would write its reports back")
		}
		c := cluster.Client{Conf: config.GetString("conf"), Name: config.GetString("ceph-name"), Keyring: config.GetString("keyring")}
		raw, err := c.Ls(cmd.Context())
		if err != nil {
			return err
		}
		cores, warnings := cluster.Cores(raw, since, until)
		doc := batch.BuildSummary(cores, baseline)
		doc.Tool = "dsecore summarize --ceph"
		doc.Warnings = warnings
		return writeSummary(cmd, doc, format)
	}
	inputs, errs := corestore.Collect(args, corestore.Options{Since: since, Until: until})
	var warnings []string
	for _, e := range errs {
		warnings = append(warnings, e.Error())
	}
	cacheDir := config.GetString("cache-dir")
	prog := newProgress(cmd.ErrOrStderr(), len(inputs), config.GetString("progress"))
	doc, err := batch.Run(inputs, baseline, batch.RunOptions{
		Session: session.Options{SolibSearchPath: getPaths("solib-search-path"), Sysroot: config.GetString("sysroot"),
			DebugFileDirs: getPaths("debug-file-directory"), DebuginfodTimeout: config.GetDuration("debuginfod-timeout"),
			CacheDir: cacheDir, CoroutineProfile: config.GetString("profile"), AnalysisProfile: config.GetString("analysis-profile"),
			MaxCoreSize: config.GetInt64("max-core-size")},
		Summary:  batch.Options{Frames: config.GetInt("frames"), CephCrashDirs: getPaths("ceph-crash-dir")},
		Jobs:     config.GetInt("jobs"),
		NoCache:  config.GetBool("no-cache"),
		Progress: prog,
	})
	if err != nil {
		return err
	}
	prog.finish()
	doc.Warnings = append(warnings, doc.Warnings...)
	if len(inputs) == 0 {
		doc.Warnings = append(doc.Warnings, "no core found in "+strings.Join(args, " "))
	}
	return writeSummary(cmd, doc, format)
}

// readBaseline reads an earlier --format json report's groups (nil
// without one).
func readBaseline(b string) ([]batch.Group, error) {
	if b == "" {
		return nil, nil
	}
	data, err := os.ReadFile(b)
	if err != nil {
		return nil, fmt.Errorf("--baseline: %w", err)
	}
	var doc batch.Summary
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("--baseline %s: not a summarize --format json report: %w", b, err)
	}
	if doc.Groups == nil {
		return []batch.Group{}, nil
	}
	return doc.Groups, nil
}

func writeSummary(cmd *cobra.Command, doc *batch.Summary, format string) error {
	out := config.GetString("out")
	if format == "ceph-crash" {
		return writeCephCrash(cmd.OutOrStdout(), doc, out)
	}
	var w io.Writer = cmd.OutOrStdout()
	if out != "" {
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	switch format {
	case "json":
		return writeJSON(w, doc)
	case "markdown":
		batch.WriteSummaryMarkdown(w, doc)
	case "html":
		lang, err := langPrinter()
		if err != nil {
			return err
		}
		return batch.WriteSummaryHTML(w, doc, lang)
	default:
		batch.WriteSummaryTable(w, doc)
		report.WriteWarnings(cmd.ErrOrStderr(), doc.Warnings)
	}
	return nil
}

// writeCephCrash writes one report per summarized core into DIR as Ceph's
// handler does (<crash_id>/meta, then <crash_id>/done: ceph-crash posts an
// entry once done exists), or, without a directory, a JSON array.
func writeCephCrash(stdout io.Writer, doc *batch.Summary, dir string) error {
	var metas [][]byte
	var ids []string
	for _, c := range doc.Cores {
		if c.Error != "" {
			continue
		}
		metas = append(metas, batch.CephCrashMeta(c))
		ids = append(ids, batch.CephCrashID(c))
	}
	if dir == "" {
		var b bytes.Buffer
		b.WriteString("[")
		for i, m := range metas {
			if i > 0 {
				b.WriteString(",")
			}
			b.Write(bytes.TrimSuffix(m, []byte("\n")))
		}
		b.WriteString("]\n")
		_, err := stdout.Write(b.Bytes())
		return err
	}
	for i, m := range metas {
		d := filepath.Join(dir, ids[i])
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(d, "meta"), m, 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(d, "done"), nil, 0o444); err != nil && !os.IsExist(err) && !os.IsPermission(err) {
			return err
		}
	}
	fmt.Fprintf(stdout, "%d crash reports in %s\n", len(metas), dir)
	return nil
}

// progress is a one-line progress bar on a terminal: cores done / total,
// rate, the core being read.
type progress struct {
	w       io.Writer
	on      bool
	total   int
	n       atomic.Int64
	mu      sync.Mutex
	current string
	t0      time.Time
}

func newProgress(w io.Writer, total int, mode string) *progress {
	p := &progress{w: w, total: total, t0: time.Now()}
	switch mode {
	case "always":
		p.on = true
	case "never":
	default:
		if f, ok := w.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				p.on = true
			}
		}
	}
	return p
}

func (p *progress) Start(path string) {
	if !p.on {
		return
	}
	p.mu.Lock()
	p.current = path
	p.mu.Unlock()
	p.draw()
}

func (p *progress) Done() {
	p.n.Add(1)
	p.draw()
}

func (p *progress) draw() {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	n := int(p.n.Load())
	rate := float64(n) / time.Since(p.t0).Seconds()
	width := 30
	fill := 0
	if p.total > 0 {
		fill = n * width / p.total
	}
	cur := p.current
	if len(cur) > 50 {
		cur = "…" + cur[len(cur)-49:]
	}
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d  %.1f cores/s  %s\x1b[K", strings.Repeat("#", fill), strings.Repeat(".", width-fill), n, p.total, rate, cur)
}

func (p *progress) finish() {
	if p.on {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}
