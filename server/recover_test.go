package server

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-dap"
)

// TestHandlerPanicIsOneError: a handler that panics (here on a session whose
// opened core is an empty state: no process behind it) answers that request
// with an error naming it, and the session goes on answering the next one.
func TestHandlerPanicIsOneError(t *testing.T) {
	var out bytes.Buffer
	s := newConn(&out)
	s.st = &state{}
	threads := &dap.ThreadsRequest{Request: dap.Request{ProtocolMessage: dap.ProtocolMessage{Seq: 1, Type: "request"}, Command: "threads"}}
	if end := s.dispatch(threads); end {
		t.Fatal("the session ended on a panicking handler")
	}
	init := &dap.InitializeRequest{Request: dap.Request{ProtocolMessage: dap.ProtocolMessage{Seq: 2, Type: "request"}, Command: "initialize"},
		Arguments: dap.InitializeRequestArguments{AdapterID: "test"}}
	if end := s.dispatch(init); end {
		t.Fatal("the session ended on initialize")
	}
	var msgs []map[string]any
	for _, part := range strings.Split(out.String(), "Content-Length: ")[1:] {
		body := part[strings.Index(part, "\r\n\r\n")+4:]
		var m map[string]any
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		msgs = append(msgs, m)
	}
	if len(msgs) != 2 {
		t.Fatalf("%d messages: %v", len(msgs), msgs)
	}
	e := msgs[0]
	msg, _ := e["message"].(string)
	if e["type"] != "response" || e["command"] != "threads" || e["success"] != false || e["request_seq"] != float64(1) ||
		!strings.Contains(msg, "internal error in threads") {
		t.Errorf("the panicking request's answer: %v", e)
	}
	if r := msgs[1]; r["command"] != "initialize" || r["success"] != true || r["request_seq"] != float64(2) {
		t.Errorf("the next request's answer: %v", r)
	}
}
