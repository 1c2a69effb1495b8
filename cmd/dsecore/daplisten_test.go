package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-dap"
)

// dapServer is `dsecore dap --listen` run by a test, its log (stderr) read
// as it comes, so a test waits for what the server says it did.
type dapServer struct {
	t    *testing.T
	cmd  *exec.Cmd
	Addr string // host:port, or unix:PATH

	mu      sync.Mutex
	log     []string
	changed chan struct{} // closed at each new line, then replaced
	exited  bool
}

var listeningRE = regexp.MustCompile(`listening on (\S+)`)

// startDAPServer starts dsecore dap with args (which include --listen) and
// waits until it listens. A server that exits first fails the test with
// its log.
func startDAPServer(t *testing.T, args ...string) *dapServer {
	t.Helper()
	return startDAPServerIn(t, "", args...)
}

// startDAPServerIn is startDAPServer in the directory dir.
func startDAPServerIn(t *testing.T, dir string, args ...string) *dapServer {
	t.Helper()
	s := &dapServer{t: t, changed: make(chan struct{})}
	s.cmd = exec.Command(dsecoreBin, append([]string{"dap"}, args...)...)
	s.cmd.Dir = dir
	s.cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+t.TempDir())
	stderr, _ := s.cmd.StderrPipe()
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			s.mu.Lock()
			s.log = append(s.log, sc.Text())
			close(s.changed)
			s.changed = make(chan struct{})
			s.mu.Unlock()
		}
		s.cmd.Wait()
		s.mu.Lock()
		s.exited = true
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
	}()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, l := range s.log {
			if strings.Contains(l, "fatal error") || strings.Contains(l, "panic:") {
				t.Errorf("the server's log has a crash:\n%s", strings.Join(s.log, "\n"))
				break
			}
		}
	})
	line := s.waitLog("listening on", 1)
	m := listeningRE.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no address in %q", line)
	}
	s.Addr = m[1]
	return s
}

// waitLog waits until n lines of the log contain substr and returns the
// last of them; the server's exit, or a minute without them, fails the
// test.
func (s *dapServer) waitLog(substr string, n int) string {
	s.t.Helper()
	deadline := time.After(time.Minute)
	for {
		s.mu.Lock()
		var last string
		k := 0
		for _, l := range s.log {
			if strings.Contains(l, substr) {
				k++
				last = l
			}
		}
		exited, changed, log := s.exited, s.changed, strings.Join(s.log, "\n")
		s.mu.Unlock()
		if k >= n {
			return last
		}
		if exited {
			s.t.Fatalf("the server exited before %d lines with %q:\n%s", n, substr, log)
		}
		select {
		case <-changed:
		case <-deadline:
			s.t.Fatalf("after a minute, %d lines with %q, want %d:\n%s", k, substr, n, log)
		}
	}
}

// count is the number of log lines with substr.
func (s *dapServer) count(substr string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := 0
	for _, l := range s.log {
		if strings.Contains(l, substr) {
			k++
		}
	}
	return k
}

// alive fails the test if the server has exited.
func (s *dapServer) alive() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exited {
		s.t.Fatalf("the server exited:\n%s", strings.Join(s.log, "\n"))
	}
}

// dialAddr connects to a --listen address ("unix:PATH" or host:port).
func dialAddr(addr string) (net.Conn, error) {
	if p, ok := strings.CutPrefix(addr, "unix:"); ok {
		return net.Dial("unix", p)
	}
	return net.Dial("tcp", addr)
}

func (s *dapServer) dial() net.Conn {
	s.t.Helper()
	c, err := dialAddr(s.Addr)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { c.Close() })
	return c
}

// client is a DAP client on a new connection.
func (s *dapServer) client() *dapClient {
	c := s.dial()
	return newDAPClient(s.t, c, c)
}

// readAll reads every message the server sends on c until it closes the
// connection, as raw JSON; a minute without the close fails the test.
func readAll(t *testing.T, c net.Conn) []string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(time.Minute))
	r := bufio.NewReader(c)
	var out []string
	for {
		b, err := dap.ReadBaseMessage(r)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("the server did not close the connection within a minute; it sent %v", out)
			}
			return out
		}
		out = append(out, string(b))
	}
}

// rawMessage is one DAP message's bytes with its header.
func rawMessage(content string) []byte {
	var b bytes.Buffer
	dap.WriteBaseMessage(&b, []byte(content))
	return b.Bytes()
}

func request(seq int, command string, args any) []byte {
	b, _ := json.Marshal(map[string]any{"seq": seq, "type": "request", "command": command, "arguments": args})
	return rawMessage(string(b))
}

// has reports whether one of msgs contains every part.
func has(msgs []string, parts ...string) bool {
	for _, m := range msgs {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(m, p)
		}
		if ok {
			return true
		}
	}
	return false
}

// goodSession checks that a client's open session still answers: the
// crashing thread's stack has clear(), and $rbx evaluates.
func goodSession(t *testing.T, c *dapClient, lwp int, when string) {
	t.Helper()
	st := c.call("stackTrace", map[string]any{"threadId": lwp, "levels": 20})
	found := false
	if r, ok := st.(*dap.StackTraceResponse); ok {
		for _, f := range r.Body.StackFrames {
			found = found || f.Name == "dm_hash_node_t::clear"
		}
	}
	if !found {
		t.Errorf("%s: the good session's stack: %+v", when, st)
	}
	ev := c.call("evaluate", map[string]any{"expression": "$rbx", "context": "repl"})
	if !ev.GetResponse().Success {
		t.Errorf("%s: the good session's evaluate: %+v", when, ev.GetResponse())
	}
}

// launchField opens the field-crash core on a client: initialize, launch,
// configurationDone, and the stop on the crashing thread.
func launchField(t *testing.T, c *dapClient, core, exe string, extra map[string]any) {
	t.Helper()
	c.ok("initialize", map[string]any{"adapterID": "test"})
	args := map[string]any{"coreFile": core, "program": exe}
	for k, v := range extra {
		args[k] = v
	}
	c.ok("launch", args)
	c.waitEvent("initialized")
	c.ok("configurationDone", nil)
	c.waitEvent("stopped")
}
