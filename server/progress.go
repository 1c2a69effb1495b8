package server

import (
	"fmt"
	"sync"

	"github.com/google/go-dap"
)

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

// counter is a step over n items reported as progressStart, a
// progressUpdate at every tenth done, progressEnd. Its methods are safe
// for concurrent use; updates go out in order.
type counter struct {
	c       *conn
	id      string
	mu      sync.Mutex
	n, done int
	sent    int // percent last reported
}

// counted starts a counted step (nil, a no-op, when the client takes no
// progress events or there is nothing to count).
func (c *conn) counted(id, title string, n int) *counter {
	if !c.clientProgress || n == 0 {
		return nil
	}
	c.send(&dap.ProgressStartEvent{Event: c.event("progressStart"), Body: dap.ProgressStartEventBody{ProgressId: id, Title: title,
		Message: fmt.Sprintf("0 of %d", n), Percentage: 0}})
	return &counter{c: c, id: id, n: n}
}

// add counts one item done.
func (k *counter) add() {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.done++
	if pct := k.done * 100 / k.n; pct/10 > k.sent/10 && k.done < k.n {
		k.sent = pct
		k.c.send(&dap.ProgressUpdateEvent{Event: k.c.event("progressUpdate"), Body: dap.ProgressUpdateEventBody{ProgressId: k.id,
			Message: fmt.Sprintf("%d of %d", k.done, k.n), Percentage: pct}})
	}
}

// end ends the step.
func (k *counter) end() {
	if k == nil {
		return
	}
	k.c.send(&dap.ProgressEndEvent{Event: k.c.event("progressEnd"), Body: dap.ProgressEndEventBody{ProgressId: k.id, Message: fmt.Sprintf("%d done", k.n)}})
}
