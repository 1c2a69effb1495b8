package batch

import (
	"cmp"
	"context"
	"fmt"
	"html/template"
	"io"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/dsecore/dsecore/analysis/signature"
	"github.com/dsecore/dsecore/internal/l10n"
	"github.com/dsecore/dsecore/report"
)

// Summary is the document of `dsecore summarize`.
type Summary struct {
	Tool             string         `json:"tool"`
	SignatureVersion string         `json:"signature_version"`
	Generated        time.Time      `json:"generated"`
	Cores            []Core         `json:"cores"`
	Groups           []Group        `json:"groups"`
	Families         []Family       `json:"families"`
	Errors           int            `json:"errors"` // cores that could not be summarized
	MissingBuilds    []MissingBuild `json:"missing_builds"`
	Fetched          []string       `json:"fetched,omitempty"` // files downloaded from debuginfod
	Warnings         []string       `json:"warnings,omitempty"`
	// CoroutineProfile names the coroutine runtime profile the cores were
	// read with ("ceph-dse (built-in)", "fork (fork.yaml)").
	CoroutineProfile string `json:"coroutine_profile,omitempty"`
}

// MissingBuild is a module file no search found.
type MissingBuild struct {
	Module  string `json:"module"`
	BuildID string `json:"build_id"`
	Cores   int    `json:"cores"`
}

// BuildSummary groups the cores and collects what was missing.
func BuildSummary(cores []Core, baseline []Group) *Summary {
	s := &Summary{Tool: "dsecore summarize", SignatureVersion: signature.Version, Generated: time.Now().UTC(),
		Cores: cores, MissingBuilds: []MissingBuild{}}
	if s.Cores == nil {
		s.Cores = []Core{}
	}
	s.Groups, s.Families = GroupCores(cores)
	if s.Groups == nil {
		s.Groups = []Group{}
	}
	if baseline != nil {
		MarkNew(s.Groups, baseline)
	}
	miss := map[string]*MissingBuild{}
	for _, c := range cores {
		if c.Error != "" {
			s.Errors++
		}
		for _, m := range c.Missing {
			name, id := m, ""
			if i := strings.Index(m, " (build-id "); i > 0 {
				name = m[:i]
				id = strings.TrimRight(strings.Fields(m[i+len(" (build-id "):])[0], ";)")
			}
			k := name + "\x00" + id
			if miss[k] == nil {
				miss[k] = &MissingBuild{Module: name, BuildID: id}
			}
			miss[k].Cores++
		}
	}
	for _, m := range miss {
		s.MissingBuilds = append(s.MissingBuilds, *m)
	}
	// By module, then build ID: two builds of one module (cores of two
	// versions) come from a map in any order otherwise.
	slices.SortFunc(s.MissingBuilds, func(a, b MissingBuild) int {
		return cmp.Or(strings.Compare(a.Module, b.Module), strings.Compare(a.BuildID, b.BuildID))
	})
	return s
}

func short(sig string) string {
	if i := strings.IndexByte(sig, ':'); i >= 0 && len(sig) > i+13 {
		return sig[:i+13]
	}
	return sig
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}

// WriteSummaryTable is the terminal form: groups by count, then the cores
// that failed.
func WriteSummaryTable(w io.Writer, s *Summary) {
	fmt.Fprintf(w, "%d cores, %d groups, %d families, %d errors (signature %s", len(s.Cores), len(s.Groups), len(s.Families), s.Errors, s.SignatureVersion)
	if s.CoroutineProfile != "" {
		fmt.Fprintf(w, ", coroutine profile %s", s.CoroutineProfile)
	}
	fmt.Fprint(w, ")\n\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COUNT\tSIGNATURE\tFAMILY\tTOP FRAMES\tVERDICT\tLAST")
	for _, g := range s.Groups {
		fam := "="
		if g.Family != g.Signature {
			fam = fmt.Sprintf("%s (+%d)", short(g.Family), g.Distance)
		}
		mark := ""
		if g.New {
			mark = " NEW"
		}
		fmt.Fprintf(tw, "%d%s\t%s\t%s\t%s\t%s\t%s\n", g.Count, mark, short(g.Signature), fam,
			oneLine(strings.Join(head(g.Frames, 3), " < "), 70), oneLine(g.Verdict, 80), g.Last.UTC().Format("2006-01-02 15:04"))
	}
	tw.Flush()
	if s.Errors > 0 {
		fmt.Fprintln(w, "\nNot summarized:")
		for _, c := range s.Cores {
			if c.Error != "" {
				fmt.Fprintf(w, "  %s: %s\n", c.Path, c.Error)
			}
		}
	}
	if len(s.MissingBuilds) > 0 {
		fmt.Fprintln(w, "\nMissing files (stacks through them are unsymbolized):")
		for _, m := range s.MissingBuilds {
			fmt.Fprintf(w, "  %s build-id %s (%d cores)\n", m.Module, m.BuildID, m.Cores)
		}
	}
}

// WriteSummaryMarkdown is the report as Markdown.
func WriteSummaryMarkdown(w io.Writer, s *Summary) {
	fmt.Fprintf(w, "# Crash summary\n\n%d cores, %d groups, %d errors; signature %s; generated %s.\n\n",
		len(s.Cores), len(s.Groups), s.Errors, s.SignatureVersion, s.Generated.Format(time.RFC3339))
	fmt.Fprintln(w, "| count | signature | top frames | verdict | nodes | first | last | example |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	md := func(s string) string { return strings.ReplaceAll(oneLine(s, 2000), "|", "\\|") }
	for _, g := range s.Groups {
		n := fmt.Sprint(g.Count)
		if g.New {
			n += " **new**"
		}
		fmt.Fprintf(w, "| %s | `%s` | %s | %s | %s | %s | %s | %s |\n", n, short(g.Signature), md(strings.Join(g.Frames, " ← ")),
			md(g.Verdict), md(strings.Join(g.Nodes, ", ")), g.First.UTC().Format("2006-01-02 15:04"), g.Last.UTC().Format("2006-01-02 15:04"), md(g.Example))
	}
	if s.Errors > 0 {
		fmt.Fprint(w, "\n## Not summarized\n\n")
		for _, c := range s.Cores {
			if c.Error != "" {
				fmt.Fprintf(w, "- `%s`: %s\n", c.Path, md(c.Error))
			}
		}
	}
	if len(s.MissingBuilds) > 0 {
		fmt.Fprint(w, "\n## Missing builds\n\n")
		for _, m := range s.MissingBuilds {
			fmt.Fprintf(w, "- %s, build-id `%s` (%d cores)\n", m.Module, m.BuildID, m.Cores)
		}
	}
}

// htmlTmpl is parsed on first use (not at start-up: most runs print no
// HTML); WriteSummaryHTML binds its words (t, verdict) to the language.
var htmlTmpl = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("summary").Funcs(template.FuncMap{
		"short":   short,
		"join":    strings.Join,
		"time":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
		"t":       func(id string, kv ...any) string { return "" },
		"verdict": func(g Group) string { return "" },
		"lang":    func() string { return "" },
	}).Parse(`<!doctype html>
<html lang="{{lang}}"><head><meta charset="utf-8"><title>{{t "summary.title"}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}
h1{font-size:20px} h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0} td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}
th{background:#f3f3f3} code,pre{font:12px/1.35 ui-monospace,monospace} pre{background:#f8f8f8;padding:8px;overflow:auto;margin:4px 0}
.new{color:#b00;font-weight:bold} .err{color:#b00} .bar{fill:#3a7bd5} .axis{font:11px sans-serif;fill:#555}
</style></head><body>
<h1>{{t "summary.title"}}</h1>
<p>{{t "summary.counts" "Cores" (len .S.Cores) "Groups" (len .S.Groups) "Errors" .S.Errors "Signature" .S.SignatureVersion "Generated" (time .S.Generated)}}</p>
<h2>{{t "summary.over-time"}}</h2>
<svg id="chart" width="{{.Chart.W}}" height="{{.Chart.H}}" role="img" aria-label="{{t "summary.cores-per" "Unit" (t (print "summary.unit-" .Chart.Unit))}}">
{{range .Chart.Bars}}<rect class="bar" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}"><title>{{.Label}}: {{.N}}</title></rect>
<text class="axis" x="{{.X}}" y="{{$.Chart.Base}}" dy="14">{{.Label}}</text>
<text class="axis" x="{{.X}}" y="{{.Y}}" dy="-3">{{.N}}</text>
{{end}}</svg>
<h2>{{t "summary.groups"}}</h2>
<table id="groups"><tr><th>#</th><th>{{t "summary.th-count"}}</th><th>{{t "summary.th-signature"}}</th><th>{{t "summary.th-verdict"}}</th><th>{{t "summary.th-nodes"}}</th><th>{{t "summary.th-first-last"}}</th><th>{{t "summary.th-builds"}}</th></tr>
{{range $i, $g := .S.Groups}}<tr class="group"><td>{{$i}}</td><td>{{$g.Count}}{{if $g.New}} <span class="new">{{t "summary.new"}}</span>{{end}}</td>
<td><code>{{short $g.Signature}}</code>{{if ne $g.Family $g.Signature}}<br>{{t "summary.family"}} <code>{{short $g.Family}}</code> (+{{$g.Distance}}){{end}}</td>
<td>{{verdict $g}}</td><td>{{join $g.Nodes ", "}}</td><td>{{time $g.First}}<br>{{time $g.Last}}</td><td>{{range $g.Builds}}<code>{{short .}}</code> {{end}}</td></tr>
<tr><td></td><td colspan="6"><pre>{{join $g.Frames "\n"}}</pre>{{t "summary.example"}} <code>{{$g.Example}}</code></td></tr>
{{end}}</table>
{{if .Hangs}}<h2>{{t "summary.hangs"}}</h2>
{{range .Hangs}}<h3>{{t "summary.group"}} <code>{{short .Signature}}</code>: <code>{{.Example}}</code></h3>
{{if .SVG}}<div class="waits">{{.SVG}}</div>{{else}}<table class="waits"><tr><th>{{t "summary.th-waiter"}}</th><th>{{t "summary.th-waits-for"}}</th><th>{{t "summary.th-held-by"}}</th><th></th></tr>
{{range .Edges}}<tr{{if .Cycle}} class="new"{{end}}><td>{{.Waiter}}</td><td><code>{{.Object}}</code></td><td>{{.Owner}}</td><td>{{.How}}{{if .Cycle}} {{t "summary.deadlock"}}{{end}}</td></tr>
{{end}}</table>{{end}}
{{end}}{{end}}
{{if .S.Errors}}<h2>{{t "summary.not-summarized"}}</h2><ul>{{range .S.Cores}}{{if .Error}}<li class="err"><code>{{.Path}}</code>: {{.Error}}</li>{{end}}{{end}}</ul>{{end}}
{{if .S.MissingBuilds}}<h2>{{t "summary.missing-builds"}}</h2><ul>{{range .S.MissingBuilds}}<li>{{.Module}} <code>{{.BuildID}}</code> ({{t "summary.n-cores" "N" .Cores}})</li>{{end}}</ul>{{end}}
<h2>{{t "summary.cores"}}</h2>
<table id="cores"><tr><th>{{t "summary.th-core"}}</th><th>{{t "summary.th-time"}}</th><th>{{t "summary.th-process"}}</th><th>{{t "summary.th-signal"}}</th><th>{{t "summary.th-thread-task"}}</th><th>{{t "summary.th-signature"}}</th></tr>
{{range .S.Cores}}<tr><td><code>{{.Path}}</code></td><td>{{time .Time}}</td><td>{{.Process}} {{.PID}}</td><td>{{.Signal}}</td>
<td>{{if .LWP}}LWP {{.LWP}} {{.ThreadName}}{{end}}{{if ge .Task 0}} {{t "summary.task" "ID" .Task}}{{end}}</td><td>{{if .Signature}}<code>{{short .Signature.ID}}</code>{{else}}<span class="err">{{.Error}}</span>{{end}}</td></tr>
{{end}}</table>
</body></html>
`))
})

type chartBar struct {
	X, Y, W, H, N int
	Label         string
}

type chart struct {
	W, H, Base int
	Unit       string
	Bars       []chartBar
}

// buildChart buckets the cores by day (by hour when they span under two
// days) into an inline SVG bar chart.
func buildChart(cores []Core) chart {
	c := chart{W: 640, H: 180, Base: 150, Unit: "day"}
	var ts []time.Time
	for _, x := range cores {
		ts = append(ts, x.Time.UTC())
	}
	if len(ts) == 0 {
		return c
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	trunc, format := 24*time.Hour, "01-02"
	if ts[len(ts)-1].Sub(ts[0]) < 48*time.Hour {
		trunc, format, c.Unit = time.Hour, "01-02 15h", "hour"
	}
	counts := map[time.Time]int{}
	var keys []time.Time
	for _, t := range ts {
		k := t.Truncate(trunc)
		if counts[k] == 0 {
			keys = append(keys, k)
		}
		counts[k]++
	}
	maxN := 0
	for _, k := range keys {
		maxN = max(maxN, counts[k])
	}
	w := min(80, (c.W-20)/len(keys))
	for i, k := range keys {
		h := counts[k] * 120 / maxN
		c.Bars = append(c.Bars, chartBar{X: 10 + i*w, Y: c.Base - h, W: w - 6, H: h, N: counts[k], Label: k.Format(format)})
	}
	return c
}

// hangView is one hang group's wait graph: an inline SVG drawn by
// Graphviz's dot when it is installed, else the edges as a table.
type hangView struct {
	Signature, Example string
	SVG                template.HTML
	Edges              []HangEdge
}

// hangViews draws each hang group's example core.
func hangViews(s *Summary) []hangView {
	byPath := map[string]*Core{}
	for i := range s.Cores {
		byPath[s.Cores[i].Path] = &s.Cores[i]
	}
	_, err := exec.LookPath("dot")
	var out []hangView
	for _, g := range s.Groups {
		c := byPath[g.Example]
		if c == nil || len(c.Hang) == 0 {
			continue
		}
		v := hangView{Signature: g.Signature, Example: g.Example, Edges: c.Hang}
		if err == nil {
			v.SVG = dotSVG(c.Hang)
		}
		out = append(out, v)
	}
	return out
}

// hangDOT writes a hang's edges in DOT: waiters and owners as boxes (a
// deadlock's in red), objects as ellipses.
func hangDOT(edges []HangEdge) string {
	var b strings.Builder
	b.WriteString("digraph waits {\n  rankdir=LR;\n  node [fontname=\"monospace\", fontsize=10];\n  edge [fontname=\"monospace\", fontsize=9];\n")
	for i, e := range edges {
		color := "black"
		if e.Cycle {
			color = "red"
		}
		fmt.Fprintf(&b, "  %s [shape=box, color=%s];\n  o%d [shape=ellipse, label=%s];\n  %s -> o%d [label=\"waits\"];\n",
			report.DOTQuote(e.Waiter), color, i, report.DOTQuote(e.Object), report.DOTQuote(e.Waiter), i)
		if e.Owner != "" {
			style := "solid"
			if e.How == "inferred" || e.How == "notifier" || e.How == "peer" {
				style = "dashed"
			}
			label := "held by"
			if e.How != "" {
				label += " (" + e.How + ")"
			}
			fmt.Fprintf(&b, "  %s [shape=box, color=%s];\n  o%d -> %s [label=%s, style=%s];\n", report.DOTQuote(e.Owner), color, i, report.DOTQuote(e.Owner), report.DOTQuote(label), style)
		}
	}
	b.WriteString("}\n")
	return b.String()
}

// dotSVG runs dot -Tsvg (bounded in time); "" when it fails.
func dotSVG(edges []HangEdge) template.HTML {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "dot", "-Tsvg")
	cmd.Stdin = strings.NewReader(hangDOT(edges))
	out, err := cmd.Output()
	i := strings.Index(string(out), "<svg")
	if err != nil || i < 0 {
		return ""
	}
	return template.HTML(out[i:]) // dot escapes the labels it draws
}

// WriteSummaryHTML is a self-contained HTML report: no script, no link;
// its words in lang's (nil: English).
func WriteSummaryHTML(w io.Writer, s *Summary, lang *l10n.Printer) error {
	tr := lang
	if tr == nil {
		tr = l10n.En()
	}
	t, err := htmlTmpl().Clone()
	if err != nil {
		return err
	}
	t.Funcs(template.FuncMap{
		"t":    func(id string, kv ...any) string { return tr.Sf(id, kv...) },
		"lang": tr.Lang,
		// A group's verdict: its first core's sentences in the reader's
		// words, without what differs between its cores (as Verdict).
		"verdict": func(g Group) string {
			if len(g.Sentences) == 0 {
				return tr.S(l10n.Untranslated(g.Verdict))
			}
			return GenericVerdict(tr.S(l10n.Join("sep.sentence", g.Sentences...)))
		},
	})
	return t.Execute(w, struct {
		S     *Summary
		Chart chart
		Hangs []hangView
	}{s, buildChart(s.Cores), hangViews(s)})
}
