package coroutines_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/dsecore/dsecore/analysis/coroutines"
	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
)

// frameKey is what a face shows of a frame, and how the unwinder found it.
func frameKey(fs []coreparse.Frame) []string {
	var out []string
	for _, f := range fs {
		how := ""
		if f.Raw != nil {
			how = f.Raw.Kind.String()
		}
		out = append(out, fmt.Sprintf("%d %#x %s %s:%d inline=%v tail=%v boundary=%v %s", f.Level, f.PC, f.Function, f.File, f.Line, f.Inline, f.Tailcall, f.Boundary, how))
	}
	return out
}

// checkedStacks runs CheckedStack on every task, from two goroutines, and
// returns each task's frames as frameKey and its error.
func checkedStacks(rt *coroutines.Runtime) map[*coroutines.Task]string {
	out := map[*coroutines.Task]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < len(rt.Tasks); i += 2 {
				task := rt.Tasks[i]
				rt.CheckedStack(task, func(ts *coroutines.TaskStack) {
					s := strings.Join(frameKey(ts.Frames), "\n") + fmt.Sprintf("\nerr %v\nregs %v %v", ts.Err, ts.Regs, ts.RegsErr)
					mu.Lock()
					out[task] = s
					mu.Unlock()
				})
			}
		}()
	}
	wg.Wait()
	return out
}

// TestCheckedStackIsConfirm: the stacks of a pass over every task that
// checks each context with the unwind of its stack (CheckedStack, then
// Confirm for the rest) are Stack's, and FoundBy and the warnings are
// what the check in Discover gives, in the same places; with contexts
// that do not unwind to the entry trampoline among them.
func TestCheckedStackIsConfirm(t *testing.T) {
	for _, name := range []string{fixture.FieldCrash, fixture.Large} {
		t.Run(name, func(t *testing.T) {
			sc := fixture.Get(t).Scenario(t, name)
			p := open(t, sc.Core, sc.Exe)
			for _, broken := range []int{0, 3} {
				// broken of the switched-out tasks get a saved sp at the
				// bottom of their stack: nothing there unwinds to the
				// entry trampoline.
				breakSome := func(rt *coroutines.Runtime) []int64 {
					var ids []int64
					for _, task := range rt.Tasks {
						if len(ids) == broken {
							break
						}
						if task.SP != 0 && !task.Running && task.State != "new" && task.State != "done" && task.StackLo != 0 {
							task.SP = task.StackLo + 64
							ids = append(ids, task.ID)
						}
					}
					return ids
				}
				ref := discover(t, p, coroutines.Options{DeferConfirm: true})
				broke := breakSome(ref)
				ref.Confirm()
				want := map[int64]string{}
				for _, task := range ref.Tasks {
					fs, err := ref.Stack(task)
					regs, rerr := ref.SavedRegs(task)
					want[task.ID] = strings.Join(frameKey(fs), "\n") + fmt.Sprintf("\nerr %v\nregs %v %v", err, regs, rerr)
				}

				rt := discover(t, p, coroutines.Options{DeferConfirm: true})
				breakSome(rt)
				got := checkedStacks(rt)
				for _, task := range rt.Tasks {
					if got[task] != want[task.ID] {
						t.Errorf("broken %d: task %d: CheckedStack\n%s\nStack\n%s", broken, task.ID, got[task], want[task.ID])
					}
					if task.FoundBy != "profile" && task.FoundBy != "scan" {
						t.Errorf("broken %d: task %d found by %q before Confirm", broken, task.ID, task.FoundBy)
					}
				}
				rt.Confirm()
				var checked int
				for i, task := range rt.Tasks {
					if r := ref.Tasks[i]; task.ID != r.ID || task.FoundBy != r.FoundBy || rt.FoundBy(task) != r.FoundBy {
						t.Errorf("broken %d: task %d found by %q (%q), Confirm alone: task %d by %q", broken, task.ID, task.FoundBy, rt.FoundBy(task), r.ID, r.FoundBy)
					}
					if task.FoundBy == "profile+scan" {
						checked++
					}
				}
				if !slices.Equal(rt.Warnings, ref.Warnings) {
					t.Errorf("broken %d: warnings\n  %s\nConfirm alone:\n  %s", broken, strings.Join(rt.Warnings, "\n  "), strings.Join(ref.Warnings, "\n  "))
				}
				var named int
				for _, w := range rt.Warnings {
					for _, id := range broke {
						if strings.HasPrefix(w, fmt.Sprintf("task %d's saved context at ", id)) && strings.HasSuffix(w, " does not unwind to make_fcontext") {
							named++
						}
					}
				}
				if named != broken || checked == 0 {
					t.Errorf("broken %d: %d warnings name a broken context; %d contexts checked", broken, named, checked)
				}
				if broken == 0 {
					// Untouched, the check in Discover says the same.
					now := discover(t, p, coroutines.Options{})
					if !slices.Equal(now.Warnings, rt.Warnings) {
						t.Errorf("warnings\n  %s\nchecked in Discover:\n  %s", strings.Join(rt.Warnings, "\n  "), strings.Join(now.Warnings, "\n  "))
					}
					for i, task := range now.Tasks {
						if rt.Tasks[i].FoundBy != task.FoundBy {
							t.Errorf("task %d found by %q, checked in Discover %q", task.ID, rt.Tasks[i].FoundBy, task.FoundBy)
						}
					}
				}
				t.Logf("broken %d: %d tasks, %d contexts checked, %d warnings", broken, len(rt.Tasks), checked, len(rt.Warnings))
			}
		})
	}
}
