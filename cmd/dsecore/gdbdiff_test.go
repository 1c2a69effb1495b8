package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/dsecore/dsecore/internal/testsupport/gdboracle"
	"github.com/dsecore/dsecore/internal/testsupport/testcore"
	"github.com/dsecore/dsecore/report"
)

// dsecoreBin is the dsecore binary built once for the tests of this package:
// the differential tests run the real command, as users and tools do.
var dsecoreBin string

func TestMain(m *testing.M) {
	// The test binary run as another user's DAP client (dapsecurity_test.go).
	if addr := os.Getenv(dapPeerEnv); addr != "" {
		os.Exit(dapPeerMain(addr))
	}
	fixture.RunWithDsecore(m, &dsecoreBin, func() {
		for _, d := range cephCorpusDirs {
			os.RemoveAll(d)
		}
	})
}

// runBt runs `dsecore bt --all --json` and decodes its document.
func runBt(t *testing.T, exe, core string, extra ...string) report.Backtrace {
	t.Helper()
	args := append([]string{"bt", core, "--exe", exe, "--all", "--json"}, extra...)
	cmd := exec.Command(dsecoreBin, args...)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("dsecore %v: %v\n%s", args, err, stderr)
	}
	var doc report.Backtrace
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("dsecore bt --json is not JSON: %v\n%s", err, out)
	}
	return doc
}

// frameDiff compares one of our frames with gdb's: same pc, same function
// (argument lists and template arguments aside), same inline/sigtramp kind.
func frameDiff(ours report.Frame, gdb gdboracle.Frame) string {
	pc, err := strconv.ParseUint(ours.PC, 0, 64)
	if err != nil {
		return "bad pc " + ours.PC
	}
	gdbName := gdb.Name
	if gdbName == "" {
		gdbName = "??"
	}
	switch {
	case pc != gdb.PC:
		return fmt.Sprintf("pc %#x, gdb %#x", pc, gdb.PC)
	case ours.Sigtramp != gdb.Sigtramp:
		return fmt.Sprintf("sigtramp %v, gdb frame type %s", ours.Sigtramp, gdb.Type)
	case ours.Tailcall != (gdb.Type == "TAILCALL"):
		return fmt.Sprintf("tailcall %v, gdb frame type %s", ours.Tailcall, gdb.Type)
	case ours.Inline != gdb.Inline:
		return fmt.Sprintf("inline %v, gdb frame type %s", ours.Inline, gdb.Type)
	case !ours.Sigtramp && gdboracle.NormalizeFunction(ours.Function) != gdboracle.NormalizeFunction(gdbName):
		return fmt.Sprintf("function %q, gdb %q", ours.Function, gdbName)
	}
	return ""
}

func fmtFrame(f report.Frame) string {
	return fmt.Sprintf("%s %s inline=%v sigtramp=%v %s:%d", f.PC, f.Function, f.Inline, f.Sigtramp, f.File, f.Line)
}

func fmtGdbFrame(f gdboracle.Frame) string {
	return fmt.Sprintf("%#x %s %s %s:%d %s", f.PC, f.Name, f.Type, f.File, f.Line, f.Stop)
}

// compareWithGdb asserts that every thread's frames equal gdb's, and reports
// how many frames and source lines agreed.
func compareWithGdb(t *testing.T, exe, core string) {
	t.Helper()
	compareWithGdbOpts(t, exe, core, gdboracle.Options{})
}

// compareWithGdbOpts is compareWithGdb with gdb's options and dsecore's
// flags (the same debug-file directories, say).
func compareWithGdbOpts(t *testing.T, exe, core string, o gdboracle.Options, flags ...string) {
	t.Helper()
	gdbThreads, err := gdboracle.Backtraces(exe, core, o)
	if err != nil {
		t.Fatal(err)
	}
	compareThreads(t, exe, core, gdbThreads, "gdb", flags...)
}

// compareThreads asserts that every thread's frames equal the oracle's
// (gdb's, or another debugger's in gdb's terms), and reports how many
// frames and source lines agreed.
func compareThreads(t *testing.T, exe, core string, gdbThreads []gdboracle.Thread, oracle string, flags ...string) {
	t.Helper()
	doc := runBt(t, exe, core, flags...)
	ours := map[int]report.Thread{}
	for _, th := range doc.Threads {
		ours[th.LWP] = th
	}
	if len(doc.Threads) != len(gdbThreads) {
		t.Errorf("%d threads, gdb %d", len(doc.Threads), len(gdbThreads))
	}
	frames, same, lines, sameLines := 0, 0, 0, 0
	for _, g := range gdbThreads {
		o, ok := ours[g.LWP]
		if !ok {
			t.Errorf("thread LWP %d: missing (gdb has it)", g.LWP)
			continue
		}
		frames += len(g.Frames)
		firstDiff := -1
		for i := range g.Frames {
			if i >= len(o.Frames) {
				if firstDiff < 0 {
					firstDiff = i
				}
				break
			}
			if d := frameDiff(o.Frames[i], g.Frames[i]); d != "" {
				if firstDiff < 0 {
					firstDiff = i
					t.Errorf("LWP %d frame #%d differs: %s\n  ours: %s\n  gdb:  %s", g.LWP, i, d, fmtFrame(o.Frames[i]), fmtGdbFrame(g.Frames[i]))
				}
				continue
			}
			same++
			if g.Frames[i].Line != 0 {
				lines++
				if o.Frames[i].Line == g.Frames[i].Line && filepath.Base(o.Frames[i].File) == g.Frames[i].File {
					sameLines++
				}
			}
		}
		if len(o.Frames) != len(g.Frames) {
			t.Errorf("LWP %d: %d frames, gdb %d (first difference at #%d)%s", g.LWP, len(o.Frames), len(g.Frames), firstDiff, tail(o, g))
		}
	}
	t.Logf("%s: %d/%d frames equal to %s's (pc, function, kind); source lines %d/%d", filepath.Base(filepath.Dir(core)), same, frames, oracle, sameLines, lines)
	if sameLines != lines {
		t.Errorf("source lines: %d of %d frames differ from %s's", lines-sameLines, lines, oracle)
	}
}

func tail(o report.Thread, g gdboracle.Thread) string {
	s := ""
	if n := len(o.Frames); n > 0 {
		s += "\n  our last: " + fmtFrame(o.Frames[n-1])
	}
	if n := len(g.Frames); n > 0 {
		s += "\n  gdb last: " + fmtGdbFrame(g.Frames[n-1])
	}
	if o.Error != "" {
		s += "\n  our unwind error: " + o.Error
	}
	return s
}

func TestBtMatchesGdbOnSmallCores(t *testing.T) {
	for _, p := range []testcore.Program{testcore.NullDeref, testcore.Reraise} {
		t.Run(p.Name, func(t *testing.T) {
			r := testcore.Make(t, p)
			compareWithGdb(t, r.Exe, r.Core)
		})
	}
}

func TestBtMatchesGdbOnFixtures(t *testing.T) {
	set := fixture.Get(t)
	for _, name := range fixture.All {
		t.Run(name, func(t *testing.T) {
			sc := set.Scenario(t, name)
			compareWithGdb(t, sc.Exe, sc.Core)
		})
	}
}

// TestBtMatchesGdbOnHangs: the hang cores (issue 27), whose threads sleep
// in glibc's lock paths (__lll_lock_wait, pthread_rwlock_rdlock, the
// reacquire inside pthread_cond_wait), in read(2) and pause(2), in Ceph's
// handler and its re-raise, and on the Processers' own futex: every frame
// of every thread equal to gdb's (the tasks are dsecore's alone: gdb has no
// coroutines).
func TestBtMatchesGdbOnHangs(t *testing.T) {
	set := fixture.Get(t)
	for _, name := range append(append([]string(nil), fixture.Hangs...), fixture.TaskDeadlock2, fixture.ForkCoRWLock, fixture.ForkCoChan) {
		t.Run(name, func(t *testing.T) {
			sc := set.Scenario(t, name)
			compareWithGdb(t, sc.Exe, sc.Core)
		})
	}
}
