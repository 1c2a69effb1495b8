package main

import (
	"strings"
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/dsecore/dsecore/report"
)

// TestTasksCommand: `tasks --json` lists the program's tasks with their
// states; filters work; `bt --all --all-tasks` gives threads and tasks in
// one document, every suspended task with a stack.
func TestTasksCommand(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	var doc struct {
		Coroutines report.Coroutines `json:"coroutines"`
		Tasks      []report.Task     `json:"tasks"`
	}
	runJSON(t, &doc, "tasks", sc.Core, "--exe", sc.Exe)
	want := sc.Expected["tasks"].([]any)
	if len(doc.Tasks) != len(want) || len(doc.Coroutines.Processers) != 8 || doc.Coroutines.Profile != "ceph-dse" {
		t.Fatalf("%d tasks (want %d), %d Processers, profile %q", len(doc.Tasks), len(want), len(doc.Coroutines.Processers), doc.Coroutines.Profile)
	}
	states := map[string]int{}
	for _, task := range doc.Tasks {
		states[task.State]++
		if task.State == "block" && task.FoundBy != "profile+scan" {
			t.Errorf("blocked task %d found by %s", task.ID, task.FoundBy)
		}
	}
	wantStates := map[string]int{}
	for _, x := range want {
		wantStates[x.(map[string]any)["state"].(string)]++
	}
	for s, n := range wantStates {
		if states[s] != n {
			t.Errorf("%d tasks %s, the program had %d", states[s], s, n)
		}
	}
	// The memory sweep, forced, finds no context the queues lack and
	// confirms the same tasks (and the done task's stale context, which is
	// only checked by the sweep).
	var swept struct {
		Tasks    []report.Task `json:"tasks"`
		Warnings []string      `json:"warnings"`
	}
	runJSON(t, &swept, "tasks", sc.Core, "--exe", sc.Exe, "--full-scan")
	if len(swept.Tasks) != len(doc.Tasks) {
		t.Errorf("--full-scan: %d tasks, without %d", len(swept.Tasks), len(doc.Tasks))
	}
	for i := range swept.Tasks {
		if i < len(doc.Tasks) && (swept.Tasks[i].ID != doc.Tasks[i].ID || swept.Tasks[i].FoundBy != doc.Tasks[i].FoundBy && doc.Tasks[i].State != "done") {
			t.Errorf("--full-scan: task %d found by %s, without: task %d by %s", swept.Tasks[i].ID, swept.Tasks[i].FoundBy, doc.Tasks[i].ID, doc.Tasks[i].FoundBy)
		}
	}
	var blocked struct {
		Tasks []report.Task `json:"tasks"`
	}
	runJSON(t, &blocked, "tasks", sc.Core, "--exe", sc.Exe, "--state", "block", "--processer", "6")
	if len(blocked.Tasks) != 1 || blocked.Tasks[0].Func != "destroy_engines" || !strings.Contains(blocked.Tasks[0].Top, "release_wait") {
		t.Errorf("Processer 6's blocked tasks: %+v", blocked.Tasks)
	}
	text := string(run(t, "tasks", sc.Core, "--exe", sc.Exe))
	if !strings.Contains(text, "destroy_engines (ceph-dse.cc:") || !strings.Contains(text, "running ") {
		t.Errorf("tasks text:\n%s", text)
	}

	var bt report.Backtrace
	runJSON(t, &bt, "bt", sc.Core, "--exe", sc.Exe, "--all", "--all-tasks")
	if len(bt.Threads) != len(sc.Expected["threads"].([]any)) || len(bt.Tasks) != len(want) {
		t.Fatalf("bt --all --all-tasks: %d threads, %d tasks", len(bt.Threads), len(bt.Tasks))
	}
	for _, th := range bt.Threads {
		if th.LWP != int(sc.Expected["pid"].(float64)) && !strings.HasPrefix(th.Name, "Processer_") {
			t.Errorf("thread %d named %q", th.LWP, th.Name)
		}
	}
	for _, task := range bt.Tasks {
		hasFrames := len(task.Frames) > 0
		if (task.State == "block" || task.Running) != hasFrames && task.State != "runnable" {
			t.Errorf("task %d (%s): %d frames", task.ID, task.State, len(task.Frames))
		}
		if task.Running {
			boundary := false
			for _, f := range task.Frames {
				boundary = boundary || f.Boundary
			}
			if !boundary || task.Frames[len(task.Frames)-1].Function != "clone3" {
				t.Errorf("running task %d not stitched to its scheduler", task.ID)
			}
		}
	}
	var one report.Backtrace
	runJSON(t, &one, "bt", sc.Core, "--exe", sc.Exe, "--task", "15")
	if len(one.Threads) != 0 || len(one.Tasks) != 1 || one.Tasks[0].ID != 15 {
		t.Errorf("bt --task 15: %d threads, tasks %+v", len(one.Threads), one.Tasks)
	}
}
