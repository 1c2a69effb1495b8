// Package lldboracle runs lldb-16 on a core and returns its frames in gdb's
// terms (gdboracle.Thread): the oracle of the differential tests where gdb
// 13 itself fails (it dies of a segmentation fault on clang-16's DWARF 5
// split units, packaged by llvm-dwp or not).
//
// It uses lldb's Python API (SBFrame) rather than parsing `thread
// backtrace all` text, and turns lldb's conventions into gdb's:
//   - lldb gives an inlined caller frame the pc of its call site; gdb gives
//     every frame of a physical frame the pc of the innermost (the pc, or
//     the return address for callers). Frames here carry gdb's.
//   - lldb names a frame's function as its demangler writes it (return
//     types of templates, "'lambda'()"): compare names through
//     gdboracle.NormalizeFunction.
//   - lldb shows glibc's sigreturn trampoline as a frame of __restore_rt;
//     gdb as a SIGTRAMP frame. Such frames are typed SIGTRAMP here.
//   - lldb-16 does not rebuild tail-call frames from DW_TAG_call_site the
//     way gdb does (gdb's TAILCALL frames), and stops before the null
//     return address that ends a stack in gdb: callers skip those.
//   - gdb's backtrace stops at main (backtrace past-main is off); lldb's
//     goes on into __libc_start_call_main and _start: cut after main.
//   - A function lldb has no name for is "___lldb_unnamed_symbolN": Name
//     is "" then, as gdb's "??".
package lldboracle

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/dsecore/dsecore/internal/testsupport/gdboracle"
)

// Options for a run of lldb.
type Options struct {
	// DebugDirs are given to lldb as target.debug-file-search-paths.
	DebugDirs []string
	Timeout   time.Duration // default 10 minutes
}

const script = `
import lldb, json, os
out = []
for th in lldb.debugger.GetSelectedTarget().GetProcess():
    frames = []
    for f in th:
        le = f.GetLineEntry()
        sym = f.GetSymbol()
        frames.append({"pc": f.GetPC(), "name": f.GetFunctionName() or "", "inlined": f.IsInlined(),
                       "file": le.GetFileSpec().GetFilename() or "", "line": le.GetLine(),
                       "module": f.GetModule().GetFileSpec().GetFilename() or "",
                       "symbol": (sym.GetName() or "") if sym.IsValid() else ""})
    out.append({"tid": th.GetThreadID(), "frames": frames})
with open(os.environ["LLDBORACLE_OUT"], "w") as fh:
    json.dump(out, fh)
`

type lframe struct {
	PC      uint64 `json:"pc"`
	Name    string `json:"name"`
	Inlined bool   `json:"inlined"`
	File    string `json:"file"`
	Line    int    `json:"line"`
	Module  string `json:"module"`
	Symbol  string `json:"symbol"`
}

type lthread struct {
	TID    int      `json:"tid"`
	Frames []lframe `json:"frames"`
}

// Backtraces runs lldb-16 in batch mode on exe and core and returns every
// thread's frames in gdb's terms, each thread's LWP its thread id.
func Backtraces(exe, core string, o Options) ([]gdboracle.Thread, error) {
	lldb, err := exec.LookPath("lldb-16")
	if err != nil {
		return nil, fmt.Errorf("lldb-16 is not installed (scripts/setup.sh installs it): %w", err)
	}
	dir, err := os.MkdirTemp("", "lldboracle-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	py := filepath.Join(dir, "oracle.py")
	if err := os.WriteFile(py, []byte(script), 0o644); err != nil {
		return nil, err
	}
	outPath := filepath.Join(dir, "oracle.json")
	args := []string{"--batch", "--no-lldbinit"}
	if len(o.DebugDirs) > 0 {
		args = append(args, "-O", "settings set target.debug-file-search-paths "+strings.Join(o.DebugDirs, " "))
	}
	args = append(args, "-c", core, exe, "-o", fmt.Sprintf("script exec(open(%q).read())", py))
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, lldb, args...)
	cmd.Env = append(os.Environ(), "LLDBORACLE_OUT="+outPath)
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	runErr := cmd.Run()
	b, err := os.ReadFile(outPath)
	if err != nil {
		return nil, fmt.Errorf("lldb-16 wrote no frames (%v): %s", runErr, output.String())
	}
	var ts []lthread
	if err := json.Unmarshal(b, &ts); err != nil {
		return nil, fmt.Errorf("lldb-16's frames: %v", err)
	}
	if len(ts) == 0 {
		return nil, fmt.Errorf("lldb-16 saw no threads: %s", output.String())
	}
	return convert(ts), nil
}

// convert puts lldb's frames in gdb's terms.
func convert(ts []lthread) []gdboracle.Thread {
	var out []gdboracle.Thread
	for i, t := range ts {
		g := gdboracle.Thread{Num: i + 1, LWP: t.TID}
		var pc uint64
		inGroup := false // the previous frame was inlined: this one shares its physical frame
		for _, f := range t.Frames {
			if !inGroup {
				pc = f.PC
			}
			inGroup = f.Inlined
			gf := gdboracle.Frame{PC: pc, Name: f.Name, Type: "NORMAL", File: f.File, Line: f.Line}
			switch {
			case f.Inlined:
				gf.Type, gf.Inline = "INLINE", true
			case f.Symbol == "__restore_rt" && strings.HasPrefix(f.Module, "libc.so"):
				gf.Type, gf.Sigtramp, gf.Name = "SIGTRAMP", true, ""
			}
			if strings.HasPrefix(gf.Name, "___lldb_unnamed_symbol") {
				gf.Name = ""
			}
			if gf.Line < 0 || gf.Line == 0xffffffff {
				gf.Line = 0
			}
			g.Frames = append(g.Frames, gf)
			if !f.Inlined && f.Name == "main" {
				break
			}
		}
		out = append(out, g)
	}
	return out
}
