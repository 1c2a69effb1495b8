package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/google/go-dap"
)

// TestDAPHostileClients: one `dsecore dap --listen` survives every
// hostile client while a second client's session goes on, checked after
// each: an evaluate of 1.5 million nested parentheses (a 3 MB message,
// which overflowed the server's stack), one nested 300 deep, a megabyte of
// additions; a header with no end; a header claiming 5 MB; a client
// that dribbles a header, one that sends half a request; garbage as a
// header and as content; 100 idle connections against --max-connections
// 8. Each bad connection ends alone, with an output event saying why (when
// it can still be told) and a log line naming the limit. Deadlines are
// the server's option (--message-timeout 5s); the test waits for what the
// server says, never for a time.
func TestDAPHostileClients(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	lwp := intField(t, sc.Expected, "crash_lwp")
	srv := startDAPServer(t, "--listen", "127.0.0.1:0", "--message-timeout", "5s", "--max-connections", "8")

	good := srv.client()
	launchField(t, good, sc.Core, sc.Exe, nil)
	goodSession(t, good, lwp, "at the start")

	// Expressions, on a session of their own.
	t.Run("expressions", func(t *testing.T) {
		bad := srv.client()
		launchField(t, bad, sc.Core, sc.Exe, nil)
		for _, c := range []struct{ name, expr, want string }{
			{"1.5 million nested parentheses", strings.Repeat("(", 1500000) + "1" + strings.Repeat(")", 1500000), "3000001 bytes long: the limit is 8192"},
			{"300 nested parentheses", strings.Repeat("(", 300) + "1" + strings.Repeat(")", 300), "nested deeper than 256 levels"},
			{"300 nested dereferences", strings.Repeat("*", 300) + "$rsp", "nested deeper than 256 levels"},
			{"a megabyte of additions", strings.Repeat("1+", 500000) + "1", "1000001 bytes long: the limit is 8192"},
		} {
			r := bad.call("evaluate", map[string]any{"expression": c.expr, "context": "watch"})
			if r.GetResponse().Success || !strings.Contains(r.GetResponse().Message, c.want) {
				t.Errorf("%s: %+v, want an error with %q", c.name, r.GetResponse(), c.want)
			}
			goodSession(t, good, lwp, "after "+c.name)
		}
		// The session that sent them goes on.
		goodSession(t, bad, lwp, "the expressions' own session")
		bad.ok("disconnect", nil)
	})

	// Transport: each connection is ended by the server, saying why.
	transport := []struct {
		name  string
		send  func(c net.Conn)
		event string // in the output event ("" when none can be read)
		log   string // in the log line
	}{
		{"a header with no end", func(c net.Conn) { c.Write([]byte(strings.Repeat("X", 64<<10))) },
			"a message header longer than 4096 bytes", "(MaxHeaderBytes)"},
		{"a header claiming 5 MB", func(c net.Conn) { c.Write([]byte("Content-Length: 5000000\r\n\r\n{")) },
			"a message of 5000000 bytes: the limit is 4194304", "(MaxMessageBytes)"},
		{"a dribbled header", func(c net.Conn) { c.Write([]byte("Content-Le")) },
			"a message whose header did not arrive within 5s of its first byte", "(MessageTimeout)"},
		{"half a request", func(c net.Conn) {
			m := request(1, "initialize", map[string]any{"adapterID": "half"})
			c.Write(m[:len(m)/2+20])
		}, "a message whose content did not arrive within 5s of its first byte", "(MessageTimeout)"},
		{"garbage as a header", func(c net.Conn) { c.Write([]byte("\x00\xff\xfe garbage\r\n\r\n")) },
			"header format is", "session ended: dap: header format"},
	}
	t.Run("transport", func(t *testing.T) {
		var wg sync.WaitGroup
		got := make([][]string, len(transport))
		for i, tc := range transport {
			c := srv.dial()
			wg.Add(1)
			go func() {
				defer wg.Done()
				tc.send(c)
				got[i] = readAll(t, c)
			}()
		}
		wg.Wait()
		for i, tc := range transport {
			if !has(got[i], `"category":"important"`, tc.event) {
				t.Errorf("%s: the server sent %v, want an important output event with %q", tc.name, got[i], tc.event)
			}
			srv.waitLog(tc.log, 1)
		}
		srv.alive()
		goodSession(t, good, lwp, "after the transport's hostile clients")
	})

	// Garbage as content: an answer each, and the session goes on.
	t.Run("garbage content", func(t *testing.T) {
		c := srv.client()
		c.in.Write(rawMessage("{not json"))
		c.in.Write(rawMessage(`{"seq":1000,"type":"request","command":"evaluate","arguments":{"expression":7}}`))
		c.in.Write(rawMessage("\x00\x01\x02\x03"))
		if r := c.call("initialize", map[string]any{"adapterID": "garbage"}); !r.GetResponse().Success {
			t.Errorf("initialize after garbage: %+v", r.GetResponse())
		}
		var important int
		badArgs := false
		for _, e := range c.events {
			if r, ok := e.(dap.ResponseMessage); ok && r.GetResponse().RequestSeq == 1000 {
				badArgs = !r.GetResponse().Success && strings.Contains(r.GetResponse().Message, "cannot unmarshal number")
			}
			if o, ok := e.(*dap.OutputEvent); ok && strings.Contains(o.Body.Output, "ignored a malformed message") {
				important++
			}
		}
		if important != 2 {
			t.Errorf("%d 'ignored a malformed message' events, want 2 (not JSON, not a message): %+v", important, c.events)
		}
		if !badArgs {
			t.Errorf("no error response to an evaluate whose expression is a number: %+v", c.events)
		}
		c.ok("disconnect", nil)
	})

	// 100 idle connections: with the good session the only one left, 7
	// get a place (and are dropped at the deadline for a first message),
	// 93 are refused at once with the reason.
	t.Run("100 idle connections", func(t *testing.T) {
		// Every earlier connection has ended (its log line is written
		// once its place is free): the expressions' session, the
		// transport's and the garbage's. Only the good session holds one.
		srv.waitLog("session ended", 1+len(transport)+1)
		refusedBefore, idleBefore := srv.count("already serves 8 connections"), srv.count("no message within 5s of connecting")
		var wg sync.WaitGroup
		got := make([][]string, 100)
		for i := range got {
			c := srv.dial()
			wg.Add(1)
			go func() { defer wg.Done(); got[i] = readAll(t, c) }()
		}
		wg.Wait()
		refused, dropped := 0, 0
		for _, msgs := range got {
			switch {
			case has(msgs, "connection refused: the server already serves 8 connections (--max-connections 8)") && has(msgs, `"event":"terminated"`):
				refused++
			case has(msgs, "no message within 5s of connecting"):
				dropped++
			default:
				t.Errorf("an idle connection got %v", msgs)
			}
		}
		if refused != 93 || dropped != 7 {
			t.Errorf("%d refused, %d dropped at the deadline; want 93 and 7", refused, dropped)
		}
		srv.waitLog("already serves 8 connections", refusedBefore+93)
		srv.waitLog("no message within 5s of connecting", idleBefore+7)
		goodSession(t, good, lwp, "after 100 idle connections")
		// The places are free again: a new client is served.
		c := srv.client()
		launchField(t, c, sc.Core, sc.Exe, nil)
		goodSession(t, c, lwp, "a new client after the idle ones")
		c.ok("disconnect", nil)
	})

	srv.alive()
	goodSession(t, good, lwp, "at the end")
	good.ok("disconnect", nil)
}

// TestDAPEvaluateBudget: a session's evaluate results are kept within
// --max-evaluate-memory: past it, evaluate answers an error naming the
// budget, and the session goes on; asking for the same stack again gives
// the same frame ids (the table does not grow).
func TestDAPEvaluateBudget(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	lwp := intField(t, sc.Expected, "crash_lwp")
	srv := startDAPServer(t, "--listen", "127.0.0.1:0", "--max-evaluate-memory", "32768")
	c := srv.client()
	launchField(t, c, sc.Core, sc.Exe, nil)
	st := c.ok("stackTrace", map[string]any{"threadId": lwp, "levels": 20}).(*dap.StackTraceResponse)
	again := c.ok("stackTrace", map[string]any{"threadId": lwp, "levels": 20}).(*dap.StackTraceResponse)
	ids := func(r *dap.StackTraceResponse) (out []int) {
		for _, f := range r.Body.StackFrames {
			out = append(out, f.Id)
		}
		return out
	}
	if fmt.Sprint(ids(st)) != fmt.Sprint(ids(again)) {
		t.Errorf("the same stack twice, other frame ids:\n%+v\n%+v", st.Body.StackFrames, again.Body.StackFrames)
	}
	frame := 0
	for _, f := range st.Body.StackFrames {
		if f.Name == "dm_hash_node_t::clear" {
			frame = f.Id
		}
	}
	ok, refused := 0, ""
	for i := 0; i < 1000 && refused == ""; i++ {
		r := c.call("evaluate", map[string]any{"expression": "*this", "frameId": frame, "context": "watch"})
		switch {
		case r.GetResponse().Success && r.(*dap.EvaluateResponse).Body.VariablesReference > 0:
			ok++
		case !r.GetResponse().Success:
			refused = r.GetResponse().Message
		default:
			t.Fatalf("evaluate *this: %+v", r)
		}
	}
	// Each kept result costs 256 bytes and its name: 32 KiB hold about
	// 120.
	if ok < 50 || ok > 128 || !strings.Contains(refused, "its budget, --max-evaluate-memory, is 32 KiB") {
		t.Errorf("%d results kept, then %q", ok, refused)
	}
	goodSession(t, c, lwp, "after the budget was spent")
	c.ok("disconnect", nil)
}

// TestDAPFilesFail: a library and an executable overwritten in place
// with a smaller build under an open session end that session with an
// error event, and only that one: the server and another session go on.
// Before, a read of the library through its mapping was a SIGBUS that
// ended the server and every session.
func TestDAPFilesFail(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	lwp := intField(t, sc.Expected, "crash_lwp")
	dir := t.TempDir()
	exe, lib := filepath.Join(dir, "ceph-dse"), filepath.Join(dir, "libdcache.so")
	copyFile(t, sc.Exe, exe)
	copyFile(t, sc.Lib, lib)
	srv := startDAPServer(t, "--listen", "127.0.0.1:0")
	good := srv.client()
	launchField(t, good, sc.Core, sc.Exe, nil)

	bad := srv.client()
	launchField(t, bad, sc.Core, exe, map[string]any{"solibSearchPath": []string{dir}})
	bad.ok("stackTrace", map[string]any{"threadId": lwp, "levels": 3})
	small, _ := os.ReadFile("/bin/true")
	for _, f := range []string{lib, exe} {
		if err := os.WriteFile(f, small, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	untilFilesFail(t, bad, lwp, lib, exe)
	srv.waitLog("changed while being read", 1)
	srv.alive()
	goodSession(t, good, lwp, "after the other session's files were replaced")
	good.ok("disconnect", nil)
}

// untilFilesFail sends a session whose files were replaced the requests a
// client sends (threads, each thread's stack, each frame's scopes and
// variables) until one meets the change. Those before are answered; that
// one's error names a changed file, and the session ends with an
// important output event saying so and a terminated event.
func untilFilesFail(t *testing.T, c *dapClient, lwp int, files ...string) {
	t.Helper()
	var failed string
	answer := func(r dap.ResponseMessage) bool {
		if r.GetResponse().Success {
			return true
		}
		failed = r.GetResponse().Message
		return false
	}
	ids := []int{lwp}
	if r := c.call("threads", nil); answer(r) {
		ids = nil
		for _, x := range r.(*dap.ThreadsResponse).Body.Threads {
			ids = append(ids, x.Id)
		}
	}
	for _, id := range ids {
		if failed != "" {
			break
		}
		r := c.call("stackTrace", map[string]any{"threadId": id})
		if !answer(r) {
			break
		}
		for _, f := range r.(*dap.StackTraceResponse).Body.StackFrames {
			sr := c.call("scopes", map[string]any{"frameId": f.Id})
			if !answer(sr) {
				break
			}
			for _, s := range sr.(*dap.ScopesResponse).Body.Scopes {
				if s.Expensive {
					continue
				}
				if !answer(c.call("variables", map[string]any{"variablesReference": s.VariablesReference})) {
					break
				}
			}
			if failed != "" {
				break
			}
		}
	}
	if failed == "" {
		t.Fatalf("no request met the change: the test did not test it")
	}
	named := false
	for _, f := range files {
		named = named || strings.Contains(failed, f+": changed while being read")
	}
	if !named || !strings.Contains(failed, "the session ends") {
		t.Errorf("the error does not name a changed file and the session's end: %s", failed)
	}
	c.waitEvent("terminated")
	out := false
	for _, e := range c.events {
		if o, ok := e.(*dap.OutputEvent); ok && o.Body.Category == "important" && strings.Contains(o.Body.Output, "changed while being read") {
			out = true
		}
	}
	if !out {
		t.Errorf("no important output event saying the files changed: %+v", c.events)
	}
}
