package server

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/google/go-dap"
)

// TestCrashRelatedTasks: showTasks "crash-related" on the field crash
// lists every LWP and, of the 19 tasks, only those the crash concerns, by
// what the program wrote in expected.json: the running ones (task 16,
// which crashes in clear()) and the racing path's (the task created in
// destroy_engines on the Processer of racing_tasks' "released the same
// objects first"). exceptionInfo names the signal and carries the
// crashing thread's stack, its fault frame at fault_ip in
// dm_hash_node_t::clear.
func TestCrashRelatedTasks(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	c := startServer(t, Config{})
	c.launch(map[string]any{"coreFile": sc.Core, "program": sc.Exe, "showTasks": "crash-related"})
	var want []int
	racing := map[float64]bool{}
	for _, r := range sc.Expected["racing_tasks"].([]any) {
		if m := r.(map[string]any); m["role"] != "crashes in clear()" {
			racing[m["processer"].(float64)] = true
		}
	}
	for _, x := range sc.Expected["tasks"].([]any) {
		m := x.(map[string]any)
		if m["running"] == true || racing[m["processer"].(float64)] && m["func"] == "destroy_engines" {
			want = append(want, taskBase+int(m["id"].(float64)))
		}
	}
	var got []int
	lwps := 0
	for _, x := range c.ok("threads", nil).(*dap.ThreadsResponse).Body.Threads {
		if x.Id >= taskBase {
			got = append(got, x.Id)
		} else {
			lwps++
		}
	}
	slices.Sort(want)
	if !slices.Equal(got, want) || len(want) < 2 || lwps != len(sc.Expected["threads"].([]any)) {
		t.Errorf("crash-related: tasks %v, want %v; %d LWPs of %d", got, want, lwps, len(sc.Expected["threads"].([]any)))
	}
	crash := int(sc.Expected["crash_lwp"].(float64))
	e := c.ok("exceptionInfo", map[string]any{"threadId": crash}).(*dap.ExceptionInfoResponse).Body
	ip, _ := strconv.ParseUint(sc.Expected["fault_ip"].(string), 0, 64)
	if e.ExceptionId != sc.Expected["signal"] || e.Details == nil ||
		!strings.Contains(e.Details.StackTrace, fmt.Sprintf("%#x in dm_hash_node_t::clear at ", ip)) {
		t.Errorf("exceptionInfo: %q (want %v), details %+v", e.ExceptionId, sc.Expected["signal"], e.Details)
	}
}
