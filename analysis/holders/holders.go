// Package holders finds who else holds an object: for every frame of every
// thread and coroutine task, its DWARF variables (parameters and locals,
// entry values included, read through coreparse/values) are followed
// through typed pointers, references, members, base classes, arrays, smart
// pointers and containers (std::vector, std::deque, std::list, std::map and
// std::set, std::unordered_map and std::unordered_set,
// boost::intrusive::list) to the addresses of interest the caller names.
// Each hit is a path written as a C++ expression a person can paste into
// gdb or the DAP evaluate box (`l->node`, `this->objs[3]`), with the frame
// and the variable's type; frames without DWARF fall back to raw register
// and stack-word matches, marked as such. Hits are ranked so the caller can
// name the strongest holder and how it holds the object.
//
// The search is bounded (pointer hops, objects expanded, elements per
// container, time) and says which bound it hit. Every object is read once
// for the whole search: a first pass expands the object graph from every
// variable (in parallel), a second marks how far each object is from a
// target, a third walks each variable's shortest paths to the targets.
//
//	stacks := holders.Stacks(p, rt)
//	res := holders.Search(p, stacks, []holders.Target{{Address: node, Size: 64, Role: "owner"}}, holders.Options{})
//	for _, h := range res.Holders { … h.Best.Expr … }
package holders

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/values"
	"github.com/dsecore/dsecore/internal/l10n"
)

// Target is an address of interest.
type Target struct {
	Address uint64 `json:"address" hex:""`
	// Size is the object's extent: a pointer anywhere into [Address,
	// Address+Size) holds it. 0 means the address alone.
	Size uint64 `json:"size" hex:""`
	// Role is the caller's name for it ("owner", "list header", "list
	// node #3", "last good value of %rbx"), What a phrase for sentences
	// ("the owner dm_hash_node_t").
	Role string `json:"role"`
	What string `json:"what,omitempty"`
	// Weight ranks targets: a hit on a heavier one is a stronger holder.
	// 0 takes 100 for the first target, less for each later one.
	Weight int `json:"weight,omitempty"`
}

func (t Target) end() uint64 { return t.Address + max(t.Size, 1) }

// Stack is one thread's or task's frames, innermost first.
type Stack struct {
	Who    string            `json:"who"` // "thread LWP 123 (dcache_release)", "task 15 (Processer 6, block)"
	Said   l10n.Msg          `json:"-"`   // Who, in the catalog's words (ThreadWho, TaskWho)
	LWP    int               `json:"lwp"` // the thread, or the thread running the task; 0 when none
	TaskID int64             `json:"task"`
	Frames []coreparse.Frame `json:"-"`
}

// Options bound the search. Zero values take the defaults.
type Options struct {
	MaxDepth    int           // pointer hops (and container elements) from a variable (default 4)
	MaxObjects  int           // objects expanded, whole search (default 500,000)
	MaxElements int           // elements read per container or array (default 512)
	Timeout     time.Duration // the whole search (default 60 s)
	// NoRaw turns off the raw register and stack-word fallback.
	NoRaw bool
}

func (o Options) withDefaults() Options {
	if o.MaxDepth <= 0 {
		o.MaxDepth = 4
	}
	if o.MaxObjects <= 0 {
		o.MaxObjects = 500_000
	}
	if o.MaxElements <= 0 {
		o.MaxElements = 512
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	return o
}

// Relation is how a found value holds a target.
type Relation string

// Relations, strongest first.
const (
	PointsTo   Relation = "points-to"   // a pointer (or reference) to the target's address
	Is         Relation = "is"          // the value is the target: a variable or container element in place
	PointsInto Relation = "points-into" // a pointer into the target (a member, a hook), Offset bytes in
	Contains   Relation = "contains"    // the value (or the object a pointer points to) contains the target, Offset bytes in
	Integer    Relation = "integer"     // an integer equal to the target's address
)

// Hit is one place a target was found.
type Hit struct {
	Who      string   `json:"who"`
	Said     l10n.Msg `json:"-"` // Who, in the catalog's words
	LWP      int      `json:"lwp"`
	TaskID   int64    `json:"task"`
	Frame    int      `json:"frame"`    // index in the stack's frames (bt's #N)
	Function string   `json:"function"` // the frame's function
	// Variable is the DWARF variable the path starts at, VarType its C++
	// type, Param whether it is a parameter, Location how its value was
	// found ("register rbx", "entry value of rdi", "memory"). Empty for raw
	// matches.
	Variable string `json:"variable,omitempty"`
	VarType  string `json:"var_type,omitempty"`
	Param    bool   `json:"param,omitempty"`
	Location string `json:"location,omitempty"`
	// Expr is the path as a C++ expression in the frame's scope ("l->node",
	// "this->objs[3]"; elements of containers without indexing are written
	// as "(*(T *)0x…)"); for raw matches a register ("$rbx") or a stack
	// word ("*(void **)0x…"). Text is the path for a sentence ("`l->node`",
	// "`this->objs` element #3").
	Expr string `json:"expr"`
	Text string `json:"text"`
	// Steps are the path's expressions from the variable to the hit, for a
	// face that expands the variable down to it.
	Steps []string `json:"steps,omitempty"`
	// Target is the index into the targets, Role its role.
	Target int    `json:"target"`
	Role   string `json:"role"`
	// Value is the pointer (or address) found; Relation and Offset say how
	// it holds the target (Offset: into the target, or of the target in
	// the object pointed to).
	Value    uint64   `json:"value" hex:""`
	Relation Relation `json:"relation"`
	Offset   int64    `json:"offset"`
	// Depth is the pointer hops and container elements from the variable.
	Depth int `json:"depth"`
	// How: "variable", "pointer chain", "container element", or for raw
	// matches "register", "stack word".
	How string `json:"how"`
	// Fallback marks a raw match: no DWARF variable explains it (FallbackWhy).
	Fallback    bool   `json:"fallback,omitempty"`
	FallbackWhy string `json:"fallback_why,omitempty"`
	Score       int    `json:"score"`

	systemFrame bool                // the frame is a system library's
	mods        []*coreparse.Module // the frame's module, then those of the path's types
}

// Modules are the modules whose debug information the hit rests on: its
// frame's, then those of the variable's and the path's types.
func (h Hit) Modules() []*coreparse.Module { return h.mods }

// Holder is one thread or task that holds a target: its strongest hit.
type Holder struct {
	Who    string   `json:"who"`
	Said   l10n.Msg `json:"-"` // Who, in the catalog's words
	LWP    int      `json:"lwp"`
	TaskID int64    `json:"task"`
	Best   Hit      `json:"best"`
	// Hits are the indexes of all its hits in Result.Hits.
	Hits []int `json:"hits"`
}

// BoundHit says a bound cut the search short.
type BoundHit struct {
	Bound string   `json:"bound"` // "depth", "objects", "elements", "time"
	Count int      `json:"count"` // pointers not followed, containers cut, …
	Text  string   `json:"text"`
	Said  l10n.Msg `json:"-"` // Text in the catalog's words
}

// boundHit is a bound hit, said by m.
func boundHit(bound string, n int, m l10n.Msg) BoundHit {
	return BoundHit{Bound: bound, Count: n, Text: m.String(), Said: m}
}

// Stats measure a search.
type Stats struct {
	Stacks    int           `json:"stacks"`
	Frames    int           `json:"frames"`
	Variables int           `json:"variables"`
	Objects   int           `json:"objects"` // objects expanded
	Elapsed   time.Duration `json:"-"`       // a measurement, not a fact of the core: kept out of the answer (the same core answers the same bytes)
}

// Result is a search's answer.
type Result struct {
	Targets  []Target   `json:"targets"`
	Hits     []Hit      `json:"hits"`    // strongest first
	Holders  []Holder   `json:"holders"` // strongest first
	Bounds   []BoundHit `json:"bounds,omitempty"`
	Stats    Stats      `json:"stats"`
	Warnings []string   `json:"warnings,omitempty"`
}

// Search looks for the targets from every frame of the stacks.
func Search(p *coreparse.Process, stacks []Stack, targets []Target, o Options) *Result {
	start := time.Now()
	s := newSearcher(p, targets, o.withDefaults(), start)
	res := &Result{Targets: targets}
	if len(targets) == 0 {
		return res
	}
	s.collectRoots(stacks) // and expands the object graph from each variable
	s.distances()
	res.Hits = s.paths(stacks)
	if !s.o.NoRaw {
		res.Hits = append(res.Hits, s.raw(stacks)...)
	}
	rank(res, targets)
	res.Bounds = s.bounds()
	res.Stats = Stats{Stacks: len(stacks), Frames: int(s.frames.Load()), Variables: int(s.vars.Load()),
		Objects: int(s.objects.Load()), Elapsed: time.Since(start)}
	res.Warnings = s.warnings
	return res
}

// searcher is one search's state.
type searcher struct {
	p       *coreparse.Process
	r       *values.Reader
	o       Options
	targets []Target
	byAddr  []int // target indexes by address
	maxSize uint64

	deadline time.Time
	late     atomic.Bool

	nodes   sync.Map // nodeKey → *node
	names   sync.Map // nodeKey{mod, type} → member name counts (memberCount)
	roots   [][]*root
	objects atomic.Int64
	frames  atomic.Int64
	vars    atomic.Int64

	depthCut, objectCut, elementCut atomic.Int64

	all      []*node
	mu       sync.Mutex
	warnings []string
	warned   sync.Map
}

func newSearcher(p *coreparse.Process, targets []Target, o Options, start time.Time) *searcher {
	s := &searcher{p: p, r: values.NewReader(p), o: o, targets: targets, deadline: start.Add(o.Timeout)}
	s.r.MaxList = o.MaxElements
	for i, t := range targets {
		s.byAddr = append(s.byAddr, i)
		s.maxSize = max(s.maxSize, max(t.Size, 1))
	}
	sort.Slice(s.byAddr, func(i, j int) bool { return targets[s.byAddr[i]].Address < targets[s.byAddr[j]].Address })
	return s
}

// warnOnce records a warning once per key.
func (s *searcher) warnOnce(key string, format string, args ...any) {
	if _, dup := s.warned.LoadOrStore(key, true); dup {
		return
	}
	s.mu.Lock()
	s.warnings = append(s.warnings, fmt.Sprintf(format, args...))
	s.mu.Unlock()
}

// matchesOf lists the targets a value x (a pointer to an object of size
// n, or an object of size n at x) relates to.
func (s *searcher) matchesOf(x, n uint64, pointer bool) []match {
	if x == 0 {
		return nil
	}
	n = max(n, 1)
	lo := uint64(0)
	if x > s.maxSize {
		lo = x - s.maxSize
	}
	i := sort.Search(len(s.byAddr), func(i int) bool { return s.targets[s.byAddr[i]].Address >= lo })
	var out []match
	for ; i < len(s.byAddr); i++ {
		ti := s.byAddr[i]
		t := s.targets[ti]
		if t.Address >= x+n {
			break
		}
		switch {
		case t.Address == x && pointer:
			out = append(out, match{target: ti, rel: PointsTo, value: x})
		case t.Address == x:
			out = append(out, match{target: ti, rel: Is, value: x})
		case x > t.Address && x < t.end():
			out = append(out, match{target: ti, rel: PointsInto, value: x, offset: int64(x - t.Address)})
		case t.Address > x && t.Address < x+n:
			out = append(out, match{target: ti, rel: Contains, value: x, offset: int64(t.Address - x)})
		}
	}
	return out
}

// exact lists the targets whose address is exactly x.
func (s *searcher) exact(x uint64) []int {
	i := sort.Search(len(s.byAddr), func(i int) bool { return s.targets[s.byAddr[i]].Address >= x })
	var out []int
	for ; i < len(s.byAddr) && s.targets[s.byAddr[i]].Address == x; i++ {
		out = append(out, s.byAddr[i])
	}
	return out
}

// inside lists the targets whose extent holds x.
func (s *searcher) inside(x uint64) []int {
	var out []int
	for _, m := range s.matchesOf(x, 1, true) {
		if m.rel == PointsTo || m.rel == PointsInto {
			out = append(out, m.target)
		}
	}
	return out
}

func (s *searcher) expired() bool {
	if s.late.Load() {
		return true
	}
	if time.Now().After(s.deadline) {
		s.late.Store(true)
		return true
	}
	return false
}

func (s *searcher) bounds() []BoundHit {
	var out []BoundHit
	if n := s.depthCut.Load(); n > 0 {
		out = append(out, boundHit("depth", int(n), l10n.T("holder.bound-depth", "N", int(n), "Max", s.o.MaxDepth)))
	}
	if n := s.objectCut.Load(); n > 0 {
		out = append(out, boundHit("objects", int(n), l10n.T("holder.bound-objects", "N", int(n), "Max", s.o.MaxObjects)))
	}
	if n := s.elementCut.Load(); n > 0 {
		out = append(out, boundHit("elements", int(n), l10n.T("holder.bound-elements", "N", int(n), "Max", s.o.MaxElements)))
	}
	if s.late.Load() {
		out = append(out, boundHit("time", 1, l10n.T("holder.bound-time", "After", s.o.Timeout.String())))
	}
	return out
}
