package fault_test

import (
	"strings"
	"testing"

	"github.com/dsecore/dsecore/analysis/fault"
	"github.com/dsecore/dsecore/internal/l10n"
	"github.com/dsecore/dsecore/internal/l10n/l10ntest"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
)

// TestVerdictInChinese renders the field crash's verdict (and those of
// the other crash scenarios: heap ones too) in Simplified Chinese from the catalog: every
// sentence and every phrase inside it must come from zh-CN.toml (no
// message falls back to English, no English prose is passed through), each
// sentence is Chinese, no English word is left outside the names; and
// the English rendering of the same sentences is the Verdict of the JSON
// documents, unchanged.
func TestVerdictInChinese(t *testing.T) {
	set := fixture.Get(t)
	for _, name := range []string{fixture.FieldCrash, fixture.NoHandler, fixture.UseAfterFree, fixture.PointerChain, fixture.Abort, fixture.TcacheUAF, fixture.DoubleFree} {
		t.Run(name, func(t *testing.T) {
			a := analyze(t, set.Scenario(t, name), fault.Options{})
			if len(a.Sentences) == 0 {
				t.Fatalf("no verdict sentences (verdict %q)", a.Verdict)
			}
			zh := l10n.New(l10n.Chinese)
			var en []string
			for i, m := range a.Sentences {
				s := zh.S(m)
				en = append(en, m.String())
				if !l10ntest.HasHan(s) {
					t.Errorf("sentence %d is not Chinese: %q", i, s)
				}
				if w := l10ntest.EnglishIn(s); len(w) > 0 {
					t.Errorf("sentence %d has English words %q: %s", i, w, s)
				}
				t.Logf("%d: %s", i, s)
			}
			if f := zh.Fallbacks(); len(f) > 0 {
				t.Errorf("fell back to English: %q", f)
			}
			if got := strings.Join(en, " "); got != a.Verdict {
				t.Errorf("the sentences' English %q is not the verdict %q", got, a.Verdict)
			}
		})
	}
}

// TestEvidenceInChinese renders the signal's evidence of the crash
// scenarios in Simplified Chinese: the siginfo the handler's frame does
// not have (and why), the sigcontext's exception, the signal the handler
// ran for and how that is known: each from zh-CN.toml with no fallback,
// Chinese, no English word outside names; its English is the evidence's
// text.
func TestEvidenceInChinese(t *testing.T) {
	set := fixture.Get(t)
	rules := map[string]bool{"no-siginfo": true, "sigcontext": true, "handler-signal": true, "reraised-by-handler": true, "sent-signal": true}
	for _, name := range []string{fixture.FieldCrash, fixture.NoHandler, fixture.UseAfterFree, fixture.Abort, fixture.DoubleFree} {
		t.Run(name, func(t *testing.T) {
			a := analyze(t, set.Scenario(t, name), fault.Options{})
			zh := l10n.New(l10n.Chinese)
			seen := map[string]bool{}
			for _, e := range a.Evidence {
				if !rules[e.Rule] {
					continue
				}
				seen[e.Rule] = true
				if got := e.Said.String(); got != e.Text {
					t.Errorf("[%s] English %q, the evidence says %q", e.Rule, got, e.Text)
				}
				s := zh.S(e.Said)
				if !l10ntest.HasHan(s) {
					t.Errorf("[%s] not Chinese: %q", e.Rule, s)
				}
				if w := l10ntest.EnglishIn(s); len(w) > 0 {
					t.Errorf("[%s] English %q in %q", e.Rule, w, s)
				}
				t.Logf("[%s] %s", e.Rule, s)
			}
			if f := zh.Fallbacks(); len(f) > 0 {
				t.Errorf("fell back to English: %q", f)
			}
			if name != fixture.NoHandler && !seen["sigcontext"] {
				t.Errorf("no sigcontext evidence (rules %v)", a.Rules)
			}
		})
	}
}
