package server

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/unwind"
	"github.com/dsecore/dsecore/coreparse/values"
	"github.com/dsecore/dsecore/session"
	"github.com/google/go-dap"
)

// LaunchArgs are launch's (and attach's) arguments. Fields left out take
// the server's defaults (dsecore dap's flags), then the session's.
type LaunchArgs struct {
	CoreFile           string            `json:"coreFile"`
	Program            string            `json:"program"`
	SolibSearchPath    []string          `json:"solibSearchPath"`
	Sysroot            string            `json:"sysroot"`
	DebugFileDirectory []string          `json:"debugFileDirectory"`
	SourceFileMap      map[string]string `json:"sourceFileMap"`
	SubstitutePath     []struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"substitutePath"`
	LogFiles        []string `json:"logFiles"`
	Dmesg           string   `json:"dmesg"`           // the kernel's segfault line (or a file of kernel messages)
	Profile         string   `json:"profile"`         // coroutine runtime profile
	AnalysisProfile string   `json:"analysisProfile"` // fault-analysis profile
	FullScan        bool     `json:"fullScan"`
	ShowTasks       string   `json:"showTasks"` // all (default), crash-related, none
	// Bounds on walks of target memory (0: the defaults, 512 frames per
	// stack and 10,000 list or array elements); a walk that hits one says so.
	MaxFrames   int `json:"maxFrames"`
	MaxElements int `json:"maxElements"`
	// AuthToken is the token of the server's --auth-token-file, when it
	// has one (a server on a non-loopback address must).
	AuthToken string `json:"authToken"`
	// Lang is the client's display language (VS Code's vscode.env.language:
	// "zh-cn", "en"): the words the server writes for people (the verdict
	// in dsecore/analysis' localized part, the exception widget, the
	// console's analysis) are the message catalog's in it; English when
	// the catalog has no such language.
	Lang string `json:"lang"`
}

// sessionOptions are the session's options: the server's defaults with
// what the client named.
func (a LaunchArgs) sessionOptions(base session.Options) session.Options {
	o := base
	o.Core = a.CoreFile
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&o.Exe, a.Program)
	set(&o.Sysroot, a.Sysroot)
	set(&o.CoroutineProfile, a.Profile)
	set(&o.AnalysisProfile, a.AnalysisProfile)
	set(&o.Dmesg, a.Dmesg)
	if len(a.SolibSearchPath) > 0 {
		o.SolibSearchPath = a.SolibSearchPath
	}
	if len(a.DebugFileDirectory) > 0 {
		o.DebugFileDirs = a.DebugFileDirectory
	}
	if len(a.LogFiles) > 0 {
		o.Logs = a.LogFiles
	}
	o.FullScan = o.FullScan || a.FullScan
	if a.MaxFrames > 0 {
		o.MaxFrames = a.MaxFrames
	}
	if a.MaxElements > 0 {
		o.MaxElements = a.MaxElements
	}
	return o
}

func (c *conn) output(category, text string) {
	c.send(&dap.OutputEvent{Event: c.event("output"), Body: dap.OutputEventBody{Category: category, Output: "dsecore: " + text + "\n"}})
}

func (c *conn) launch(req *dap.Request, raw json.RawMessage) {
	var a LaunchArgs
	if err := json.Unmarshal(raw, &a); err != nil {
		c.sendError(req.Seq, req.Command, errBadLaunchArgs, "bad launch arguments: "+err.Error())
		return
	}
	if a.CoreFile == "" {
		c.sendError(req.Seq, req.Command, errNoCoreFile, "launch needs coreFile: the core file to open")
		return
	}
	if c.st != nil {
		c.sendError(req.Seq, req.Command, errLaunchedTwice, "a core is already open in this session")
		return
	}
	if len(c.cfg.Token) > 0 && !tokenOK(a.AuthToken, c.cfg.Token) {
		// One guess per connection: a wrong token ends it.
		why := req.Command + ": no authToken, or not the server's: this server (--auth-token-file) serves only clients that send its token"
		if a.AuthToken != "" {
			why = req.Command + ": wrong authToken: this server (--auth-token-file) serves only clients that send its token"
		}
		c.logf("refused %s: %s", req.Command, why)
		c.sendError(req.Seq, req.Command, errAuth, why)
		c.endSession(why)
		return
	}
	a.AuthToken = ""
	a, err := c.cfg.Paths.checkLaunch(a)
	if err != nil {
		c.logf("refused %s: %v", req.Command, err)
		c.sendError(req.Seq, req.Command, errAccessDenied, fmt.Sprintf("%s: %v", req.Command, err))
		return
	}
	if a.ShowTasks == "" {
		a.ShowTasks = "all"
	}
	if c.clientProgress {
		c.send(&dap.ProgressStartEvent{Event: c.event("progressStart"), Body: dap.ProgressStartEventBody{ProgressId: "load", Title: "Opening the core", Message: filepath.Base(a.CoreFile)}})
	}
	endLoad := func(msg string) {
		if c.clientProgress {
			c.send(&dap.ProgressEndEvent{Event: c.event("progressEnd"), Body: dap.ProgressEndEventBody{ProgressId: "load", Message: msg}})
		}
	}
	o := a.sessionOptions(c.base)
	o.Progress = c.progress
	o.DeferConfirm = true // the thread list needs discovery's walk alone
	sess, err := session.Open(o)
	if err != nil {
		endLoad("failed")
		c.sendError(req.Seq, req.Command, errCannotOpen, fmt.Sprintf("cannot open %s: %v", a.CoreFile, err))
		return
	}
	endLoad("done")
	st := &state{args: a, sess: sess, output: c.output, p: sess.Process(), vr: sess.Values(), stacks: map[int][]coreparse.Frame{}, stopped: map[int]string{}, scopes: map[int]*values.Scope{},
		maxHeld: c.cfg.Limits.MaxHeldBytes}
	c.st = st
	p := st.p

	// Missing and mismatched files, loudly and once: the dsecore/modules
	// event with the fields a client acts on (first, so that a client
	// knows the important outputs that follow for what they are), one
	// important output each, the launch response's message; the core's
	// warning of the same problem is not sent again.
	problems := moduleProblems(p)
	if len(problems) > 0 {
		c.send(&modulesEvent{Event: c.event(eventModules), Body: modulesEventBody{Problems: problems}})
	}
	var important []string
	for _, pr := range problems {
		important = append(important, pr.Message)
		c.output("important", pr.Message)
	}
warnings:
	for _, w := range sess.Warnings() {
		for _, pr := range problems {
			if strings.HasPrefix(w, pr.problem) {
				continue warnings
			}
		}
		c.output("console", w)
	}
	resp := &dap.LaunchResponse{Response: response(req)}
	if len(important) > 0 {
		resp.Message = strings.Join(important, "; ")
	}
	if req.Command == "attach" {
		c.send(&dap.AttachResponse{Response: resp.Response})
	} else {
		c.send(resp)
	}
	c.send(&dap.InitializedEvent{Event: c.event("initialized")})
	st.prefetch()
}

func (c *conn) sendStopped() {
	st := c.st
	desc := "the process was stopped when the core was written"
	if fc := st.p.Fault(); fc != nil && fc.Real != nil {
		desc = fc.Real.Name
		if fc.Real.CodeName != "" {
			desc += " (" + fc.Real.CodeName + ")"
		}
		if fc.Real.HasAddr {
			desc += fmt.Sprintf(" at %#x", fc.Real.Addr)
		}
		if fc.Real.Sent {
			desc += st.sentFrom()
		} else if fn := faultFunction(st); fn != "" {
			desc += " in " + fn + "()"
		}
	}
	c.send(&dap.StoppedEvent{Event: c.event("stopped"), Body: dap.StoppedEventBody{Reason: "exception", Description: desc,
		ThreadId: st.crashThreadID(), AllThreadsStopped: true, Text: desc}})
}

// faultFunction is the concrete function of the fault ("dm_hash_node_t::clear").
func faultFunction(st *state) string {
	fc := st.p.Fault()
	if fc == nil {
		return ""
	}
	fs := st.p.Symbolize([]unwind.Frame{{PC: fc.PC, Exact: true}})
	if len(fs) == 0 || fs[len(fs)-1].Function == "??" {
		return ""
	}
	return fs[len(fs)-1].Function
}
