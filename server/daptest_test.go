package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/google/go-dap"
)

// testClient drives the server in-process, as delve's service/dap tests
// do (daptest): go-dap messages over a pipe, the server's ServeConfig on
// the other end. Every message the server sends is kept, raw and decoded
// (an event go-dap does not know, dsecore's own, as a bare dap.Event).
type testClient struct {
	t    *testing.T
	in   io.WriteCloser // the server's input
	seq  int
	msgs chan received
	done chan error // ServeConfig's result
	// events are the events read while waiting for something else.
	events []received
}

// received is one message from the server.
type received struct {
	msg dap.Message
	raw []byte
}

// startServer serves one session with cfg; the session ends (its input
// closed) when the test does.
func startServer(t *testing.T, cfg Config) *testClient {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	c := &testClient{t: t, in: inW, msgs: make(chan received, 1000), done: make(chan error, 1)}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	go func() {
		err := ServeConfig(inR, outW, cfg)
		outW.Close()
		c.done <- err
	}()
	go func() {
		r := bufio.NewReader(outR)
		for {
			b, err := dap.ReadBaseMessage(r)
			if err != nil {
				close(c.msgs)
				return
			}
			m, err := dap.DecodeProtocolMessage(b)
			if err != nil {
				// dsecore's own events (dsecore/…): go-dap has no type.
				e := &dap.Event{}
				if json.Unmarshal(b, e) != nil || e.Type != "event" {
					t.Errorf("undecodable message from the server: %v: %s", err, b)
					continue
				}
				m = e
			}
			c.msgs <- received{m, b}
		}
	}()
	t.Cleanup(func() {
		inW.Close()
		select {
		case <-c.done:
		case <-time.After(30 * time.Second):
			t.Errorf("the session did not end when its input closed")
		}
	})
	return c
}

// send sends a request and returns its sequence number.
func (c *testClient) send(command string, args any) int {
	c.t.Helper()
	c.seq++
	b, _ := json.Marshal(map[string]any{"seq": c.seq, "type": "request", "command": command, "arguments": args})
	var msg bytes.Buffer
	dap.WriteBaseMessage(&msg, b)
	if _, err := c.in.Write(msg.Bytes()); err != nil {
		c.t.Fatal(err)
	}
	return c.seq
}

// next is the server's next message (failing the test, not hanging it,
// when none comes).
func (c *testClient) next() received {
	c.t.Helper()
	select {
	case m, ok := <-c.msgs:
		if !ok {
			c.t.Fatal("the server closed its output")
		}
		return m
	case <-time.After(120 * time.Second):
		c.t.Fatal("no message from the server in 120 s")
	}
	return received{}
}

// call sends a request and returns its response; the events before it
// are kept (events).
func (c *testClient) call(command string, args any) dap.ResponseMessage {
	c.t.Helper()
	seq := c.send(command, args)
	for {
		m := c.next()
		if r, ok := m.msg.(dap.ResponseMessage); ok && r.GetResponse().RequestSeq == seq {
			return r
		}
		c.events = append(c.events, m)
	}
}

// ok is call of a request that must succeed.
func (c *testClient) ok(command string, args any) dap.ResponseMessage {
	c.t.Helper()
	r := c.call(command, args)
	if !r.GetResponse().Success {
		c.t.Fatalf("%s failed: %s", command, r.GetResponse().Message)
	}
	return r
}

// launch initializes the session and opens a core with args (the launch
// response is returned, its events kept).
func (c *testClient) launch(args map[string]any) dap.ResponseMessage {
	c.t.Helper()
	c.ok("initialize", map[string]any{"adapterID": "dsecore"})
	return c.ok("launch", args)
}

// eventsNamed are the kept events of a name, in order.
func (c *testClient) eventsNamed(name string) []received {
	var out []received
	for _, e := range c.events {
		if ev, ok := e.msg.(dap.EventMessage); ok && ev.GetEvent().Event == name {
			out = append(out, e)
		}
	}
	return out
}

// outputs are the kept output events of a category, their text.
func (c *testClient) outputs(category string) []string {
	var out []string
	for _, e := range c.eventsNamed("output") {
		if o := e.msg.(*dap.OutputEvent); o.Body.Category == category {
			out = append(out, o.Body.Output)
		}
	}
	return out
}

// TestPipeSession: a whole session through ServeConfig's message loop, as
// a client sees it over a pipe (delve's service/dap tests' way): the
// missing-lib core is launched (its dsecore/modules event decodes as an
// event before the launch response), configurationDone stops it on the
// crashed thread, threads lists it, disconnect is answered and ends the
// session without an error.
func TestPipeSession(t *testing.T) {
	set := fixture.Get(t)
	c := startServer(t, Config{})
	resp := c.launch(map[string]any{"coreFile": filepath.Join(set.Dir, "missing-lib", "core")})
	if !strings.Contains(resp.GetResponse().Message, "libdcache.so: no local file found") {
		t.Errorf("launch response's message %q", resp.GetResponse().Message)
	}
	ev := c.eventsNamed(eventModules)
	if len(ev) != 1 || !bytes.Contains(ev[0].raw, []byte(`"fix":"solibSearchPath"`)) {
		t.Errorf("dsecore/modules events: %d", len(ev))
	}
	lib := 0
	for _, o := range c.outputs("important") {
		if strings.Contains(o, "libdcache.so") {
			lib++
		}
	}
	if lib != 1 {
		t.Errorf("%d important outputs about libdcache.so, want 1", lib)
	}
	c.ok("configurationDone", nil)
	var stopped *dap.StoppedEvent
	for stopped == nil {
		if s, ok := c.next().msg.(*dap.StoppedEvent); ok {
			stopped = s
		}
	}
	th := c.ok("threads", nil).(*dap.ThreadsResponse).Body.Threads
	found := false
	for _, x := range th {
		found = found || x.Id == stopped.Body.ThreadId
	}
	if stopped.Body.Reason != "exception" || !found {
		t.Errorf("stopped %+v; threads %d, the stopped thread among them: %v", stopped.Body, len(th), found)
	}
	c.ok("disconnect", nil)
	select {
	case err := <-c.done:
		if err != nil {
			t.Errorf("the session ended with %v", err)
		}
		c.done <- nil // for the cleanup's wait
	case <-time.After(30 * time.Second):
		t.Error("disconnect did not end the session")
	}
}
