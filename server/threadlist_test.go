package server

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/analysis/coroutines"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/google/go-dap"
)

// TestThreadListNamesAndOrder: the threads response of the leaked-lock
// core against what the hang program wrote in expected.json: every LWP
// the program had, in ascending order, each named (by the core, the
// Processers, else the entry routine: every thread of the program runs
// its code), the leaking thread by the routine the program started it in
// (session_loop); then every task, in ascending id, with ids above every
// LWP's.
func TestThreadListNamesAndOrder(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.LeakedLock)
	c := startServer(t, Config{})
	c.launch(map[string]any{"coreFile": sc.Core, "program": sc.Exe})
	th := c.ok("threads", nil).(*dap.ThreadsResponse).Body.Threads
	truth := map[int]bool{}
	for _, x := range sc.Expected["threads"].([]any) {
		truth[int(x.(map[string]any)["lwp"].(float64))] = true
	}
	leaker := -1
	for _, n := range sc.Expected["waits"].(map[string]any)["nodes"].([]any) {
		m := n.(map[string]any)
		truth[int(m["lwp"].(float64))] = true // the scenario's own threads
		if m["name"] == "dse_session" {
			leaker = int(m["lwp"].(float64))
		}
	}
	var lwps, tasks []int
	for _, x := range th {
		if x.Id >= taskBase {
			tasks = append(tasks, x.Id)
			continue
		}
		if len(tasks) > 0 {
			t.Errorf("LWP %d listed after a task", x.Id)
		}
		lwps = append(lwps, x.Id)
		if !truth[x.Id] {
			t.Errorf("thread %d: not one of the program's", x.Id)
		}
		if strings.TrimSpace(strings.TrimPrefix(x.Name, fmt.Sprintf("LWP %d", x.Id))) == "" {
			t.Errorf("LWP %d has no name: %q", x.Id, x.Name)
		}
		if x.Id == leaker && !strings.HasSuffix(x.Name, "session_loop") {
			t.Errorf("the leaking thread %q, want it named by its entry routine session_loop", x.Name)
		}
	}
	if len(lwps) != len(truth) || leaker < 0 {
		t.Errorf("%d LWPs listed, the program had %d (leaker %d)", len(lwps), len(truth), leaker)
	}
	for _, ids := range [][]int{lwps, tasks} {
		for i := 1; i < len(ids); i++ {
			if ids[i] <= ids[i-1] {
				t.Errorf("ids out of order: %v", ids)
				break
			}
		}
	}
	if len(tasks) != len(sc.Expected["tasks"].([]any)) {
		t.Errorf("%d tasks listed, the program had %d", len(tasks), len(sc.Expected["tasks"].([]any)))
	}
	for _, x := range sc.Expected["tasks"].([]any) {
		id := int(x.(map[string]any)["id"].(float64))
		if !slices.Contains(tasks, taskBase+id) {
			t.Errorf("task %d: not listed as thread %d", id, taskBase+id)
		}
	}
}

// TestTaskThreadIDs: a task the runtime gave no id (ID -1) is listed by its
// place in the list, above every id'd task's thread id (ids below 1<<24)
// and distinct from the others'; an id'd task by its id, task 0 included.
func TestTaskThreadIDs(t *testing.T) {
	seen := map[int]bool{}
	for i := range 4 {
		id := taskThreadID(&coroutines.Task{ID: -1}, i)
		if id < taskBase+1<<24 || seen[id] {
			t.Errorf("task without an id at %d: thread %d (taskBase %d), seen %v", i, id, taskBase, seen)
		}
		seen[id] = true
	}
	for _, n := range []int64{0, 1, 1<<24 - 1} {
		if id := taskThreadID(&coroutines.Task{ID: n}, 7); id != taskBase+int(n) {
			t.Errorf("task %d: thread %d, want %d", n, id, taskBase+int(n))
		}
	}
}
