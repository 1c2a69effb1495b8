package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/dsecore/dsecore/report"
)

// TestScaleFixture: on the scale fixture's small configuration (64
// Processers, 1,000 tasks whose stacks go 10 to 40 frames through
// libdcache.so's generated units), every task is found, and each suspended
// task's stack has exactly as many step frames as the program gave it, from
// the generated units' sources, down to the task's entry.
func TestScaleFixture(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.Scale)
	knobs := sc.Expected["scale"].(map[string]any)
	if knobs["units"].(float64) < 1 || knobs["tasks"].(float64) != 1000 {
		t.Fatalf("scale knobs: %v", knobs)
	}
	want := map[int64]int{}
	for _, x := range sc.Expected["tasks"].([]any) {
		m := x.(map[string]any)
		if d, ok := m["depth"]; ok {
			want[int64(m["id"].(float64))] = int(d.(float64))
		}
	}
	if len(want) != 1000 {
		t.Fatalf("%d deep tasks in expected.json", len(want))
	}
	var bt report.Backtrace
	runJSON(t, &bt, "bt", sc.Core, "--exe", sc.Exe, "--all", "--all-tasks")
	if len(bt.Threads) != 65 {
		t.Errorf("%d threads, want 65", len(bt.Threads))
	}
	seen, depths := 0, map[int]int{}
	for _, task := range bt.Tasks {
		d, ok := want[task.ID]
		if !ok {
			continue
		}
		seen++
		steps, units := 0, map[string]bool{}
		for _, f := range task.Frames {
			if strings.HasPrefix(f.Function, "dcache_gen_step_") {
				steps++
				units[f.Function] = true
				if !strings.Contains(f.File, "gen_") || f.Line == 0 {
					t.Errorf("task %d: step frame %s at %s:%d", task.ID, f.Function, f.File, f.Line)
				}
			}
		}
		depths[steps]++
		var names []string
		for _, f := range task.Frames {
			names = append(names, f.Function)
		}
		stack := strings.Join(names, " < ")
		if steps != d || !strings.Contains(stack, "dcache_scale_chain < (anonymous namespace)::deep_sleeper_body") ||
			!strings.HasPrefix(stack, "co::Processer::SwapOut") || names[len(names)-1] != "make_fcontext" {
			t.Errorf("task %d: %d step frames (the program made %d): %s", task.ID, steps, d, stack)
		}
	}
	if seen != len(want) {
		t.Errorf("%d of the %d deep tasks unwound", seen, len(want))
	}
	if depths[10] == 0 || depths[40] == 0 {
		t.Errorf("depths seen: %v", depths)
	}
	t.Logf("%d tasks, step-frame depths 10..40: %s", seen, fmt.Sprint(len(depths), " distinct"))
}
