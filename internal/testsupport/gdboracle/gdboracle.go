// Package gdboracle runs gdb on a core and returns what it sees, frame by
// frame, as data: the oracle of dsecore's differential tests.
//
// It uses gdb's Python API rather than parsing `bt` text: per thread, per
// frame, the pc gdb reports (the return address for callers), the function
// name, the frame type (normal, inline, signal trampoline) and the source
// line gdb attributes to the frame.
package gdboracle

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Frame is one frame as gdb sees it.
type Frame struct {
	PC   uint64 `json:"pc"`
	Name string `json:"name"` // gdb's frame.name(): "" when gdb has none ("??")
	Type string `json:"type"` // NORMAL, INLINE, SIGTRAMP, ...
	File string `json:"file"` // basename of the symtab file, "" when none
	Line int    `json:"line"`
	Stop string `json:"stop,omitempty"` // why gdb did not go further, on the last frame
	// Regs are the general registers as gdb reads them in the frame, in
	// DWARF order 0..16 (rax … r15, rip), nil where gdb says <not saved>:
	// only with Options.Registers.
	Regs     []*uint64 `json:"regs,omitempty"`
	Inline   bool      `json:"-"`
	Sigtramp bool      `json:"-"`
}

// Thread is one thread as gdb sees it.
type Thread struct {
	Num    int     `json:"num"`
	LWP    int     `json:"lwp"`
	Frames []Frame `json:"frames"`
}

const script = `
import gdb, json, os
types = {gdb.NORMAL_FRAME: "NORMAL", gdb.INLINE_FRAME: "INLINE", gdb.SIGTRAMP_FRAME: "SIGTRAMP",
         gdb.DUMMY_FRAME: "DUMMY", gdb.TAILCALL_FRAME: "TAILCALL", gdb.ARCH_FRAME: "ARCH"}
regs = ["rax","rdx","rcx","rbx","rsi","rdi","rbp","rsp","r8","r9","r10","r11","r12","r13","r14","r15","rip"]
want_regs = os.environ.get("GDBORACLE_REGS") == "1"
ulong = gdb.lookup_type("unsigned long")
out = []
for th in sorted(gdb.selected_inferior().threads(), key=lambda t: t.num):
    th.switch()
    frames = []
    f = gdb.newest_frame()
    while f is not None and len(frames) < 4096:
        sal = f.find_sal()
        fr = {"pc": f.pc(), "name": f.name() or "", "type": types.get(f.type(), str(f.type())),
              "file": os.path.basename(sal.symtab.filename) if sal.symtab else "", "line": sal.line or 0}
        if want_regs:
            rv = []
            for r in regs:
                try:
                    v = f.read_register(r)
                    rv.append(None if v.is_optimized_out else int(v.cast(ulong)))
                except Exception:
                    rv.append(None)
            fr["regs"] = rv
        frames.append(fr)
        try:
            older = f.older()
        except gdb.error as e:
            fr["stop"] = str(e)
            break
        if older is None:
            fr["stop"] = gdb.frame_stop_reason_string(f.unwind_stop_reason())
        f = older
    out.append({"num": th.num, "lwp": th.ptid[1], "frames": frames})
with open(os.environ["GDBORACLE_OUT"], "w") as fh:
    json.dump(out, fh)
`

// Options locate the files gdb needs beyond the executable and core.
type Options struct {
	SolibSearchPath []string
	Sysroot         string
	Timeout         time.Duration // default 10 minutes
	Registers       bool          // read every frame's general registers (Frame.Regs)
	Commands        []string      // more gdb commands before the script ("set backtrace past-main on")
	// InitCommands run before gdb loads the files (-iex): settings that
	// loading reads, such as "set debug-file-directory …".
	InitCommands []string
}

// Backtraces runs gdb in batch mode on exe and core and returns every thread.
func Backtraces(exe, core string, o Options) ([]Thread, error) {
	var threads []Thread
	var env []string
	if o.Registers {
		env = append(env, "GDBORACLE_REGS=1")
	}
	if err := runScript(exe, core, o, script, env, &threads); err != nil {
		return nil, err
	}
	for i := range threads {
		for j := range threads[i].Frames {
			f := &threads[i].Frames[j]
			f.Inline = f.Type == "INLINE"
			f.Sigtramp = f.Type == "SIGTRAMP"
		}
	}
	return threads, nil
}

// runScript runs gdb in batch mode on exe and core with a Python script
// that writes JSON to $GDBORACLE_OUT, and decodes it into out.
func runScript(exe, core string, o Options, py string, env []string, out any) error {
	if _, err := exec.LookPath("gdb"); err != nil {
		return fmt.Errorf("gdb is not installed (scripts/setup.sh installs it): %w", err)
	}
	dir, err := os.MkdirTemp("", "gdboracle-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	pyPath := filepath.Join(dir, "oracle.py")
	if err := os.WriteFile(pyPath, []byte(py), 0o644); err != nil {
		return err
	}
	outPath := filepath.Join(dir, "oracle.json")
	args := []string{"-nx", "-batch"}
	for _, c := range o.InitCommands {
		args = append(args, "-iex", c)
	}
	args = append(args, "-ex", "set pagination off", "-ex", "set width 0")
	if o.Sysroot != "" {
		args = append(args, "-ex", "set sysroot "+o.Sysroot)
	}
	if len(o.SolibSearchPath) > 0 {
		args = append(args, "-ex", "set solib-search-path "+strings.Join(o.SolibSearchPath, ":"))
	}
	for _, c := range o.Commands {
		args = append(args, "-ex", c)
	}
	key := memoKey(exe, core, append(append(append([]string{"script", py}, args...), "--"), env...)...)
	if b, ok := memoGet(key); ok {
		return json.Unmarshal(b, out)
	}
	args = append(args, "-ex", "source "+pyPath, exe, core)
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "gdb", args...)
	cmd.Env = append(append(os.Environ(), "GDBORACLE_OUT="+outPath), env...)
	var stderr bytes.Buffer
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("gdb %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	b, err := os.ReadFile(outPath)
	if err != nil {
		return fmt.Errorf("gdb wrote nothing (%v):\n%s", err, stderr.String())
	}
	if err := json.Unmarshal(b, out); err != nil {
		return err
	}
	memoPut(key, b)
	return nil
}

// NormalizeFunction is a function's name as the differential tests
// compare it with gdb's: without its argument list, the qualifiers after
// it (" const", "&") and an offset ("+0x1c"), in one spelling of C++'s
// integer types and spaces (g++'s DWARF says "long unsigned int" and
// "void()", gdb prints "unsigned long" and "void ()"), and nothing else:
// template arguments, namespaces, "(anonymous namespace)", operators and
// return types stay, so a name that lost any of them differs from gdb's.
// (gdb prints a DWARF function without its arguments, a minimal symbol
// with them.) Deliberately not the product's normalization (the crash
// signature's signature.Normalize): a normalizer that strips too much
// would hide the difference it is meant to find.
func NormalizeFunction(name string) string {
	return spelling(stripArguments(name))
}

// PlainFunction is NormalizeFunction without the return type a template
// function's demangled name starts with ("dm_obj_t* f<…>(…)" → "f<…>")
// and with "(anonymous namespace)" as "{anon}": the name as addr2line's
// two sources of names (DWARF, the demangled symbol) and gdb agree on it.
func PlainFunction(name string) string {
	n := strings.ReplaceAll(stripArguments(name), "(anonymous namespace)", "{anon}")
	if strings.Contains(n, "operator") {
		return spelling(n)
	}
	depth, cut := 0, -1
	for i := 0; i < len(n); i++ {
		switch n[i] {
		case '<':
			depth++
		case '>':
			depth = max(depth-1, 0)
		case ' ':
			if depth == 0 {
				cut = i
			}
		}
	}
	return spelling(n[cut+1:])
}

// intSpellings are g++'s names of integer types and gdb's, longest first.
var intSpellings = strings.NewReplacer(
	"long long unsigned int", "unsigned long long", "long long int", "long long",
	"long unsigned int", "unsigned long", "short unsigned int", "unsigned short",
	"long int", "long", "short int", "short")

// spelling is name in one spelling of integer types, with the spaces that
// do not separate two words removed.
func spelling(name string) string {
	name = intSpellings.Replace(name)
	word := func(c byte) bool {
		return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		if name[i] == ' ' && (b.Len() == 0 || i+1 == len(name) || !word(b.String()[b.Len()-1]) || !word(name[i+1])) {
			continue
		}
		b.WriteByte(name[i])
	}
	return b.String()
}

// stripArguments drops an offset, the qualifiers after an argument list
// and the argument list.
func stripArguments(name string) string {
	name = strings.TrimSpace(name)
	if i := strings.LastIndex(name, "+0x"); i > 0 {
		if _, err := strconv.ParseUint(name[i+3:], 16, 64); err == nil {
			name = strings.TrimSpace(name[:i])
		}
	}
	for {
		trimmed := strings.TrimSpace(strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, " const"), " volatile"), "&"), "&"))
		if trimmed == name {
			break
		}
		name = trimmed
	}
	if !strings.HasSuffix(name, ")") || strings.HasSuffix(name, "(anonymous namespace)") {
		return name
	}
	depth := 0
	for i := len(name) - 1; i >= 0; i-- {
		switch name[i] {
		case ')':
			depth++
		case '(':
			depth--
			if depth == 0 {
				if i > 0 && !strings.HasSuffix(name[:i], "operator") {
					return strings.TrimSpace(name[:i])
				}
				return name
			}
		}
	}
	return name
}

const valueScript = `
import gdb, json, os
want_lwp, want_fn, expr = int(os.environ["GDBORACLE_LWP"]), os.environ["GDBORACLE_FUNC"], os.environ["GDBORACLE_EXPR"]
res = {"error": "no thread with LWP %d" % want_lwp}
for th in gdb.selected_inferior().threads():
    if th.ptid[1] != want_lwp:
        continue
    th.switch()
    res = {"error": "no frame of %s on LWP %d" % (want_fn, want_lwp)}
    f = gdb.newest_frame()
    while f is not None:
        if f.name() == want_fn:
            f.select()
            v = gdb.parse_and_eval(expr)
            res = {"text": str(v), "optimized_out": bool(v.is_optimized_out)}
            if not v.is_optimized_out and v.type.strip_typedefs().code in (gdb.TYPE_CODE_PTR, gdb.TYPE_CODE_INT):
                res["value"] = int(v) & 0xffffffffffffffff
            break
        f = f.older()
    break
with open(os.environ["GDBORACLE_OUT"], "w") as fh:
    json.dump(res, fh)
`

// Value is an expression gdb evaluated in a frame.
type Value struct {
	Text         string `json:"text"`            // gdb's printing of it
	Value        uint64 `json:"value"`           // a pointer's or an integer's value
	OptimizedOut bool   `json:"optimized_out"`   // gdb says <optimized out>
	Error        string `json:"error,omitempty"` // the thread or frame was not there
}

// FrameValue has gdb evaluate expr (`this`) in the innermost frame named
// function (gdb's frame.name(), inline frames included) of the thread with
// LWP lwp: what `frame N` then `p expr` prints.
func FrameValue(exe, core string, o Options, lwp int, function, expr string) (*Value, error) {
	var v Value
	env := []string{fmt.Sprintf("GDBORACLE_LWP=%d", lwp), "GDBORACLE_FUNC=" + function, "GDBORACLE_EXPR=" + expr}
	if err := runScript(exe, core, o, valueScript, env, &v); err != nil {
		return nil, err
	}
	if v.Error != "" {
		return nil, fmt.Errorf("gdb: %s", v.Error)
	}
	return &v, nil
}
