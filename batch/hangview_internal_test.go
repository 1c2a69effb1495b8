package batch

import (
	"bytes"
	"html"
	"regexp"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/internal/l10n"
)

// hangViewSummary is a summary with a hang group (its example core's edges:
// one of each way an owner is known, one with no owner) and a crash group
// (no edges: no view).
func hangViewSummary() (*Summary, []HangEdge) {
	edges := []HangEdge{
		{Waiter: "task 14 (sink_fill, Processer 5) in sink_fill", Object: "hangs::sink.q (co::Channel<int>)", Owner: "task 15 (sink_drain, Processer 6) in sink_drain", How: "peer", Cycle: true},
		{Waiter: "task 15 (sink_drain, Processer 6) in sink_drain", Object: "hangs::sink.lock (co::co_mutex)", Owner: "task 14 (sink_fill, Processer 5) in sink_fill", How: "inferred", Cycle: true},
		{Waiter: "thread LWP 7918 (flush_wait) in flush_wait", Object: "fq->cv (std::condition_variable)", Owner: "thread LWP 7919 (flush_kick) in flush_kick", How: "notifier"},
		{Waiter: "thread LWP 7919 (flush_kick) in flush_kick", Object: "hangs::journal_lock (ceph::mutex_debug)", Owner: "thread LWP 7917 (journal_write) in journal_write [io read(2)]"},
		{Waiter: "thread LWP 7898 (sess_1) in session_count", Object: "hangs::sessions.lock (ceph::mutex)", Owner: "thread LWP 7897 (session_loop) [idle]", How: "leaked"},
		{Waiter: "thread LWP 7900 (x) in f", Object: "m (std::mutex)"},
	}
	s := &Summary{
		Groups: []Group{{Signature: "hang:abc", Count: 1, Example: "core.hang"}, {Signature: "crash:def", Count: 1, Example: "core.crash"}},
		Cores:  []Core{{Path: "core.crash"}, {Path: "core.hang", Hang: edges}},
	}
	return s, edges
}

// TestHangViewSVG: the HTML report draws a hang group's wait graph with
// the real Graphviz dot (the report's only drawing; CI installs graphviz):
// one arrow per wait and one per known owner, the owner's labelled "held
// by" and how it is known, dashed when the owner is only inferred
// (inferred, a condition's notifier, a channel's peer) and solid when a
// lock word or a leaked lock names it; none for a group without edges.
func TestHangViewSVG(t *testing.T) {
	s, edges := hangViewSummary()
	var b bytes.Buffer
	if err := WriteSummaryHTML(&b, s, nil); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if n := strings.Count(page, "<svg"); n != 2 { // the chart's and the hang's
		t.Fatalf("%d SVGs in\n%s", n, page)
	}
	svg := page[strings.LastIndex(page, "<svg"):]
	owners, dashed := 0, 0
	for _, e := range edges {
		if e.Owner == "" {
			continue
		}
		owners++
		label := "held by"
		if e.How != "" {
			label += " (" + e.How + ")"
		}
		if e.How == "inferred" || e.How == "notifier" || e.How == "peer" {
			dashed++
		}
		if !strings.Contains(svg, ">"+label+"</text>") {
			t.Errorf("no label %q in the graph", label)
		}
	}
	if n := strings.Count(svg, `class="edge"`); n != len(edges)+owners {
		t.Errorf("%d arrows, want %d waits and %d owners:\n%s", n, len(edges), owners, svg)
	}
	if n := len(regexp.MustCompile(`<path [^>]*stroke-dasharray`).FindAllString(svg, -1)); n != dashed {
		t.Errorf("%d dashed arrows, want %d:\n%s", n, dashed, svg)
	}
	if strings.Count(svg, ">waits</text>") != len(edges) {
		t.Errorf("not one \"waits\" arrow per edge:\n%s", svg)
	}
	if n := strings.Count(page, `class="waits"`); n != 1 {
		t.Errorf("%d hang views, want the hang group's alone", n)
	}
}

// TestHangViewWithoutDot: where dot cannot be found the hang is a table of
// its edges instead.
func TestHangViewWithoutDot(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	s, edges := hangViewSummary()
	var b bytes.Buffer
	if err := WriteSummaryHTML(&b, s, l10n.En()); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if strings.Count(page, "<svg") != 1 || !strings.Contains(page, `<table class="waits">`) {
		t.Fatalf("no table of edges:\n%s", page)
	}
	for _, e := range edges {
		if !strings.Contains(page, "<td><code>"+html.EscapeString(e.Object)) {
			t.Errorf("no row of %q", e.Object)
		}
	}
}
