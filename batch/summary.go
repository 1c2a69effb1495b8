// Package batch explains many cores at once: one line of facts per core
// (process, signal, crashing thread or task, top frames, verdict, build,
// signature, summary.go), groups of cores with the same crash, the summary
// document built from them and its formats (document.go), and Ceph crash
// reports of a core (cephcrash.go). It sits above session, which opens each
// core, and report, whose frame text and DOT quoting it uses; the summarize
// command and the fleet's agent are its callers.
package batch

import (
	"encoding/hex"
	"fmt"
	"regexp"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dsecore/dsecore/analysis/cephcrash"
	"github.com/dsecore/dsecore/analysis/signature"
	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/internal/l10n"
	"github.com/dsecore/dsecore/report"
	"github.com/dsecore/dsecore/session"
)

// SchemaVersion changes when Core's meaning changes: cached results of
// another version are not reused.
const SchemaVersion = 2

// Core is the summary of one core.
type Core struct {
	Path        string    `json:"path"`
	Size        int64     `json:"size"`
	MTime       time.Time `json:"mtime"`
	Time        time.Time `json:"time"`
	Compression string    `json:"compression,omitempty"`
	Node        string    `json:"node,omitempty"`

	PID      int    `json:"pid,omitempty"`
	Process  string `json:"process,omitempty"`
	Args     string `json:"args,omitempty"`
	Exe      string `json:"exe,omitempty"`
	Platform string `json:"platform,omitempty"` // from auxv: AT_PLATFORM

	Signal     string `json:"signal,omitempty"` // the real fault: "SIGSEGV (SEGV_MAPERR) at 0x0"
	SignalName string `json:"signal_name,omitempty"`
	ReRaised   bool   `json:"reraised,omitempty"` // a handler re-raised it
	LWP        int    `json:"lwp,omitempty"`
	ThreadName string `json:"thread_name,omitempty"`
	Task       int64  `json:"task"` // the coroutine task running on the crashing thread, -1: none

	TopFrames  []string   `json:"top_frames,omitempty"` // "function (file:line)"
	Backtrace  []string   `json:"backtrace,omitempty"`  // the crashing stack, one line per frame
	Verdict    string     `json:"verdict,omitempty"`
	Sentences  []l10n.Msg `json:"-"` // the verdict in the catalog's words (fault.Analysis.Sentences)
	Confidence string     `json:"confidence,omitempty"`
	// VerdictRule is the rule that concluded ("verdict-concurrent-release"):
	// the kind of verdict, without this core's addresses.
	VerdictRule string   `json:"verdict_rule,omitempty"`
	Evidence    []string `json:"evidence,omitempty"` // "[rule] text"
	Assertion   *Assert  `json:"assertion,omitempty"`
	// Ceph is what Ceph's own crash report of the core says (its fields
	// read from the core), for --format ceph-crash.
	Ceph *cephcrash.Report `json:"ceph,omitempty"`

	Build   map[string]string `json:"build,omitempty"` // executable and libdcache.so: build-id
	Missing []string          `json:"missing,omitempty"`
	// SymbolStatus names the modules whose debug information is
	// incomplete (a supplementary file, .dwo missing; a debug file
	// rejected) with their status.
	SymbolStatus map[string]string    `json:"symbol_status,omitempty"`
	Signature    *signature.Signature `json:"signature,omitempty"`
	// Hang is a hang core's wait graph (hang.go).
	Hang     []HangEdge `json:"hang,omitempty"`
	Error    string     `json:"error,omitempty"`
	Warnings []string   `json:"warnings,omitempty"`
	Seconds  float64    `json:"seconds"`
	Cached   bool       `json:"cached,omitempty"`
}

// Assert is a failed assertion found in the core.
type Assert struct {
	Text     string `json:"text"`
	Function string `json:"function,omitempty"`
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
}

// Options of one core's summary (the profiles and search paths are the
// session's).
type Options struct {
	Frames int // signature frames; default signature.DefaultFrames
	Top    int // top frames kept; default 5
	// CephCrashDirs are Ceph crash directories searched for the daemon's
	// own report of each core's crash.
	CephCrashDirs []string
}

// Failed is the summary of a core that could not be opened.
func Failed(c Core, err error) Core {
	c.Task = -1
	c.Error = err.Error()
	return c
}

// Summarize explains one core of a session. It never panics: a failure is
// the core's Error, with whatever was learnt before it.
func Summarize(s *session.Session, c Core, o Options) (out Core) {
	start := time.Now()
	out = c
	out.Task = -1
	defer func() {
		if r := recover(); r != nil {
			if err := s.Fault(r); err != nil {
				out.Error = err.Error() // a file of it changed while it was read
				out.Seconds = time.Since(start).Seconds()
				return
			}
			out.Error = fmt.Sprintf("internal error: %v", r)
			out.Warnings = append(out.Warnings, strings.Split(string(debug.Stack()), "\n")[0])
		}
		out.Seconds = time.Since(start).Seconds()
	}()
	p := s.Process()
	out.Warnings = append(out.Warnings, p.Warnings...)
	if ps := p.Core.PSInfo; ps != nil {
		out.PID, out.Process, out.Args = int(ps.PID), ps.Fname, ps.Args
	}
	if p.Exe != nil {
		out.Exe = p.Exe.Name
	}
	if a, ok := p.Core.AuxvValue(15); ok { // AT_PLATFORM: "x86_64"
		if s, err := p.Core.ReadCString(a, 32); err == nil {
			out.Platform = s
		}
	}
	out.Build = map[string]string{}
	for _, m := range p.Modules {
		base := m.BaseName()
		if m.IsExe || strings.HasPrefix(base, "libdcache") {
			out.Build[base] = hex.EncodeToString(m.CoreBuildID)
		}
		switch {
		case m.Path == "":
			out.Missing = append(out.Missing, fmt.Sprintf("%s (build-id %x)", m.Name, m.CoreBuildID))
		case m.BuildIDMismatch:
			out.Missing = append(out.Missing, fmt.Sprintf("%s (build-id %x; %s has %x)", m.Name, m.CoreBuildID, m.Path, m.FileBuildID))
		default:
			if st := m.SymbolStatus(); st.Level == coreparse.SymbolsPartial || len(st.Problems) > 0 {
				if out.SymbolStatus == nil {
					out.SymbolStatus = map[string]string{}
				}
				out.SymbolStatus[base] = st.Text
			}
		}
	}
	out.Warnings = append(out.Warnings, p.SymbolWarnings()...)
	th := p.CrashedThread()
	if th == nil {
		out.Error = "no crashed thread in the core"
		return out
	}
	out.LWP, out.ThreadName = th.LWP, th.Name
	fc := p.Fault()
	if fc != nil && fc.Real != nil {
		out.Signal, out.SignalName, out.ReRaised = fc.Real.String(), fc.Real.Name, fc.ReRaised
	}
	frames, berr := p.Backtrace(th)
	if berr != nil {
		out.Warnings = append(out.Warnings, "crashing stack: "+berr.Error())
	}
	if len(frames) == 0 {
		out.Error = "the crashing thread's stack could not be unwound"
		return out
	}
	sig := signature.Compute(frames, o.Frames)
	if len(sig.Frames) == 0 {
		out.Error = "the crashing stack has no application frame to make a signature of"
		for _, w := range out.Warnings {
			if strings.Contains(w, "truncated") || strings.Contains(w, "not in the core") {
				out.Error += " (" + w + ")"
				break
			}
		}
	} else {
		out.Signature = &sig
	}
	top := o.Top
	if top <= 0 {
		top = 5
	}
	for i, f := range frames {
		line := report.FrameOf(f).Text(report.FrameReport)
		out.Backtrace = append(out.Backtrace, fmt.Sprintf("#%d %s", i, line))
	}
	for _, f := range realFrames(frames) {
		if len(out.TopFrames) == top {
			break
		}
		out.TopFrames = append(out.TopFrames, report.FrameOf(f).Text(report.FrameReport))
	}
	rt := s.Runtime()
	for _, t := range rt.Tasks {
		if t.Running && t.Thread == th {
			out.Task = t.ID
		}
	}
	out.Warnings = append(out.Warnings, rt.Warnings...)
	out.ThreadName = th.Name // Processers name their threads
	a := s.Analysis()
	out.Verdict, out.Sentences, out.Confidence = a.Verdict, a.Sentences, a.Confidence
	if a.Hang() {
		// A hang groups by the shape of its wait graph, not by the stack
		// of the thread that took the signal (analysis/signature, hang-v1).
		hs := signature.Hang(s.Waits().Shape)
		out.Signature, out.Error = &hs, ""
		out.Hang = hangEdges(s.Waits())
	}
	for _, r := range a.Rules {
		if strings.HasPrefix(r, "verdict-") {
			out.VerdictRule = r
		}
	}
	for _, e := range a.Evidence {
		out.Evidence = append(out.Evidence, "["+e.Rule+"] "+e.Text)
	}
	out.Ceph = cephcrash.Collect(p, cephcrash.Options{CrashDirs: o.CephCrashDirs})
	out.Warnings = append(out.Warnings, out.Ceph.Warnings...)
	if a.Assertion != nil {
		out.Assertion = &Assert{Text: a.Assertion.Text, Function: a.Assertion.Function, File: a.Assertion.File, Line: a.Assertion.Line}
	}
	out.Warnings = append(out.Warnings, a.Warnings...)
	return out
}

// realFrames drops the signal handler's frames: the real fault's stack
// starts below the signal frame.
func realFrames(fs []coreparse.Frame) []coreparse.Frame {
	for i, f := range fs {
		if f.Sigtramp {
			return fs[i+1:]
		}
	}
	return fs
}

// Group is the cores of one signature.
type Group struct {
	Signature string     `json:"signature"` // "v1:<sha256>"
	Frames    []string   `json:"frames"`
	Count     int        `json:"count"`
	Cores     []string   `json:"cores"`
	First     time.Time  `json:"first"`
	Last      time.Time  `json:"last"`
	Nodes     []string   `json:"nodes"`
	Builds    []string   `json:"builds"`   // libdcache.so build-ids (else the executable's)
	Verdict   string     `json:"verdict"`  // the most common
	Sentences []l10n.Msg `json:"-"`        // the first core's with that verdict, in the catalog's words
	Verdicts  []string   `json:"verdicts"` // every distinct one, most common first
	Example   string     `json:"example"`
	Family    string     `json:"family"`   // the signature heading this group's family
	Distance  int        `json:"distance"` // frames that differ from the family's head
	Degraded  bool       `json:"degraded,omitempty"`
	New       bool       `json:"new,omitempty"` // not in the baseline
	// Variants are the distinct template-argument spellings of the frames.
	Variants int `json:"variants"`
}

// Family is groups whose stacks agree in their first FamilyFrames frames:
// they differ only below the top (or by a frame the signature keeps).
type Family struct {
	Head   string   `json:"head"` // signature of its largest group
	Top    []string `json:"top"`
	Groups []string `json:"groups"`
	Count  int      `json:"count"`
}

// FamilyFrames is how many top frames a family shares.
const FamilyFrames = 3

// GroupCores groups the cores that have a signature.
func GroupCores(cores []Core) ([]Group, []Family) {
	byID := map[string]*Group{}
	verdicts := map[string]map[string]int{}
	sentences := map[string]map[string][]l10n.Msg{} // by group and generic verdict: the first core's
	variants := map[string]map[string]bool{}
	var order []string
	for _, c := range cores {
		if c.Signature == nil || c.Error != "" {
			continue
		}
		id := c.Signature.ID()
		g := byID[id]
		if g == nil {
			g = &Group{Signature: id, Frames: c.Signature.Frames, First: c.Time, Last: c.Time, Example: c.Path, Degraded: c.Signature.Degraded}
			byID[id] = g
			verdicts[id] = map[string]int{}
			sentences[id] = map[string][]l10n.Msg{}
			variants[id] = map[string]bool{}
			order = append(order, id)
		}
		g.Count++
		g.Cores = append(g.Cores, c.Path)
		if c.Time.Before(g.First) {
			g.First = c.Time
		}
		if c.Time.After(g.Last) {
			g.Last = c.Time
		}
		if c.Node != "" && !contains(g.Nodes, c.Node) {
			g.Nodes = append(g.Nodes, c.Node)
		}
		if b := coreBuild(c.Build); b != "" && !contains(g.Builds, b) {
			g.Builds = append(g.Builds, b)
		}
		gv := GenericVerdict(c.Verdict)
		verdicts[id][gv]++
		if _, ok := sentences[id][gv]; !ok {
			sentences[id][gv] = c.Sentences
		}
		variants[id][strings.Join(c.Signature.Raw, "\n")] = true
	}
	var groups []Group
	for _, id := range order {
		g := byID[id]
		vs := verdicts[id]
		for v := range vs {
			g.Verdicts = append(g.Verdicts, v)
		}
		sort.Slice(g.Verdicts, func(i, j int) bool {
			a, b := g.Verdicts[i], g.Verdicts[j]
			if vs[a] != vs[b] {
				return vs[a] > vs[b]
			}
			return a < b
		})
		if len(g.Verdicts) > 0 {
			g.Verdict = g.Verdicts[0]
			g.Sentences = sentences[id][g.Verdict]
		}
		g.Variants = len(variants[id])
		sort.Strings(g.Nodes)
		sort.Strings(g.Builds)
		groups = append(groups, *g)
	}
	sort.SliceStable(groups, func(i, j int) bool {
		if groups[i].Count != groups[j].Count {
			return groups[i].Count > groups[j].Count
		}
		return groups[i].Signature < groups[j].Signature
	})
	// Families: groups agreeing in their top frames; the largest heads.
	famOf := map[string]*Family{}
	var fams []*Family
	for i := range groups {
		g := &groups[i]
		key := strings.Join(head(g.Frames, FamilyFrames), "\n")
		f := famOf[key]
		if f == nil {
			f = &Family{Head: g.Signature, Top: head(g.Frames, FamilyFrames)}
			famOf[key] = f
			fams = append(fams, f)
		}
		f.Groups = append(f.Groups, g.Signature)
		f.Count += g.Count
		g.Family = f.Head
		for _, h := range groups {
			if h.Signature == f.Head {
				g.Distance = signature.Distance(g.Frames, h.Frames)
			}
		}
	}
	out := make([]Family, len(fams))
	for i, f := range fams {
		out[i] = *f
	}
	return groups, out
}

func head(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func contains(s []string, x string) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

var (
	hexRE    = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`0x[0-9a-fA-F]{4,}`) })
	numberRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(\btask |\bLWP |\bProcesser_|\bProcesser |\bpid |任务 )\d+`)
	})
)

// GenericVerdict is a verdict without what differs between cores of one
// crash: addresses, task, thread and process numbers (in English, and in
// the catalog's Chinese: "任务 N").
func GenericVerdict(v string) string {
	v = hexRE().ReplaceAllString(v, "0x…")
	return numberRE().ReplaceAllString(v, "${1}N")
}

// MarkNew flags the groups whose signature the baseline lacks.
func MarkNew(groups []Group, baseline []Group) {
	known := map[string]bool{}
	for _, g := range baseline {
		known[g.Signature] = true
	}
	for i := range groups {
		groups[i].New = !known[groups[i].Signature]
	}
}

// coreBuild is the build a core is counted under: libdcache.so's build-id
// (the cache layer whose crashes these are); "" when the core names the
// library but its build-id page is not in the core (a truncated core:
// unknown, not another module's build); without the library, the first
// module's by name. (A random pick from the map made a truncated core
// count under the executable's build-id in some runs and not in others.)
func coreBuild(builds map[string]string) string {
	if b, ok := builds["libdcache.so"]; ok {
		return b
	}
	names := make([]string, 0, len(builds))
	for n := range builds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if builds[n] != "" {
			return builds[n]
		}
	}
	return ""
}
