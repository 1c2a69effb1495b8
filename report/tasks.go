package report

import (
	"errors"
	"strings"

	"github.com/dsecore/dsecore/analysis/coroutines"
	"github.com/dsecore/dsecore/coreparse/unwind"
)

// Task is one coroutine in a document.
type Task struct {
	ID        int64  `json:"id"` // -1: found by scan, the runtime's id unknown
	State     string `json:"state"`
	Processer int    `json:"processer"` // -1 when unknown
	Running   bool   `json:"running,omitempty"`
	LWP       int    `json:"lwp,omitempty"` // the thread running it
	FoundBy   string `json:"found_by"`      // "profile", "scan", "profile+scan"
	Address   string `json:"address,omitempty"`
	SP        string `json:"sp,omitempty"` // saved stack pointer
	// SavedRegs is a switched-out task's saved context as a debugger
	// resumes it: rip (where it continues), rsp, and the callee-saved
	// registers the switch routine pushed.
	SavedRegs map[string]string `json:"saved_regs,omitempty"`
	Func      string            `json:"func,omitempty"`
	File      string            `json:"file,omitempty"`
	Line      int               `json:"line,omitempty"`
	Queue     string            `json:"queue,omitempty"`
	Top       string            `json:"top,omitempty"` // the first frame outside the runtime's switching code
	Frames    []Frame           `json:"frames"`
	Error     string            `json:"error,omitempty"`
}

// Processer is one Processer in a document.
type Processer struct {
	ID      int            `json:"id"`
	Address string         `json:"address"`
	LWP     int            `json:"lwp,omitempty"`
	Pthread string         `json:"pthread,omitempty"`
	Running int64          `json:"running_task"` // -1: none
	Queues  map[string]int `json:"queues"`
	// ByState counts the queued tasks by the state the profile gives their
	// queue (runnable, block, new, done), whatever the queues are called.
	ByState map[string]int `json:"by_state"`
}

// ProfileSpec is the coroutine profile a document was made with: the
// runtime's type and field names and its saved-context layout, so that
// tools reading the document (the gdb bridge's printers and task commands)
// read the runtime's objects the way dsecore did.
type ProfileSpec struct {
	Name            string            `json:"name"`
	SchedulerType   string            `json:"scheduler_type"`
	ProcesserType   string            `json:"processer_type"`
	ProcesserID     string            `json:"processer_id"`
	Running         string            `json:"running"`
	Queues          map[string]string `json:"queues"` // queue field → the state of its tasks
	QueueCount      string            `json:"queue_count,omitempty"`
	TaskType        string            `json:"task_type"`
	TaskID          string            `json:"task_id"`
	TaskState       string            `json:"task_state"`
	TaskProc        string            `json:"task_proc,omitempty"`
	TaskSP          string            `json:"task_sp"` // dotted field path
	TaskFunc        string            `json:"task_func,omitempty"`
	TaskFile        string            `json:"task_file,omitempty"`
	TaskLine        string            `json:"task_line,omitempty"`
	Layout          map[string]int    `json:"layout"` // register → offset from the saved sp ("rsp": the resumed sp's)
	EntryTrampoline string            `json:"entry_trampoline"`
}

// ProfileSpecDoc converts a profile.
func ProfileSpecDoc(p *coroutines.Profile) *ProfileSpec {
	if p == nil {
		return nil
	}
	return &ProfileSpec{Name: p.Name, SchedulerType: p.SchedulerType, ProcesserType: p.ProcesserType, ProcesserID: p.ProcesserID,
		Running: p.Running, Queues: p.Queues, QueueCount: p.QueueCount, TaskType: p.TaskType, TaskID: p.TaskID, TaskState: p.TaskState,
		TaskProc: p.TaskProc, TaskSP: p.TaskSP, TaskFunc: p.TaskFunc, TaskFile: p.TaskFile, TaskLine: p.TaskLine, Layout: p.Layout,
		EntryTrampoline: p.EntryTrampoline}
}

// withoutAbsent leaves out of a spec the optional keys this build does not
// have (upstream libgo's task has no created-at fields; a fork may have
// fewer queues): a reader of the spec reads only members that are there.
func withoutAbsent(sp *ProfileSpec, res *coroutines.Resolution) {
	if sp == nil {
		return
	}
	for _, k := range res.Keys {
		if k.Status != "absent" {
			continue
		}
		switch k.Key {
		case "task_func":
			sp.TaskFunc = ""
		case "task_file":
			sp.TaskFile = ""
		case "task_line":
			sp.TaskLine = ""
		case "task_proc":
			sp.TaskProc = ""
		case "queue_count":
			sp.QueueCount = ""
		default:
			if q, ok := strings.CutPrefix(k.Key, "queues."); ok && sp.Queues[q] != "" {
				qs := map[string]string{}
				for name, st := range sp.Queues {
					if name != q {
						qs[name] = st
					}
				}
				sp.Queues = qs
			}
		}
	}
}

// Coroutines is the runtime part of a document.
type Coroutines struct {
	Profile string `json:"profile"`
	// ProfileSource is where the profile came from: "built-in" or its file.
	ProfileSource string `json:"profile_source,omitempty"`
	// ProfileLines make the profile's adaptations to this build explicit
	// ("running: curTask_"), one per adapted key.
	ProfileLines []string `json:"profile_lines,omitempty"`
	// Spec is the profile as it applied to this core (adaptations
	// included): what the gdb bridge's printers read the runtime with.
	Spec *ProfileSpec `json:"profile_spec"`
	// NoTasks says in one line why a core whose code switches contexts shows
	// no task.
	NoTasks string `json:"no_tasks,omitempty"`
	// NoRuntime says why discovery did not run: no module defines or
	// calls a context switch routine (coroutines.Absent).
	NoRuntime  string      `json:"no_runtime,omitempty"`
	TaskCount  int64       `json:"task_count"` // the scheduler's count, -1 when unknown
	Processers []Processer `json:"processers"`
	Warnings   []string    `json:"warnings,omitempty"`
}

// TaskDoc converts one task, with its stack when withFrames.
func TaskDoc(rt *coroutines.Runtime, t *coroutines.Task, withFrames bool) Task {
	ts := coroutines.TaskStack{}
	ts.Frames, ts.Err = rt.Stack(t)
	ts.Regs, ts.RegsErr = rt.SavedRegs(t)
	return taskDoc(rt, t, &ts, withFrames, false, nil)
}

// taskDoc is TaskDoc of a task whose stack and saved registers are ts,
// its frames appended to buf[:0] (nil: a slice of their own). stackText:
// only what the text backtrace prints (TaskStackWriter), without the
// address, sp, saved registers and top frame.
func taskDoc(rt *coroutines.Runtime, t *coroutines.Task, ts *coroutines.TaskStack, withFrames, stackText bool, buf []Frame) Task {
	fs, err := ts.Frames, ts.Err
	d := Task{ID: t.ID, State: t.State, Processer: t.Processer, Running: t.Running, FoundBy: rt.FoundBy(t),
		Func: t.Func, File: t.File, Line: t.Line, Queue: t.Queue, Frames: []Frame{}}
	if t.Thread != nil {
		d.LWP = t.Thread.LWP
	}
	if err != nil && !errors.Is(err, coroutines.ErrNoStack) {
		d.Error = err.Error()
	}
	if withFrames {
		if buf == nil {
			buf = make([]Frame, 0, len(fs))
		}
		for _, f := range fs {
			buf = append(buf, FrameOf(f))
		}
		d.Frames = buf
	}
	if stackText {
		return d
	}
	if t.Addr != 0 {
		d.Address = Hex(t.Addr)
	}
	if t.SP != 0 && !t.Running {
		d.SP = Hex(t.SP)
		if regs := ts.Regs; ts.RegsErr == nil {
			d.SavedRegs = map[string]string{}
			for n := 0; n < len(regs.V); n++ {
				if v, ok := regs.Get(n); ok {
					d.SavedRegs[unwind.RegName(n)] = Hex(v)
				}
			}
		}
	}
	if f := rt.TopFrame(fs); f != nil {
		d.Top = FrameOf(*f).Text(FrameWhere)
	} else if t.Func != "" {
		d.Top = "(not running) created in " + t.Func
	}
	return d
}

// CoroutinesDoc summarizes the runtime.
func CoroutinesDoc(rt *coroutines.Runtime) *Coroutines {
	d := &Coroutines{Profile: rt.Profile, ProfileSource: rt.ProfileSource, Spec: ProfileSpecDoc(rt.Spec()), NoTasks: rt.NoTasks, NoRuntime: rt.Absent,
		TaskCount: rt.TaskCount, Warnings: rt.Warnings, Processers: []Processer{}}
	if rt.Resolution != nil {
		d.ProfileLines = rt.Resolution.Lines()
		withoutAbsent(d.Spec, rt.Resolution)
	}
	states := rt.EffectiveProfile().Queues
	for _, pr := range rt.Processers {
		pd := Processer{ID: pr.ID, Address: Hex(pr.Addr), Running: -1, Queues: pr.Queues, ByState: map[string]int{}}
		for q, n := range pr.Queues {
			pd.ByState[states[q]] += n
		}
		if pr.Thread != nil {
			pd.LWP, pd.Pthread = pr.Thread.LWP, Hex(pr.Thread.Pthread)
		}
		if pr.Running != nil {
			pd.Running = pr.Running.ID
		}
		d.Processers = append(d.Processers, pd)
	}
	return d
}
