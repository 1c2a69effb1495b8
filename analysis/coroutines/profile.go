// Package coroutines finds the stackful coroutines of a libgo-style runtime
// in a core: every Processer (one per OS thread) and every Task, with its
// state, where it was created and its stack, unwound from the saved
// context like a thread's. What the runtime looks like is a Profile (YAML),
// so a fork with other names needs a profile, not code.
package coroutines

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/viper"
)

// Profile names the runtime's types, fields, roots and context layout.
// Field paths are dotted member names ("ctx_.ctx_"); offsets come from
// DWARF.
type Profile struct {
	Name string `mapstructure:"name"`

	// Roots are the symbols of Scheduler objects; a leading "*" means the
	// symbol is a pointer to one ("*coroutine_sched").
	Roots []string `mapstructure:"roots"`

	SchedulerType string `mapstructure:"scheduler_type"`
	// Processers is the scheduler's container of Processer pointers.
	Processers     string `mapstructure:"processers"`
	ProcessersKind string `mapstructure:"processers_kind"` // "deque" (libstdc++ std::deque) or "vector"
	TaskCount      string `mapstructure:"task_count"`

	ProcesserType string `mapstructure:"processer_type"`
	ProcesserID   string `mapstructure:"processer_id"`
	Running       string `mapstructure:"running"`
	// Queues maps a queue field of the Processer to the state its tasks
	// are in ("runnable", "block", "new", "done").
	Queues map[string]string `mapstructure:"queues"`
	// QueueHead/QueueNext/QueueCount: the intrusive queue's dummy head
	// pointer, the hook's next link, the element count.
	QueueHead  string `mapstructure:"queue_head"`
	QueueNext  string `mapstructure:"queue_next"`
	QueueCount string `mapstructure:"queue_count"`
	HookType   string `mapstructure:"hook_type"` // the queue hook base class of Task

	TaskType  string `mapstructure:"task_type"`
	TaskID    string `mapstructure:"task_id"`
	TaskState string `mapstructure:"task_state"`
	TaskProc  string `mapstructure:"task_proc"`
	TaskSP    string `mapstructure:"task_sp"` // the saved stack pointer of a switched-out task
	TaskStack string `mapstructure:"task_stack"`
	TaskSize  string `mapstructure:"task_stack_size"`
	// States names the state enum's values when DWARF does not (or to
	// rename them): {0: runnable, 1: block, 2: done}.
	States   map[int64]string `mapstructure:"states"`
	TaskFunc string           `mapstructure:"task_func"` // optional: created-at function (const char*)
	TaskFile string           `mapstructure:"task_file"`
	TaskLine string           `mapstructure:"task_line"`

	// CurrentProcesser is the thread-local pointer to the thread's
	// Processer; SchedulerContext the thread-local saved context of the
	// scheduler (the stack pointer it switched from).
	CurrentProcesser string `mapstructure:"current_processer"`
	SchedulerContext string `mapstructure:"scheduler_context"`

	// Layout of a saved context at its stack pointer SP: register → offset;
	// "rsp" is the resumed stack pointer's offset from SP.
	Layout map[string]int `mapstructure:"layout"`
	// SwitchFunctions are the context switch routines (for the scan).
	SwitchFunctions []string `mapstructure:"switch_functions"`
	// EntryTrampoline is the symbol whose frame ends a task's stack.
	EntryTrampoline string `mapstructure:"entry_trampoline"`
}

// boostLayout is the fcontext layout of Boost 1.65–1.80 (Debian 12's 1.74)
// and of libgo's copy of it.
var boostLayout = map[string]int{"r12": 0x08, "r13": 0x10, "r14": 0x18, "r15": 0x20, "rbx": 0x28, "rbp": 0x30, "rip": 0x38, "rsp": 0x40}

// boost181Layout is Boost 1.81+'s, with a stack-guard slot.
var boost181Layout = map[string]int{"r12": 0x10, "r13": 0x18, "r14": 0x20, "r15": 0x28, "rbx": 0x30, "rbp": 0x38, "rip": 0x40, "rsp": 0x48}

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
		SwitchFunctions:  []string{"jump_fcontext", "libgo_jump_fcontext", "swapcontext"},
		EntryTrampoline:  "make_fcontext",
	}
}

func cephDSE() Profile {
	p := libgoV3()
	p.Name = "ceph-dse"
	p.Roots = []string{"*coroutine_sched", "co::Scheduler::getInstance()::obj"}
	p.TaskFunc, p.TaskFile, p.TaskLine = "opt_.func_", "opt_.file_", "opt_.lineno_"
	return p
}

// Builtin profiles by name. "ceph-dse" is ceph-dse's fork (and the
// fixture): libgo v3 plus the created-at fields of its TaskOpt and the
// coroutine_sched global.
func Builtin() map[string]Profile {
	b181 := cephDSE()
	b181.Name = "ceph-dse-boost181"
	b181.Layout = boost181Layout
	return map[string]Profile{"libgo-v3": libgoV3(), "ceph-dse": cephDSE(), "ceph-dse-boost181": b181}
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

// DefaultProfile is the profile used when none is named.
const DefaultProfile = "ceph-dse"

// LoadProfile returns a built-in profile by name, or reads a YAML file. A
// file may name a built-in profile as its base ("base: libgo-v3") and
// override only what differs.
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
	v := viper.New()
	v.SetConfigFile(nameOrPath)
	if !strings.HasSuffix(nameOrPath, ".yaml") && !strings.HasSuffix(nameOrPath, ".yml") {
		v.SetConfigType("yaml")
	}
	if err := v.ReadInConfig(); err != nil {
		return nil, fmt.Errorf("profile %s: %w", nameOrPath, err)
	}
	base := cephDSE()
	if b := v.GetString("base"); b != "" {
		bp, ok := Builtin()[b]
		if !ok {
			return nil, fmt.Errorf("profile %s: unknown base %q", nameOrPath, b)
		}
		base = bp
	}
	p := base
	if v.IsSet("layout") {
		p.Layout = map[string]int{} // a layout is replaced whole, never merged
	}
	if v.IsSet("queues") {
		p.Queues = map[string]string{}
	}
	if err := v.Unmarshal(&p); err != nil {
		return nil, fmt.Errorf("profile %s: %w", nameOrPath, err)
	}
	if p.Name == base.Name {
		p.Name = nameOrPath
	}
	for _, r := range []string{"rip", "rsp"} {
		if _, ok := p.Layout[r]; !ok {
			return nil, fmt.Errorf("profile %s: layout has no %s", nameOrPath, r)
		}
	}
	return &p, nil
}
