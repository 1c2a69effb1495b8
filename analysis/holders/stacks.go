package holders

import (
	"github.com/dsecore/dsecore/analysis/coroutines"
	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/internal/l10n"
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
		who := ThreadWho(t.LWP, t.Name)
		out[i] = Stack{Who: who.String(), Said: who, LWP: t.LWP, TaskID: -1, Frames: fs}
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
		who := TaskWho(t.ID, t.Processer, string(t.State))
		ts[i] = Stack{Who: who.String(), Said: who, TaskID: t.ID, Frames: fs}
	})
	for _, s := range ts {
		if len(s.Frames) > 0 {
			out = append(out, s)
		}
	}
	return out
}

// ThreadWho names a thread: "thread LWP 123 (dcache_release)".
func ThreadWho(lwp int, name string) l10n.Msg {
	if name == "" {
		return l10n.T("who.thread", "LWP", lwp)
	}
	return l10n.T("who.thread-named", "LWP", lwp, "Name", name)
}

// TaskWho names a switched-out coroutine task: "task 15 (Processer 6,
// block)".
func TaskWho(id int64, processer int, state string) l10n.Msg {
	return l10n.T("who.task", "ID", id, "Processer", processer, "State", state)
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
