package server

import (
	"bufio"
	"encoding/json"
	"io"
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/google/go-dap"
)

// BenchmarkLaunchToStackTrace: one DAP session per iteration on a fixture
// core, from initialize to the crashing thread's first stackTrace response,
// the sequence benchmarks/run.py (benchmarks/dap.py) times against lldb-vscode-16.
func BenchmarkLaunchToStackTrace(b *testing.B) {
	for _, name := range []string{fixture.FieldCrash, "large"} {
		sc := fixture.Get(b).Scenario(b, name)
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				launchToStackTrace(b, sc)
			}
		})
	}
}

func launchToStackTrace(b *testing.B, sc *fixture.Scenario) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- Serve(inR, outW); outW.Close() }()
	// Responses are read as they come: io.Pipe writes block until read.
	msgs := make(chan dap.Message, 1024)
	go func() {
		defer close(msgs)
		r := bufio.NewReader(outR)
		for {
			raw, err := dap.ReadBaseMessage(r)
			if err != nil {
				return
			}
			if m, err := dap.DecodeProtocolMessage(raw); err == nil {
				msgs <- m
			}
		}
	}()
	seq := 0
	send := func(cmd string, args any) int {
		seq++
		m, _ := json.Marshal(map[string]any{"seq": seq, "type": "request", "command": cmd, "arguments": args})
		if err := dap.WriteBaseMessage(inW, m); err != nil {
			b.Fatal(err)
		}
		return seq
	}
	wait := func(pred func(dap.Message) bool) dap.Message {
		for m := range msgs {
			if pred(m) {
				return m
			}
		}
		b.Fatal("dap: the server closed its output")
		return nil
	}
	send("initialize", map[string]any{"adapterID": "dsecore"})
	send("launch", map[string]any{"coreFile": sc.Core, "program": sc.Exe})
	wait(func(m dap.Message) bool { _, ok := m.(*dap.InitializedEvent); return ok })
	send("configurationDone", nil)
	st := wait(func(m dap.Message) bool { _, ok := m.(*dap.StoppedEvent); return ok }).(*dap.StoppedEvent)
	send("threads", nil)
	q := send("stackTrace", map[string]any{"threadId": st.Body.ThreadId, "levels": 20})
	r0 := wait(func(m dap.Message) bool { x, ok := m.(*dap.StackTraceResponse); return ok && x.RequestSeq == q }).(*dap.StackTraceResponse)
	if len(r0.Body.StackFrames) == 0 {
		b.Fatal("no frames")
	}
	inW.Close()
	for range msgs {
	}
	<-done
}
