package unwind_test

// gdb as the oracle (internal/testsupport/gdboracle): per thread and frame, the pc
// gdb shows (frame.pc()), the frame type and every general register as gdb
// reads it in that frame (nil for <not saved>). "backtrace past-main" is
// on: the unwinder knows no symbols and does not stop at main, gdb's
// default cut is the symbolizer's business.

import (
	"strings"
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/gdboracle"
)

// physical drops gdb's virtual frames (inline and tail-call frames share
// the registers of a real frame).
func physical(t gdboracle.Thread) []gdboracle.Frame {
	var out []gdboracle.Frame
	for _, f := range t.Frames {
		if f.Type == "INLINE" || f.Type == "TAILCALL" {
			continue
		}
		out = append(out, f)
	}
	return out
}

// gdbOracle is gdb's view of every thread of exe+core with every frame's
// registers, past main.
func gdbOracle(t testing.TB, exe, core string) []gdboracle.Thread {
	t.Helper()
	threads, err := gdboracle.Backtraces(exe, core, gdboracle.Options{Registers: true, Commands: []string{"set backtrace past-main on"}})
	if err != nil {
		t.Fatal(err)
	}
	return threads
}

// gdbEval prints one expression per line with gdb on exe+core (gdb's
// output of each command, in order).
func gdbEval(t testing.TB, exe, core string, cmds ...string) string {
	t.Helper()
	out, err := gdboracle.Commands(exe, core, gdboracle.Options{}, cmds...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, "")
}
