package server

import (
	"encoding/json"
	"fmt"

	"github.com/dsecore/dsecore/analysis/waits"
	"github.com/dsecore/dsecore/report"
	"github.com/google/go-dap"
)

// Custom requests, for clients that know dsecore (the VS Code extension's
// Coroutines and Fault Analysis views):
//
//	dsecore/tasks     {processers: [...], tasks: [...]}, each task with the
//	                  DAP threadId its stack is listed under
//	dsecore/analysis  {crashThreadId, analysis: <inspect --json's analysis>,
//	                  taskThreads: {taskId: threadId}, waits: <inspect
//	                  --json's waits, when something waits>}
//	dsecore/focus     {threadId, description}: a stopped event for that
//	                  thread (preserveFocusHint false): the client selects
//	                  it (a holder's thread or task, from the Fault Analysis view)
//	dsecore/frameIndex {frameId} → {threadId, index}: where a frame id is
//	                  (bt's #N), for a client stepping to a holder's frame
const (
	cmdTasks      = "dsecore/tasks"
	cmdAnalysis   = "dsecore/analysis"
	cmdFocus      = "dsecore/focus"
	cmdFrameIndex = "dsecore/frameIndex"
)

// customRequest answers a request go-dap has no type for; it reports
// whether it was one of ours.
func (c *conn) customRequest(content []byte) bool {
	var req dap.Request
	if json.Unmarshal(content, &req) != nil || req.Type != "request" {
		return false
	}
	if req.Command != cmdTasks && req.Command != cmdAnalysis && req.Command != cmdFocus && req.Command != cmdFrameIndex {
		return false
	}
	defer c.recoverRequest(&req)
	if !c.needsCore(&req) {
		return true
	}
	var body any
	switch req.Command {
	case cmdTasks:
		body = c.st.tasksBody()
	case cmdAnalysis:
		body = c.st.analysisBody()
	case cmdFocus, cmdFrameIndex:
		c.focusRequest(&req, content)
		return true
	}
	c.send(&rawResponse{Response: response(&req), Body: body})
	return true
}

// focusRequest answers dsecore/focus and dsecore/frameIndex.
func (c *conn) focusRequest(req *dap.Request, content []byte) {
	var args struct {
		Arguments struct {
			ThreadID    int    `json:"threadId"`
			FrameID     int    `json:"frameId"`
			Description string `json:"description"`
		} `json:"arguments"`
	}
	_ = json.Unmarshal(content, &args)
	a := args.Arguments
	if req.Command == cmdFrameIndex {
		fr, _, err := c.st.frame(a.FrameID)
		if err != nil {
			c.sendError(req.Seq, req.Command, errNoTarget, err.Error())
			return
		}
		c.send(&rawResponse{Response: response(req), Body: frameIndexBody{Index: fr.index, ThreadID: fr.thread}})
		return
	}
	if _, err := c.st.stack(a.ThreadID); err != nil {
		c.sendError(req.Seq, req.Command, errNoTarget, err.Error())
		return
	}
	c.send(&rawResponse{Response: response(req), Body: map[string]int{"threadId": a.ThreadID}})
	desc := a.Description
	if desc == "" {
		desc = "selected"
	}
	c.send(&dap.StoppedEvent{Event: c.event("stopped"), Body: dap.StoppedEventBody{Reason: "pause", Description: desc,
		ThreadId: a.ThreadID, PreserveFocusHint: false, Text: desc}})
}

// frameIndexBody answers dsecore/frameIndex.
type frameIndexBody struct {
	Index    int `json:"index"` // bt's #N
	ThreadID int `json:"threadId"`
}

type taskItem struct {
	ID        int64  `json:"id"`
	ThreadID  int    `json:"threadId"`
	Name      string `json:"name"` // as in the threads list
	State     string `json:"state"`
	Processer int    `json:"processer"`
	Running   bool   `json:"running,omitempty"`
	Func      string `json:"func,omitempty"` // where it was created
	File      string `json:"file,omitempty"`
	Line      int    `json:"line,omitempty"`
}

type processerItem struct {
	ID          int            `json:"id"`
	LWP         int            `json:"lwp"`
	ThreadID    int            `json:"threadId"`
	Name        string         `json:"name"`
	RunningTask int64          `json:"runningTask"`
	Queues      map[string]int `json:"queues"`
}

// tasksBody answers dsecore/tasks.
type tasksBody struct {
	Profile    string          `json:"profile"` // the coroutine profile used: "ceph-dse (built-in)"
	NoTasks    string          `json:"noTasks,omitempty"`
	NoRuntime  string          `json:"noRuntime,omitempty"` // why discovery did not run (no context switch routine)
	Processers []processerItem `json:"processers"`
	Tasks      []taskItem      `json:"tasks"`
}

func (st *state) tasksBody() tasksBody {
	names := map[int]string{}
	for _, t := range st.threads() {
		names[t.Id] = t.Name
	}
	out := tasksBody{Processers: []processerItem{}, Tasks: []taskItem{}}
	rt := st.runtime()
	out.Profile, out.NoTasks, out.NoRuntime = rt.DescribeProfile(), rt.NoTasks, rt.Absent
	for _, pr := range rt.Processers {
		it := processerItem{ID: pr.ID, RunningTask: -1, Queues: pr.Queues}
		if pr.Thread != nil {
			it.LWP, it.ThreadID, it.Name = pr.Thread.LWP, pr.Thread.LWP, names[pr.Thread.LWP]
		}
		if pr.Running != nil {
			it.RunningTask = pr.Running.ID
		}
		out.Processers = append(out.Processers, it)
	}
	for i, t := range st.shownTasks() {
		id := taskThreadID(t, i)
		out.Tasks = append(out.Tasks, taskItem{ID: t.ID, ThreadID: id, Name: names[id], State: t.State, Processer: t.Processer,
			Running: t.Running, Func: t.Func, File: t.File, Line: t.Line})
	}
	return out
}

// analysisBody answers dsecore/analysis.
type analysisBody struct {
	CrashThreadID int              `json:"crashThreadId"`
	Analysis      *report.Analysis `json:"analysis"`
	TaskThreads   map[string]int   `json:"taskThreads"` // task id → the DAP thread its stack is listed under
	// Waits is inspect --json's waits (addresses in hex, as there) when
	// something waits or Ceph's watchdog spoke.
	Waits *waits.Result `json:"waits,omitempty"`
}

func (st *state) analysisBody() analysisBody {
	taskThreads := map[string]int{}
	for i, t := range st.shownTasks() {
		taskThreads[fmt.Sprint(t.ID)] = taskThreadID(t, i)
	}
	b := analysisBody{CrashThreadID: st.crashThreadID(), Analysis: report.AnalysisDoc(st.analysis()), TaskThreads: taskThreads}
	if r := st.sess.Waits(); r != nil && (r.Stats.Waiting > 0 || r.Watchdog != nil) {
		b.Waits = r
	}
	return b
}
