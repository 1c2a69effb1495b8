package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/google/go-dap"
)

// dapRun is what one DAP session on a core showed: every message from
// launch to the threads response (in order), the crashing thread's frames
// and a task's, as the client got them.
type dapRun struct {
	msgs       []dap.Message
	threads    []dap.Thread
	crash      string // stackTrace of the stopped thread (JSON, frame ids left out)
	task       string // stackTrace of the first task
	taskThread dap.Thread
}

func runDAPSession(t *testing.T, sc *fixture.Scenario, progress bool) dapRun {
	c := startDAP(t)
	c.ok("initialize", map[string]any{"adapterID": "dsecore", "supportsProgressReporting": progress})
	var run dapRun
	keep := func() {
		run.msgs = append(run.msgs, c.events...)
		c.events = nil
	}
	c.ok("launch", map[string]any{"coreFile": sc.Core, "program": sc.Exe})
	c.ok("configurationDone", nil)
	stopped := c.waitEvent("stopped").(*dap.StoppedEvent)
	keep()
	th := c.ok("threads", nil).(*dap.ThreadsResponse)
	keep()
	run.msgs = append(run.msgs, th)
	run.threads = th.Body.Threads
	frames := func(id int) string {
		st := c.ok("stackTrace", map[string]any{"threadId": id, "startFrame": 0, "levels": 100}).(*dap.StackTraceResponse)
		for i := range st.Body.StackFrames {
			st.Body.StackFrames[i].Id = 0
		}
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.Encode(st.Body)
		return b.String()
	}
	run.crash = frames(stopped.Body.ThreadId)
	for _, x := range run.threads {
		if x.Id >= 1<<30 {
			run.taskThread = x
			run.task = frames(x.Id)
			break
		}
	}
	c.ok("disconnect", nil)
	return run
}

// TestDAPProgress: on the 10,000-task core, a client that takes progress
// events sees loading and task discovery as progressStart, updates with a
// rising percentage, progressEnd, in that order, all before the threads
// response that needed them, and nothing more: the list names the tasks
// without unwinding them (no "tasks" step). A client that does not take
// them sees none. Both get the same threads and the same frames.
func TestDAPProgress(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.Large)
	with := runDAPSession(t, sc, true)
	without := runDAPSession(t, sc, false)

	// What each progress id went through, in order.
	type step struct {
		events []string
		pcts   []int
	}
	steps := map[string]*step{}
	var order []string
	threadsAt := -1
	for i, m := range with.msgs {
		var id, kind string
		pct := -1
		switch e := m.(type) {
		case *dap.ProgressStartEvent:
			id, kind = e.Body.ProgressId, "start"
		case *dap.ProgressUpdateEvent:
			id, kind, pct = e.Body.ProgressId, "update", e.Body.Percentage
		case *dap.ProgressEndEvent:
			id, kind = e.Body.ProgressId, "end"
		case *dap.ThreadsResponse:
			threadsAt = i
			continue
		default:
			continue
		}
		if threadsAt >= 0 {
			t.Errorf("progress %s %s after the threads response", id, kind)
		}
		s := steps[id]
		if s == nil {
			s = &step{}
			steps[id] = s
			order = append(order, id)
		}
		s.events = append(s.events, kind)
		if pct >= 0 {
			s.pcts = append(s.pcts, pct)
		}
	}
	if strings.Join(order, ",") != "load,coroutines" {
		t.Errorf("progress ids in order %v: want load, coroutines", order)
	}
	for id, s := range steps {
		ev := strings.Join(s.events, " ")
		if !strings.HasPrefix(ev, "start") || !strings.HasSuffix(ev, "end") || strings.Count(ev, "start") != 1 || strings.Count(ev, "end") != 1 {
			t.Errorf("progress %s: %s: want one start, updates, one end", id, ev)
		}
		for i := 1; i < len(s.pcts); i++ {
			if s.pcts[i] <= s.pcts[i-1] || s.pcts[i] > 100 {
				t.Errorf("progress %s: percentages %v do not rise", id, s.pcts)
				break
			}
		}
	}
	for _, m := range without.msgs {
		if e, ok := m.(dap.EventMessage); ok && strings.HasPrefix(e.GetEvent().Event, "progress") {
			t.Errorf("a client without supportsProgressReporting got %s", e.GetEvent().Event)
		}
	}

	// The same answers either way.
	if fmt.Sprint(with.threads) != fmt.Sprint(without.threads) || len(with.threads) != len(sc.Expected["threads"].([]any))+len(sc.Expected["tasks"].([]any)) {
		t.Errorf("threads: %d with progress, %d without (want %d threads and %d tasks)", len(with.threads), len(without.threads),
			len(sc.Expected["threads"].([]any)), len(sc.Expected["tasks"].([]any)))
	}
	// Each of the 10,000 tasks named from what the program knew of it.
	named := map[int]string{}
	for _, x := range with.threads {
		named[x.Id] = x.Name
	}
	wrong := 0
	for _, x := range sc.Expected["tasks"].([]any) {
		m := x.(map[string]any)
		id := int(m["id"].(float64))
		state := m["state"].(string)
		if m["running"] == true {
			state = "running"
		}
		want := fmt.Sprintf("task %d [%s] Processer %v, created in %s", id, state, m["processer"], m["func"])
		if got := named[1<<30+id]; got != want && wrong < 5 {
			wrong++
			t.Errorf("task %d named %q, want %q", id, got, want)
		}
	}
	if with.crash != without.crash || !strings.Contains(with.crash, `"name":"<signal handler called>"`) {
		t.Errorf("the crashing thread's frames differ or have no signal frame:\n%s\n%s", with.crash, without.crash)
	}
	if with.task != without.task || with.taskThread != without.taskThread || !strings.Contains(with.task, `"name":"co::Processer::SwapOut"`) {
		t.Errorf("task %q's frames differ or do not start in the switch:\n%s\n%s", with.taskThread.Name, with.task, without.task)
	}
}
