package coroutines

import (
	"debug/elf"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/symbols"
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
	Profile    string
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

// layout is the resolved profile: offsets from DWARF.
type layout struct {
	syms                              *symbols.Table
	mod                               *coreparse.Module
	procs, taskCount                  int64
	procID, running                   int64
	queues                            map[string]int64
	qHead, qCount, hookNext, hookBase int64
	tID, tState, tProc, tSP           int64
	tStack, tSize                     int64
	tFunc, tFile, tLine               int64
	stateNames                        map[int64]string
	stateSize                         int64
}

const missing = -1

// resolve computes the offsets the profile names, from the DWARF of the
// module defining the task type.
func resolve(p *coreparse.Process, prof *Profile) (*layout, error) {
	var mod *coreparse.Module
	var task *symbols.Type
	for _, m := range append([]*coreparse.Module{p.Exe}, p.Modules...) {
		if m == nil || m.Syms == nil {
			continue
		}
		if t, ok := m.Syms.LookupType(prof.TaskType); ok {
			mod, task = m, t
			break
		}
	}
	if task == nil {
		return nil, fmt.Errorf("type %s not found in any module's DWARF", prof.TaskType)
	}
	s := mod.Syms
	l := &layout{syms: s, mod: mod, queues: map[string]int64{}}
	field := func(ty *symbols.Type, path string, required bool, errs *[]string) int64 {
		if path == "" {
			return missing
		}
		off, _, err := s.FieldOffset(ty, strings.Split(path, "."))
		if err != nil {
			if required {
				*errs = append(*errs, err.Error())
			}
			return missing
		}
		return off
	}
	var errs []string
	sched, ok := s.LookupType(prof.SchedulerType)
	if !ok {
		return nil, fmt.Errorf("type %s not found", prof.SchedulerType)
	}
	proc, ok := s.LookupType(prof.ProcesserType)
	if !ok {
		return nil, fmt.Errorf("type %s not found", prof.ProcesserType)
	}
	l.procs = field(sched, prof.Processers, true, &errs)
	l.taskCount = field(sched, prof.TaskCount, false, &errs)
	l.procID = field(proc, prof.ProcesserID, true, &errs)
	l.running = field(proc, prof.Running, true, &errs)
	for q := range prof.Queues {
		off, qt, err := s.FieldOffset(proc, []string{q})
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		l.queues[q] = off
		if l.qHead == 0 {
			l.qHead = field(qt, prof.QueueHead, true, &errs)
			l.qCount = field(qt, prof.QueueCount, false, &errs)
		}
	}
	hook, ok := s.LookupType(prof.HookType)
	if !ok {
		errs = append(errs, "type "+prof.HookType+" not found")
	} else {
		l.hookNext = field(hook, prof.QueueNext, true, &errs)
	}
	if b, ok := s.BaseOffset(task, prof.HookType); ok {
		l.hookBase = b
	} else {
		errs = append(errs, prof.TaskType+" does not derive from "+prof.HookType)
	}
	l.tID = field(task, prof.TaskID, true, &errs)
	l.tState = field(task, prof.TaskState, true, &errs)
	l.tProc = field(task, prof.TaskProc, false, &errs)
	l.tSP = field(task, prof.TaskSP, true, &errs)
	l.tStack = field(task, prof.TaskStack, false, &errs)
	l.tSize = field(task, prof.TaskSize, false, &errs)
	l.tFunc = field(task, prof.TaskFunc, false, &errs)
	l.tFile = field(task, prof.TaskFile, false, &errs)
	l.tLine = field(task, prof.TaskLine, false, &errs)
	l.stateSize = 4
	if _, st, err := s.FieldOffset(task, []string{prof.TaskState}); err == nil && st != nil {
		if st.Kind == symbols.KindEnum {
			l.stateNames = st.Enum
		}
		if st.Size > 0 {
			l.stateSize = st.Size
		}
	}
	if len(prof.States) > 0 {
		l.stateNames = prof.States
	}
	if len(errs) > 0 {
		return l, fmt.Errorf("profile %s: %s", prof.Name, strings.Join(errs, "; "))
	}
	return l, nil
}

// mem reads the core with error accounting.
type mem struct {
	p    *coreparse.Process
	errs int
}

func (m *mem) u64(addr uint64) uint64 {
	v, err := m.p.Core.ReadUint64(addr)
	if err != nil {
		m.errs++
	}
	return v
}

func (m *mem) u32(addr uint64) uint32 {
	v, err := m.p.Core.ReadUint32(addr)
	if err != nil {
		m.errs++
	}
	return v
}

func (m *mem) str(addr uint64) string {
	if addr == 0 {
		return ""
	}
	s, _ := m.p.Core.ReadCString(addr, 512)
	return s
}

// maxTasks bounds every walk: a corrupt queue must not loop forever.
const maxTasks = 1 << 20

// Options of Discover.
type Options struct {
	// NoScan skips the stack scan: the profile's walk alone (cheap; enough
	// to name threads).
	NoScan bool
	// NoProfile skips the walk of the runtime's structures: the scan alone
	// (what is left when the types are stripped).
	NoProfile bool
	// FullScan sweeps all anonymous writable memory for saved contexts even
	// when the profile accounts for every task the scheduler counts.
	FullScan bool
}

// Discover finds the runtime's Processers and tasks with a profile, then
// (or, without usable types, instead) by scanning stacks for saved
// contexts.
func Discover(p *coreparse.Process, prof *Profile, opts ...Options) *Runtime {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	rt := &Runtime{Profile: prof.Name, TaskCount: -1, p: p, prof: prof, byAddr: map[uint64]*Task{}, threadP: map[*coreparse.Thread]*Processer{}}
	if !o.NoProfile {
		l, err := resolve(p, prof)
		if err != nil {
			rt.warnf("%v", err)
		}
		if l != nil && err == nil {
			rt.walk(l)
		}
	}
	if !o.NoScan {
		rt.scan(o.FullScan || o.NoProfile)
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
	return rt
}

func (rt *Runtime) walk(l *layout) {
	p, prof := rt.p, rt.prof
	m := &mem{p: p}
	seenSched := map[uint64]bool{}
	for _, root := range prof.Roots {
		ptr := strings.HasPrefix(root, "*")
		name := strings.TrimPrefix(root, "*")
		mod, sym, ok := p.LookupSymbol(name)
		if !ok {
			continue
		}
		addr := sym.Value + mod.Bias
		if ptr {
			addr = m.u64(addr)
		}
		if addr == 0 || seenSched[addr] {
			continue
		}
		seenSched[addr] = true
		rt.Schedulers = append(rt.Schedulers, addr)
		if l.taskCount != missing {
			n := int64(m.u32(addr + uint64(l.taskCount)))
			if rt.TaskCount < 0 {
				rt.TaskCount = 0
			}
			rt.TaskCount += n
		}
		for _, pa := range rt.containerPointers(m, addr+uint64(l.procs), prof.ProcessersKind) {
			rt.walkProcesser(m, l, pa)
		}
	}
	if len(rt.Schedulers) == 0 {
		rt.warnf("no scheduler: none of the roots %v is in the core's symbols", prof.Roots)
	}
	// Threads → Processers through the thread-local current Processer.
	if mod, sym, ok := p.LookupSymbol(prof.CurrentProcesser); ok && sym.Type == elf.STT_TLS {
		for _, t := range p.Threads {
			a, err := p.TLSAddress(t, mod, sym.Value)
			if err != nil {
				rt.warnf("thread LWP %d: %v", t.LWP, err)
				continue
			}
			pa := m.u64(a)
			for _, pr := range rt.Processers {
				if pr.Addr == pa && pa != 0 {
					pr.Thread = t
					rt.threadP[t] = pr
					if pr.Running != nil {
						pr.Running.Thread = t
					}
				}
			}
		}
	} else {
		rt.warnf("thread-local %s not found: threads are not mapped to Processers", prof.CurrentProcesser)
	}
	if rt.TaskCount >= 0 && int64(len(rt.Tasks)) < rt.TaskCount {
		rt.warnf("the scheduler counts %d tasks, the queues hold %d (tasks being moved between Processers sit in no queue)", rt.TaskCount, len(rt.Tasks))
	}
	if m.errs > 0 {
		rt.warnf("%d reads of runtime structures failed (memory not in the core)", m.errs)
	}
}

// containerPointers reads a container of pointers: libstdc++'s std::deque
// (map of 512-byte nodes) or std::vector.
func (rt *Runtime) containerPointers(m *mem, addr uint64, kind string) []uint64 {
	var out []uint64
	switch kind {
	case "vector":
		b, e := m.u64(addr), m.u64(addr+8)
		for a := b; a < e && len(out) < maxTasks; a += 8 {
			out = append(out, m.u64(a))
		}
	default: // deque: _M_map, _M_map_size, _M_start{cur,first,last,node}, _M_finish{…}
		startCur, startNode := m.u64(addr+16), m.u64(addr+40)
		finCur, finNode := m.u64(addr+48), m.u64(addr+72)
		if startNode == 0 || finNode < startNode || finNode-startNode > 8*maxTasks {
			return nil
		}
		for node := startNode; node <= finNode && len(out) < maxTasks; node += 8 {
			first := m.u64(node)
			lo, hi := first, first+512
			if node == startNode {
				lo = startCur
			}
			if node == finNode {
				hi = finCur
			}
			for a := lo; a < hi && len(out) < maxTasks; a += 8 {
				out = append(out, m.u64(a))
			}
		}
	}
	return out
}

func (rt *Runtime) walkProcesser(m *mem, l *layout, pa uint64) {
	if pa == 0 {
		return
	}
	pr := &Processer{ID: int(int32(m.u32(pa + uint64(l.procID)))), Addr: pa, Queues: map[string]int{}}
	rt.Processers = append(rt.Processers, pr)
	running := m.u64(pa + uint64(l.running))
	var names []string
	for q := range l.queues {
		names = append(names, q)
	}
	sort.Strings(names)
	for _, q := range names {
		qa := pa + uint64(l.queues[q])
		head := m.u64(qa + uint64(l.qHead))
		if head == 0 {
			continue
		}
		count := int64(-1)
		if l.qCount != missing {
			count = int64(m.u64(qa + uint64(l.qCount)))
		}
		seen := map[uint64]bool{}
		n := 0
		for h := m.u64(head + uint64(l.hookNext)); h != 0 && !seen[h] && n < maxTasks; h = m.u64(h + uint64(l.hookNext)) {
			seen[h] = true
			n++
			t := rt.readTask(m, l, h-uint64(l.hookBase))
			if t.Queue == "" {
				t.Queue = q
				if st := rt.prof.Queues[q]; st == "new" || t.State == "" {
					t.State = st
				}
			}
			if t.Processer < 0 {
				t.Processer = pr.ID
			}
		}
		pr.Queues[q] = n
		if count >= 0 && int64(n) != count {
			rt.warnf("Processer %d: %s holds %d tasks, its count says %d", pr.ID, q, n, count)
		}
	}
	if running != 0 {
		t := rt.readTask(m, l, running)
		t.Running = true
		pr.Running = t
		if t.Processer < 0 {
			t.Processer = pr.ID
		}
	}
}

func (rt *Runtime) readTask(m *mem, l *layout, addr uint64) *Task {
	if t, ok := rt.byAddr[addr]; ok {
		return t
	}
	t := &Task{Addr: addr, Processer: -1, FoundBy: "profile"}
	t.ID = int64(m.u64(addr + uint64(l.tID)))
	st := int64(m.u32(addr + uint64(l.tState)))
	if l.stateSize == 1 {
		st &= 0xff
	}
	if name, ok := l.stateNames[st]; ok {
		t.State = name
	} else {
		t.State = fmt.Sprintf("state %d", st)
	}
	t.SP = m.u64(addr + uint64(l.tSP))
	if l.tProc != missing {
		if pa := m.u64(addr + uint64(l.tProc)); pa != 0 {
			for _, pr := range rt.Processers {
				if pr.Addr == pa {
					t.Processer = pr.ID
				}
			}
		}
	}
	if l.tStack != missing && l.tSize != missing {
		lo, size := m.u64(addr+uint64(l.tStack)), m.u64(addr+uint64(l.tSize))
		// The mapping starts with a guard page; the usable stack is above it.
		t.StackLo, t.StackHi = lo+4096, lo+4096+size
	}
	if l.tFunc != missing {
		t.Func = m.str(m.u64(addr + uint64(l.tFunc)))
	}
	if l.tFile != missing {
		t.File = m.str(m.u64(addr + uint64(l.tFile)))
	}
	if l.tLine != missing {
		t.Line = int(int32(m.u32(addr + uint64(l.tLine))))
	}
	rt.byAddr[addr] = t
	rt.Tasks = append(rt.Tasks, t)
	return t
}

// nameThreads names the threads of Processers "Processer_<id>" when the
// core did not name them.
func (rt *Runtime) nameThreads() {
	for t, pr := range rt.threadP {
		if t.Name == "" {
			t.Name = fmt.Sprintf("Processer_%d", pr.ID)
		}
	}
}

// SavedRegs reads a switched-out context at sp with the profile's layout.
func SavedRegs(p *coreparse.Process, layout map[string]int, sp uint64) (unwind.Regs, error) {
	var r unwind.Regs
	for name, off := range layout {
		if name == "rsp" {
			continue
		}
		n := unwind.RegNumber(name)
		if n < 0 {
			return r, fmt.Errorf("layout: unknown register %q", name)
		}
		v, err := p.Core.ReadUint64(sp + uint64(off))
		if err != nil {
			return r, err
		}
		r.Set(n, v)
	}
	r.Set(unwind.RSP, sp+uint64(layout["rsp"]))
	return r, nil
}
