package coroutines

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"

	"github.com/dsecore/dsecore/coreparse"
)

// field reads a field of the struct at addr as an unsigned integer of its
// size; signedField as a signed one; pointer as a pointer.
func (m *mem) field(addr uint64, f field) uint64 { return m.uint(addr+uint64(f.Off), f.Size) }

func (m *mem) signedField(addr uint64, f field) int64 { return m.sint(addr+uint64(f.Off), f.Size) }

func (m *mem) pointer(addr uint64, f field) uint64 { return m.u64(addr + uint64(f.Off)) }

// mem reads the core with error accounting.
type mem struct {
	p    *coreparse.Process
	errs int
	// held: bytes of the core at base read at once (hold), from which
	// the reads that fall inside them are answered.
	base        uint64
	held, block []byte
	// strs: the strings read, by address. A task's created-at function
	// and file point at string literals its creator's code holds: ten
	// thousand tasks made by a few call sites share a few of them.
	strs map[uint64]string
}

// hold reads [addr, addr+n) of the core in one read: the fields of a
// task object read next are decoded from it, not read one by one through
// the core's page cache (ten thousand tasks, ten fields each). A span
// that cannot be read whole is not held: its fields are read as before.
func (m *mem) hold(addr uint64, n int) {
	if cap(m.block) < n {
		m.block = make([]byte, n)
	}
	b := m.block[:n]
	if k, err := m.p.Core.ReadAt(b, addr); err == nil && k == n {
		m.base, m.held = addr, b
	}
}

// release forgets what hold read.
func (m *mem) release() { m.held = nil }

// inHeld is the n held bytes at addr, when hold read them all.
func (m *mem) inHeld(addr uint64, n int) ([]byte, bool) {
	if m.held == nil || addr < m.base || addr-m.base > uint64(len(m.held)) || uint64(len(m.held))-(addr-m.base) < uint64(n) {
		return nil, false
	}
	return m.held[addr-m.base:][:n], true
}

func (m *mem) u64(addr uint64) uint64 {
	if b, ok := m.inHeld(addr, 8); ok {
		return binary.LittleEndian.Uint64(b)
	}
	v, err := m.p.Core.ReadUint64(addr)
	if err != nil {
		m.errs++
	}
	return v
}

func (m *mem) u32(addr uint64) uint32 {
	if b, ok := m.inHeld(addr, 4); ok {
		return binary.LittleEndian.Uint32(b)
	}
	v, err := m.p.Core.ReadUint32(addr)
	if err != nil {
		m.errs++
	}
	return v
}

// uint reads an unsigned integer of size bytes (1, 2, 4 or 8).
func (m *mem) uint(addr uint64, size int64) uint64 {
	switch size {
	case 8:
		return m.u64(addr)
	case 1, 2:
		return uint64(m.u32(addr)) & (1<<(8*size) - 1)
	}
	return uint64(m.u32(addr))
}

// sint reads a signed integer of size bytes.
func (m *mem) sint(addr uint64, size int64) int64 {
	v := m.uint(addr, size)
	if size < 8 {
		shift := 64 - 8*size
		return int64(v<<shift) >> shift
	}
	return int64(v)
}

func (m *mem) str(addr uint64) string {
	if addr == 0 {
		return ""
	}
	if s, ok := m.strs[addr]; ok {
		return s
	}
	s, _ := m.p.Core.ReadCString(addr, 512)
	if m.strs == nil {
		m.strs = map[uint64]string{}
	}
	m.strs[addr] = s
	return s
}

// maxTasks bounds every walk: a corrupt queue must not loop forever.
const maxTasks = 1 << 20

func (rt *Runtime) walk(l *layout) {
	p, prof := rt.p, rt.prof
	m := &mem{p: p}
	seenSched := map[uint64]bool{}
	walkRoot := func(root string) {
		ptr := strings.HasPrefix(root, "*")
		name := strings.TrimPrefix(root, "*")
		mod, sym, ok := p.LookupSymbol(name)
		if !ok {
			return
		}
		addr := sym.Value + mod.Bias
		if ptr {
			addr = m.u64(addr)
		}
		if addr == 0 || seenSched[addr] {
			return
		}
		seenSched[addr] = true
		rt.Schedulers = append(rt.Schedulers, addr)
		if l.fields[keyTaskCount].ok() {
			n := int64(m.field(addr, l.fields[keyTaskCount]))
			if rt.TaskCount < 0 {
				rt.TaskCount = 0
			}
			rt.TaskCount += n
		}
		for _, pa := range rt.containerPointers(m, addr+uint64(l.fields[keyProcessers].Off), prof.ProcessersKind) {
			rt.walkProcesser(m, l, pa)
		}
	}
	for _, root := range prof.Roots {
		walkRoot(root)
	}
	if len(rt.Processers) == 0 && l.sched != nil {
		// The roots hold no Processer (a scheduler that was never
		// started): the other variables of the scheduler's type may.
		configured := map[string]bool{}
		for _, r := range prof.Roots {
			configured[r] = true
		}
		var extra []string
		for _, c := range schedulerRoots(p, l.syms, l.sched) {
			if !configured[c] {
				extra = append(extra, c)
			}
		}
		for _, c := range extra {
			n := len(rt.Processers)
			walkRoot(c)
			if len(rt.Processers) > n {
				old := strings.Join(prof.Roots, ", ")
				prof.Roots = append(prof.Roots, c)
				fix := prof.Line("roots")
				note := fmt.Sprintf("the schedulers of %s hold no Processer; %s, a variable of the scheduler's type, does", old, c)
				if kr := rt.Resolution.Key("roots"); kr != nil {
					kr.Status, kr.Got, kr.Note, kr.Fix = "adapted", strings.Join(prof.Roots, ", "), note, fix
				}
				rt.warnf("PROFILE ADAPTED (%s): roots: %s; to say so in the profile: %s", rt.Profile, note, fix)
			}
		}
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
				}
			}
		}
	} else {
		rt.warnf("thread-local %s not found: threads are not mapped to Processers", prof.CurrentProcesser)
	}
	if !l.fields[keyRunning].ok() && len(l.runningCands) > 0 {
		rt.decideRunning(m, l)
	}
	if l.fields[keyRunning].ok() {
		for _, pr := range rt.Processers {
			if running := m.pointer(pr.Addr, l.fields[keyRunning]); running != 0 {
				t := rt.readTask(m, l, running)
				t.Running = true
				pr.Running = t
				if t.Processer < 0 {
					t.Processer = pr.ID
				}
				t.Thread = pr.Thread
			}
		}
	}
	rt.checkStackGuard(l)
	if rt.TaskCount >= 0 && int64(len(rt.Tasks)) < rt.TaskCount {
		rt.warnf("the scheduler counts %d tasks, the queues hold %d (tasks being moved between Processers sit in no queue)", rt.TaskCount, len(rt.Tasks))
	}
	if m.errs > 0 {
		rt.warnf("%d reads of runtime structures failed (memory not in the core)", m.errs)
	}
}

// decideRunning chooses the running-task member among several pointers to
// a task by what the core shows: on a Processer whose thread is inside a
// task's stack, the member pointing to that task is the running one; a
// member that points elsewhere on any Processer is not.
func (rt *Runtime) decideRunning(m *mem, l *layout) {
	res := rt.Resolution.Key("running")
	type evidence struct {
		confirm, contradict int
		example             string
	}
	ev := make([]evidence, len(l.runningCands))
	for i, c := range l.runningCands {
		for _, pr := range rt.Processers {
			ta := m.u64(pr.Addr + uint64(c.off))
			if ta == 0 || pr.Thread == nil {
				continue
			}
			lo, hi, ok := rt.stackOf(m, l, ta)
			sp := pr.Thread.Regs.V[7]
			if ok && sp >= lo && sp < hi {
				ev[i].confirm++
				if ev[i].example == "" {
					ev[i].example = fmt.Sprintf("on Processer %d it points to the task whose stack LWP %d is on", pr.ID, pr.Thread.LWP)
				}
			} else {
				ev[i].contradict++
			}
		}
	}
	chosen := -1
	var others []string
	for i, c := range l.runningCands {
		if ev[i].confirm > 0 && ev[i].contradict == 0 {
			if chosen >= 0 {
				chosen = -2
				break
			}
			chosen = i
		} else {
			others = append(others, c.name)
		}
	}
	if chosen < 0 {
		if res != nil {
			res.Status = "failed"
			res.Note += "; and no thread is inside the stack of a task just one of them points to"
			rt.warnf("profile %s: running: %s", rt.Profile, res.Note)
		}
		return
	}
	c := l.runningCands[chosen]
	old := rt.prof.Running
	rt.prof.Running = c.name
	l.fields[keyRunning].Off = c.off
	if res != nil {
		res.Status, res.Got, res.Offset = "adapted", c.name, c.off
		r := &resolver{s: l.syms}
		if pt, ok := l.syms.LookupType(res.In); ok {
			if mt := r.memberType(pt, c.name); mt != nil {
				res.Type = l.syms.TypeName(mt.Offset)
			}
		}
		res.Note = fmt.Sprintf("%s has no member %s; of its pointers to a task (%s), %s: %s; %s never does",
			res.In, old, strings.Join(candNames(l.runningCands), ", "), c.name, ev[chosen].example, strings.Join(others, ", "))
		res.Fix = rt.prof.Line("running")
		rt.warnf("PROFILE ADAPTED (%s): running: %s; to say so in the profile: %s", rt.Profile, res.Note, res.Fix)
	}
}

func candNames(cs []runningCand) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.name)
	}
	return out
}

// checkStackGuard checks task_stack_guard against the saved stack
// pointers: each must lie in its task's usable stack. When the profile's
// guard puts some outside and another (none, or one page) puts all inside,
// that one is used.
func (rt *Runtime) checkStackGuard(l *layout) {
	kr := rt.Resolution.Key("task_stack_guard")
	if kr == nil {
		return
	}
	fits := func(g int64) (int, int) {
		in, n := 0, 0
		for _, t := range rt.Tasks {
			if t.SP == 0 || t.StackHi == 0 {
				continue
			}
			n++
			lo := t.StackLo - uint64(l.stackGuard) + uint64(g)
			if t.SP >= lo && t.SP < lo+(t.StackHi-t.StackLo) {
				in++
			}
		}
		return in, n
	}
	in, n := fits(l.stackGuard)
	if n == 0 {
		kr.Note = "not checked: no task with a saved stack pointer and a stack"
		return
	}
	if in == n {
		kr.Note = fmt.Sprintf("the saved stack pointers of all %d tasks lie in their stacks", n)
		return
	}
	for _, g := range []int64{0, 4096} {
		if g == l.stackGuard {
			continue
		}
		if gin, _ := fits(g); gin == n {
			old := l.stackGuard
			for _, t := range rt.Tasks {
				if t.StackHi != 0 {
					t.StackLo = t.StackLo - uint64(old) + uint64(g)
					t.StackHi = t.StackHi - uint64(old) + uint64(g)
				}
			}
			l.stackGuard, rt.prof.TaskStackGuard = g, g
			kr.Status, kr.Got = "adapted", fmt.Sprint(g)
			kr.Note = fmt.Sprintf("with %d bytes of guard below the stack, %d of %d tasks' saved stack pointers lie outside their stacks; with %d, all do", old, n-in, n, g)
			kr.Fix = rt.prof.Line("task_stack_guard")
			rt.warnf("PROFILE ADAPTED (%s): task_stack_guard: %s; to say so in the profile: %s", rt.Profile, kr.Note, kr.Fix)
			return
		}
	}
	kr.Note = fmt.Sprintf("%d of %d tasks' saved stack pointers lie outside their stacks", n-in, n)
	rt.warnf("profile %s: task_stack_guard: %s", rt.Profile, kr.Note)
}

// stackOf is the usable stack of the task at addr.
func (rt *Runtime) stackOf(m *mem, l *layout, addr uint64) (lo, hi uint64, ok bool) {
	if !l.fields[keyTaskStack].ok() || !l.fields[keyTaskStackSize].ok() {
		return 0, 0, false
	}
	base, size := m.pointer(addr, l.fields[keyTaskStack]), m.field(addr, l.fields[keyTaskStackSize])
	if base == 0 || size == 0 || size > 1<<34 {
		return 0, 0, false
	}
	lo = base + uint64(l.stackGuard)
	return lo, lo + size, true
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
	id := len(rt.Processers)
	if l.fields[keyProcesserID].ok() {
		id = int(m.signedField(pa, l.fields[keyProcesserID]))
	}
	pr := &Processer{ID: id, Addr: pa, Queues: map[string]int{}}
	rt.Processers = append(rt.Processers, pr)
	var names []string
	for q := range l.queues {
		names = append(names, q)
	}
	sort.Strings(names)
	for _, q := range names {
		qa := pa + uint64(l.queues[q])
		head := m.pointer(qa, l.fields[keyQueueHead])
		if head == 0 {
			continue
		}
		count := int64(-1)
		if l.fields[keyQueueCount].ok() {
			count = int64(m.field(qa, l.fields[keyQueueCount]))
		}
		seen := map[uint64]bool{}
		n := 0
		next := l.fields[keyQueueNext]
		for h := m.pointer(head, next); h != 0 && !seen[h] && n < maxTasks; h = m.pointer(h, next) {
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
}

// taskSpan is the part of a task object its fields lie in (offsets from
// its start; lo == hi when none resolved), each taken as 8 bytes (the
// most any read of one takes: a pointer, an 8-byte integer).
func taskSpan(l *layout) (lo, hi int64) {
	first := true
	for _, k := range []memberKey{keyTaskID, keyTaskState, keyTaskProc, keyTaskSP, keyTaskStack, keyTaskStackSize, keyTaskFunc, keyTaskFile, keyTaskLine} {
		f := l.fields[k]
		if !f.ok() {
			continue
		}
		if first || f.Off < lo {
			lo = f.Off
		}
		if first || f.Off+8 > hi {
			hi = f.Off + 8
		}
		first = false
	}
	return lo, hi
}

func (rt *Runtime) readTask(m *mem, l *layout, addr uint64) *Task {
	if t, ok := rt.byAddr[addr]; ok {
		return t
	}
	t := &Task{Addr: addr, Processer: -1, FoundBy: "profile"}
	if lo, hi := taskSpan(l); hi > lo && hi-lo <= 4096 {
		m.hold(addr+uint64(lo), int(hi-lo))
		defer m.release()
	}
	t.ID = int64(m.field(addr, l.fields[keyTaskID]))
	st := int64(m.field(addr, l.fields[keyTaskState]))
	if name, ok := l.stateNames[st]; ok {
		t.State = name
	} else {
		t.State = fmt.Sprintf("state %d", st)
	}
	t.SP = m.pointer(addr, l.fields[keyTaskSP])
	if l.fields[keyTaskProc].ok() {
		if pa := m.pointer(addr, l.fields[keyTaskProc]); pa != 0 {
			for _, pr := range rt.Processers {
				if pr.Addr == pa {
					t.Processer = pr.ID
				}
			}
		}
	}
	if lo, hi, ok := rt.stackOf(m, l, addr); ok {
		t.StackLo, t.StackHi = lo, hi
	}
	if l.fields[keyTaskFunc].ok() {
		t.Func = m.str(m.pointer(addr, l.fields[keyTaskFunc]))
	}
	if l.fields[keyTaskFile].ok() {
		t.File = m.str(m.pointer(addr, l.fields[keyTaskFile]))
	}
	if l.fields[keyTaskLine].ok() {
		t.Line = int(m.signedField(addr, l.fields[keyTaskLine]))
	}
	rt.byAddr[addr] = t
	rt.Tasks = append(rt.Tasks, t)
	return t
}
