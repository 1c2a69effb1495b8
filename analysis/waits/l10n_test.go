package waits_test

import (
	"testing"

	"github.com/dsecore/dsecore/analysis/waits"
	"github.com/dsecore/dsecore/internal/l10n"
	"github.com/dsecore/dsecore/internal/l10n/l10ntest"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
)

// TestWaitsInChinese renders every sentence of each hang's wait graph in
// Simplified Chinese from the catalog: the nodes' who and detail, the
// objects' sentences, modes and how their owners are known, the
// deadlocks, the chains, the watchdog, the bounds hit and the summary.
// No message may fall back to English (a mode, a bound or an owner's how
// left as English prose fails), each is Chinese where it is more than a
// name, and its English rendering is the document's text, unchanged.
func TestWaitsInChinese(t *testing.T) {
	for _, name := range fixture.Hangs {
		t.Run(name, func(t *testing.T) {
			_, s := openScenario(t, name)
			r := s.Waits()
			zh := l10n.New(l10n.Chinese)
			n := 0
			check := func(what string, m l10n.Msg, english string, prose bool) {
				t.Helper()
				if m.IsZero() {
					if english != "" {
						t.Errorf("%s: %q has no message", what, english)
					}
					return
				}
				n++
				if got := m.String(); got != english {
					t.Errorf("%s: English %q, the document says %q", what, got, english)
				}
				s := zh.S(m)
				if prose && !l10ntest.HasHan(s) {
					t.Errorf("%s: not Chinese: %q", what, s)
				}
				if w := l10ntest.EnglishIn(s); len(w) > 0 {
					t.Errorf("%s: English %q in %q", what, w, s)
				}
			}
			for _, nd := range r.Nodes {
				check("node "+nd.ID, nd.Said, nd.Who, false)
				check("node "+nd.ID+" detail", nd.DetailSaid, nd.Detail, false)
			}
			for _, o := range r.Objects {
				check("object "+o.Expr, o.Said, o.Text, true)
				check("object "+o.Expr+" mode", o.ModeSaid, o.Mode, true)
				if o.OwnerHow != "" {
					check("object "+o.Expr+" how", waits.HowSaid(o.OwnerHow), o.OwnerHow, false)
				}
			}
			for i, c := range r.Cycles {
				check("deadlock "+string(rune('1'+i)), c.Said, c.Text, true)
			}
			for i, c := range r.Chains {
				check("chain "+string(rune('1'+i)), c.Said, c.Text, true)
			}
			if wd := r.Watchdog; wd != nil {
				check("watchdog", wd.Said, wd.Text, true)
			}
			for _, b := range r.Bounds {
				check("bound "+b.Bound, b.Said, b.Text, true)
			}
			check("summary", r.SummarySaid, r.Summary, true)
			if f := zh.Fallbacks(); len(f) > 0 {
				t.Errorf("fell back to English: %q", f)
			}
			if n < 5 {
				t.Errorf("only %d messages in the graph", n)
			}
		})
	}
}
