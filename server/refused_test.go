package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/google/go-dap"
)

// refused are the requests a core cannot do, each with the error id and
// the words of its answer.
var refused = []struct {
	command string
	id      int
	says    string
}{
	{"setBreakpoints", 2001, "breakpoints cannot be set"},
	{"setFunctionBreakpoints", 2001, "breakpoints cannot be set"},
	{"setExceptionBreakpoints", 2001, "breakpoints cannot be set"},
	{"setInstructionBreakpoints", 2001, "breakpoints cannot be set"},
	{"continue", 2002, "it cannot run, step or restart"},
	{"next", 2002, "it cannot run, step or restart"},
	{"stepIn", 2002, "it cannot run, step or restart"},
	{"stepOut", 2002, "it cannot run, step or restart"},
	{"stepBack", 2002, "it cannot run, step or restart"},
	{"reverseContinue", 2002, "it cannot run, step or restart"},
	{"pause", 2002, "it cannot run, step or restart"},
	{"restart", 2002, "it cannot run, step or restart"},
	{"restartFrame", 2002, "it cannot run, step or restart"},
	{"goto", 2002, "it cannot run, step or restart"},
	{"setVariable", 2003, "it is read-only"},
	{"setExpression", 2003, "it is read-only"},
	{"writeMemory", 2003, "it is read-only"},
}

// responses decodes every message the connection wrote, and empties out.
func responses(t testing.TB, out *bytes.Buffer) []dap.Message {
	t.Helper()
	var msgs []dap.Message
	r := bufio.NewReader(bytes.NewReader(out.Bytes()))
	out.Reset()
	for {
		m, err := dap.ReadProtocolMessage(r)
		if err == io.EOF {
			return msgs
		}
		if err != nil {
			t.Fatalf("message %d: %v", len(msgs), err)
		}
		msgs = append(msgs, m)
	}
}

// wire is what every message says of itself; custom responses
// (dsecore/tasks) are not go-dap's types.
type wire struct {
	Seq        int    `json:"seq"`
	Type       string `json:"type"`
	RequestSeq int    `json:"request_seq"`
	Command    string `json:"command"`
	Success    bool   `json:"success"`
	Message    string `json:"message"`
	Event      string `json:"event"`
}

// wireMessages splits what the connection wrote into its messages.
func wireMessages(b []byte) ([]wire, error) {
	var msgs []wire
	r := bufio.NewReader(bytes.NewReader(b))
	for {
		content, err := dap.ReadBaseMessage(r)
		if err == io.EOF {
			return msgs, nil
		}
		if err != nil {
			return msgs, err
		}
		var m wire
		if err := json.Unmarshal(content, &m); err != nil {
			return msgs, fmt.Errorf("%q: %v", content, err)
		}
		msgs = append(msgs, m)
	}
}

// request decodes a request as the server's reader does.
func request(t testing.TB, seq int, command string, args any) dap.RequestMessage {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"seq": seq, "type": "request", "command": command, "arguments": args})
	m, err := dap.DecodeProtocolMessage(body)
	if err != nil {
		t.Fatalf("%s: %v", command, err)
	}
	return m.(dap.RequestMessage)
}

// TestRefusedRequests: every request a core cannot do (breakpoints,
// running, stepping, restarting, writing) is answered, once, with an error
// response to that request (its seq and command) that says why, before a
// core is open and after; the session goes on.
func TestRefusedRequests(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	var out bytes.Buffer
	s := newConn(&out)
	defer s.close()
	seq := 0
	check := func(when string) {
		for _, c := range refused {
			seq++
			if end := s.dispatch(request(t, seq, c.command, map[string]any{"threadId": 1})); end {
				t.Fatalf("%s %s ended the session", when, c.command)
			}
			msgs := responses(t, &out)
			if len(msgs) != 1 {
				t.Errorf("%s %s: %d messages, want one response: %v", when, c.command, len(msgs), msgs)
				continue
			}
			e, ok := msgs[0].(*dap.ErrorResponse)
			if !ok {
				t.Errorf("%s %s: answered %T %+v", when, c.command, msgs[0], msgs[0])
				continue
			}
			if e.RequestSeq != seq || e.Command != c.command || e.Success || e.Type != "response" || e.Body.Error == nil || e.Body.Error.Id != c.id ||
				!strings.Contains(e.Message, "the target is a core file: "+c.says) || e.Body.Error.Format != e.Message {
				t.Errorf("%s %s (seq %d): %+v %+v", when, c.command, seq, e.Response, e.Body.Error)
			}
		}
	}
	check("before launch:")
	seq++
	s.dispatch(request(t, seq, "launch", map[string]any{"coreFile": sc.Core, "program": sc.Exe}))
	if s.st == nil {
		t.Fatalf("launch failed: %v", responses(t, &out))
	}
	launched := false
	for _, m := range responses(t, &out) {
		if r, ok := m.(*dap.LaunchResponse); ok && r.RequestSeq == seq && r.Success {
			launched = true
		}
	}
	if !launched {
		t.Fatal("no successful launch response")
	}
	check("on the field crash:")
	seq++
	s.dispatch(request(t, seq, "threads", nil))
	var answers []dap.ResponseMessage
	for _, m := range responses(t, &out) {
		if r, ok := m.(dap.ResponseMessage); ok {
			answers = append(answers, r)
		}
	}
	if th, ok := only(answers).(*dap.ThreadsResponse); !ok || th.RequestSeq != seq || len(th.Body.Threads) == 0 {
		t.Errorf("threads after the refusals: %s", describe(answers))
	}
}

// only is the one response of a list, nil when there are more or none.
func only(rs []dap.ResponseMessage) dap.ResponseMessage {
	if len(rs) != 1 {
		return nil
	}
	return rs[0]
}

func describe(rs []dap.ResponseMessage) string {
	var b strings.Builder
	for _, r := range rs {
		x := r.GetResponse()
		fmt.Fprintf(&b, "[%s request_seq %d success %v %q] ", x.Command, x.RequestSeq, x.Success, x.Message)
	}
	return b.String()
}
