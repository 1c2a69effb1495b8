package server

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/google/go-dap"
)

// client drives a conn in-process: each call dispatches one request as the
// read loop would and returns its one response, raw and (for go-dap's
// commands) decoded.
type client struct {
	t   *testing.T
	s   *conn
	out *syncBuffer
	seq int
}

func (c *client) call(command string, args any) (dap.Message, []byte, wire) {
	c.t.Helper()
	c.seq++
	body, _ := json.Marshal(map[string]any{"seq": c.seq, "type": "request", "command": command, "arguments": args})
	if msg, err := dap.DecodeProtocolMessage(body); err == nil {
		c.s.dispatch(msg.(dap.RequestMessage))
	} else if !c.s.customRequest(body) {
		c.t.Fatalf("%s: %v", command, err)
	}
	raw := c.out.take()
	r := bufio.NewReader(bytes.NewReader(raw))
	var resp []byte
	var w wire
	for {
		content, err := dap.ReadBaseMessage(r)
		if err != nil {
			break
		}
		var m wire
		json.Unmarshal(content, &m)
		if m.Type == "response" {
			if resp != nil {
				c.t.Fatalf("%s: two responses", command)
			}
			resp, w = content, m
		}
	}
	if resp == nil || w.RequestSeq != c.seq || w.Command != command {
		c.t.Fatalf("%s: no response to seq %d: %s", command, c.seq, raw)
	}
	msg, _ := dap.DecodeProtocolMessage(resp)
	return msg, resp, w
}

// ok is call for a request that must succeed.
func (c *client) ok(command string, args any) dap.Message {
	c.t.Helper()
	msg, _, w := c.call(command, args)
	if !w.Success {
		c.t.Fatalf("%s %v: %s", command, args, w.Message)
	}
	return msg
}

func (c *client) variables(ref int) map[string]dap.Variable {
	c.t.Helper()
	vs := c.ok("variables", map[string]any{"variablesReference": ref}).(*dap.VariablesResponse).Body.Variables
	m := map[string]dap.Variable{}
	for _, v := range vs {
		m[v.Name] = v
	}
	return m
}

// coreMemory reads the core's memory with debug/elf, not with dsecore's
// reader: the oracle of x/ and readMemory.
func coreMemory(t *testing.T, core string, addr uint64, n int) []byte {
	t.Helper()
	f, err := elf.Open(core)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Vaddr <= addr && addr+uint64(n) <= p.Vaddr+p.Filesz {
			b := make([]byte, n)
			if _, err := p.ReadAt(b, int64(addr-p.Vaddr)); err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatalf("%#x is in no loaded segment of the core", addr)
	return nil
}

// gnuBuildID reads a file's build-id note with debug/elf.
func gnuBuildID(t *testing.T, path string) string {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := f.Section(".note.gnu.build-id")
	if s == nil {
		t.Fatalf("%s has no build-id note", path)
	}
	b, _ := s.Data()
	namesz, descsz := binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:])
	off := 12 + (namesz+3)&^3
	return hex.EncodeToString(b[off : off+descsz])
}

func hexOf(t *testing.T, v any) uint64 {
	t.Helper()
	x, err := strconv.ParseUint(strings.TrimPrefix(v.(string), "0x"), 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// TestFieldCrashSession: a whole session on the field crash, in-process,
// every answer checked against an oracle: expected.json (what the program
// knew: threads, tasks, the fault's registers and ip), the core's bytes
// read with debug/elf (x/ and readMemory), the library's build-id note.
func TestFieldCrashSession(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	ex := sc.Expected
	out := &syncBuffer{}
	c := &client{t: t, s: newConn(out), out: out}
	defer c.s.close()
	c.ok("initialize", map[string]any{"adapterID": "test"})
	c.ok("launch", map[string]any{"coreFile": sc.Core, "program": sc.Exe, "logFiles": []string{sc.Dir}})
	c.ok("configurationDone", nil)
	crash := int(ex["crash_lwp"].(float64))

	// Threads: every thread by LWP and name, then every task.
	th := c.ok("threads", nil).(*dap.ThreadsResponse).Body.Threads
	names := map[int]string{}
	for _, x := range th {
		names[x.Id] = x.Name
	}
	for _, x := range ex["threads"].([]any) {
		m := x.(map[string]any)
		lwp := int(m["lwp"].(float64))
		if want := fmt.Sprintf("LWP %d %s", lwp, m["name"]); names[lwp] != want {
			t.Errorf("thread %d: %q, want %q", lwp, names[lwp], want)
		}
	}
	if len(th) != len(ex["threads"].([]any))+len(ex["tasks"].([]any)) {
		t.Errorf("%d threads, want %d threads and %d tasks", len(th), len(ex["threads"].([]any)), len(ex["tasks"].([]any)))
	}
	// Each task named from what the program knew of it (id, state,
	// Processer, the function that created it), none unwound for the list:
	// no saved context has been checked yet (FoundBy is the walk's).
	for _, x := range ex["tasks"].([]any) {
		m := x.(map[string]any)
		id := int(m["id"].(float64))
		state := m["state"].(string)
		if m["running"] == true {
			state = "running"
		}
		want := fmt.Sprintf("task %d [%s] Processer %v, created in %s", id, state, m["processer"], m["func"])
		if got := names[taskBase+id]; got != want {
			t.Errorf("task %d named %q, want %q", id, got, want)
		}
	}
	unchecked := func() int {
		n := 0
		for _, tk := range c.s.st.sess.Discovered().Tasks {
			if tk.FoundBy == "profile" {
				n++
			}
		}
		return n
	}
	if n := unchecked(); n != len(ex["tasks"].([]any)) {
		t.Errorf("after threads: %d of %d tasks' contexts unchecked: the list unwound tasks", n, len(ex["tasks"].([]any)))
	}

	// The crashing stack: the fault frame below the signal frame.
	st := c.ok("stackTrace", map[string]any{"threadId": crash, "levels": 100}).(*dap.StackTraceResponse).Body
	k := -1
	for i, f := range st.StackFrames {
		if f.Name == "<signal handler called>" && k < 0 {
			k = i
		}
	}
	if k < 1 || len(st.StackFrames) < k+6 || st.TotalFrames != len(st.StackFrames) {
		t.Fatalf("stack of %d frames (total %d), signal frame at %d", len(st.StackFrames), st.TotalFrames, k)
	}
	fault := st.StackFrames[k+3]
	if fault.Name != "dm_hash_node_t::clear" || fault.Line != 42 || fault.InstructionPointerReference != ex["fault_ip"] ||
		st.StackFrames[k+4].Name != "lsm_release_all_csdobj" || st.StackFrames[k+5].Name != "lsm_destroy" {
		t.Errorf("frames %d..%d: %+v", k+3, k+5, st.StackFrames[k+3:k+6])
	}
	paged := c.ok("stackTrace", map[string]any{"threadId": crash, "startFrame": k + 3, "levels": 2}).(*dap.StackTraceResponse).Body
	if len(paged.StackFrames) != 2 || paged.StackFrames[0].Name != fault.Name || paged.StackFrames[0].InstructionPointerReference != fault.InstructionPointerReference ||
		paged.StackFrames[1].Name != "lsm_release_all_csdobj" {
		t.Errorf("frames %d and %d: %+v", k+3, k+4, paged.StackFrames)
	}
	_, raw, _ := c.call(cmdFrameIndex, map[string]any{"frameId": paged.StackFrames[1].Id})
	var fi struct {
		Body struct{ ThreadID, Index int } `json:"body"`
	}
	if json.Unmarshal(raw, &fi); fi.Body.ThreadID != crash || fi.Body.Index != k+4 {
		t.Errorf("frameIndex of frame %d: %s", k+4, raw)
	}

	// The fault frame's registers: the program's own record of them.
	regs := map[string]dap.Variable{}
	analysisRef := 0
	for _, s := range c.ok("scopes", map[string]any{"frameId": fault.Id}).(*dap.ScopesResponse).Body.Scopes {
		switch s.Name {
		case "Registers":
			regs = c.variables(s.VariablesReference)
		case "Fault analysis":
			analysisRef = s.VariablesReference
		}
	}
	wantRegs := ex["fault_regs"].(map[string]any)
	for name, v := range wantRegs {
		if want := fmt.Sprintf("%#016x", hexOf(t, v)); regs[name].Value != want {
			t.Errorf("register %s = %q, the program saw %s", name, regs[name].Value, want)
		}
	}
	if len(regs) != 18 || regs["cfa"].Value == "" {
		t.Errorf("%d registers: %v", len(regs), regs)
	}
	// The analysis scope: the verdict, from the facts.
	if analysisRef == 0 {
		t.Fatal("no Fault analysis scope on the fault frame")
	}
	an := c.variables(analysisRef)
	if v := an["verdict"].Value; !strings.Contains(v, "Likely concurrent destruction (double release) of the objects of dm_hash_node_t "+ex["node"].(string)+" by two paths: thread LWP "+strconv.Itoa(crash)) {
		t.Errorf("analysis verdict %q", v)
	}

	// The REPL: x/NFU against the core's bytes; info registers against the
	// program's record; tasks against the program's.
	eval := func(expr string) string {
		t.Helper()
		return c.ok("evaluate", map[string]any{"expression": expr, "frameId": fault.Id, "context": "repl"}).(*dap.EvaluateResponse).Body.Result
	}
	node := hexOf(t, ex["node"])
	mem := coreMemory(t, sc.Core, node, 32)
	w64 := func(i int) uint64 { return binary.LittleEndian.Uint64(mem[8*i:]) }
	w32 := func(i int) uint32 { return binary.LittleEndian.Uint32(mem[4*i:]) }
	for expr, want := range map[string]string{
		fmt.Sprintf("x/2gx %#x", node): fmt.Sprintf("%#x:\t0x%016x\t0x%016x\n", node, w64(0), w64(1)),
		fmt.Sprintf("x/3gx %#x", node): fmt.Sprintf("%#x:\t0x%016x\t0x%016x\n%#x:\t0x%016x\n", node, w64(0), w64(1), node+16, w64(2)),
		fmt.Sprintf("x/4wx %#x", node): fmt.Sprintf("%#x:\t0x%08x\t0x%08x\t0x%08x\t0x%08x\n", node, w32(0), w32(1), w32(2), w32(3)),
		fmt.Sprintf("x/2wd %#x", node): fmt.Sprintf("%#x:\t%d\t%d\n", node, int32(w32(0)), int32(w32(1))),
		fmt.Sprintf("x/2gu %#x", node): fmt.Sprintf("%#x:\t%d\t%d\n", node, w64(0), w64(1)),
		fmt.Sprintf("x/2bx %#x", node): fmt.Sprintf("%#x:\t0x%02x\t0x%02x\n", node, mem[0], mem[1]),
		fmt.Sprintf("x/2hx %#x", node): fmt.Sprintf("%#x:\t0x%04x\t0x%04x\n", node, binary.LittleEndian.Uint16(mem), binary.LittleEndian.Uint16(mem[2:])),
		"x/2gx 0":                      "0x0:\tCannot access memory at address 0x0\n",
	} {
		if got := eval(expr); got != want {
			t.Errorf("%s:\n%q, want\n%q", expr, got, want)
		}
	}
	if got := eval("x/2gx nosuchvariable"); !strings.Contains(got, "nosuchvariable") {
		t.Errorf("x/2gx of an unknown name: %q", got)
	}
	infoRegs := eval("info registers")
	for name, v := range wantRegs {
		x := hexOf(t, v)
		if want := fmt.Sprintf("%-4s %#016x %d\n", name, x, int64(x)); !strings.Contains(infoRegs, want) {
			t.Errorf("info registers lacks %q:\n%s", want, infoRegs)
		}
	}
	if strings.Count(infoRegs, "\n") != 17 {
		t.Errorf("info registers:\n%s", infoRegs)
	}
	tasks := eval("tasks")
	for _, x := range ex["tasks"].([]any) {
		m := x.(map[string]any)
		state := m["state"].(string)
		if m["running"] == true {
			state = "running"
		}
		row := fmt.Sprintf("\n  %-6v %-9s %-4v ", m["id"], state, m["processer"])
		if !strings.Contains(tasks, row) {
			t.Errorf("tasks has no row %q:\n%s", row, tasks)
		}
	}
	if bt := eval("bt"); !strings.Contains(bt, "dm_hash_node_t::clear at") || !strings.Contains(bt, "lsm_destroy at") {
		t.Errorf("bt:\n%s", bt)
	}
	if a := eval("analysis"); !strings.Contains(a, "[shared-object]") || !strings.Contains(a, "by two paths") {
		t.Errorf("analysis:\n%s", a)
	}
	// Expressions: the list's underflowed size_, a cast.
	if r := c.ok("evaluate", map[string]any{"expression": "this->objs.data_.root_plus_size_.size_", "frameId": fault.Id, "context": "watch"}).(*dap.EvaluateResponse); r.Body.Result != "18446744073709551615" {
		t.Errorf("size_ = %q", r.Body.Result)
	}
	if _, _, w := c.call("evaluate", map[string]any{"expression": "nosuch", "frameId": fault.Id}); w.Success {
		t.Error("nosuch evaluated")
	}

	// readMemory: the core's bytes; past the end of memory, unreadable.
	rm := c.ok("readMemory", map[string]any{"memoryReference": ex["node"], "offset": 8, "count": 24}).(*dap.ReadMemoryResponse).Body
	got, _ := base64.StdEncoding.DecodeString(rm.Data)
	if !bytes.Equal(got, mem[8:32]) || rm.Address != fmt.Sprintf("%#x", node+8) || rm.UnreadableBytes != 0 {
		t.Errorf("readMemory node+8: %s % x, want % x", rm.Address, got, mem[8:32])
	}
	zero := c.ok("readMemory", map[string]any{"memoryReference": "0x0", "count": 16}).(*dap.ReadMemoryResponse).Body
	if zero.Data != "" || zero.UnreadableBytes != 16 {
		t.Errorf("readMemory at 0: %+v", zero)
	}

	// Disassembly around the fault: the faulting instruction at its ip.
	dis := c.ok("disassemble", map[string]any{"memoryReference": ex["fault_ip"], "instructionOffset": -4, "instructionCount": 10}).(*dap.DisassembleResponse).Body.Instructions
	if len(dis) != 10 || dis[4].Address != ex["fault_ip"] || dis[4].Instruction != "mov    (%rbx),%rbx" || !strings.HasPrefix(dis[4].Symbol, "dm_hash_node_t::clear") {
		t.Errorf("disassembly: %+v", dis)
	}

	// Modules: libdcache.so with the build-id its file's note has.
	_, raw, _ = c.call("modules", nil)
	var mods struct {
		Body struct {
			Modules []map[string]any `json:"modules"`
		} `json:"body"`
	}
	json.Unmarshal(raw, &mods)
	found := false
	for _, m := range mods.Body.Modules {
		if m["name"] == "libdcache.so" {
			found = true
			if m["path"] != sc.Lib || m["buildId"] != gnuBuildID(t, sc.Lib) || m["symbolStatus"] != "full" {
				t.Errorf("libdcache.so: %v", m)
			}
		}
	}
	if !found {
		t.Errorf("no libdcache.so among the modules: %s", raw)
	}
	exc := c.ok("exceptionInfo", map[string]any{"threadId": crash}).(*dap.ExceptionInfoResponse).Body
	if exc.ExceptionId != "SIGSEGV" || exc.Details == nil || exc.Details.Message != "SIGSEGV (SEGV_MAPERR) at 0x0" || !strings.Contains(exc.Description, "by two paths") {
		t.Errorf("exceptionInfo %+v", exc)
	}
	// The analysis reads every task: their contexts are checked now.
	notSwitched := 0
	for _, x := range ex["tasks"].([]any) {
		m := x.(map[string]any)
		if m["running"] == true || m["state"] == "new" || m["state"] == "done" {
			notSwitched++
		}
	}
	if n := unchecked(); n != notSwitched {
		t.Errorf("after the analysis: %d tasks' contexts unchecked, want %d (those not switched out)", n, notSwitched)
	}
	comp := c.ok("completions", map[string]any{"text": "th", "column": 3, "frameId": fault.Id}).(*dap.CompletionsResponse).Body.Targets
	if len(comp) == 0 || comp[0].Label != "this" {
		t.Errorf("completions %+v", comp)
	}

	// The custom requests: every task, the analysis with its crash thread.
	_, raw, _ = c.call(cmdTasks, nil)
	var tb struct {
		Body struct {
			Tasks []struct {
				ID       int64 `json:"id"`
				ThreadID int   `json:"threadId"`
			} `json:"tasks"`
		} `json:"body"`
	}
	json.Unmarshal(raw, &tb)
	if len(tb.Body.Tasks) != len(ex["tasks"].([]any)) {
		t.Errorf("dsecore/tasks: %d tasks: %s", len(tb.Body.Tasks), raw)
	}
	// A suspended task's stack, under the thread id the tasks request gave.
	for _, x := range tb.Body.Tasks {
		if x.ID == 15 {
			ts := c.ok("stackTrace", map[string]any{"threadId": x.ThreadID}).(*dap.StackTraceResponse).Body.StackFrames
			if len(ts) < 6 || ts[0].Name != "co::Processer::SwapOut" || ts[5].Name != "lsm_release_all_csdobj" {
				t.Errorf("task 15's frames: %+v", ts)
			}
		}
	}
	_, raw, _ = c.call(cmdAnalysis, nil)
	var ab struct {
		Body struct {
			CrashThreadID int `json:"crashThreadId"`
			Analysis      struct {
				Verdict string `json:"verdict"`
			} `json:"analysis"`
		} `json:"body"`
	}
	json.Unmarshal(raw, &ab)
	if ab.Body.CrashThreadID != crash || !strings.Contains(ab.Body.Analysis.Verdict, "by two paths") {
		t.Errorf("dsecore/analysis: %s", raw)
	}
	c.ok("disconnect", nil)
}
