// Package waits says who waits for whom in a core: for every thread and
// every coroutine task, what it is blocked on (a pthread mutex, rwlock,
// condition variable or semaphore through glibc's lock paths, a raw futex,
// a coroutine runtime's Rutex behind its co_mutex or condition variable,
// a thread it joins), the object by type and C++ expression when DWARF
// knows it, and who holds that object: the owner glibc records in the
// lock word (pthread_mutex_t.__data.__owner, the rwlock's writer,
// ceph::mutex_debug's locked_by), or, for locks that record none (libgo's
// co_mutex), the frame holding a std::lock_guard/std::unique_lock on it,
// found through the typed object graph (analysis/holders) and marked
// inferred. Condition variables have no owner: the threads and tasks whose
// frames reach one (other than its waiters) are its possible notifiers.
//
// From the edges it builds the graph: deadlock cycles (each member's frame
// that holds and frame that waits), the waiters stuck behind a cycle, and
// the chains that end in a holder that is not waiting for a lock (running,
// idle, in I/O), and reads Ceph's heartbeat watchdog (HeartbeatMap's log
// lines and its frames in memory) to say who the watchdog found stuck.
//
//	res := waits.Analyze(p, rt, stacks, waits.Options{Values: vr})
//	for _, c := range res.Cycles { … c.Text … }
package waits

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/dsecore/dsecore/analysis/coroutines"
	"github.com/dsecore/dsecore/analysis/holders"
	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/values"
	"github.com/dsecore/dsecore/internal/l10n"
)

// Options of Analyze. Zero values take the defaults.
type Options struct {
	// Values reads typed values (the session's); nil: a reader with the
	// default bounds.
	Values *values.Reader
	// MaxNodes bounds the threads and tasks looked at (default 20,000).
	MaxNodes int
	// MaxObjects bounds the objects whose owners are searched (default
	// 1,000): the holder search runs on them all at once.
	MaxObjects int
	// Holders bounds the holder search for lock guards and notifiers.
	Holders holders.Options
	// Logs are log lines that may hold the heartbeat watchdog's words
	// (the caller reads the files: fault.ParseLog).
	Logs []LogLine
}

func (o Options) withDefaults() Options {
	if o.MaxNodes <= 0 {
		o.MaxNodes = 20000
	}
	if o.MaxObjects <= 0 {
		o.MaxObjects = 1000
	}
	if o.Holders.Timeout <= 0 {
		o.Holders.Timeout = 20 * time.Second
	}
	return o
}

// LogLine is one log line, as the caller parsed it.
type LogLine struct {
	File    string
	Line    int
	Time    time.Time
	Pthread uint64 // the thread that logged it
	Message string
}

// Node states.
const (
	Waiting   = "waiting"   // blocked on an object (Node.WaitsFor)
	Idle      = "idle"      // a scheduler or worker loop waiting for work, pause(2), a condition nobody is seen to notify
	IO        = "io"        // a blocking system call other than a futex: read(2), epoll_wait(2), …
	Sleeping  = "sleeping"  // nanosleep(2), clock_nanosleep(2)
	Running   = "running"   // on a CPU (not in a system call), or a task running on its thread
	Suspended = "suspended" // a switched-out task outside any known wait primitive
	Runnable  = "runnable"  // a task waiting for its Processer
	New       = "new"       // a task not started
)

// Node is a thread, or a switched-out coroutine task (a running task is
// its thread's node: Task says which).
type Node struct {
	ID  string `json:"id"`  // "lwp:123", "task:15"
	Who string `json:"who"` // "thread LWP 123 (dse_xfer_1)", "task 15 (Processer 6)"
	// Said and DetailSaid are Who and Detail in the catalog's words.
	Said, DetailSaid l10n.Msg `json:"-"`
	LWP              int      `json:"lwp"` // the thread, or the thread running the task; 0 for a switched-out task
	Task             int64    `json:"task"`
	Name             string   `json:"name,omitempty"` // the thread's name, the task's created-at function
	Processer        int      `json:"processer"`      // -1: not a Processer thread or its task
	State            string   `json:"state"`
	// Detail says more about the state: the system call ("read(2)"), the
	// function a suspended task waits in.
	Detail string `json:"detail,omitempty"`
	// WaitsFor is the index of the object in Objects, -1 when none.
	WaitsFor int `json:"waits_for"`
	// Write: waiting for the write side of a rwlock (Rutex or pthread).
	Write bool `json:"write,omitempty"`
	// Frame is the waiting frame: the innermost frame above the lock
	// library's (the code that asked for the lock); -1 when none.
	Frame    int    `json:"frame"`
	Function string `json:"function,omitempty"`
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
	// Holds are the objects it owns (indexes into Objects).
	Holds []int `json:"holds,omitempty"`
	// Top is the innermost frame's function, for a node that waits for
	// nothing (where it stands).
	Top string `json:"top,omitempty"`

	frames []coreparse.Frame
	top    int // first frame of the interrupted context (below a signal frame)
	thread *coreparse.Thread
}

// Object kinds.
const (
	Mutex     = "mutex"     // pthread_mutex_t (std::mutex, std::recursive_mutex, ceph::mutex, ceph::mutex_debug)
	RWLock    = "rwlock"    // pthread_rwlock_t (std::shared_mutex)
	CondVar   = "condvar"   // pthread_cond_t (std::condition_variable)
	Semaphore = "semaphore" // sem_t
	Join      = "thread"    // pthread_join: the thread waited for
	Futex     = "futex"     // a raw futex word
	CoMutex   = "co_mutex"  // the coroutine runtime's mutex (libgo::Mutex over a Rutex)
	CoRWMutex = "co_rwmutex"
	CoCondVar = "co_condvar"
	CoChan    = "co_chan"
	Rutex     = "rutex" // a Rutex no primitive explains
)

// Object is something waited for.
type Object struct {
	Address uint64 `json:"address" hex:""`
	Kind    string `json:"kind"`
	// Type is the object's C++ type as declared ("ceph::mutex",
	// "co::co_mutex", "std::condition_variable"); "" when unknown.
	Type string `json:"type,omitempty"`
	// Expr names it: a global's path ("hangs::jr_a.lock"), a frame's
	// ("q->cv" in frame #3 of the waiter), a heap chunk, or the address.
	Expr string `json:"expr"`
	// How Expr was found: "global", "frame", "symbol", "address".
	How string `json:"how"`
	// Mode is the pthread mutex's kind (normal, recursive, errorcheck,
	// adaptive, with robust/pi/pp), or a rwlock's state.
	Mode     string   `json:"mode,omitempty"`
	ModeSaid l10n.Msg `json:"-"`               // Mode in the catalog's words
	Owner    string   `json:"owner,omitempty"` // node ID, "" when none is known
	// OwnerLWP is the owner as the lock word records it (0: none
	// recorded), which may be no thread of the process.
	OwnerLWP int `json:"owner_lwp,omitempty"`
	// OwnerHow: "__owner", "__cur_writer", "locked_by", "lock guard",
	// "notifier", "join".
	OwnerHow string `json:"owner_how,omitempty"`
	// Inferred: no lock word records the owner: a frame holding a guard on
	// it (or, for a condition, reaching it) says so.
	Inferred bool `json:"inferred"`
	// HoldFrame is the owner's frame that holds it (its guard, or the path
	// that reaches it), HoldExpr the path; -1 when no frame explains it.
	HoldFrame    int    `json:"hold_frame"`
	HoldFunction string `json:"hold_function,omitempty"`
	HoldExpr     string `json:"hold_expr,omitempty"`
	// Leaked: held, but no frame of the owner holds it.
	Leaked bool `json:"leaked,omitempty"`
	// OwnerDied: a robust mutex whose owner exited (FUTEX_OWNER_DIED).
	OwnerDied bool `json:"owner_died,omitempty"`
	// Locked says whether the lock word says it is held.
	Locked bool `json:"locked"`
	// Readers: a rwlock's reader count.
	Readers int `json:"readers,omitempty"`
	// Notifiers: for a condition, the other threads and tasks whose frames
	// reach it (node IDs).
	Notifiers []string `json:"notifiers,omitempty"`
	Waiters   []string `json:"waiters"`
	Text      string   `json:"text"`
	Said      l10n.Msg `json:"-"` // Text in the catalog's words

	word uint64 // the word waited on (the lock word, the Rutex)
	// lockWord: a co_rwmutex's lock word (its writers' Rutex value), 0
	// when the word is word.
	lockWord uint64
	// handleType: a co_chan's handle type (the struct holding a shared
	// pointer to the channel), which names it.
	handleType string
	size       int64  // the object's size, when DWARF knows its type
	frame      string // the frame whose path names it
	frameSaid  l10n.Msg
	rtype      string // Type with its typedefs resolved
}

// Member is one node of a cycle or chain, with its frames.
type Member struct {
	Node string `json:"node"`
	// Holds is the object it holds that the previous member waits for (-1
	// at a chain's first member); HoldFrame/HoldFunction where.
	Holds        int    `json:"holds"`
	HoldFrame    int    `json:"hold_frame"`
	HoldFunction string `json:"hold_function,omitempty"`
	// Waits is the object it waits for (-1 at a chain's end).
	Waits        int    `json:"waits"`
	WaitFrame    int    `json:"wait_frame"`
	WaitFunction string `json:"wait_function,omitempty"`
}

// Cycle is a deadlock.
type Cycle struct {
	Members []Member `json:"members"`
	// Behind are the nodes waiting (directly or through others) for a
	// member.
	Behind []string `json:"behind,omitempty"`
	Shape  string   `json:"shape"` // the functions that hold and wait, no addresses
	Text   string   `json:"text"`
	Said   l10n.Msg `json:"-"` // Text in the catalog's words
}

// Chain is waiters ending in a holder that waits for no lock: Members in
// order, the last one the end.
type Chain struct {
	Members []Member `json:"members"`
	// Also: other nodes whose waits end in the same holder.
	Also     []string `json:"also,omitempty"`
	End      string   `json:"end"`
	EndState string   `json:"end_state"`
	Shape    string   `json:"shape"`
	Text     string   `json:"text"`
	Said     l10n.Msg `json:"-"` // Text in the catalog's words
}

// Bound says a bound cut the analysis short.
type Bound struct {
	Bound string   `json:"bound"` // "nodes", "objects", "holders:…"
	Count int      `json:"count"`
	Text  string   `json:"text"`
	Said  l10n.Msg `json:"-"` // Text in the catalog's words
}

// bound is a bound hit, said by m.
func bound(name string, n int, m l10n.Msg) Bound {
	return Bound{Bound: name, Count: n, Text: m.String(), Said: m}
}

// Result is the wait graph.
type Result struct {
	Nodes   []Node   `json:"nodes"`
	Objects []Object `json:"objects"`
	Cycles  []Cycle  `json:"cycles"`
	Chains  []Chain  `json:"chains"`
	// Watchdog is Ceph's heartbeat watchdog's part, when it has one.
	Watchdog *Watchdog `json:"watchdog,omitempty"`
	// Hang says whether the graph shows a hang: a cycle, a chain, or a
	// watchdog that found a thread stuck.
	Hang bool `json:"hang"`
	// Summary is the answer in one sentence ("" when nothing waits).
	Summary string `json:"summary"`
	// SummarySaid is Summary in the catalog's words.
	SummarySaid l10n.Msg `json:"-"`
	// Shape is the hang's shape for grouping: the cycle's or chain's
	// functions that hold and wait (never addresses).
	Shape    string   `json:"shape,omitempty"`
	Bounds   []Bound  `json:"bounds,omitempty"`
	Stats    Stats    `json:"stats"`
	Warnings []string `json:"warnings,omitempty"`
}

// Stats measure a run.
type Stats struct {
	Threads int            `json:"threads"`
	Tasks   int            `json:"tasks"`
	Waiting int            `json:"waiting"`
	Objects int            `json:"objects"`
	Search  *holders.Stats `json:"holder_search,omitempty"`
	Elapsed time.Duration  `json:"-"` // as holders.Stats.Elapsed
}

// NodeByID returns the node with the id, nil when none.
func (r *Result) NodeByID(id string) *Node {
	for i := range r.Nodes {
		if r.Nodes[i].ID == id {
			return &r.Nodes[i]
		}
	}
	return nil
}

// analysis is one run's state.
type analysis struct {
	p    *coreparse.Process
	rt   *coroutines.Runtime
	vr   *values.Reader
	o    Options
	res  *Result
	byID map[string]int
	objs map[uint64]int // object address → index
	gidx map[*coreparse.Module]*globalIndex
	// sync is the profile's coroutine sync primitives (nil: none);
	// procPrefix the Processer type's functions ("co::Processer::");
	// classKind caches whether a class derives from a sync primitive.
	sync       *coroutines.SyncLayout
	procPrefix string
	classKind  map[string]bool
	queues     map[uint64]waiterList // Rutex → its waiters (rutexQueue)
}

// Analyze builds the wait graph from the stacks (holders.Stacks: every
// thread's, every switched-out task's). rt may be nil.
func Analyze(p *coreparse.Process, rt *coroutines.Runtime, stacks []holders.Stack, o Options) *Result {
	start := time.Now()
	o = o.withDefaults()
	if o.Values == nil {
		o.Values = values.NewReader(p)
	}
	a := &analysis{p: p, rt: rt, vr: o.Values, o: o, res: &Result{Nodes: []Node{}, Objects: []Object{}, Cycles: []Cycle{}, Chains: []Chain{}}, byID: map[string]int{}, objs: map[uint64]int{},
		gidx: map[*coreparse.Module]*globalIndex{}, classKind: map[string]bool{}}
	if rt != nil {
		a.sync = rt.Sync()
		if ep := rt.EffectiveProfile(); ep != nil && ep.ProcesserType != "" {
			a.procPrefix = ep.ProcesserType + "::"
		}
		// How the profile's sync keys fit this build: adapted, or not read.
		a.res.Warnings = append(a.res.Warnings, rt.SyncWarnings()...)
	}
	if len(stacks) > o.MaxNodes {
		a.res.Bounds = append(a.res.Bounds, bound("nodes", len(stacks)-o.MaxNodes,
			l10n.T("waits.bound-nodes", "N", o.MaxNodes, "Of", len(stacks), "Max", o.MaxNodes)))
		stacks = stacks[:o.MaxNodes]
	}
	a.classify(stacks)
	a.owners(stacks)
	a.watchdog()
	a.graph()
	a.summarize()
	a.res.Stats.Waiting = countWaiting(a.res.Nodes)
	a.res.Stats.Objects = len(a.res.Objects)
	a.res.Stats.Elapsed = time.Since(start)
	return a.res
}

// countWaiting counts the nodes left waiting once every state is final:
// classify counts a waiter when it reads its stack, but owners then calls
// the waiters of a condition variable or channel nobody else's frames
// reach idle (waiting for work), so that first count said 10,000 of the
// upstream-libgo core's idle tasks were waiting where the text said 0.
func countWaiting(ns []Node) int {
	k := 0
	for i := range ns {
		if ns[i].State == Waiting {
			k++
		}
	}
	return k
}

func (a *analysis) warnf(format string, args ...any) {
	a.res.Warnings = append(a.res.Warnings, fmt.Sprintf(format, args...))
}

func (a *analysis) node(id string) *Node {
	if i, ok := a.byID[id]; ok {
		return &a.res.Nodes[i]
	}
	return nil
}

// object returns the index of the object at addr, adding it.
func (a *analysis) object(addr uint64, kind string) int {
	if i, ok := a.objs[addr]; ok {
		return i
	}
	o := Object{Address: addr, word: addr, Kind: kind, HoldFrame: -1, Expr: fmt.Sprintf("%#x", addr), How: "address"}
	a.nameObject(&o)
	if i, ok := a.objs[o.Address]; ok {
		a.objs[addr] = i
		return i
	}
	a.res.Objects = append(a.res.Objects, o)
	i := len(a.res.Objects) - 1
	a.objs[addr], a.objs[o.Address] = i, i
	return i
}

// unknownObject is an object whose address is not known: one per wait.
func (a *analysis) unknownObject(kind, why string) int {
	a.res.Objects = append(a.res.Objects, Object{Kind: kind, HoldFrame: -1, Expr: why, How: "unknown"})
	return len(a.res.Objects) - 1
}

// graph follows each waiting node's edge (object → owner) to find the
// cycles, the waiters behind them and the chains.
func (a *analysis) graph() {
	res := a.res
	next := func(id string) string {
		n := a.node(id)
		if n == nil || n.State != Waiting || n.WaitsFor < 0 {
			return ""
		}
		o := res.Objects[n.WaitsFor]
		if o.Owner == id {
			return "" // waits for what it holds (a recursive wait, or its own notification)
		}
		return o.Owner
	}
	// Cycles of the functional graph: colour each node by the walk that
	// first reached it.
	walk := map[string]int{}
	inCycle := map[string]int{}
	ids := make([]string, 0, len(res.Nodes))
	for _, n := range res.Nodes {
		if n.State == Waiting {
			ids = append(ids, n.ID)
		}
	}
	for wi, id := range ids {
		var path []string
		cur := id
		for cur != "" {
			if w, seen := walk[cur]; seen {
				if w == wi+1 { // a cycle closed on this walk
					k := 0
					for path[k] != cur {
						k++
					}
					c := len(res.Cycles)
					for _, m := range path[k:] {
						inCycle[m] = c
					}
					res.Cycles = append(res.Cycles, Cycle{Members: a.members(path[k:], true)})
				}
				break
			}
			walk[cur] = wi + 1
			path = append(path, cur)
			cur = next(cur)
		}
	}
	// Behind a cycle, or in a chain.
	ends := map[string]int{}
	for _, id := range ids {
		if _, ok := inCycle[id]; ok {
			continue
		}
		var path []string
		cur := id
		seen := map[string]bool{}
		for cur != "" && !seen[cur] {
			seen[cur] = true
			if c, ok := inCycle[cur]; ok {
				res.Cycles[c].Behind = append(res.Cycles[c].Behind, id)
				path = nil
				break
			}
			path = append(path, cur)
			cur = next(cur)
		}
		if len(path) < 2 {
			if len(path) == 1 {
				// A waiter whose object has no known owner: a chain of one
				// when the object is held (or a condition nobody can notify).
				n := a.node(path[0])
				o := res.Objects[n.WaitsFor]
				if o.Owner == "" && (o.Locked || o.Kind == CondVar || o.Kind == CoCondVar || o.Kind == CoChan) {
					a.addChain(path, ends)
				}
			}
			continue
		}
		a.addChain(path, ends)
	}
	for i := range res.Cycles {
		sort.Strings(res.Cycles[i].Behind)
		a.cycleText(&res.Cycles[i])
	}
	for i := range res.Chains {
		a.chainText(&res.Chains[i])
	}
	res.Hang = len(res.Cycles) > 0 || len(res.Chains) > 0 || res.Watchdog != nil && res.Watchdog.Stuck != ""
}

// addChain records a chain, or adds its first node to the chain with the
// same end (the longest path is kept as the members).
func (a *analysis) addChain(path []string, ends map[string]int) {
	end := path[len(path)-1]
	if i, ok := ends[end]; ok {
		c := &a.res.Chains[i]
		in := func(id string, ms []Member) bool {
			for _, m := range ms {
				if m.Node == id {
					return true
				}
			}
			return false
		}
		if len(path) > len(c.Members) {
			old := c.Members
			c.Members = a.members(path, false)
			for _, m := range old {
				if !in(m.Node, c.Members) && !slices.Contains(c.Also, m.Node) {
					c.Also = append(c.Also, m.Node)
				}
			}
			var also []string
			for _, id := range c.Also {
				if !in(id, c.Members) {
					also = append(also, id)
				}
			}
			c.Also = also
		} else {
			for _, id := range path {
				if !in(id, c.Members) && !slices.Contains(c.Also, id) {
					c.Also = append(c.Also, id)
				}
			}
		}
		return
	}
	ends[end] = len(a.res.Chains)
	n := a.node(end)
	st := n.State
	a.res.Chains = append(a.res.Chains, Chain{Members: a.members(path, false), End: end, EndState: st})
}

// members turns a path of node ids into members: each holds what the
// previous one waits for (in a cycle the last one's is the first's).
func (a *analysis) members(path []string, cycle bool) []Member {
	out := make([]Member, len(path))
	for i, id := range path {
		n := a.node(id)
		m := Member{Node: id, Holds: -1, HoldFrame: -1, Waits: -1, WaitFrame: -1}
		if n.State == Waiting && n.WaitsFor >= 0 && (cycle || i < len(path)-1 || a.res.Objects[n.WaitsFor].Owner == "") {
			m.Waits, m.WaitFrame, m.WaitFunction = n.WaitsFor, n.Frame, n.Function
		}
		prev := i - 1
		if prev < 0 && cycle {
			prev = len(path) - 1
		}
		if prev >= 0 {
			pn := a.node(path[prev])
			m.Holds = pn.WaitsFor
			o := a.res.Objects[pn.WaitsFor]
			m.HoldFrame, m.HoldFunction = o.HoldFrame, o.HoldFunction
		}
		out[i] = m
	}
	if cycle {
		// Start at the smallest id, so the same cycle reads the same.
		k := 0
		for i := range out {
			if lessID(out[i].Node, out[k].Node) {
				k = i
			}
		}
		out = append(out[k:], out[:k]...)
	}
	return out
}

// lessID orders node ids: threads before tasks, then by number.
func lessID(x, y string) bool {
	kx, nx := splitID(x)
	ky, ny := splitID(y)
	if kx != ky {
		return kx < ky
	}
	return nx < ny
}

func splitID(id string) (string, int64) {
	k, n, _ := strings.Cut(id, ":")
	var v int64
	fmt.Sscan(n, &v)
	return k, v
}
