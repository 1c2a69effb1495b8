package gdboracle

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// Val is a value as gdb reads it, in a form that compares without
// formatting: exactly one of the fields says what it is.
type Val struct {
	OptimizedOut bool     `json:"o,omitempty"` // gdb: <optimized out>
	Int          *uint64  `json:"i,omitempty"` // integers, enums, bool, char (sign-extended to 64 bits), pointers, a reference's address
	Float        *float64 `json:"f,omitempty"`
	Members      []Member `json:"m,omitempty"` // structs, classes, unions: base classes first, then the data members (no static ones)
	Elems        []Val    `json:"a,omitempty"` // an array's first elements
	Shallow      bool     `json:"s,omitempty"` // a struct past the depth: not compared
	Err          string   `json:"e,omitempty"` // gdb could not read it (<error: Cannot access memory …>)
	Other        string   `json:"x,omitempty"` // a type the comparison leaves aside (functions, void): its gdb type code
	Type         string   `json:"t,omitempty"` // gdb's name of the type, for messages
}

// Member is one member of a struct value.
type Member struct {
	Name string `json:"n"`
	Base bool   `json:"b,omitempty"`
	Val  Val    `json:"v"`
}

// Var is one argument or local variable.
type Var struct {
	Name string `json:"n"`
	Val  Val    `json:"v"`
}

// VarFrame is one frame's arguments and locals as `info args` and `info
// locals` list them: locals of the innermost block first, up to the
// function's (or the inlined function's) block.
type VarFrame struct {
	PC     uint64 `json:"pc"`
	Name   string `json:"name"`
	Type   string `json:"type"`
	Args   []Var  `json:"args"`
	Locals []Var  `json:"locals"`
	NoSyms bool   `json:"nosyms,omitempty"` // gdb has no block for the frame (no DWARF): nothing to compare
}

// VarStack is the frames of one thread or one task.
type VarStack struct {
	LWP    int        `json:"lwp,omitempty"`
	Task   *int64     `json:"task,omitempty"` // a coroutine task, shown through the gdb bridge's task unwinder
	Error  string     `json:"error,omitempty"`
	Frames []VarFrame `json:"frames"`
}

// ValueOptions say how deep gdb reads values and whether tasks are read.
type ValueOptions struct {
	Options
	// Depth is how many levels of struct members are read (default 3).
	Depth int
	// Elems is how many elements of an array are read (default 4).
	Elems int
	// MaxFrames bounds the frames of one stack (default 256).
	MaxFrames int
	// Bridge is gdbscript/dsecore.py and Dsecore the dsecore binary it runs:
	// when set, every task with a saved context is shown with the bridge's
	// task unwinder (`dse task N`) and its frames read as a thread's.
	Bridge, Dsecore string
	// Tasks, when not nil, limits the tasks read to these ids.
	Tasks []int64
}

const valuesScript = `
import gdb, json, os
M = 0xffffffffffffffff
DEPTH = int(os.environ["GDBORACLE_DEPTH"])
ELEMS = int(os.environ["GDBORACLE_ELEMS"])
MAXF = int(os.environ["GDBORACLE_MAXF"])
types = {gdb.NORMAL_FRAME: "NORMAL", gdb.INLINE_FRAME: "INLINE", gdb.SIGTRAMP_FRAME: "SIGTRAMP",
         gdb.DUMMY_FRAME: "DUMMY", gdb.TAILCALL_FRAME: "TAILCALL", gdb.ARCH_FRAME: "ARCH"}
SCALAR = (gdb.TYPE_CODE_INT, gdb.TYPE_CODE_ENUM, gdb.TYPE_CODE_BOOL, gdb.TYPE_CODE_CHAR, gdb.TYPE_CODE_PTR)

def ser(v, d):
    out = {}
    try:
        out["t"] = str(v.type)
    except Exception:
        pass
    try:
        if v.is_optimized_out:
            out["o"] = True
            return out
        t = v.type.strip_typedefs()
        c = t.code
        if c in (gdb.TYPE_CODE_REF, gdb.TYPE_CODE_RVALUE_REF):
            a = v.referenced_value().address
            if a is None:
                out["x"] = "reference to a value not in memory"
            else:
                out["i"] = int(a) & M
        elif c == gdb.TYPE_CODE_PTR and str(v).startswith("<synthetic pointer>"):
            # DW_OP_implicit_pointer: there is no address to compare
            out["e"] = "<synthetic pointer>"
        elif c in SCALAR:
            out["i"] = int(v) & M
        elif c == gdb.TYPE_CODE_FLT:
            out["f"] = float(v)
        elif c in (gdb.TYPE_CODE_STRUCT, gdb.TYPE_CODE_UNION):
            if d >= DEPTH:
                out["s"] = True
                return out
            ms = []
            for f in t.fields():
                if not hasattr(f, "bitpos"):
                    continue  # a static member
                try:
                    fv = v[f]
                    m = ser(fv, d + 1)
                except gdb.error as e:
                    m = {"e": str(e)}
                ms.append({"n": f.name or "", "b": bool(f.is_base_class), "v": m})
            out["m"] = ms
        elif c == gdb.TYPE_CODE_ARRAY:
            lo, hi = t.range()
            out["a"] = [ser(v[lo + i], d + 1) for i in range(min(hi - lo + 1, ELEMS))]
        else:
            out["x"] = str(c)
    except gdb.MemoryError as e:
        out["e"] = str(e)
    except gdb.error as e:
        out["e"] = str(e)
    return out

def frame_vars(f):
    fr = {"pc": f.pc(), "name": f.name() or "", "type": types.get(f.type(), str(f.type())), "args": [], "locals": []}
    try:
        b = f.block()
    except RuntimeError:
        fr["nosyms"] = True
        return fr
    while b is not None:
        fn = b.function is not None
        for s in b:
            if s.is_argument:
                if fn:
                    fr["args"].append({"n": s.print_name, "v": val(s, f)})
            elif (s.is_variable or s.is_constant) and str(s.type) != "__CORE_ADDR":
                # (a label without an address, a goto target the compiler
                # dropped, is an optimized-out "local" of type __CORE_ADDR
                # to gdb: not a variable)
                fr["locals"].append({"n": s.print_name, "v": val(s, f)})
        if fn:
            break
        b = b.superblock
    return fr

def val(s, f):
    try:
        return ser(s.value(f), 0)
    except gdb.MemoryError as e:
        return {"e": str(e)}
    except gdb.error as e:
        return {"e": str(e)}

def stack(f, n):
    frames = []
    while f is not None and len(frames) < n:
        frames.append(frame_vars(f))
        try:
            f = f.older()
        except gdb.error:
            break
    return frames

out = []
for th in sorted(gdb.selected_inferior().threads(), key=lambda t: t.num):
    th.switch()
    out.append({"lwp": th.ptid[1], "frames": stack(gdb.newest_frame(), MAXF)})

if os.environ.get("GDBORACLE_TASKS") == "1":
    import dsecore  # the loader: registers the bridge's commands and unwinder
    from dsecore_gdb.bridge import BRIDGE
    from dsecore_gdb.tasks import select_task, task_top_level, deselect_task
    only = os.environ.get("GDBORACLE_TASK_IDS")
    only = set(int(x) for x in only.split(",")) if only else None
    for t in BRIDGE.inspect().get("tasks") or []:
        if t.get("id", -1) < 0 or not t.get("saved_regs") or t.get("running"):
            continue
        if only is not None and t["id"] not in only:
            continue
        ent = {"task": t["id"], "frames": []}
        try:
            select_task(t)
            f = gdb.newest_frame()
            lvl = task_top_level()
            while f is not None and f.level() < lvl:
                f = f.older()
            ent["frames"] = stack(f, MAXF)
        except (gdb.error, gdb.GdbError) as e:
            ent["error"] = str(e)
        out.append(ent)
    deselect_task()

with open(os.environ["GDBORACLE_OUT"], "w") as fh:
    json.dump(out, fh)
`

// FrameVariables has gdb read the arguments and locals of every frame of
// every thread and, with o.Bridge, of every task with a saved context
// (through the bridge's task unwinder, gdb's own CFI from the saved
// registers): each value read with gdb's Python API (Symbol.value(frame),
// what `info args` and `info locals` print), structs member by member to
// o.Depth.
func FrameVariables(exe, core string, o ValueOptions) ([]VarStack, error) {
	if o.Depth == 0 {
		o.Depth = 3
	}
	if o.Elems == 0 {
		o.Elems = 4
	}
	if o.MaxFrames == 0 {
		o.MaxFrames = 256
	}
	env := []string{"GDBORACLE_DEPTH=" + strconv.Itoa(o.Depth), "GDBORACLE_ELEMS=" + strconv.Itoa(o.Elems),
		"GDBORACLE_MAXF=" + strconv.Itoa(o.MaxFrames)}
	if o.Bridge != "" {
		if _, err := os.Stat(o.Bridge); err != nil {
			return nil, fmt.Errorf("the gdb bridge: %w", err)
		}
		env = append(env, "GDBORACLE_TASKS=1", "DSECORE="+o.Dsecore)
		// `import dsecore` in the script: the bridge's loader as a module
		// (its commands and the unwinder register when it loads; it puts
		// its directory, with the package dsecore_gdb, on sys.path).
		env = append(env, "PYTHONPATH="+filepath.Dir(o.Bridge))
		if len(o.Tasks) > 0 {
			ids := ""
			for i, id := range o.Tasks {
				if i > 0 {
					ids += ","
				}
				ids += strconv.FormatInt(id, 10)
			}
			env = append(env, "GDBORACLE_TASK_IDS="+ids)
		}
	}
	var stacks []VarStack
	if err := runScript(exe, core, o.Options, valuesScript, env, &stacks); err != nil {
		return nil, err
	}
	return stacks, nil
}
