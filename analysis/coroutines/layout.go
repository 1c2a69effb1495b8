package coroutines

import (
	"reflect"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/symbols"
	"github.com/dsecore/dsecore/internal/yamlfile"
)

// A profile's member keys and what they resolve to, as data: memberKeys
// says of each key which struct its member is in, what shape the member
// must have and whether the walk needs it; the resolution (resolve.go,
// members.go) fills one field per key into the layout; the walk (walk.go)
// reads the core through the fields.

// field is where the member a key names lies in its struct, as the
// build's DWARF says: its offset (missing when the key did not resolve),
// its size in bytes (an integer's as declared, else the key's default)
// and its declared type (nil when unknown).
type field struct {
	Off, Size int64
	Type      *symbols.Type
}

// missing is the offset of a field whose key did not resolve.
const missing = -1

// ok says whether the field's key resolved.
func (f field) ok() bool { return f.Off != missing }

// memberKey is one of the profile's member keys, an index of memberKeys
// and of a layout's fields.
type memberKey int

const (
	keyProcessers memberKey = iota
	keyTaskCount
	keyProcesserID
	keyRunning
	keyQueueHead
	keyQueueCount
	keyQueueNext
	keyTaskID
	keyTaskState
	keyTaskProc
	keyTaskSP
	keyTaskStack
	keyTaskStackSize
	keyTaskFunc
	keyTaskFile
	keyTaskLine
	numMemberKeys
)

// structRole is which of the runtime's structs a member is in.
type structRole int

const (
	inScheduler structRole = iota
	inProcesser
	inQueue // a Processer's task queue
	inHook  // the task's queue hook base
	inTask
)

// shapeKind is what a member must be for its key (members.go's shapes).
type shapeKind int

const (
	shapePointer        shapeKind = iota // any pointer
	shapeProcessers                      // a container of Processer pointers
	shapePtrToTask                       // a pointer to a Task
	shapePtrToHook                       // a pointer to a queue hook
	shapePtrToProcesser                  // a pointer to a Processer
	shapeInteger                         // an integer
	shapeEnum                            // an enum or an integer
	shapeCString                         // a const char*
)

// memberKeyInfo describes a member key.
type memberKeyInfo struct {
	key      string // the profile key
	in       structRole
	shape    shapeKind
	required bool  // the walk cannot run without it
	size     int64 // bytes read when the DWARF does not say
}

// memberKeys are the profile's member keys, in the order they resolve.
var memberKeys = [numMemberKeys]memberKeyInfo{
	keyProcessers:    {"processers", inScheduler, shapeProcessers, true, 8},
	keyTaskCount:     {"task_count", inScheduler, shapeInteger, false, 4},
	keyProcesserID:   {"processer_id", inProcesser, shapeInteger, true, 4},
	keyRunning:       {"running", inProcesser, shapePtrToTask, true, 8},
	keyQueueHead:     {"queue_head", inQueue, shapePtrToHook, true, 8},
	keyQueueCount:    {"queue_count", inQueue, shapeInteger, false, 8},
	keyQueueNext:     {"queue_next", inHook, shapePtrToHook, true, 8},
	keyTaskID:        {"task_id", inTask, shapeInteger, true, 8},
	keyTaskState:     {"task_state", inTask, shapeEnum, true, 4},
	keyTaskProc:      {"task_proc", inTask, shapePtrToProcesser, false, 8},
	keyTaskSP:        {"task_sp", inTask, shapePointer, true, 8},
	keyTaskStack:     {"task_stack", inTask, shapePointer, false, 8},
	keyTaskStackSize: {"task_stack_size", inTask, shapeInteger, false, 8},
	keyTaskFunc:      {"task_func", inTask, shapeCString, false, 8},
	keyTaskFile:      {"task_file", inTask, shapeCString, false, 8},
	keyTaskLine:      {"task_line", inTask, shapeInteger, false, 4},
}

// memberPath is the profile's value of a member key (a member path), which
// the resolution may adapt in place.
func (p *Profile) memberPath(key string) *string {
	v := reflect.ValueOf(p).Elem()
	for i := 0; i < v.NumField(); i++ {
		if yamlfile.Key(v.Type().Field(i)) == key {
			return v.Field(i).Addr().Interface().(*string)
		}
	}
	panic("coroutines: no profile key " + key)
}

// layout is the resolved profile: where the walk reads the runtime's
// structures, from DWARF.
type layout struct {
	syms        *symbols.Table
	mod         *coreparse.Module
	hook, sched *symbols.Type
	// fields are the members of the member keys, by key.
	fields [numMemberKeys]field
	// queues are the Processer's queue members' offsets, by member.
	queues map[string]int64
	// hookBase is the offset of the queue hook base in the task.
	hookBase   int64
	stateNames map[int64]string
	stackGuard int64
	// runningCands: several pointers to a task could be the running one;
	// the core decides (decideRunning).
	runningCands []runningCand
}

type runningCand struct {
	name string
	off  int64
}
