// Package coroutines finds the stackful coroutines of a libgo-style runtime
// in a core: every Processer (one per OS thread) and every Task, with its
// state, where it was created and its stack, unwound from the saved
// context like a thread's. What the runtime looks like is a Profile (YAML),
// so a fork with other names needs a profile, not code.
package coroutines

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/dsecore/dsecore/coreparse/unwind"
	"github.com/dsecore/dsecore/internal/yamlfile"
	"github.com/goccy/go-yaml"
)

// Profile names the runtime's types, fields, roots and context layout.
// Field paths are dotted member names ("ctx_.ctx_"); offsets come from
// DWARF. The yaml tags are the profile file's keys, in the order a
// written profile lists them.
type Profile struct {
	Name string `yaml:"name"`

	// Roots are the symbols of Scheduler objects; a leading "*" means the
	// symbol is a pointer to one ("*coroutine_sched").
	Roots []string `yaml:"roots,flow"`

	SchedulerType string `yaml:"scheduler_type"`
	// Processers is the scheduler's container of Processer pointers.
	Processers     string `yaml:"processers"`
	ProcessersKind string `yaml:"processers_kind"` // "deque" (libstdc++ std::deque) or "vector"
	TaskCount      string `yaml:"task_count"`

	ProcesserType string `yaml:"processer_type"`
	ProcesserID   string `yaml:"processer_id"`
	Running       string `yaml:"running"`
	// Queues maps a queue field of the Processer to the state its tasks
	// are in ("runnable", "block", "new", "done").
	Queues map[string]string `yaml:"queues,flow"`
	// QueueHead/QueueNext/QueueCount: the intrusive queue's dummy head
	// pointer, the hook's next link, the element count.
	QueueHead  string `yaml:"queue_head"`
	QueueNext  string `yaml:"queue_next"`
	QueueCount string `yaml:"queue_count"`
	HookType   string `yaml:"hook_type"` // the queue hook base class of Task

	TaskType  string `yaml:"task_type"`
	TaskID    string `yaml:"task_id"`
	TaskState string `yaml:"task_state"`
	TaskProc  string `yaml:"task_proc"`
	TaskSP    string `yaml:"task_sp"` // the saved stack pointer of a switched-out task
	TaskStack string `yaml:"task_stack"`
	TaskSize  string `yaml:"task_stack_size"`
	// TaskStackGuard is how many bytes at task_stack lie below the usable
	// stack (a guard page the runtime maps first: 4096 in ceph-dse's fork;
	// libgo protects pages inside the stack it allocates: 0).
	TaskStackGuard int64 `yaml:"task_stack_guard"`
	// States names the state enum's values when DWARF does not (or to
	// rename them): {0: runnable, 1: block, 2: done}.
	States   map[int64]string `yaml:"states,flow"`
	TaskFunc string           `yaml:"task_func"` // optional: created-at function (const char*)
	TaskFile string           `yaml:"task_file"`
	TaskLine string           `yaml:"task_line"`

	// CurrentProcesser is the thread-local pointer to the thread's
	// Processer; SchedulerContext the thread-local saved context of the
	// scheduler (the stack pointer it switched from).
	CurrentProcesser string `yaml:"current_processer"`
	SchedulerContext string `yaml:"scheduler_context"`

	// Layout of a saved context at its stack pointer SP: register → offset;
	// "rsp" is the resumed stack pointer's offset from SP.
	Layout Layout `yaml:"layout"`
	// SwitchFunctions are the context switch routines (for the scan).
	SwitchFunctions []string `yaml:"switch_functions,flow"`
	// EntryTrampoline is the symbol whose frame ends a task's stack.
	EntryTrampoline string `yaml:"entry_trampoline"`

	// The sync primitives (libgo's routine_sync), for dsecore waits; all
	// optional (sync.go). RutexType holds a queue of waiters: RutexWaiters
	// is the member path of its first waiter's link; a waiter (WaiterType,
	// on the waiting stack) links the next by WaiterNext and points to the
	// Rutex it is queued on by WaiterRutex. SyncTypes maps each primitive
	// type (a class template's name stands for its instantiations; types
	// deriving from one are that primitive too) to its kind: co_mutex,
	// co_rwmutex, co_condvar, co_chan. RWMutexWriters is the co_rwmutex's
	// Rutex its writers wait on.
	RutexType      string            `yaml:"rutex_type"`
	RutexWaiters   string            `yaml:"rutex_waiters"`
	WaiterType     string            `yaml:"waiter_type"`
	WaiterNext     string            `yaml:"waiter_next"`
	WaiterRutex    string            `yaml:"waiter_rutex"`
	SyncTypes      map[string]string `yaml:"sync_types,flow"`
	RWMutexWriters string            `yaml:"rwmutex_writers"`

	// Source is where the profile came from: "built-in", or the file.
	Source string `yaml:"-"`
}

// DefaultProfile is the profile used when none is named.
const DefaultProfile = "ceph-dse"

// boostLayout is the fcontext layout of Boost 1.65–1.80 (Debian 12's 1.74)
// and of libgo's copy of Boost's older, push-based switch (the same slots).
var boostLayout = Layout{"r12": 0x08, "r13": 0x10, "r14": 0x18, "r15": 0x20, "rbx": 0x28, "rbp": 0x30, "rip": 0x38, "rsp": 0x40}

// boost181Layout is Boost 1.81+'s, with a stack-guard slot.
var boost181Layout = Layout{"r12": 0x10, "r13": 0x18, "r14": 0x20, "r15": 0x28, "rbx": 0x30, "rbp": 0x38, "rip": 0x40, "rsp": 0x48}

// libgoV3 is upstream libgo v3 (github.com/yyzybb537/libgo): its own copy
// of Boost.Context's assembly, renamed libgo_jump_fcontext and
// libgo_make_fcontext; stacks from malloc with the protected pages inside.
func libgoV3() Profile {
	return Profile{
		Name:          "libgo-v3",
		Roots:         []string{"co::Scheduler::getInstance()::obj"},
		SchedulerType: "co::Scheduler", Processers: "processers_", ProcessersKind: "deque", TaskCount: "taskCount_",
		ProcesserType: "co::Processer", ProcesserID: "id_", Running: "runningTask_",
		Queues:    map[string]string{"runnableQueue_": "runnable", "waitQueue_": "block", "newQueue_": "new", "gcQueue_": "done"},
		QueueHead: "head_", QueueNext: "next", QueueCount: "count_", HookType: "co::TSQueueHook",
		TaskType: "co::Task", TaskID: "id_", TaskState: "state_", TaskProc: "proc_", TaskSP: "ctx_.ctx_",
		TaskStack: "ctx_.stack_", TaskSize: "ctx_.stackSize_",
		CurrentProcesser: "co::Processer::GetCurrentProcesser()::proc",
		SchedulerContext: "co::Context::GetTlsContext()::tls_context",
		Layout:           boostLayout,
		SwitchFunctions:  []string{"libgo_jump_fcontext", "jump_fcontext", "swapcontext"},
		EntryTrampoline:  "libgo_make_fcontext",
	}.withLibgoSync()
}

// cephDSE is ceph-dse's fork: libgo v3 linked with the system's
// Boost.Context (jump_fcontext, make_fcontext), mmap'd stacks with a guard
// page below, the created-at fields of its TaskOpt and the coroutine_sched
// global.
func cephDSE() Profile {
	p := libgoV3()
	p.Name = "ceph-dse"
	p.Roots = []string{"*coroutine_sched", "co::Scheduler::getInstance()::obj"}
	p.TaskFunc, p.TaskFile, p.TaskLine = "opt_.func_", "opt_.file_", "opt_.lineno_"
	p.TaskStackGuard = 4096
	p.SwitchFunctions = []string{"jump_fcontext", "libgo_jump_fcontext", "swapcontext"}
	p.EntryTrampoline = "make_fcontext"
	return p
}

// Builtin profiles by name. "ceph-dse" is ceph-dse's fork (and the
// fixture); "libgo-v3" upstream libgo.
func Builtin() map[string]Profile {
	b181 := cephDSE()
	b181.Name = "ceph-dse-boost181"
	b181.Layout = boost181Layout
	out := map[string]Profile{"libgo-v3": libgoV3(), "ceph-dse": cephDSE(), "ceph-dse-boost181": b181}
	for k, p := range out {
		p.Source = "built-in"
		out[k] = p
	}
	return out
}

// BuiltinNames lists the built-in profiles.
func BuiltinNames() []string {
	var n []string
	for k := range Builtin() {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Describe names a profile as the faces report it: "ceph-dse (built-in)",
// "my-fork (/etc/dsecore/fork.yaml)".
func (p *Profile) Describe() string {
	if p.Source == "" {
		return p.Name
	}
	return p.Name + " (" + p.Source + ")"
}

// clone copies a profile, its maps and lists included.
func (p Profile) clone() Profile {
	q := p
	q.Roots = append([]string(nil), p.Roots...)
	q.SwitchFunctions = append([]string(nil), p.SwitchFunctions...)
	q.Queues = cloneMap(p.Queues)
	q.Layout = cloneMap(p.Layout)
	q.States = cloneMap(p.States)
	q.SyncTypes = cloneMap(p.SyncTypes)
	return q
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return nil
	}
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// LoadProfile returns a built-in profile by name, or reads a YAML file. A
// file may name a built-in profile (or another file, relative to it) as its
// base ("base: libgo-v3") and override only what differs; without one its
// base is ceph-dse. Maps (queues, layout, states) are replaced whole.
func LoadProfile(nameOrPath string) (*Profile, error) {
	if nameOrPath == "" {
		nameOrPath = DefaultProfile
	}
	if p, ok := Builtin()[nameOrPath]; ok {
		return &p, nil
	}
	if _, err := os.Stat(nameOrPath); err != nil {
		return nil, fmt.Errorf("profile %q: not a built-in profile (%s) and not a file: %w", nameOrPath, strings.Join(BuiltinNames(), ", "), err)
	}
	return loadFile(nameOrPath, 0)
}

func loadFile(path string, depth int) (*Profile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", path, err)
	}
	return parseProfile(data, path, depth)
}

// ParseProfile reads a profile from YAML; file names it in errors (and
// anchors a base given as a relative path).
func ParseProfile(data []byte, file string) (*Profile, error) {
	return parseProfile(data, file, 0)
}

// profileKeys are the keys a profile file may have, in struct order.
func profileKeys() []string { return yamlfile.Keys(Profile{}) }

func parseProfile(data []byte, file string, depth int) (*Profile, error) {
	f, err := yamlfile.ParseFields("profile", file, data, append([]string{"base"}, profileKeys()...))
	if err != nil {
		return nil, err
	}
	if f.Len() == 0 {
		return nil, fmt.Errorf("profile %s: empty (a profile is a YAML mapping: base: libgo-v3, running: …)", file)
	}
	base := cephDSE()
	if f.Has("base") {
		var name string
		if !f.Decode("base", &name) || name == "" {
			return nil, fmt.Errorf("profile %s: line %d: base: a built-in profile (%s) or a profile file", file, f.Line("base"), strings.Join(BuiltinNames(), ", "))
		}
		if bp, ok := Builtin()[name]; ok {
			base = bp
		} else {
			path := name
			if !filepath.IsAbs(path) {
				path = filepath.Join(filepath.Dir(file), path)
			}
			if _, err := os.Stat(path); err != nil {
				return nil, fmt.Errorf("profile %s: line %d: base: %q is not a built-in profile (%s) and not a file", file, f.Line("base"), name, strings.Join(BuiltinNames(), ", "))
			}
			if depth > 8 {
				return nil, fmt.Errorf("profile %s: line %d: base: profiles based on each other in a loop", file, f.Line("base"))
			}
			bp, err := loadFile(path, depth+1)
			if err != nil {
				return nil, fmt.Errorf("profile %s: line %d: base: %w", file, f.Line("base"), err)
			}
			base = *bp
		}
	}
	p := base.clone()
	// A map given in the file replaces the base's whole, never merges.
	for k, ptr := range map[string]any{"queues": &p.Queues, "layout": &p.Layout, "states": &p.States, "sync_types": &p.SyncTypes} {
		if f.Has(k) {
			reflect.ValueOf(ptr).Elem().SetZero()
		}
	}
	// Field by field, so that an error names its key and the member and
	// type names are taken as written (case kept).
	f.DecodeStruct(&p)
	if err := f.Err(); err != nil {
		return nil, err
	}
	p.normalize()
	if !f.Has("name") {
		p.Name = file
	}
	p.Source = file
	p.validate(f)
	if err := f.Err(); err != nil {
		return nil, err
	}
	return &p, nil
}

// normalize makes empty maps and lists nil, so that a profile read back
// from what it wrote is equal to it.
func (p *Profile) normalize() {
	if len(p.Roots) == 0 {
		p.Roots = nil
	}
	if len(p.SwitchFunctions) == 0 {
		p.SwitchFunctions = nil
	}
	if len(p.Queues) == 0 {
		p.Queues = nil
	}
	if len(p.Layout) == 0 {
		p.Layout = nil
	}
	if len(p.States) == 0 {
		p.States = nil
	}
	if len(p.SyncTypes) == 0 {
		p.SyncTypes = nil
	}
}

var (
	memberPath = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)
	})
	typeName = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^(::)?[A-Za-z_][A-Za-z0-9_]*(::[A-Za-z_~][A-Za-z0-9_]*|<[^;{}]*>)*$`)
	})
)

// The states a queue may put its tasks in, beside those a states map names.
var queueStates = []string{"runnable", "block", "new", "done"}

// validate checks the profile's values (not yet against a core): member
// paths, type names, states, the layout, each complaint at its key's line
// in the file ("queues.waitQueue_").
func (p *Profile) validate(f *yamlfile.Fields) {
	path := func(key, v string, required bool) {
		switch {
		case v == "" && required:
			f.ErrorAt(key, key, "required (a member path such as \"ctx_.ctx_\")")
		case v != "" && !memberPath().MatchString(v):
			f.ErrorAt(key, key, "%q is not a member path (C++ member names joined by dots)", v)
		}
	}
	typ := func(key, v string) {
		switch {
		case v == "":
			f.ErrorAt(key, key, "required (a qualified C++ type name such as \"co::Task\")")
		case !typeName().MatchString(v) || strings.Count(v, "<") != strings.Count(v, ">"):
			f.ErrorAt(key, key, "%q is not a C++ type name", v)
		}
	}
	typ("scheduler_type", p.SchedulerType)
	typ("processer_type", p.ProcesserType)
	typ("task_type", p.TaskType)
	typ("hook_type", p.HookType)
	path("processers", p.Processers, true)
	path("task_count", p.TaskCount, false)
	path("processer_id", p.ProcesserID, true)
	path("running", p.Running, true)
	path("queue_head", p.QueueHead, true)
	path("queue_next", p.QueueNext, true)
	path("queue_count", p.QueueCount, false)
	path("task_id", p.TaskID, true)
	path("task_state", p.TaskState, true)
	path("task_proc", p.TaskProc, false)
	path("task_sp", p.TaskSP, true)
	path("task_stack", p.TaskStack, false)
	path("task_stack_size", p.TaskSize, false)
	path("task_func", p.TaskFunc, false)
	path("task_file", p.TaskFile, false)
	path("task_line", p.TaskLine, false)
	if p.ProcessersKind != "deque" && p.ProcessersKind != "vector" {
		f.ErrorAt("processers_kind", "processers_kind", "%q: deque (std::deque) or vector (std::vector)", p.ProcessersKind)
	}
	if p.TaskStackGuard < 0 || p.TaskStackGuard > 1<<20 {
		f.ErrorAt("task_stack_guard", "task_stack_guard", "%d bytes: between 0 and 1 MiB", p.TaskStackGuard)
	}
	if len(p.Roots) == 0 {
		f.ErrorAt("roots", "roots", "at least one symbol of a scheduler (\"*name\": a pointer to one)")
	}
	for _, r := range p.Roots {
		if strings.TrimPrefix(r, "*") == "" {
			f.ErrorAt("roots", "roots", "an empty symbol name")
		}
	}
	states := map[string]bool{}
	for _, s := range queueStates {
		states[s] = true
	}
	for v, s := range p.States {
		if s == "" {
			f.ErrorAt("states", "states", "value %d has an empty name", v)
		}
		states[s] = true
	}
	if len(p.Queues) == 0 {
		f.ErrorAt("queues", "queues", "required: the Processer's queue members and the state of their tasks, e.g. {runnableQueue_: runnable, waitQueue_: block}")
	}
	for _, q := range sortedKeys(p.Queues) {
		key := "queues." + q
		if !memberPath().MatchString(q) || strings.Contains(q, ".") {
			f.ErrorAt(key, "queues", "%q is not a member name", q)
		}
		if st := p.Queues[q]; !states[st] {
			f.ErrorAt(key, key, "state %q: one of %s (or a name the states map gives)", st, strings.Join(queueStates, ", "))
		}
	}
	for _, r := range []string{"rip", "rsp"} {
		if _, ok := p.Layout[r]; !ok {
			f.ErrorAt("layout", "layout", "has no %s (the saved context's resume address and stack pointer offsets)", r)
		}
	}
	for _, r := range sortedKeys(p.Layout) {
		if r != "rsp" && unwind.RegNumber(r) < 0 {
			f.ErrorAt("layout."+r, "layout", "%q is not a register (rbx, rbp, r12…r15, rip, rsp)", r)
		}
		if off := p.Layout[r]; off < 0 || off >= 0x1000 {
			f.ErrorAt("layout."+r, "layout."+r, "offset %#x: between 0 and 0xfff", off)
		}
	}
	if len(p.SwitchFunctions) == 0 {
		f.ErrorAt("switch_functions", "switch_functions", "at least one context switch routine (jump_fcontext)")
	}
	if p.EntryTrampoline == "" {
		f.ErrorAt("entry_trampoline", "entry_trampoline", "required: the symbol whose frame ends a task's stack (make_fcontext)")
	}
	p.validateSync(f, path)
}

func sortedKeys[K interface{ ~string | ~int64 }, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// YAML writes the profile as a complete file: every key, in struct order,
// maps and lists in flow style, layout offsets in hex. comments, by key,
// become line comments ("running": "adapted: …"); header is written above
// as comment lines.
func (p *Profile) YAML(header string, comments map[string]string) ([]byte, error) {
	cm := yaml.CommentMap{}
	if header != "" {
		var lines []string
		for _, l := range strings.Split(header, "\n") {
			lines = append(lines, " "+l)
		}
		cm["$"] = []*yaml.Comment{yaml.HeadComment(lines...)}
	}
	for k, c := range comments {
		if c == "" {
			continue
		}
		c = " " + strings.ReplaceAll(c, "\n", " ")
		// go-yaml writes a line comment of a flow sequence between its key
		// and the colon: those get theirs above.
		if f, ok := reflect.TypeOf(*p).FieldByNameFunc(func(n string) bool {
			sf, _ := reflect.TypeOf(*p).FieldByName(n)
			return yamlfile.Key(sf) == k
		}); ok && f.Type.Kind() == reflect.Slice {
			cm["$."+k] = []*yaml.Comment{yaml.HeadComment(c)}
		} else {
			cm["$."+k] = []*yaml.Comment{yaml.LineComment(c)}
		}
	}
	out, err := yaml.MarshalWithOptions(p, yaml.Indent(2), yaml.WithComment(cm))
	if err != nil {
		return nil, err
	}
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	return out, nil
}

// Layout is a saved context's layout: register → offset from the saved
// stack pointer ("rsp": the resumed stack pointer's).
type Layout map[string]int

// MarshalYAML writes the offsets in hex, registers sorted: {r12: 0x8, …}.
func (l Layout) MarshalYAML() ([]byte, error) {
	var parts []string
	for _, k := range sortedKeys(l) {
		parts = append(parts, fmt.Sprintf("%s: %#x", k, l[k]))
	}
	return []byte("{" + strings.Join(parts, ", ") + "}"), nil
}

// Line is the profile line that sets one key to its value in this profile
// ("running: curTask_", "queues: {runnableQueue_: runnable, …}").
func (p *Profile) Line(key string) string {
	pv := reflect.ValueOf(*p)
	for i := 0; i < pv.NumField(); i++ {
		if yamlfile.Key(pv.Type().Field(i)) != key {
			continue
		}
		var opts []yaml.EncodeOption
		if k := pv.Field(i).Kind(); k == reflect.Map || k == reflect.Slice {
			opts = append(opts, yaml.Flow(true))
		}
		b, err := yaml.MarshalWithOptions(pv.Field(i).Interface(), opts...)
		if err != nil {
			return ""
		}
		return key + ": " + strings.TrimSpace(string(b))
	}
	return ""
}
