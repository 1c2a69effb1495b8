package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/dsecore/dsecore/internal/testsupport/gdboracle"
	"github.com/dsecore/dsecore/server"
	"github.com/google/go-dap"
)

// dapClient drives `dsecore dap` over its stdio with go-dap's messages.
type dapClient struct {
	t    *testing.T
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	seq  int
	msgs chan dap.Message
	errs chan error
	raws chan []byte // the raw bytes of every message, in order
	// events seen while waiting for responses
	events []dap.Message
	last   []byte // the raw bytes of the last message read
}

func startDAP(t *testing.T, env ...string) *dapClient {
	t.Helper()
	return startDAPIn(t, "", "", env...)
}

// startDAPIn starts dsecore dap in dir (the test's own when ""), with HOME
// set to home when it is not "", and the extra environment env.
func startDAPIn(t *testing.T, dir, home string, env ...string) *dapClient {
	t.Helper()
	cmd := exec.Command(dsecoreBin, "dap")
	cmd.Dir = dir
	if home != "" {
		env = append(env, "HOME="+home)
	}
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := newDAPClient(t, in, out)
	c.cmd = cmd
	t.Cleanup(func() {
		in.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Errorf("dsecore dap did not exit when its stdin closed")
		}
	})
	return c
}

// newDAPClient is a client writing to in and reading from out (a
// process's pipes, or a socket).
func newDAPClient(t *testing.T, in io.WriteCloser, out io.Reader) *dapClient {
	c := &dapClient{t: t, in: in, out: bufio.NewReader(out), msgs: make(chan dap.Message, 1000), errs: make(chan error, 1), raws: make(chan []byte, 1000)}
	go func() {
		for {
			b, err := dap.ReadBaseMessage(c.out)
			var m dap.Message
			if err == nil {
				m, err = dap.DecodeProtocolMessage(b)
			}
			if err != nil {
				c.errs <- err
				close(c.msgs)
				return
			}
			c.raws <- b
			c.msgs <- m
		}
	}()
	return c
}

func (c *dapClient) send(command string, args any) int {
	c.t.Helper()
	c.seq++
	b, _ := json.Marshal(map[string]any{"seq": c.seq, "type": "request", "command": command, "arguments": args})
	// In one write: a server with a per-message deadline never sees a
	// header whose content the test has not sent yet.
	var msg bytes.Buffer
	dap.WriteBaseMessage(&msg, b)
	if _, err := c.in.Write(msg.Bytes()); err != nil {
		c.t.Fatal(err)
	}
	return c.seq
}

// next reads the next message, failing after a timeout.
func (c *dapClient) next() dap.Message {
	c.t.Helper()
	select {
	case m, ok := <-c.msgs:
		if !ok {
			c.t.Fatalf("dsecore dap closed its output: %v", <-c.errs)
		}
		c.last = <-c.raws
		return m
	case <-time.After(60 * time.Second):
		c.t.Fatal("no message from dsecore dap in 60 s")
	}
	return nil
}

// call sends a request and returns its response (events are kept).
func (c *dapClient) call(command string, args any) dap.ResponseMessage {
	c.t.Helper()
	seq := c.send(command, args)
	for {
		m := c.next()
		if r, ok := m.(dap.ResponseMessage); ok && r.GetResponse().RequestSeq == seq {
			return r
		}
		c.events = append(c.events, m)
	}
}

func (c *dapClient) ok(command string, args any) dap.ResponseMessage {
	c.t.Helper()
	r := c.call(command, args)
	if !r.GetResponse().Success {
		c.t.Fatalf("%s failed: %s", command, r.GetResponse().Message)
	}
	return r
}

func (c *dapClient) waitEvent(name string) dap.Message {
	c.t.Helper()
	for i, e := range c.events {
		if e.(dap.EventMessage).GetEvent().Event == name {
			c.events = append(c.events[:i], c.events[i+1:]...)
			return e
		}
	}
	for {
		m := c.next()
		if e, ok := m.(dap.EventMessage); ok && e.GetEvent().Event == name {
			return m
		}
		c.events = append(c.events, m)
	}
}

func (c *dapClient) variables(ref int) map[string]dap.Variable {
	c.t.Helper()
	r := c.ok("variables", map[string]any{"variablesReference": ref}).(*dap.VariablesResponse)
	out := map[string]dap.Variable{}
	for _, v := range r.Body.Variables {
		if _, dup := out[v.Name]; !dup {
			out[v.Name] = v
		}
	}
	return out
}

// TestDAPFieldCrash: a whole session on the field crash, through stdio,
// asserting what a debugging engineer looks at.
func TestDAPFieldCrash(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	c := startDAP(t)
	init := c.ok("initialize", map[string]any{"adapterID": "dsecore", "supportsProgressReporting": true}).(*dap.InitializeResponse)
	caps := init.Body
	if !strings.Contains(string(c.last), `"exceptionBreakpointFilters":[]`) {
		t.Errorf("initialize: no empty exceptionBreakpointFilters: %s", c.last)
	}
	if !caps.SupportsConfigurationDoneRequest || !caps.SupportsDisassembleRequest || !caps.SupportsReadMemoryRequest || !caps.SupportsModulesRequest ||
		caps.SupportsSetVariable || caps.SupportsStepBack || caps.SupportsRestartRequest || caps.SupportsFunctionBreakpoints {
		t.Errorf("capabilities %+v", caps)
	}
	// Requests before launch are refused, not crashed on.
	if r := c.call("threads", nil); r.GetResponse().Success || !strings.Contains(r.GetResponse().Message, "launch") {
		t.Errorf("threads before launch: %+v", r.GetResponse())
	}
	c.ok("launch", map[string]any{"coreFile": sc.Core, "program": sc.Exe, "logFiles": []string{sc.Dir}})
	c.waitEvent("progressStart")
	c.waitEvent("progressEnd")
	c.waitEvent("initialized")
	c.ok("configurationDone", nil)
	stopped := c.waitEvent("stopped").(*dap.StoppedEvent)
	crashLWP := intField(t, sc.Expected, "crash_lwp")
	if stopped.Body.Reason != "exception" || !stopped.Body.AllThreadsStopped || stopped.Body.ThreadId != crashLWP ||
		stopped.Body.Description != "SIGSEGV (SEGV_MAPERR) at 0x0 in dm_hash_node_t::clear()" {
		t.Errorf("stopped %+v", stopped.Body)
	}
	// Threads and tasks.
	th := c.ok("threads", nil).(*dap.ThreadsResponse)
	names := map[int]string{}
	for _, x := range th.Body.Threads {
		names[x.Id] = x.Name
	}
	if names[crashLWP] != fmt.Sprintf("LWP %d Processer_5", crashLWP) {
		t.Errorf("crashing thread named %q", names[crashLWP])
	}
	taskID := 0
	for id, n := range names {
		if strings.HasPrefix(n, "task 15 [block]") {
			taskID = id
			// Named from the task's own data (its Processer, where it was
			// created), not from its stack: the list unwinds no task.
			if n != "task 15 [block] Processer 6, created in destroy_engines" {
				t.Errorf("task 15 named %q", n)
			}
		}
	}
	if taskID < 1<<30 || len(th.Body.Threads) != len(sc.Expected["threads"].([]any))+len(sc.Expected["tasks"].([]any)) {
		t.Errorf("threads %v", names)
	}
	// The crashing stack, paged: the handler's frames (as many as the
	// fixture's handler has: Ceph's re-raises through pthread_kill), the
	// trampoline at k, the faulting frames after it.
	all := c.ok("stackTrace", map[string]any{"threadId": crashLWP, "startFrame": 0, "levels": 100}).(*dap.StackTraceResponse)
	k := -1
	for i, f := range all.Body.StackFrames {
		if f.Name == "<signal handler called>" {
			k = i
			break
		}
	}
	if k < 1 {
		t.Fatalf("no signal trampoline frame in %d frames", len(all.Body.StackFrames))
	}
	st := c.ok("stackTrace", map[string]any{"threadId": crashLWP, "startFrame": 0, "levels": k + 4}).(*dap.StackTraceResponse)
	if st.Body.TotalFrames < 15 || len(st.Body.StackFrames) != k+4 {
		t.Fatalf("stackTrace: %d of %d frames", len(st.Body.StackFrames), st.Body.TotalFrames)
	}
	fr := st.Body.StackFrames
	if fr[k].Name != "<signal handler called>" || fr[k].PresentationHint != "label" ||
		fr[k+1].Name != "boost::intrusive::list_node_traits<void*>::get_next [inlined]" ||
		fr[k+3].Name != "dm_hash_node_t::clear" || fr[k+3].Line != 42 || fr[k+3].Source == nil || !strings.HasSuffix(fr[k+3].Source.Path, "dcache/dm.cc") ||
		fr[k+3].InstructionPointerReference != sc.Expected["fault_ip"].(string) || !strings.HasSuffix(fmt.Sprint(fr[k+3].ModuleId), "libdcache.so") {
		b, _ := json.MarshalIndent(fr, "", " ")
		t.Errorf("frames:\n%s", b)
	}
	// The handler's frames are deemphasized (a client focuses the first
	// frame that is not: the faulting one); the faulting frames are not.
	for i, f := range fr {
		deem := f.Source != nil && f.Source.PresentationHint == "deemphasize"
		if i < k && (!deem || f.PresentationHint != "subtle") || i > k && (deem || f.PresentationHint == "subtle") {
			t.Errorf("frame #%d %s: hint %q, source %+v (the handler's frames are #0..#%d)", i, f.Name, f.PresentationHint, f.Source, k-1)
		}
	}
	if fr[0].Source == nil || fr[0].Source.SourceReference == 0 {
		t.Errorf("glibc's frame has no disassembly source: %+v", fr[0].Source)
	} else {
		src := c.ok("source", map[string]any{"sourceReference": fr[0].Source.SourceReference}).(*dap.SourceResponse)
		if !strings.Contains(src.Body.Content, "__pthread_kill_implementation") || !strings.Contains(src.Body.Content, "syscall") && !strings.Contains(src.Body.Content, "mov") {
			t.Errorf("disassembly source:\n%s", src.Body.Content)
		}
	}
	rest := c.ok("stackTrace", map[string]any{"threadId": crashLWP, "startFrame": k + 4, "levels": 100}).(*dap.StackTraceResponse)
	if rest.Body.StackFrames[0].Name != "lsm_release_all_csdobj" || rest.Body.StackFrames[1].Name != "lsm_destroy" {
		t.Errorf("frames %d,%d: %s, %s", k+4, k+5, rest.Body.StackFrames[0].Name, rest.Body.StackFrames[1].Name)
	}
	// Scopes of clear(): this, the registers, the analysis.
	scopes := c.ok("scopes", map[string]any{"frameId": fr[k+3].Id}).(*dap.ScopesResponse).Body.Scopes
	byName := map[string]int{}
	for _, s := range scopes {
		byName[s.Name] = s.VariablesReference
	}
	if len(byName) != 4 || byName["Fault analysis"] == 0 {
		t.Fatalf("scopes %+v", scopes)
	}
	node := sc.Expected["node"].(string)
	args := c.variables(byName["Arguments"])
	this := args["this"]
	if this.Value != node || this.Type != "const dm_hash_node_t *" && this.Type != "dm_hash_node_t * const" || this.MemoryReference != node || this.VariablesReference == 0 {
		t.Errorf("this = %+v", this)
	}
	fields := c.variables(this.VariablesReference)
	if fields["refcount"].Value != "2" || fields["objs"].Value != "size=0 (size_ says -1)" {
		t.Errorf("*this = %+v", fields)
	}
	regs := c.variables(byName["Registers"])
	if regs["rbp"].Value != fmt.Sprintf("%#016x", hexField(t, sc.Expected["fault_regs"].(map[string]any), "rbp")) || regs["rbx"].Value != fmt.Sprintf("%#016x", 0) {
		t.Errorf("registers rbp %q rbx %q", regs["rbp"].Value, regs["rbx"].Value)
	}
	an := c.variables(byName["Fault analysis"])
	if !strings.Contains(an["verdict"].Value, "concurrent destruction") || an["evidence"].VariablesReference == 0 {
		t.Errorf("analysis scope %+v", an)
	}
	ev := c.variables(an["evidence"].VariablesReference)
	if _, ok := ev["[0] reraised-by-handler"]; !ok {
		t.Errorf("evidence %v", ev)
	}
	// The timeline: the log lines with their file and line, the fault,
	// and the other path's frame at the dump, holding the node.
	if an["timeline"].VariablesReference == 0 {
		t.Fatalf("no timeline in the analysis scope: %+v", an)
	}
	var logSteps, faultSteps, holderSteps int
	for name, v := range c.variables(an["timeline"].VariablesReference) {
		st := c.variables(v.VariablesReference)
		switch st["evidence"].Value {
		case "log":
			if !strings.HasPrefix(st["log_line"].Value, "ceph-dse.engine.64.") || st["time"].Value == "" || !strings.Contains(name, st["time"].Value) {
				t.Errorf("log step %s: %+v", name, st)
			}
			logSteps++
		case "fault":
			faultSteps++
		case "frame":
			if st["ref"].Value == "memory.holders[0]" {
				holderSteps++
				if !strings.HasSuffix(name, "at dump") || st["function"].Value != "(anonymous namespace)::release_wait" || st["frame"].Value != "3" ||
					!strings.HasPrefix(st["who"].Value, "task ") || !strings.Contains(st["text"].Value, "as `node`") {
					t.Errorf("holder step %s: %+v", name, st)
				}
			}
		}
	}
	if logSteps < 10 || faultSteps != 1 || holderSteps != 1 {
		t.Errorf("timeline: %d log steps, %d fault steps, %d holder steps", logSteps, faultSteps, holderSteps)
	}
	// lsm in the caller, and its vector; hex formatting.
	sc6 := c.ok("scopes", map[string]any{"frameId": rest.Body.StackFrames[0].Id}).(*dap.ScopesResponse).Body.Scopes
	lsm := c.variables(sc6[0].VariablesReference)["lsm"]
	if !strings.HasSuffix(lsm.Value, "<(anonymous namespace)::lsm4>") {
		t.Errorf("lsm = %+v", lsm)
	}
	lf := c.variables(lsm.VariablesReference)
	if lf["engine_id"].Value != "4" || lf["node"].Value != node || !strings.HasPrefix(lf["csd_objs"].Value, "size=") {
		t.Errorf("*lsm = %+v", lf)
	}
	// Evaluate: expressions and repl commands.
	eval := func(expr, ctx string) *dap.EvaluateResponse {
		r := c.call("evaluate", map[string]any{"expression": expr, "frameId": fr[k+3].Id, "context": ctx})
		if !r.GetResponse().Success {
			t.Errorf("evaluate %q: %s", expr, r.GetResponse().Message)
			return &dap.EvaluateResponse{}
		}
		return r.(*dap.EvaluateResponse)
	}
	if r := eval("this->objs.data_.root_plus_size_.size_", "watch"); r.Body.Result != "18446744073709551615" {
		t.Errorf("size_ = %q", r.Body.Result)
	}
	obj0 := sc.Expected["objs"].([]any)[0].(map[string]any)
	if r := eval("*(dm_obj_t *)("+obj0["hook"].(string)+" - 0x130)", "hover"); r.Body.VariablesReference == 0 || r.Body.MemoryReference != obj0["address"].(string) {
		t.Errorf("cast: %+v", r.Body)
	}
	if r := eval("$rbx", "repl"); r.Body.Result != "0" {
		t.Errorf("$rbx = %q", r.Body.Result)
	}
	if r := eval("bt", "repl"); !strings.Contains(r.Body.Result, "dm_hash_node_t::clear at") {
		t.Errorf("bt:\n%s", r.Body.Result)
	}
	if r := eval("analysis", "repl"); !strings.Contains(r.Body.Result, "[shared-object]") {
		t.Errorf("analysis:\n%s", r.Body.Result)
	}
	// x/NFU as gdb's own x prints the same memory of the same core (two
	// lines for x/3gx; words of 4 bytes), and as readMemory reads it.
	header := fmt.Sprintf("%#x", hexField(t, sc.Expected, "node")+0x20)
	examine := []string{"x/2gx " + node, "x/3gx " + header, "x/4wx " + node}
	gdbOut, err := gdboracle.Commands(sc.Exe, sc.Core, gdboracle.Options{}, examine...)
	if err != nil {
		t.Fatal(err)
	}
	var gdbLines []string
	for _, l := range strings.Split(strings.Join(gdbOut, ""), "\n") {
		if strings.HasPrefix(l, "0x") && strings.Contains(l, ":\t") {
			gdbLines = append(gdbLines, l)
		}
	}
	var ours []string
	for _, x := range examine {
		ours = append(ours, strings.Split(strings.TrimSuffix(eval(x, "repl").Body.Result, "\n"), "\n")...)
	}
	if strings.Join(ours, "\n") != strings.Join(gdbLines, "\n") || len(ours) != 4 {
		t.Errorf("%s: ours\n%s\ngdb's\n%s", strings.Join(examine, ", "), strings.Join(ours, "\n"), strings.Join(gdbLines, "\n"))
	}
	words := c.ok("readMemory", map[string]any{"memoryReference": node, "count": 16}).(*dap.ReadMemoryResponse)
	wb, _ := base64.StdEncoding.DecodeString(words.Body.Data)
	if len(wb) != 16 || len(ours) == 0 || ours[0] != fmt.Sprintf("%s:\t0x%016x\t0x%016x", node, binary.LittleEndian.Uint64(wb), binary.LittleEndian.Uint64(wb[8:])) {
		t.Errorf("x/2gx %s = %q, readMemory: % x", node, ours, wb)
	}
	// tasks: every task of the program, with its state, Processer and
	// where it was created.
	tasksOut := eval("tasks", "repl").Body.Result
	rows := map[string][]string{}
	for _, l := range strings.Split(tasksOut, "\n") {
		if f := strings.Fields(l); len(f) > 3 {
			rows[f[0]] = f
		}
	}
	if !strings.HasPrefix(tasksOut, fmt.Sprintf("%d tasks ", len(sc.Expected["tasks"].([]any)))) {
		t.Errorf("tasks:\n%s", tasksOut)
	}
	for _, x := range sc.Expected["tasks"].([]any) {
		m := x.(map[string]any)
		state := m["state"].(string)
		if m["running"].(bool) {
			state = "running"
		}
		f := rows[fmt.Sprint(m["id"])]
		created := fmt.Sprintf("%s (%s:%v)", m["func"], filepath.Base(m["file"].(string)), m["line"])
		if len(f) < 4 || f[1] != state || f[2] != fmt.Sprint(m["processer"]) || !strings.HasSuffix(strings.Join(f, " "), created) {
			t.Errorf("task %v: row %q, want state %s, Processer %v, created at %s", m["id"], f, state, m["processer"], created)
		}
	}
	// info registers of clear()'s frame: gdb's registers of the same
	// frame, "<not saved>" where gdb has none.
	gdbThreads, err := gdboracle.Backtraces(sc.Exe, sc.Core, gdboracle.Options{Registers: true})
	if err != nil {
		t.Fatal(err)
	}
	var gdbClear *gdboracle.Frame
	for _, th := range gdbThreads {
		for i, f := range th.Frames {
			if th.LWP == crashLWP && f.PC == hexField(t, sc.Expected, "fault_ip") && f.Type == "NORMAL" {
				gdbClear = &th.Frames[i]
			}
		}
	}
	if gdbClear == nil || len(gdbClear.Regs) != 17 {
		t.Fatalf("gdb has no frame at the fault ip on LWP %d", crashLWP)
	}
	regsOut := eval("info registers", "repl").Body.Result
	regLines := strings.Split(strings.TrimSuffix(regsOut, "\n"), "\n")
	if len(regLines) != 17 {
		t.Errorf("info registers: %d lines:\n%s", len(regLines), regsOut)
	}
	for i, l := range regLines {
		f := strings.Fields(l)
		if i >= 17 || len(f) < 2 {
			break
		}
		want := "<not saved>"
		if v := gdbClear.Regs[i]; v != nil {
			want = fmt.Sprintf("0x%016x %d", *v, int64(*v))
		}
		if f[0] != gdbRegNames[i] || strings.Join(f[1:], " ") != want {
			t.Errorf("info registers: %q, gdb: %s %s", l, gdbRegNames[i], want)
		}
	}
	if r := c.call("evaluate", map[string]any{"expression": "nosuch", "frameId": fr[k+3].Id}); r.GetResponse().Success {
		t.Errorf("nosuch evaluated")
	}
	// Disassembly around the fault, memory, modules, exception info.
	dis := c.ok("disassemble", map[string]any{"memoryReference": fr[k+3].InstructionPointerReference, "instructionOffset": -4, "instructionCount": 10}).(*dap.DisassembleResponse)
	if len(dis.Body.Instructions) != 10 || dis.Body.Instructions[4].Address != sc.Expected["fault_ip"].(string) ||
		dis.Body.Instructions[4].Instruction != "mov    (%rbx),%rbx" || !strings.HasPrefix(dis.Body.Instructions[4].Symbol, "dm_hash_node_t::clear") {
		b, _ := json.MarshalIndent(dis.Body.Instructions, "", " ")
		t.Errorf("disassembly:\n%s", b)
	}
	mem := c.ok("readMemory", map[string]any{"memoryReference": node, "offset": 0x20, "count": 16}).(*dap.ReadMemoryResponse)
	raw, _ := base64.StdEncoding.DecodeString(mem.Body.Data)
	if len(raw) != 16 || fmt.Sprintf("%#x", uint64(raw[0])|uint64(raw[1])<<8|uint64(raw[2])<<16|uint64(raw[3])<<24|uint64(raw[4])<<32|uint64(raw[5])<<40) != fmt.Sprintf("%#x", hexField(t, sc.Expected, "node")+0x20) {
		t.Errorf("readMemory at node+0x20 (the header's next_, linked to itself): % x", raw)
	}
	c.ok("modules", nil)
	var mb struct {
		Body struct {
			Modules []map[string]any `json:"modules"`
		} `json:"body"`
	}
	json.Unmarshal(c.last, &mb)
	found := false
	for _, m := range mb.Body.Modules {
		if strings.HasSuffix(m["name"].(string), "libdcache.so") {
			found = m["buildId"] == readelfBuildID(t, sc.Lib) && m["symbolStatus"] == "full" && m["addressRange"] != ""
		}
	}
	if !found {
		t.Errorf("modules %v", mb.Body.Modules)
	}
	ex := c.ok("exceptionInfo", map[string]any{"threadId": crashLWP}).(*dap.ExceptionInfoResponse)
	if ex.Body.ExceptionId != "SIGSEGV" || !strings.Contains(ex.Body.Description, "concurrent destruction") || !strings.Contains(ex.Body.Details.StackTrace, "lsm_destroy") {
		t.Errorf("exceptionInfo %+v", ex.Body)
	}
	// The suspended task's stack.
	ts := c.ok("stackTrace", map[string]any{"threadId": taskID}).(*dap.StackTraceResponse)
	if len(ts.Body.StackFrames) < 6 || ts.Body.StackFrames[0].Name != "co::Processer::SwapOut" || ts.Body.StackFrames[5].Name != "lsm_release_all_csdobj" {
		t.Errorf("task 15's frames: %+v", ts.Body.StackFrames)
	}
	// A core cannot run.
	for _, cmd := range []string{"continue", "next", "stepIn"} {
		r := c.call(cmd, map[string]any{"threadId": crashLWP})
		if r.GetResponse().Success || !strings.Contains(r.GetResponse().Message, "core file") {
			t.Errorf("%s: %+v", cmd, r.GetResponse())
		}
	}
	comp := c.ok("completions", map[string]any{"text": "th", "column": 3, "frameId": fr[k+3].Id}).(*dap.CompletionsResponse)
	if len(comp.Body.Targets) == 0 || comp.Body.Targets[0].Label != "this" {
		t.Errorf("completions %+v", comp.Body.Targets)
	}
	c.ok("disconnect", nil)
}

// gdbRegNames are gdboracle's registers, in its order (DWARF 0..16).
var gdbRegNames = []string{"rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip"}

// TestDAPBadInput: garbage and misuse get error responses or a clean exit.
func TestDAPBadInput(t *testing.T) {
	c := startDAP(t)
	c.ok("initialize", map[string]any{"adapterID": "x"})
	if r := c.call("nosuchcommand", nil); r.GetResponse().Success {
		t.Errorf("unknown command succeeded")
	}
	if r := c.call("launch", map[string]any{}); r.GetResponse().Success || !strings.Contains(r.GetResponse().Message, "coreFile") {
		t.Errorf("launch without coreFile: %+v", r.GetResponse())
	}
	if r := c.call("launch", map[string]any{"coreFile": "/nonexistent/core"}); r.GetResponse().Success {
		t.Errorf("launch of a missing core succeeded")
	}
	if r := c.call("stackTrace", map[string]any{"threadId": "not a number"}); r.GetResponse().Success {
		t.Errorf("a bad argument type succeeded")
	}
	// Not JSON at all: an output event, and the session goes on.
	dap.WriteBaseMessage(c.in, []byte("{not json"))
	if r := c.call("threads", nil); r.GetResponse().Success {
		t.Errorf("threads before a launch succeeded")
	}
	// A broken header ends the session cleanly.
	io.WriteString(c.in, "Content-Length: nonsense\r\n\r\n")
	select {
	case _, ok := <-c.msgs:
		for ok {
			_, ok = <-c.msgs
		}
	case <-time.After(10 * time.Second):
		t.Errorf("dsecore dap still running after a broken header")
	}
	if err := c.cmd.Wait(); err == nil {
		t.Errorf("a broken stream should exit non-zero")
	}
}

// TestDAPListenAddr: --listen stays on loopback unless told otherwise.
func TestDAPListenAddr(t *testing.T) {
	for in, want := range map[string]server.ListenSpec{"4711": {Network: "tcp", Address: "127.0.0.1:4711"}, ":4711": {Network: "tcp", Address: "127.0.0.1:4711"},
		"0.0.0.0:4711": {Network: "tcp", Address: "0.0.0.0:4711"}, "[::1]:9": {Network: "tcp", Address: "[::1]:9"}, "unix:/run/x.sock": {Network: "unix", Address: "/run/x.sock"}} {
		if got := server.ParseListen(in); got != want {
			t.Errorf("ParseListen(%q) = %v, want %v", in, got, want)
		}
	}
	for addr, want := range map[string]bool{"127.0.0.1:1": true, "[::1]:1": true, "localhost:1": true, "0.0.0.0:1": false, "10.1.2.3:1": false, "unix:/x": true} {
		if server.ParseListen(addr).Loopback() != want {
			t.Errorf("%s: loopback %v", addr, !want)
		}
	}
}

// TestDAPOversized: a message over the size limit gets an explanation and a
// clean exit, not an attempt to read gigabytes.
func TestDAPOversized(t *testing.T) {
	code, out, stderr := runBounded(t, strings.NewReader("Content-Length: 999999999999\r\n\r\n{}"), "dap")
	if code != 1 || !strings.Contains(out, `"category":"important"`) || !strings.Contains(out, "a message of 999999999999 bytes: the limit is 4194304") ||
		!strings.Contains(stderr, "the limit is 4194304") {
		t.Errorf("exit %d\nstdout %s\nstderr %s", code, out, stderr)
	}
}

// TestDAPFlood: 10,000 requests (stack traces, evaluations, bad thread ids,
// unknown commands and cancels, interleaved) after a launch: every one is
// answered exactly once and the session goes on.
func TestDAPFlood(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	c := startDAP(t)
	c.ok("initialize", map[string]any{"adapterID": "flood"})
	c.ok("launch", map[string]any{"coreFile": sc.Core, "program": sc.Exe})
	c.ok("configurationDone", nil)
	lwp := intField(t, sc.Expected, "crash_lwp")
	const n = 10000
	first := c.seq + 1
	go func() {
		for i := 0; i < n; i++ {
			switch i % 5 {
			case 0:
				c.send("stackTrace", map[string]any{"threadId": lwp, "levels": 3})
			case 1:
				c.send("evaluate", map[string]any{"expression": "$rbx", "context": "repl"})
			case 2:
				c.send("stackTrace", map[string]any{"threadId": 999999999})
			case 3:
				c.send("cancel", map[string]any{"requestId": first + i - 1})
			case 4:
				c.send("nosuchcommand", nil)
			}
		}
	}()
	answered := map[int]int{}
	ok := 0
	for len(answered) < n {
		m := c.next()
		r, isResp := m.(dap.ResponseMessage)
		if !isResp {
			continue
		}
		seq := r.GetResponse().RequestSeq
		answered[seq]++
		if r.GetResponse().Success {
			ok++
		}
	}
	for seq, k := range answered {
		if k != 1 || seq < first || seq >= first+n {
			t.Errorf("request %d answered %d times", seq, k)
		}
	}
	// stackTrace, evaluate and cancel succeed (3 of 5); bad ids and unknown
	// commands get errors.
	if ok != n/5*3 {
		t.Errorf("%d successful responses, want %d", ok, n/5*3)
	}
	st := c.ok("stackTrace", map[string]any{"threadId": lwp, "levels": 20}).(*dap.StackTraceResponse)
	found := false
	for _, f := range st.Body.StackFrames {
		found = found || f.Name == "dm_hash_node_t::clear"
	}
	if !found {
		t.Errorf("after the flood: no dm_hash_node_t::clear in %+v", st.Body.StackFrames)
	}
}

// TestDAPHangUp: a client that sends a burst and goes away mid-response
// leaves no process behind.
func TestDAPHangUp(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	cmd := exec.Command(dsecoreBin, "dap")
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := func(seq int, command string, args string) {
		body := fmt.Sprintf(`{"seq":%d,"type":"request","command":%q,"arguments":%s}`, seq, command, args)
		fmt.Fprintf(in, "Content-Length: %d\r\n\r\n%s", len(body), body)
	}
	w(1, "initialize", `{"adapterID":"x"}`)
	w(2, "launch", fmt.Sprintf(`{"coreFile":%q}`, sc.Core))
	go func() {
		for i := 3; i < 2000; i++ {
			w(i, "stackTrace", fmt.Sprintf(`{"threadId":%d}`, intField(t, sc.Expected, "crash_lwp")))
		}
		in.Close()
	}()
	buf := make([]byte, 4096)
	out.Read(buf) // the first bytes of a response, then hang up
	out.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("dsecore dap still running 20 s after its client hung up")
	}
	if strings.Contains(stderr.String(), "panic:") || strings.Contains(stderr.String(), "goroutine ") {
		t.Errorf("a panic:\n%s", stderr.String())
	}
}
