package waits

import (
	"fmt"
	"strings"

	"github.com/dsecore/dsecore/analysis/holders"
	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/unwind"
	"github.com/dsecore/dsecore/coreparse/values"
	"github.com/dsecore/dsecore/internal/l10n"
)

// A primitive is a function of a lock library that, on a stack, says what
// the stack waits for and which of its parameters names the object.
type primitive struct {
	kind  string
	param string // the parameter holding the object's address ("" : the futex word)
	write bool
	// inner: the wait is this frame's own (a mutex lock inside a condition
	// wait is the condition's reacquire: the mutex is waited for).
	rank int
}

// glibcPrimitives are glibc's lock paths (2.34+, libpthread in libc),
// by name without leading underscores, "GI_" and version suffixes.
var glibcPrimitives = map[string]primitive{
	"lll_lock_wait":                    {kind: Mutex, param: "futex", rank: 1},
	"lll_lock_wait_private":            {kind: Futex, param: "futex", rank: 1},
	"pthread_mutex_lock":               {kind: Mutex, param: "mutex", rank: 2},
	"pthread_mutex_lock_full":          {kind: Mutex, param: "mutex", rank: 2},
	"pthread_mutex_cond_lock":          {kind: Mutex, param: "mutex", rank: 2},
	"pthread_mutex_cond_lock_full":     {kind: Mutex, param: "mutex", rank: 2},
	"pthread_mutex_timedlock":          {kind: Mutex, param: "mutex", rank: 2},
	"pthread_mutex_clocklock":          {kind: Mutex, param: "mutex", rank: 2},
	"pthread_mutex_clocklock_common":   {kind: Mutex, param: "mutex", rank: 2},
	"pthread_mutex_timedlock64":        {kind: Mutex, param: "mutex", rank: 2},
	"pthread_mutex_clocklock64":        {kind: Mutex, param: "mutex", rank: 2},
	"lll_mutex_lock_optimized":         {kind: Mutex, param: "mutex", rank: 2},
	"pthread_rwlock_rdlock":            {kind: RWLock, param: "rwlock", rank: 2},
	"pthread_rwlock_rdlock_full":       {kind: RWLock, param: "rwlock", rank: 2},
	"pthread_rwlock_rdlock_full64":     {kind: RWLock, param: "rwlock", rank: 2},
	"pthread_rwlock_timedrdlock":       {kind: RWLock, param: "rwlock", rank: 2},
	"pthread_rwlock_timedrdlock64":     {kind: RWLock, param: "rwlock", rank: 2},
	"pthread_rwlock_clockrdlock":       {kind: RWLock, param: "rwlock", rank: 2},
	"pthread_rwlock_clockrdlock64":     {kind: RWLock, param: "rwlock", rank: 2},
	"pthread_rwlock_wrlock":            {kind: RWLock, param: "rwlock", write: true, rank: 2},
	"pthread_rwlock_wrlock_full":       {kind: RWLock, param: "rwlock", write: true, rank: 2},
	"pthread_rwlock_wrlock_full64":     {kind: RWLock, param: "rwlock", write: true, rank: 2},
	"pthread_rwlock_timedwrlock":       {kind: RWLock, param: "rwlock", write: true, rank: 2},
	"pthread_rwlock_timedwrlock64":     {kind: RWLock, param: "rwlock", write: true, rank: 2},
	"pthread_rwlock_clockwrlock":       {kind: RWLock, param: "rwlock", write: true, rank: 2},
	"pthread_rwlock_clockwrlock64":     {kind: RWLock, param: "rwlock", write: true, rank: 2},
	"pthread_cond_wait":                {kind: CondVar, param: "cond", rank: 3},
	"pthread_cond_wait_common":         {kind: CondVar, param: "cond", rank: 3},
	"pthread_cond_timedwait":           {kind: CondVar, param: "cond", rank: 3},
	"pthread_cond_timedwait64":         {kind: CondVar, param: "cond", rank: 3},
	"pthread_cond_clockwait":           {kind: CondVar, param: "cond", rank: 3},
	"pthread_cond_clockwait64":         {kind: CondVar, param: "cond", rank: 3},
	"sem_wait":                         {kind: Semaphore, param: "sem", rank: 2},
	"new_sem_wait":                     {kind: Semaphore, param: "sem", rank: 2},
	"new_sem_wait_slow":                {kind: Semaphore, param: "sem", rank: 2},
	"new_sem_wait_slow64":              {kind: Semaphore, param: "sem", rank: 2},
	"sem_timedwait":                    {kind: Semaphore, param: "sem", rank: 2},
	"sem_clockwait":                    {kind: Semaphore, param: "sem", rank: 2},
	"pthread_join":                     {kind: Join, param: "threadid", rank: 2},
	"pthread_clockjoin_ex":             {kind: Join, param: "threadid", rank: 2},
	"pthread_timedjoin_np":             {kind: Join, param: "threadid", rank: 2},
	"futex_wait":                       {kind: Futex, param: "futex_word", rank: 0},
	"futex_abstimed_wait_common":       {kind: Futex, param: "futex_word", rank: 0},
	"futex_abstimed_wait_common64":     {kind: Futex, param: "futex_word", rank: 0},
	"futex_abstimed_wait_cancelable64": {kind: Futex, param: "futex_word", rank: 0},
	"futex_wait_cancelable":            {kind: Futex, param: "futex_word", rank: 0},
	"futex_lock_pi64":                  {kind: Futex, param: "futex_word", rank: 0},
}

// normalize strips what glibc's symbols add to a function's name.
func normalize(fn string) string {
	if i := strings.IndexByte(fn, '@'); i > 0 {
		fn = fn[:i]
	}
	fn = strings.TrimLeft(fn, "_")
	fn = strings.TrimPrefix(fn, "GI_")
	return strings.TrimLeft(fn, "_")
}

// libraryFrame says whether a frame belongs to the C or C++ library's
// lock machinery (the coroutine runtime's: analysis.libraryFrame).
func libraryFrame(f coreparse.Frame) bool {
	fn := f.Function
	if _, ok := glibcPrimitives[normalize(fn)]; ok {
		return true
	}
	if m := f.Module; strings.HasPrefix(m, "libc.so") || strings.HasPrefix(m, "libpthread") || strings.HasPrefix(m, "libstdc++") || strings.HasPrefix(m, "ld-linux") {
		return true
	}
	for _, p := range []string{"std::mutex::", "std::recursive_mutex::", "std::timed_mutex::", "std::shared_mutex::", "std::shared_timed_mutex::",
		"std::__shared_mutex_pthread::", "std::__shared_mutex_cv::", "std::condition_variable::", "std::condition_variable_any::", "std::_V2::condition_variable_any::",
		"std::lock_guard<", "std::unique_lock<", "std::shared_lock<", "std::scoped_lock<", "std::__mutex_base::", "std::lock<", "std::__lock_impl",
		"__gthread_", "__gthrw_", "std::__glibcxx_rwlock_", "ceph::mutex_debug_detail::", "ceph::condition_variable_debug::"} {
		if strings.HasPrefix(fn, p) {
			return true
		}
	}
	return false
}

// syscalls names the blocking system calls a thread is found in (x86-64).
var syscalls = map[uint64]struct {
	name, state string
}{
	0: {"read", IO}, 1: {"write", IO}, 7: {"poll", IO}, 17: {"pread64", IO}, 18: {"pwrite64", IO}, 19: {"readv", IO}, 20: {"writev", IO},
	23: {"select", IO}, 34: {"pause", Idle}, 35: {"nanosleep", Sleeping}, 43: {"accept", IO}, 44: {"sendto", IO}, 45: {"recvfrom", IO},
	46: {"sendmsg", IO}, 47: {"recvmsg", IO}, 61: {"wait4", IO}, 74: {"fsync", IO}, 75: {"fdatasync", IO}, 128: {"rt_sigtimedwait", Idle},
	130: {"rt_sigsuspend", Idle}, 202: {"futex", Waiting}, 208: {"io_getevents", IO}, 230: {"clock_nanosleep", Sleeping},
	232: {"epoll_wait", IO}, 247: {"waitid", IO}, 270: {"pselect6", IO}, 271: {"ppoll", IO}, 281: {"epoll_pwait", IO},
	288: {"accept4", IO}, 299: {"recvmmsg", IO}, 307: {"sendmmsg", IO}, 426: {"io_uring_enter", IO}, 441: {"epoll_pwait2", IO},
}

// syscallFunctions: libc's wrappers, when the interrupted context is known
// only by its frames (below a signal frame the kernel keeps no orig_rax).
var syscallFunctions = map[string]string{
	"read": "read", "libc_read": "read", "write": "write", "libc_write": "write", "poll": "poll", "ppoll": "ppoll",
	"select": "select", "pselect": "pselect6", "pause": "pause", "libc_pause": "pause", "nanosleep": "nanosleep",
	"libc_nanosleep": "nanosleep", "clock_nanosleep": "clock_nanosleep", "clock_nanosleep_time64": "clock_nanosleep",
	"epoll_wait": "epoll_wait", "epoll_pwait": "epoll_pwait", "accept": "accept", "accept4": "accept4", "recv": "recvfrom",
	"recvfrom": "recvfrom", "recvmsg": "recvmsg", "libc_recvmsg": "recvmsg", "sigsuspend": "rt_sigsuspend",
	"sigtimedwait": "rt_sigtimedwait", "sigwaitinfo": "rt_sigtimedwait", "waitpid": "wait4", "wait4": "wait4",
	"io_getevents": "io_getevents", "fsync": "fsync", "fdatasync": "fdatasync", "pread64": "pread64", "pwrite64": "pwrite64",
	"libc_pread64": "pread64", "libc_pwrite64": "pwrite64", "sleep": "nanosleep", "usleep": "nanosleep",
}

func syscallState(name string) string {
	for _, s := range syscalls {
		if s.name == name {
			return s.state
		}
	}
	return IO
}

// classify makes one node per stack: its state, and for a waiting node the
// object and the waiting frame.
func (a *analysis) classify(stacks []holders.Stack) {
	running := map[int]int64{} // LWP → the task it runs
	procOf := map[int]int{}    // LWP → Processer id
	if a.rt != nil {
		for _, pr := range a.rt.Processers {
			if pr.Thread != nil {
				procOf[pr.Thread.LWP] = pr.ID
				if pr.Running != nil {
					running[pr.Thread.LWP] = pr.Running.ID
				}
			}
		}
	}
	taskFunc := map[int64]string{}
	taskState := map[int64]string{}
	taskProc := map[int64]int{}
	if a.rt != nil {
		for _, t := range a.rt.Tasks {
			taskFunc[t.ID], taskState[t.ID], taskProc[t.ID] = t.Func, t.State, t.Processer
		}
	}
	for _, st := range stacks {
		n := Node{Task: -1, Processer: -1, WaitsFor: -1, Frame: -1, frames: st.Frames}
		if st.TaskID >= 0 {
			n.ID = fmt.Sprintf("task:%d", st.TaskID)
			n.Task = st.TaskID
			n.Name = taskFunc[st.TaskID]
			n.Processer = taskProc[st.TaskID]
			n.Said = l10n.T("who.waits-task", "ID", st.TaskID, "Processer", n.Processer)
			if n.Name != "" {
				n.Said = l10n.T("who.waits-task-named", "ID", st.TaskID, "Name", n.Name, "Processer", n.Processer)
			}
			n.Who = n.Said.String()
			a.res.Stats.Tasks++
		} else {
			n.ID = fmt.Sprintf("lwp:%d", st.LWP)
			n.LWP = st.LWP
			n.thread = a.p.ThreadByLWP(st.LWP)
			if n.thread != nil {
				n.Name = n.thread.Name
			}
			if id, ok := running[st.LWP]; ok {
				n.Task = id
			}
			if pid, ok := procOf[st.LWP]; ok {
				n.Processer = pid
			}
			n.Said = holders.ThreadWho(st.LWP, n.Name)
			if n.Task >= 0 {
				n.Said = l10n.T("who.running-task", "Who", n.Said, "Task", n.Task)
			}
			n.Who = n.Said.String()
			a.res.Stats.Threads++
		}
		a.classifyStack(&n, taskState[n.Task])
		if _, dup := a.byID[n.ID]; dup {
			continue
		}
		a.byID[n.ID] = len(a.res.Nodes)
		a.res.Nodes = append(a.res.Nodes, n)
		if n.State == Waiting {
			a.res.Stats.Waiting++
			o := &a.res.Objects[n.WaitsFor]
			o.Waiters = append(o.Waiters, n.ID)
		}
	}
}

// classifyStack reads one stack.
func (a *analysis) classifyStack(n *Node, taskState string) {
	fs := n.frames
	// Below the last signal frame is the interrupted context: what the
	// thread was doing when the signal came.
	for i, f := range fs {
		if f.Sigtramp {
			n.top = i + 1
		}
	}
	if n.top >= len(fs) {
		n.State = Running
		return
	}
	n.Top = fs[n.top].Function
	// The waiting frame: the first frame above the lock library's.
	lib := n.top
	for lib < len(fs) && a.libraryFrame(fs[lib]) {
		lib++
	}
	if lib < len(fs) && !fs[lib].Boundary {
		n.Frame, n.Function, n.File, n.Line = lib, fs[lib].Function, fs[lib].File, fs[lib].Line
	}
	// A Rutex wait (the coroutine runtime's primitives, or a plain thread
	// using them), read through the profile.
	if a.sync != nil && a.rutexWait(n) {
		return
	}
	// glibc's lock paths: the outermost primitive of the library prefix
	// names the wait, but a mutex lock inside a condition wait is its
	// reacquire.
	best, bi := primitive{}, -1
	for i := n.top; i < lib && i < len(fs); i++ {
		pr, ok := glibcPrimitives[normalize(fs[i].Function)]
		if !ok {
			continue
		}
		if bi < 0 || pr.rank > best.rank && !(best.kind == Mutex && pr.kind == CondVar) {
			best, bi = pr, i
		}
	}
	if bi >= 0 {
		a.glibcEdge(n, fs, bi, best)
		if n.State != "" {
			return
		}
	}
	// A system call.
	if sc, ok := a.syscallOf(n, fs); ok {
		n.detail(l10n.Verbatim(sc + "(2)"))
		n.State = syscallState(sc)
		if n.State == Waiting { // a futex no primitive explains
			a.futexEdge(n, fs)
		}
		if n.State == IO && n.Processer >= 0 && n.Task < 0 {
			n.State = Idle // a Processer's poller
		}
		return
	}
	if n.Task >= 0 && n.LWP == 0 {
		switch taskState {
		case "runnable":
			n.State = Runnable
		case "new":
			n.State = New
		default:
			n.State = Suspended
			if n.Frame >= 0 {
				n.detail(l10n.T("waits.detail-in", "Function", n.Function))
			}
		}
		return
	}
	n.State = Running
}

// idleLoop: the runtime's Processer thread waiting for work (no task
// switched in).
func (a *analysis) idleLoop(n *Node) bool {
	return n.Processer >= 0 && n.Task < 0 && n.LWP != 0
}

// syscallOf is the system call the thread sleeps in: from the core's
// registers (orig_rax) when the thread was stopped in it, else from the
// interrupted context's frames (below a signal frame).
func (a *analysis) syscallOf(n *Node, fs []coreparse.Frame) (string, bool) {
	if n.top == 0 && n.thread != nil && n.thread.Core != nil {
		nr := n.thread.Core.Regs.OrigRax
		if nr != ^uint64(0) {
			if s, ok := syscalls[nr]; ok {
				return s.name, true
			}
			return fmt.Sprintf("syscall %d", nr), true
		}
		return "", false
	}
	for i := n.top; i < len(fs) && i < n.top+3; i++ {
		if sc, ok := syscallFunctions[normalize(fs[i].Function)]; ok {
			return sc, true
		}
	}
	return "", false
}

// param reads a parameter of frames[i] as an address.
func (a *analysis) param(fs []coreparse.Frame, i int, name string) (uint64, bool) {
	fr := values.FrameOf(a.p, fs, i)
	if fr == nil {
		return 0, false
	}
	params, locals, _ := a.vr.FrameVars(fr)
	for _, v := range append(params, locals...) {
		if v.Name != name || v.Absent() {
			continue
		}
		if u, err := a.vr.Uint(v); err == nil && u != 0 {
			return u, true
		}
	}
	return 0, false
}

// futexWord is the futex a thread sleeps on: a parameter of glibc's futex
// frames, else rdi of a thread stopped in futex(2).
func (a *analysis) futexWord(n *Node, fs []coreparse.Frame) (uint64, bool) {
	for i := n.top; i < len(fs) && i < n.top+6; i++ {
		pr, ok := glibcPrimitives[normalize(fs[i].Function)]
		if ok && (pr.kind == Futex || pr.param == "futex") {
			if u, ok := a.param(fs, i, pr.param); ok {
				return u, true
			}
		}
	}
	if n.top == 0 && n.thread != nil && n.thread.Core != nil && n.thread.Core.Regs.OrigRax == 202 {
		return n.thread.Core.Regs.Rdi, true
	}
	if n.top > 0 && n.top < len(fs) && fs[n.top].Raw != nil {
		// The interrupted context's registers: a syscall's arguments stay in them.
		if v, ok := fs[n.top].Raw.Regs.Get(unwind.RegNumber("rdi")); ok {
			return v, true
		}
	}
	return 0, false
}

// glibcEdge makes the edge of a glibc lock path.
func (a *analysis) glibcEdge(n *Node, fs []coreparse.Frame, i int, pr primitive) {
	addr, ok := uint64(0), false
	if pr.param != "" {
		addr, ok = a.param(fs, i, pr.param)
	}
	if !ok {
		if w, wok := a.futexWord(n, fs); wok {
			addr, ok = a.fromFutex(pr, w), true
		}
	}
	if !ok {
		a.warnf("%s waits in %s but the object's address is unknown (no DWARF for the parameter %q, no futex word in its registers)", n.Who, fs[i].Function, pr.param)
		n.State = Waiting
		n.WaitsFor = a.unknownObject(pr.kind, "in "+fs[i].Function+": the address is unknown")
		return
	}
	kind := pr.kind
	if kind == CondVar && a.idleLoop(n) {
		n.State = Idle
		n.detail(l10n.T("waits.detail-work", "Function", fs[i].Function))
		return
	}
	if kind == Join {
		a.joinEdge(n, addr)
		return
	}
	n.State = Waiting
	n.Write = pr.write
	n.WaitsFor = a.object(addr, kind)
}

// fromFutex is the object a futex word lies in, when no parameter says
// (the C library without debug information): a mutex's and a semaphore's
// word is its first; a rwlock's is inside it, at an offset glibc's layout
// gives (rwlockBase); a condition's (its __g_signals) stands for it.
func (a *analysis) fromFutex(pr primitive, w uint64) uint64 {
	if pr.kind == RWLock {
		if b, ok := a.rwlockBase(w, pr.write); ok {
			return b
		}
	}
	return w
}

// glibc's pthread_rwlock_t on x86-64 (sysdeps/x86/nptl/bits/struct_rwlock.h,
// struct __pthread_rwlock_arch_t): the futex words a waiter sleeps on and
// the words that say who holds it.
const (
	rwReaders       = 0  // __readers: WP, WL, RWAITING bits and the reader count << 3
	rwWrphaseFutex  = 8  // __wrphase_futex
	rwWritersFutex  = 12 // __writers_futex
	rwPad3, rwPad4  = 16, 20
	rwCurWriter     = 24 // __cur_writer: the write owner's TID
	rwShared        = 28 // __shared
	rwFlags         = 48 // __flags: the rwlock kind
	rwMaxPreference = 2  // PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP
)

// rwlockBase finds the rwlock whose futex word w a waiter sleeps on
// (nptl/pthread_rwlock_common.c): a reader on __wrphase_futex while a
// writer holds the lock, or on __readers while a preferred writer waits; a
// writer on __writers_futex behind another writer, or on __wrphase_futex
// for the hand-over from readers. Of those, the base whose words are a
// rwlock's: unused pads zero, __shared 0 or 1, a known kind, __cur_writer
// none or a thread of the process.
func (a *analysis) rwlockBase(w uint64, write bool) (uint64, bool) {
	offs := []uint64{rwWrphaseFutex, rwReaders}
	if write {
		offs = []uint64{rwWritersFutex, rwWrphaseFutex}
	}
	for _, off := range offs {
		if w < off {
			continue
		}
		b := w - off
		pad3, ok1 := a.read32(b + rwPad3)
		pad4, ok2 := a.read32(b + rwPad4)
		shared, ok3 := a.read32(b + rwShared)
		flags, ok4 := a.read32(b + rwFlags)
		cur, ok5 := a.read32(b + rwCurWriter)
		if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || pad3 != 0 || pad4 != 0 || shared > 1 || flags > rwMaxPreference {
			continue
		}
		if cur != 0 && a.p.ThreadByLWP(int(cur)) == nil {
			continue
		}
		return b, true
	}
	return 0, false
}

func (a *analysis) futexEdge(n *Node, fs []coreparse.Frame) {
	w, ok := a.futexWord(n, fs)
	if !ok {
		n.State = Idle
		return
	}
	if a.idleLoop(n) {
		n.State = Idle
		n.detail(l10n.T("waits.detail-work", "Function", "futex"))
		return
	}
	n.WaitsFor = a.object(w, Futex)
}

// joinEdge: pthread_join waits for a thread: its node is the owner.
func (a *analysis) joinEdge(n *Node, pthread uint64) {
	n.State = Waiting
	n.WaitsFor = a.object(pthread, Join)
	o := &a.res.Objects[n.WaitsFor]
	for _, t := range a.p.Threads {
		if t.Pthread == pthread {
			o.Owner, o.OwnerLWP, o.OwnerHow, o.Locked = fmt.Sprintf("lwp:%d", t.LWP), t.LWP, "join", true
			o.Expr, o.How, o.Type = fmt.Sprintf("thread %#x (LWP %d)", pthread, t.LWP), "thread", "pthread_t"
		}
	}
}
