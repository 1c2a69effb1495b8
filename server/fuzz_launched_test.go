package server

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/dsecore/dsecore/internal/bound"
	"github.com/dsecore/dsecore/internal/fixture"
	"github.com/google/go-dap"
)

// fuzzCommands are the requests a client sends once a core is open.
var fuzzCommands = []string{"threads", "stackTrace", "scopes", "variables", "evaluate", "source", "exceptionInfo",
	"disassemble", "readMemory", "modules", "loadedSources", "setBreakpoints", "continue", "next", "stepIn",
	"pause", "completions", cmdTasks, cmdAnalysis, "setVariable", "gotoTargets", "restartFrame"}

// FuzzDispatchLaunched: on a session that has opened the field-crash core,
// any request (a command with fuzzed thread, frame, reference, count and
// expression arguments) is answered, never a panic (the handler's recovery
// would hide one: a panic fails the target), nor a hang; the session keeps
// answering afterwards.
func FuzzDispatchLaunched(f *testing.F) {
	sc := fixture.Get(f).Scenario(f, fixture.FieldCrash)
	s := newConn(io.Discard)
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
		body, _ := json.Marshal(map[string]any{"seq": 3, "type": "request", "command": name, "arguments": args})
		bound.Within(t, 5*time.Second, func() {
			msg, err := dap.DecodeProtocolMessage(body)
			if err != nil {
				s.customRequest(body)
				return
			}
			if req, ok := msg.(dap.RequestMessage); ok {
				s.dispatch(req)
			}
		}, "%s: no answer in 5 s: %s", name, body)
		mu.Lock()
		defer mu.Unlock()
		if len(panicked) > 0 {
			p := panicked[0]
			panicked = nil
			t.Fatalf("a handler panicked: %s\n%s", p, body)
		}
	})
}
