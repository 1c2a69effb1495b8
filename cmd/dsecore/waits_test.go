package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/batch"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
)

// readmeWaitsKeys are the `waits.…` keys the README's table documents.
func readmeWaitsKeys(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixture.RepoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	cell := regexp.MustCompile("`([.a-z_\\[\\]]+)`")
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "| `waits.") {
			continue
		}
		prefix := ""
		for _, m := range cell.FindAllStringSubmatch(strings.Split(line, "|")[1], -1) {
			k := m[1]
			if strings.HasPrefix(k, "waits.") {
				prefix = k[:strings.LastIndex(k, ".")]
			} else {
				k = prefix + k
			}
			keys[k] = true
		}
	}
	return keys
}

// TestWaitsContract: `waits --json` on the hang fixtures has exactly the
// keys the README's table documents (but those only a rarer core has).
func TestWaitsContract(t *testing.T) {
	set := fixture.Get(t)
	got := map[string]bool{}
	for _, name := range fixture.Hangs {
		sc := set.Scenario(t, name)
		var doc map[string]any
		runJSON(t, &doc, "waits", sc.Core, "--exe", sc.Exe, "--log-dir", sc.Dir)
		jsonKeys(doc["waits"], "waits", got)
	}
	documented := readmeWaitsKeys(t)
	if len(documented) < 60 {
		t.Fatalf("README documents %d waits keys", len(documented))
	}
	rare := map[string]bool{"waits.nodes[].write": true, "waits.objects[].owner_died": true, "waits.objects[].readers": true,
		"waits.bounds[].bound": true, "waits.bounds[].count": true, "waits.bounds[].text": true, "waits.warnings": true,
		"waits.chains[].members[].holds": true}
	var undocumented, absent []string
	for k := range got {
		if !documented[k] {
			undocumented = append(undocumented, k)
		}
	}
	for k := range documented {
		if !got[k] && !rare[k] {
			absent = append(absent, k)
		}
	}
	sort.Strings(undocumented)
	sort.Strings(absent)
	if len(undocumented) > 0 || len(absent) > 0 {
		t.Errorf("waits --json keys not in the README: %q\nREADME keys never produced: %q", undocumented, absent)
	}
}

// TestWaitsFaces: the text names the deadlock's members and their frames;
// the DOT is a graph dot(1) renders, with the cycle's members in red and
// the inferred owner edges dashed.
func TestWaitsFaces(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.TaskDeadlock)
	text := string(run(t, "waits", sc.Core, "--exe", sc.Exe))
	for _, want := range []string{"Deadlock 1 (2 members):", "holds hangs::jr_a.lock (co::co_mutex) — frame #3", "[lock guard, inferred]",
		"behind it: task 16 (journal_flush, Processer 7) waits hangs::jr_a.lock"} {
		if !strings.Contains(text, want) {
			t.Errorf("waits text lacks %q:\n%s", want, text)
		}
	}
	dot := run(t, "waits", sc.Core, "--exe", sc.Exe, "--dot")
	for _, want := range []string{`"task:14" [shape=box, color=red`, `"task:16" [shape=box, color=black`, `label="held by (inferred)", style=dashed`,
		`label="hangs::jr_a.lock\nco::co_mutex"`} {
		if !strings.Contains(string(dot), want) {
			t.Errorf("DOT lacks %q:\n%s", want, dot)
		}
	}
	cmd := exec.Command("dot", "-Tsvg")
	cmd.Stdin = strings.NewReader(string(dot))
	svg, err := cmd.Output()
	if err != nil || !strings.Contains(string(svg), "hangs::jr_b.lock") {
		t.Fatalf("dot -Tsvg: %v\n%s", err, svg)
	}
}

// TestSummarizeHangs: hang cores group by the shape of their wait graph
// (hang-v1), not by the stack of the thread that took the signal: the two
// task deadlocks (other addresses, LWPs, task ids) are one group, the
// thread deadlock another, the field crash keeps its v1 signature; the
// HTML report draws each hang group's graph with dot.
func TestSummarizeHangs(t *testing.T) {
	set := fixture.Get(t)
	dir := t.TempDir()
	for _, name := range []string{fixture.TaskDeadlock, fixture.TaskDeadlock2, fixture.ThreadDeadlock, fixture.Heartbeat, fixture.FieldCrash} {
		b, err := os.ReadFile(set.Scenario(t, name).Core)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "core."+name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	doc := summarize(t, []string{"DEBUGINFOD_URLS="}, dir, "--no-cache")
	cores := coreByName(doc)
	td, td2, th, hb, fc := cores["core.task-deadlock"], cores["core.task-deadlock-2"], cores["core.thread-deadlock"], cores["core.heartbeat"], cores["core.field-crash"]
	for name, c := range map[string]struct {
		sig  string
		hang bool
	}{"task-deadlock": {sigOf(td), len(td.Hang) > 0}, "task-deadlock-2": {sigOf(td2), len(td2.Hang) > 0},
		"thread-deadlock": {sigOf(th), len(th.Hang) > 0}, "heartbeat": {sigOf(hb), len(hb.Hang) > 0}} {
		if !strings.HasPrefix(c.sig, "hang-v1:") || !c.hang {
			t.Errorf("%s: signature %q, hang edges %v", name, c.sig, c.hang)
		}
	}
	if sigOf(td) != sigOf(td2) || sigOf(td) == sigOf(th) || sigOf(hb) == sigOf(th) || !strings.HasPrefix(sigOf(fc), "v1:") || len(fc.Hang) > 0 {
		t.Errorf("signatures: task %s, task-2 %s, thread %s, heartbeat %s, field crash %s", sigOf(td), sigOf(td2), sigOf(th), sigOf(hb), sigOf(fc))
	}
	g := groupOf(doc, sigOf(td))
	if g == nil || g.Count != 2 {
		t.Fatalf("task deadlock group %+v", g)
	}
	shape := strings.Join(td.Signature.Frames, "\n")
	if shape != "deadlock: hangs::journal_swap holds, hangs::journal_swap waits (co_mutex); hangs::journal_swap holds, hangs::journal_swap waits (co_mutex)" {
		t.Errorf("task deadlock shape %q", shape)
	}
	cycle := 0
	for _, e := range td.Hang {
		if e.Cycle {
			cycle++
		}
	}
	if len(td.Hang) != 3 || cycle != 2 {
		t.Errorf("task deadlock edges %+v", td.Hang)
	}
	out := filepath.Join(t.TempDir(), "report.html")
	cmd := exec.Command(dsecoreBin, "summarize", dir, "--no-cache", "--format", "html", "--out", out, "--progress", "never")
	cmd.Env = append(os.Environ(), "DEBUGINFOD_URLS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("summarize --format html: %v\n%s", err, b)
	}
	html, _ := os.ReadFile(out)
	if n := strings.Count(string(html), `<div class="waits"><svg`); !strings.Contains(string(html), "<h2>Hangs</h2>") || n != 3 ||
		!strings.Contains(string(html), "hangs::jr_b.lock (co::co_mutex)") {
		t.Errorf("HTML report: %d wait graphs\n%s", n, html)
	}
}

func sigOf(c batch.Core) string {
	if c.Signature == nil {
		return ""
	}
	return c.Signature.ID()
}
