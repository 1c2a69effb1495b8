package server

import (
	"encoding/json"
	"fmt"

	"github.com/dsecore/dsecore/analysis/waits"
	"github.com/dsecore/dsecore/internal/l10n"
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
//	                  --json's waits, when something waits>,
//	                  localized: {lang, verdict, description, origin, others,
//	                  findings, timeline, evidence}: the verdict, the fault's
//	                  description, origin steps, others', the list walk's,
//	                  the timeline's and the evidence's words in the launch's
//	                  lang}
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
	rt := st.discovered()
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

// localized is what dsecore/analysis says for people in the launch's
// language (LaunchArgs.Lang); the analysis beside it is the JSON
// document, the same in every language.
type localized struct {
	Lang        string   `json:"lang"`                  // the catalog's language used: "en", "zh-CN"
	Verdict     string   `json:"verdict"`               // the verdict's sentences
	Description string   `json:"description,omitempty"` // the fault's (analysis.fault.description)
	Origin      []string `json:"origin,omitempty"`      // the origin steps' texts (analysis.fault.origin[].text)
	// Others are analysis.others' who, where and what, by index.
	Others []localizedHit `json:"others,omitempty"`
	// Findings are analysis.list_walk.findings, by index.
	Findings []string `json:"findings,omitempty"`
	// Timeline are analysis.timeline[].text, by index.
	Timeline []string `json:"timeline,omitempty"`
	// Evidence are analysis.evidence[].text, by index.
	Evidence []string `json:"evidence,omitempty"`
	// Heap are analysis.memory.heap[].text, by index.
	Heap []string `json:"heap,omitempty"`
	// Waits are the wait graph's words (waits beside analysis), when it
	// is sent.
	Waits *localizedWaits `json:"waits,omitempty"`
}

// localizedWaits are the wait graph's sentences in the launch's language:
// its summary, the watchdog's, each deadlock's and chain's, each object's
// (by index), each node's who (by node id).
type localizedWaits struct {
	Summary  string            `json:"summary,omitempty"`
	Watchdog string            `json:"watchdog,omitempty"`
	Cycles   []string          `json:"cycles,omitempty"`
	Chains   []string          `json:"chains,omitempty"`
	Objects  []string          `json:"objects,omitempty"`
	Who      map[string]string `json:"who,omitempty"`
}

type localizedHit struct {
	Who   string `json:"who"`
	Where string `json:"where"`
	What  string `json:"what"`
}

// analysisBody answers dsecore/analysis.
type analysisBody struct {
	CrashThreadID int              `json:"crashThreadId"`
	Analysis      *report.Analysis `json:"analysis"`
	TaskThreads   map[string]int   `json:"taskThreads"` // task id → the DAP thread its stack is listed under
	// Waits is inspect --json's waits (addresses in hex, as there) when
	// something waits or Ceph's watchdog spoke.
	Waits     *waits.Result `json:"waits,omitempty"`
	Localized localized     `json:"localized"`
}

func (st *state) analysisBody() analysisBody {
	taskThreads := map[string]int{}
	for i, t := range st.shownTasks() {
		taskThreads[fmt.Sprint(t.ID)] = taskThreadID(t, i)
	}
	a := report.AnalysisDoc(st.analysis())
	lang := st.lang()
	loc := localized{Lang: lang.Lang(), Verdict: report.VerdictText(a, lang), Description: report.FaultText(a.Fault, lang)}
	if a.Fault != nil {
		for _, o := range a.Fault.Origin {
			loc.Origin = append(loc.Origin, report.OriginText(o, lang))
		}
	}
	if w := a.ListWalk; w != nil {
		for i := range w.Findings {
			loc.Findings = append(loc.Findings, report.FindingText(w, i, lang))
		}
	}
	for _, e := range a.Evidence {
		loc.Evidence = append(loc.Evidence, report.EvidenceText(e, lang))
	}
	for _, step := range a.Timeline {
		loc.Timeline = append(loc.Timeline, report.StepText(step, lang))
	}
	if m := a.Memory; m != nil {
		for _, c := range m.Heap {
			loc.Heap = append(loc.Heap, report.ChunkText(c, lang))
		}
	}
	for _, h := range a.Others {
		var x localizedHit
		x.Who, x.Where, x.What = report.OtherText(h, lang)
		loc.Others = append(loc.Others, x)
	}
	b := analysisBody{CrashThreadID: st.crashThreadID(), Analysis: a, TaskThreads: taskThreads, Localized: loc}
	if r := st.sess.Waits(); r != nil && (r.Stats.Waiting > 0 || r.Watchdog != nil) {
		b.Waits = r
		b.Localized.Waits = waitsSaid(r, lang)
	}
	return b
}

// waitsSaid renders the wait graph's sentences in lang (a sentence the
// graph has no message for is its English).
func waitsSaid(r *waits.Result, lang *l10n.Printer) *localizedWaits {
	say := func(m l10n.Msg, english string) string {
		if m.IsZero() {
			return english
		}
		return lang.S(m)
	}
	lw := &localizedWaits{Summary: say(r.SummarySaid, r.Summary), Who: map[string]string{}}
	if wd := r.Watchdog; wd != nil {
		lw.Watchdog = say(wd.Said, wd.Text)
	}
	for _, c := range r.Cycles {
		lw.Cycles = append(lw.Cycles, say(c.Said, c.Text))
	}
	for _, c := range r.Chains {
		lw.Chains = append(lw.Chains, say(c.Said, c.Text))
	}
	for _, o := range r.Objects {
		lw.Objects = append(lw.Objects, say(o.Said, o.Text))
	}
	for _, n := range r.Nodes {
		lw.Who[n.ID] = say(n.Said, n.Who)
	}
	return lw
}
