package fault_test

import (
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
)

// TestHangConfidence: the confidence of a hang's verdict, by the shape
// the hang program wrote in expected.json, on the scale
// docs/architecture.md writes down ("The confidence"): a deadlock cycle
// is a hang by itself, and the watchdog's own finding is Ceph's, so each
// is held with high confidence; a chain of waiters that ends in a holder
// that is not itself stuck (a leaked lock, a writer in I/O, a notifier
// that never comes) is medium: the holder may yet have gone on.
func TestHangConfidence(t *testing.T) {
	set := fixture.Get(t)
	for _, name := range []string{fixture.TaskDeadlock, "thread-deadlock", "co-chan", fixture.Heartbeat, "rwlock", "cv-notifier", "co-rwlock", fixture.LeakedLock} {
		t.Run(name, func(t *testing.T) {
			sc := set.Scenario(t, name)
			s := openWithLogs(t, sc)
			a := s.Analysis()
			w := sc.Expected["waits"].(map[string]any)
			want := "medium"
			if len(w["cycles"].([]any)) > 0 || w["signal_from"] == "watchdog" {
				want = "high"
			}
			if !a.Hang() || a.Confidence != want {
				t.Errorf("hang %v (cycles %v, chain to %v, signal from %v): confidence %q, want %q; rules %v",
					a.Hang(), w["cycles"], w["chain_end"], w["signal_from"], a.Confidence, want, a.Rules)
			}
		})
	}
}
