package holders

import (
	"fmt"

	"github.com/dsecore/dsecore/analysis/coroutines"
	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/internal/par"
)

// Stacks are every thread's stack and every switched-out coroutine task's
// (a running task's frames are its thread's), unwound on all CPUs. rt may
// be nil (no coroutine runtime).
func Stacks(p *coreparse.Process, rt *coroutines.Runtime) []Stack {
	out := make([]Stack, len(p.Threads))
	par.Do(len(p.Threads), func(i int) {
		t := p.Threads[i]
		fs, _ := p.Backtrace(t)
		who := fmt.Sprintf("thread LWP %d", t.LWP)
		if t.Name != "" {
			who += " (" + t.Name + ")"
		}
		out[i] = Stack{Who: who, LWP: t.LWP, TaskID: -1, Frames: fs}
	})
	if rt == nil {
		return out
	}
	var tasks []*coroutines.Task
	for _, t := range rt.Tasks {
		if !t.Running {
			tasks = append(tasks, t)
		}
	}
	ts := make([]Stack, len(tasks))
	par.Do(len(tasks), func(i int) {
		t := tasks[i]
		fs, err := rt.Stack(t)
		if err != nil && len(fs) == 0 {
			return
		}
		ts[i] = Stack{Who: fmt.Sprintf("task %d (Processer %d, %s)", t.ID, t.Processer, t.State), TaskID: t.ID, Frames: fs}
	})
	for _, s := range ts {
		if len(s.Frames) > 0 {
			out = append(out, s)
		}
	}
	return out
}

// Without drops the stack of a thread (by LWP) and of a task (by id;
// -1 for none): the crash's own path.
func Without(stacks []Stack, lwp int, task int64) []Stack {
	var out []Stack
	for _, s := range stacks {
		if s.TaskID < 0 && s.LWP == lwp || task >= 0 && s.TaskID == task {
			continue
		}
		out = append(out, s)
	}
	return out
}
