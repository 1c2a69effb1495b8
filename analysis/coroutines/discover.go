package coroutines

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/unwind"
)

// Task is one coroutine.
type Task struct {
	ID        int64 // -1 when unknown (found by scan without types)
	State     string
	Processer int // -1 when unknown
	Addr      uint64
	SP        uint64 // saved stack pointer (switched-out tasks)
	StackLo   uint64
	StackHi   uint64
	Func      string
	File      string
	Line      int
	Running   bool
	Thread    *coreparse.Thread // the thread running it
	Queue     string
	FoundBy   string // "profile", "scan", "profile+scan"

	// check is the check of the saved context when it was made before
	// Confirm ran (CheckedStack): checkValid or checkInvalid, atomic.
	check int32
}

// StateWord is the one word every face shows for a task's state: the
// model's own ("runnable", "block", "new", "done", the profile's names for
// the runtime's queues), or "running" for the task a Processer runs. No
// face renames them ("wait" for block in one, "block" in another).
func StateWord(state string, running bool) string {
	if running {
		return "running"
	}
	return state
}

// Processer is one scheduler thread of the runtime.
type Processer struct {
	ID      int
	Addr    uint64
	Thread  *coreparse.Thread
	Running *Task
	Queues  map[string]int // queue field → tasks found in it
}

// Runtime is what discovery found.
type Runtime struct {
	Profile string // the profile's name
	// ProfileSource is where the profile came from: "built-in" or its file.
	ProfileSource string
	// Resolution is every key of the profile against this core: what it
	// resolved to, what was adapted, what failed (dsecore profile check).
	Resolution *Resolution
	// NoTasks says in one line why no task was found on a core whose code
	// switches contexts ("" otherwise).
	NoTasks string
	// Absent, when set, says why discovery did not run: the core has no
	// context switch routine (Absent, NoRuntime).
	Absent     string
	Schedulers []uint64
	Processers []*Processer
	Tasks      []*Task
	TaskCount  int64 // the scheduler's own count, -1 when unknown
	Warnings   []string

	p       *coreparse.Process
	prof    *Profile
	byAddr  map[uint64]*Task
	threadP map[*coreparse.Thread]*Processer
	// raw remembers the unwind of each saved context (by its sp): the scan
	// checks a context and the stack of its task is the same unwind.
	raw sync.Map // uint64 → rawUnwind
	// inEntry remembers, by pc, whether it is in the entry trampoline:
	// ten thousand contexts return through the same few addresses.
	inEntry sync.Map // uint64 → bool
	// confirmPending: Discover left the contexts to Confirm, which
	// checks walkOrder's tasks (rt.Tasks as the walk found them, before
	// the sweep and the sort) and puts its warnings at confirmAt in
	// Warnings: what and where a check in Discover would have.
	confirmPending bool
	walkOrder      []*Task
	confirmAt      int
	confirmOnce    sync.Once
	// What the memory sweep looked at (for NoTasks).
	scanned                bool
	scanRets, scanMappings int
}

func (rt *Runtime) warnf(format string, args ...any) {
	rt.Warnings = append(rt.Warnings, fmt.Sprintf(format, args...))
}

// TaskByID finds a task.
func (rt *Runtime) TaskByID(id int64) *Task {
	for _, t := range rt.Tasks {
		if t.ID == id {
			return t
		}
	}
	return nil
}

// ProcesserOf returns the Processer a thread runs, nil for other threads.
func (rt *Runtime) ProcesserOf(t *coreparse.Thread) *Processer { return rt.threadP[t] }

// Options of Discover.
type Options struct {
	// NoScan skips the stack scan: the profile's walk alone (cheap; enough
	// to name threads).
	NoScan bool
	// NoConfirm skips checking each context the profile found where it is
	// (seconds on 10,000 tasks); the memory sweep still runs when the
	// profile falls short of the scheduler's count or finds nothing.
	NoConfirm bool
	// NoProfile skips the walk of the runtime's structures: the scan alone
	// (what is left when the types are stripped).
	NoProfile bool
	// FullScan sweeps all anonymous writable memory for saved contexts even
	// when the profile accounts for every task the scheduler counts.
	FullScan bool
	// DeferConfirm leaves the check of each context the profile found to
	// the first Confirm: a debugger lists ten thousand tasks from the walk
	// (ids, states, Processers, where each was created) without unwinding
	// them, and unwinds a task when its stack is asked for.
	DeferConfirm bool
}

// Discover finds the runtime's Processers and tasks with a profile, then
// (or, without usable types, instead) by scanning stacks for saved
// contexts. Keys of the profile this build names otherwise are adapted
// when the match is unambiguous (Runtime.Resolution, and a loud warning
// each); prof itself is not changed.
func Discover(p *coreparse.Process, prof *Profile, opts ...Options) *Runtime {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	eff := prof.clone()
	rt := &Runtime{Profile: prof.Name, ProfileSource: prof.Source, TaskCount: -1, p: p, prof: &eff, byAddr: map[uint64]*Task{}, threadP: map[*coreparse.Thread]*Processer{}}
	if !o.NoProfile {
		l, res := resolve(p, &eff)
		rt.Resolution = res
		rt.resolutionWarnings()
		if l != nil {
			rt.walk(l)
		}
	}
	if !o.NoScan {
		confirm := !o.NoConfirm
		if confirm && o.DeferConfirm && !o.NoProfile {
			confirm, rt.confirmPending = false, true
			rt.walkOrder, rt.confirmAt = slices.Clone(rt.Tasks), len(rt.Warnings)
		}
		rt.scan(o.FullScan || o.NoProfile, confirm)
	}
	sort.SliceStable(rt.Tasks, func(i, j int) bool {
		a, b := rt.Tasks[i], rt.Tasks[j]
		if (a.ID < 0) != (b.ID < 0) {
			return a.ID >= 0
		}
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		return a.SP < b.SP
	})
	rt.nameThreads()
	if len(rt.Tasks) == 0 {
		rt.NoTasks = rt.whyNoTasks(o)
	}
	return rt
}

// EffectiveProfile is the profile as used on this core: the one given,
// with what was adapted to this build.
func (rt *Runtime) EffectiveProfile() *Profile { return rt.prof }

// DescribeProfile names the profile used as the faces report it:
// "ceph-dse (built-in)", "my-fork (/etc/dsecore/fork.yaml)".
func (rt *Runtime) DescribeProfile() string {
	if rt.ProfileSource == "" || rt.ProfileSource == rt.Profile {
		return rt.Profile
	}
	return rt.Profile + " (" + rt.ProfileSource + ")"
}

// resolutionWarnings: every adaptation loudly, with the profile line that
// makes it explicit; every failure with what is there instead.
func (rt *Runtime) resolutionWarnings() {
	for _, k := range rt.Resolution.Keys {
		switch k.Status {
		case "adapted":
			rt.warnf("PROFILE ADAPTED (%s): %s: %s; to say so in the profile: %s", rt.Profile, k.Key, k.Note, k.Fix)
		case "failed":
			rt.warnf("profile %s: %s: %s", rt.Profile, k.Key, k.Note)
		case "absent":
			if strings.HasPrefix(k.Key, "queues.") || k.Key == "task_count" || k.Key == "current_processer" || k.Key == "scheduler_context" {
				rt.warnf("profile %s: %s: %s", rt.Profile, k.Key, k.Note)
			}
		}
	}
}

// whyNoTasks is one line saying why a core whose code switches contexts
// shows no task ("" for a program that has none to show).
func (rt *Runtime) whyNoTasks(o Options) string {
	if len(rt.switchReturnAddresses()) == 0 {
		return ""
	}
	var why []string
	if rt.Resolution != nil {
		var failed []string
		for _, k := range rt.Resolution.Keys {
			if k.Status == "failed" || k.Status == "pending" {
				failed = append(failed, k.Key+" ("+k.Note+")")
			}
		}
		switch {
		case len(failed) > 0:
			why = append(why, fmt.Sprintf("profile %s does not fit this build: %s", rt.Profile, strings.Join(failed, "; ")))
		case len(rt.Schedulers) == 0:
			why = append(why, fmt.Sprintf("profile %s resolves, but none of its roots %v holds a scheduler", rt.Profile, rt.prof.Roots))
		default:
			why = append(why, fmt.Sprintf("profile %s resolves and its queues are empty", rt.Profile))
		}
	}
	switch {
	case o.NoScan:
		why = append(why, "the stack scan did not run")
	case rt.scanned:
		why = append(why, fmt.Sprintf("the stack scan found no saved context whose unwind reaches %s (%d return addresses of calls to %s, %d writable mappings)",
			rt.prof.EntryTrampoline, rt.scanRets, strings.Join(rt.prof.SwitchFunctions, "/"), rt.scanMappings))
	}
	return "no coroutine tasks, though the code calls a context switch routine: " + strings.Join(why, "; and ") +
		" (dsecore profile check CORE shows each key; dsecore profile init CORE writes a profile for this build)"
}

// nameThreads names the threads of Processers "Processer_<id>" when the
// core did not name them.
func (rt *Runtime) nameThreads() {
	for t, pr := range rt.threadP {
		if t.Name == "" || t.NameFrom == coreparse.NameFromEntry {
			t.Name, t.NameFrom = fmt.Sprintf("Processer_%d", pr.ID), coreparse.NameFromRuntime
		}
	}
}

// SavedRegs reads a switched-out context at sp with the profile's layout.
func SavedRegs(p *coreparse.Process, layout map[string]int, sp uint64) (unwind.Regs, error) {
	var r unwind.Regs
	// The saved registers in one read (ten thousand tasks: one segment
	// lookup each, not one per register); register by register when the
	// block cannot be read whole, for the error of the one that fails.
	lo, hi := -1, -1
	for name, off := range layout {
		if name == "rsp" {
			continue
		}
		if lo < 0 || off < lo {
			lo = off
		}
		hi = max(hi, off+8)
	}
	var block [256]byte
	whole := lo >= 0 && hi-lo <= len(block)
	if whole {
		if n, err := p.Core.ReadAt(block[:hi-lo], sp+uint64(lo)); err != nil || n != hi-lo {
			whole = false
		}
	}
	for name, off := range layout {
		if name == "rsp" {
			continue
		}
		n := unwind.RegNumber(name)
		if n < 0 {
			return r, fmt.Errorf("layout: unknown register %q", name)
		}
		var v uint64
		if whole && off >= lo {
			v = binary.LittleEndian.Uint64(block[off-lo:])
		} else {
			var err error
			if v, err = p.Core.ReadUint64(sp + uint64(off)); err != nil {
				return r, err
			}
		}
		r.Set(n, v)
	}
	r.Set(unwind.RSP, sp+uint64(layout["rsp"]))
	return r, nil
}
