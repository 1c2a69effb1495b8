package coroutines_test

import (
	"testing"

	"github.com/dsecore/dsecore/analysis/coroutines"
	"github.com/dsecore/dsecore/coreparse/unwind"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
)

// BenchmarkTaskUnwind: what one task's stack costs on the 10,000-task
// core, step by step, over every switched-out task in turn (benchmarks/run.py
// puts the figures in RESULTS.md): reading its saved context, unwinding it
// (CFI rows memoized per FDE and pc, shared by every task, as in a run), and
// naming its frames (DWARF line and inline lookups, memoized per pc).
func BenchmarkTaskUnwind(b *testing.B) {
	sc := fixture.Get(b).Scenario(b, fixture.Large)
	p := open(b, sc.Core, sc.Exe)
	prof, err := coroutines.LoadProfile("ceph-dse")
	if err != nil {
		b.Fatal(err)
	}
	rt := coroutines.Discover(p, prof, coroutines.Options{NoConfirm: true})
	var tasks []*coroutines.Task
	for _, t := range rt.Tasks {
		if _, err := rt.SavedRegs(t); err == nil {
			tasks = append(tasks, t)
		}
	}
	if len(tasks) < 1000 {
		b.Fatalf("%d switched-out tasks", len(tasks))
	}
	regs := make([]unwind.Regs, len(tasks))
	raws := make([][]unwind.Frame, len(tasks))
	frames := 0
	for i, t := range tasks {
		regs[i], _ = rt.SavedRegs(t)
		raws[i], _ = p.Unwind(regs[i])
		frames += len(raws[i])
		p.Symbolize(raws[i])
	}
	perTask := float64(frames) / float64(len(tasks))
	b.Run("saved-context", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			rt.SavedRegs(tasks[i%len(tasks)])
		}
	})
	b.Run("unwind", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			p.Unwind(regs[i%len(regs)])
		}
		b.ReportMetric(perTask, "frames/task")
	})
	b.Run("symbolize", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			p.Symbolize(raws[i%len(raws)])
		}
		b.ReportMetric(perTask, "frames/task")
	})
	b.Run("stack", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			r, _ := rt.SavedRegs(tasks[i%len(tasks)])
			raw, _ := p.Unwind(r)
			p.Symbolize(raw)
		}
		b.ReportMetric(perTask, "frames/task")
	})
}
