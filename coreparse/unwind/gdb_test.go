package unwind_test

// gdb as the oracle: a Python script prints, per thread and frame, the pc
// gdb shows (frame.pc()), the frame type and every general register as gdb
// reads it in that frame (null for <not saved>). "backtrace past-main" is
// on: the unwinder knows no symbols and does not stop at main, gdb's
// default cut is the symbolizer's business.

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const gdbFramesPy = `
import gdb, json, os
types = {gdb.NORMAL_FRAME: "NORMAL", gdb.INLINE_FRAME: "INLINE", gdb.SIGTRAMP_FRAME: "SIGTRAMP",
         gdb.DUMMY_FRAME: "DUMMY", gdb.TAILCALL_FRAME: "TAILCALL", gdb.ARCH_FRAME: "ARCH"}
regs = ["rax","rdx","rcx","rbx","rsi","rdi","rbp","rsp","r8","r9","r10","r11","r12","r13","r14","r15","rip"]
ulong = gdb.lookup_type("unsigned long")
out = []
for th in sorted(gdb.selected_inferior().threads(), key=lambda t: t.num):
    th.switch()
    frames = []
    f = gdb.newest_frame()
    while f is not None and len(frames) < 4096:
        fr = {"pc": f.pc(), "type": types.get(f.type(), str(f.type())), "name": f.name() or ""}
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
    out.append({"lwp": th.ptid[1], "frames": frames})
with open(os.environ["ORACLE_OUT"], "w") as fh:
    json.dump(out, fh)
`

type gdbFrame struct {
	PC   uint64    `json:"pc"`
	Type string    `json:"type"`
	Name string    `json:"name"`
	Regs []*uint64 `json:"regs"` // DWARF order 0..16, nil = <not saved>
	Stop string    `json:"stop"`
}

type gdbThread struct {
	LWP    int        `json:"lwp"`
	Frames []gdbFrame `json:"frames"`
}

// physical drops gdb's virtual frames (inline and tail-call frames share
// the registers of a real frame).
func (t gdbThread) physical() []gdbFrame {
	var out []gdbFrame
	for _, f := range t.Frames {
		if f.Type == "INLINE" || f.Type == "TAILCALL" {
			continue
		}
		out = append(out, f)
	}
	return out
}

func gdbOracle(t testing.TB, exe, core string, extra ...string) []gdbThread {
	t.Helper()
	if _, err := exec.LookPath("gdb"); err != nil {
		t.Fatalf("gdb is the oracle of these tests and is not installed (scripts/setup.sh installs it)")
	}
	dir := t.TempDir()
	py := filepath.Join(dir, "frames.py")
	if err := os.WriteFile(py, []byte(gdbFramesPy), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "frames.json")
	args := []string{"-nx", "-batch", "-ex", "set pagination off", "-ex", "set backtrace past-main on"}
	for _, e := range extra {
		args = append(args, "-ex", e)
	}
	args = append(args, "-ex", "source "+py, exe, core)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "gdb", args...)
	cmd.Env = append(os.Environ(), "ORACLE_OUT="+out)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("gdb %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	j, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("gdb wrote no frames: %v\n%s", err, b)
	}
	var threads []gdbThread
	if err := json.Unmarshal(j, &threads); err != nil {
		t.Fatal(err)
	}
	return threads
}

// gdbEval prints one expression per line with gdb on exe+core.
func gdbEval(t testing.TB, exe, core string, cmds ...string) string {
	t.Helper()
	args := []string{"-nx", "-batch", "-ex", "set pagination off"}
	for _, c := range cmds {
		args = append(args, "-ex", c)
	}
	args = append(args, exe, core)
	b, err := exec.Command("gdb", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("gdb %v: %v\n%s", args, err, b)
	}
	return string(b)
}
