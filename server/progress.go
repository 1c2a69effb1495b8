package server

import "github.com/google/go-dap"

// progress reports a session's lazy steps as DAP progress events, when
// the client takes them.
func (c *conn) progress(step string, done bool) {
	if !c.clientProgress {
		return
	}
	titles := map[string]string{"coroutines": "Finding coroutine tasks", "analysis": "Analysing the fault"}
	if !done {
		c.send(&dap.ProgressStartEvent{Event: c.event("progressStart"), Body: dap.ProgressStartEventBody{ProgressId: step, Title: titles[step]}})
	} else {
		c.send(&dap.ProgressEndEvent{Event: c.event("progressEnd"), Body: dap.ProgressEndEventBody{ProgressId: step, Message: "done"}})
	}
}
