package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/testcore"
	"github.com/dsecore/dsecore/report"
)

// TestNoRuntime: on a core of a program without coroutines, every face
// that asks for tasks gets none and says why (no context switch routine),
// with the threads' stacks as usual; profile check still shows every key
// against the core.
func TestNoRuntime(t *testing.T) {
	r := testcore.Make(t, testcore.ThreadsOnly)
	var doc report.Backtrace
	runJSON(t, &doc, "bt", r.Core, "--exe", r.Exe, "--all", "--all-tasks")
	if len(doc.Threads) != 4 || len(doc.Tasks) != 0 || doc.Coroutines == nil ||
		!strings.HasPrefix(doc.Coroutines.NoRuntime, "no module defines or calls a context switch routine") || doc.Coroutines.NoTasks != "" {
		t.Fatalf("bt --all --all-tasks: %d threads, %d tasks, coroutines %+v", len(doc.Threads), len(doc.Tasks), doc.Coroutines)
	}
	if f := doc.Threads[0].Frames; len(f) == 0 || f[0].Function != "main" {
		t.Errorf("the crashed thread's frames: %+v", f)
	}
	text := string(run(t, "tasks", r.Core, "--exe", r.Exe))
	if !strings.Contains(text, "0 tasks") || !strings.Contains(text, "no module defines or calls a context switch routine") {
		t.Errorf("tasks:\n%s", text)
	}
	// profile check discovers all the same, and fails: the keys do not
	// resolve in this program.
	out, err := exec.Command(dsecoreBin, "profile", "check", r.Core, "--exe", r.Exe).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "task_type") ||
		!strings.Contains(string(out), "FAILED") || !strings.Contains(string(out), "keys do not resolve in this core") {
		t.Errorf("profile check: %v\n%s", err, out)
	}
}
