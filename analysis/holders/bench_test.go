package holders_test

import (
	"testing"
	"time"

	"github.com/dsecore/dsecore/analysis/holders"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
)

// BenchmarkLargeCore: the holder search on the 10,000-task core, the field
// crash's node and objects as targets, every stack but the crash's (the
// stacks unwound inside the loop: bt --all-tasks's work, then the search's).
// make bench compares it with `dsecore bt --all-tasks` on the same core.
func BenchmarkLargeCore(b *testing.B) {
	o := open(b, fixture.Large)
	targets := o.fieldTargets(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		stacks := o.others(b)
		t1 := time.Now()
		res := holders.Search(o.p, stacks, targets, holders.Options{})
		b.ReportMetric(float64(t1.Sub(t0).Milliseconds()), "stacks-ms")
		b.ReportMetric(float64(res.Stats.Elapsed.Milliseconds()), "search-ms")
		b.ReportMetric(float64(res.Stats.Objects), "objects")
		b.ReportMetric(float64(res.Stats.Frames), "frames")
		if len(res.Holders) == 0 {
			b.Fatalf("no holder on the large core")
		}
	}
}
