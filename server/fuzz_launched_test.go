package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dsecore/dsecore/internal/testsupport/bound"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/google/go-dap"
)

// fuzzCommands are the requests a client sends once a core is open.
var fuzzCommands = []string{"threads", "stackTrace", "scopes", "variables", "evaluate", "source", "exceptionInfo",
	"disassemble", "readMemory", "modules", "loadedSources", "setBreakpoints", "continue", "next", "stepIn",
	"pause", "completions", cmdTasks, cmdAnalysis, "setVariable", "gotoTargets", "restartFrame",
	"setFunctionBreakpoints", "setExceptionBreakpoints", "setInstructionBreakpoints", "stepOut", "stepBack",
	"reverseContinue", "restart", "goto", "setExpression", "writeMemory", cmdFocus, cmdFrameIndex}

// syncBuffer is the connection's output, read by the fuzz target between
// requests while a background step may still write an event.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// take returns what was written and empties the buffer.
func (w *syncBuffer) take() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := bytes.Clone(w.b.Bytes())
	w.b.Reset()
	return b
}

// FuzzDispatchLaunched: on a session that has opened the field-crash core,
// any request (a command with fuzzed thread, frame, reference, count and
// expression arguments) is answered by exactly one response to it (its
// request_seq and command; an error for what a core cannot do), never a
// panic (the handler's recovery would hide one: a panic fails the target),
// nor a hang; the session keeps answering afterwards.
func FuzzDispatchLaunched(f *testing.F) {
	sc := fixture.Get(f).Scenario(f, fixture.FieldCrash)
	out := &syncBuffer{}
	s := newConn(out)
	f.Cleanup(s.close)
	var mu sync.Mutex
	var panicked []string
	s.onPanic = func(command string, x any) {
		mu.Lock()
		panicked = append(panicked, fmt.Sprintf("%s: %v", command, x))
		mu.Unlock()
	}
	launch, _ := json.Marshal(map[string]any{"coreFile": sc.Core, "program": sc.Exe})
	s.dispatch(&dap.LaunchRequest{Request: dap.Request{ProtocolMessage: dap.ProtocolMessage{Seq: 1, Type: "request"}, Command: "launch"}, Arguments: launch})
	if s.st == nil {
		f.Fatal("launch on the field-crash core failed")
	}
	s.dispatch(&dap.ConfigurationDoneRequest{Request: dap.Request{ProtocolMessage: dap.ProtocolMessage{Seq: 2, Type: "request"}, Command: "configurationDone"}})
	out.take()
	refusedCmd := map[string]bool{}
	for _, r := range refused {
		refusedCmd[r.command] = true
	}
	var seq atomic.Int64
	seq.Store(2)
	crash := int64(sc.Expected["crash_lwp"].(float64))
	for i := range fuzzCommands {
		f.Add(uint8(i), crash, int64(1), int64(1), int64(0), int64(20), "this->objs")
	}
	f.Add(uint8(4), crash, int64(5), int64(1), int64(0), int64(20), "(dm_obj_t *)$rbx")
	f.Add(uint8(2), int64(1<<30+15), int64(1<<40), int64(-1), int64(-5), int64(1<<62), "bt")
	f.Fuzz(func(t *testing.T, cmd uint8, thread, frame, ref, start, count int64, expr string) {
		if len(expr) > 4096 {
			return
		}
		name := fuzzCommands[int(cmd)%len(fuzzCommands)]
		args := map[string]any{"threadId": thread, "frameId": frame, "variablesReference": ref, "startFrame": start,
			"levels": count, "start": start, "count": count, "expression": expr, "context": "repl", "sourceReference": ref,
			"memoryReference": expr, "offset": start, "instructionCount": count, "instructionOffset": start,
			"text": expr, "column": count, "name": expr, "value": expr}
		n := int(seq.Add(1))
		body, _ := json.Marshal(map[string]any{"seq": n, "type": "request", "command": name, "arguments": args})
		bound.Within(t, 5*time.Second, func() {
			// As the server's read loop: a request go-dap cannot decode is
			// a custom one, or a bad message answered as such.
			msg, err := dap.DecodeProtocolMessage(body)
			if err != nil {
				if !s.customRequest(body) {
					s.badMessage(body, err)
				}
				return
			}
			if req, ok := msg.(dap.RequestMessage); ok {
				s.dispatch(req)
			}
		}, "%s: no answer in 5 s: %s", name, body)
		msgs, err := wireMessages(out.take())
		if err != nil {
			t.Fatalf("%s: the output is not DAP messages: %v", name, err)
		}
		var answers []wire
		for _, m := range msgs {
			if m.Type == "response" {
				answers = append(answers, m)
			}
		}
		if len(answers) != 1 || answers[0].RequestSeq != n || answers[0].Command != name {
			t.Fatalf("%s (seq %d): answered %+v, want one response to it\n%s", name, n, answers, body)
		}
		if refusedCmd[name] && (answers[0].Success || !strings.Contains(answers[0].Message, "the target is a core file")) {
			t.Fatalf("%s: answered %+v, want the core's refusal", name, answers[0])
		}
		mu.Lock()
		defer mu.Unlock()
		if len(panicked) > 0 {
			p := panicked[0]
			panicked = nil
			t.Fatalf("a handler panicked: %s\n%s", p, body)
		}
	})
}
