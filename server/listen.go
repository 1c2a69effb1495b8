package server

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/go-dap"
)

// Listener serves DAP sessions on a socket (dsecore dap --listen), one
// goroutine per connection. Who may connect is decided before a session
// starts: by default only the server's own user (a Unix socket's
// SO_PEERCRED, a TCP peer's socket owner in /proc/net); a peer on another
// machine only when the server has a token (Config.Token, checked at
// launch). A connection beyond MaxConnections is refused with an output
// event saying so. A session that breaks a limit, or whose files fail,
// ends alone: the others go on.
type Listener struct {
	Config // of every session

	// MaxConnections bounds the sessions served at once (default 16).
	MaxConnections int
	// AllowOtherUsers serves local peers of any uid.
	AllowOtherUsers bool
	// Log hears of each connection refused and each session that ended
	// on an error (default stderr).
	Log io.Writer

	mu     sync.Mutex
	active int
}

// DefaultMaxConnections is Listener.MaxConnections when it is 0.
const DefaultMaxConnections = 16

func (s *Listener) logf(format string, args ...any) {
	w := s.Log
	if w == nil {
		w = os.Stderr
	}
	fmt.Fprintf(w, "dsecore dap: "+format+"\n", args...)
}

// Serve accepts connections on l until it is closed.
func (s *Listener) Serve(l net.Listener) error {
	if s.MaxConnections <= 0 {
		s.MaxConnections = DefaultMaxConnections
	}
	s.Config.Limits = s.Config.Limits.WithDefaults()
	if s.Config.Log == nil {
		s.Config.Log = s.Log
	}
	backoff := 5 * time.Millisecond
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Out of file descriptors: wait and go on (net/http's rule).
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ECONNABORTED) {
				s.logf("accept: %v; retrying in %v", err, backoff)
				time.Sleep(backoff)
				backoff = min(2*backoff, time.Second)
				continue
			}
			return err
		}
		backoff = 5 * time.Millisecond
		go s.handle(c)
	}
}

// handle checks a connection's peer and its place, then serves it.
func (s *Listener) handle(c net.Conn) {
	defer s.close(c)
	name := c.RemoteAddr().String()
	if name == "" || name == "@" {
		name = "unix:" + c.LocalAddr().String()
	}
	peer, err := PeerOf(c)
	switch {
	case err != nil:
		s.refuse(c, name, fmt.Sprintf("cannot tell who is connecting: %v", err))
		return
	case peer.Local && peer.UID != os.Geteuid() && !s.AllowOtherUsers:
		s.refuse(c, name, fmt.Sprintf("the connection is uid %d's (%s), the server serves only its own user, uid %d (dsecore dap --allow-other-users serves every user)",
			peer.UID, peer.How, os.Geteuid()))
		return
	case !peer.Local && len(s.Token) == 0:
		// Listen refuses to start beyond loopback without a token; a
		// Listener made another way is held to the same rule.
		s.refuse(c, name, "a peer on another machine, and the server has no token (--auth-token-file)")
		return
	}
	if !s.enter() {
		s.refuse(c, name, fmt.Sprintf("the server already serves %d connections (--max-connections %d)", s.MaxConnections, s.MaxConnections))
		return
	}
	cfg := s.Config
	cfg.Peer = name
	err = ServeConfig(c, c, cfg)
	s.leave() // before the log line: a client that reads it finds the place free
	if err != nil {
		s.logf("%s: session ended: %v", name, limitName(err))
	} else {
		s.logf("%s: session ended by the client", name)
	}
}

func (s *Listener) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active >= s.MaxConnections {
		return false
	}
	s.active++
	return true
}

func (s *Listener) leave() {
	s.mu.Lock()
	s.active--
	s.mu.Unlock()
}

// refuse tells a client why it is not served, in an important output
// event and a terminated event (which a DAP client shows and acts on),
// logs it, and closes.
func (s *Listener) refuse(c net.Conn, name, why string) {
	s.logf("%s: refused: %s", name, why)
	c.SetWriteDeadline(time.Now().Add(s.Limits.MessageTimeout))
	ev := func(m dap.Message) { dap.WriteProtocolMessage(c, m) }
	ev(&dap.OutputEvent{Event: dap.Event{ProtocolMessage: dap.ProtocolMessage{Seq: 1, Type: "event"}, Event: "output"},
		Body: dap.OutputEventBody{Category: "important", Output: "dsecore: connection refused: " + why + "\n"}})
	ev(&dap.TerminatedEvent{Event: dap.Event{ProtocolMessage: dap.ProtocolMessage{Seq: 2, Type: "event"}, Event: "terminated"}})
}

// close closes a connection so that the client reads what it was sent
// last (why it was refused or its session ended): a close with unread
// input would send a reset that can discard it. So the write side is shut
// first, and what the client still sends is read and dropped for at most
// a second, net/http's lingering close.
func (s *Listener) close(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		c.SetReadDeadline(time.Now().Add(min(time.Second, s.Limits.MessageTimeout)))
		io.Copy(io.Discard, io.LimitReader(c, 1<<20))
	}
	c.Close()
}

// limitName adds the limit's name to a limit error, for the log.
func limitName(err error) string {
	var le *LimitError
	if errors.As(err, &le) {
		return fmt.Sprintf("%v (%s)", err, le.Limit)
	}
	return err.Error()
}

// ListenSpec is a --listen value: "unix:PATH", or a TCP address.
type ListenSpec struct {
	Network, Address string
}

// ParseListen reads a --listen value: "unix:PATH" is a Unix socket; a
// bare port or ":port" is 127.0.0.1's; anything else host:port.
func ParseListen(v string) ListenSpec {
	if p, ok := strings.CutPrefix(v, "unix:"); ok {
		return ListenSpec{"unix", p}
	}
	if !strings.Contains(v, ":") {
		return ListenSpec{"tcp", "127.0.0.1:" + v}
	}
	if strings.HasPrefix(v, ":") {
		return ListenSpec{"tcp", "127.0.0.1" + v}
	}
	return ListenSpec{"tcp", v}
}

// Loopback reports whether the spec listens on this machine only: a
// Unix socket, or a TCP loopback address.
func (l ListenSpec) Loopback() bool {
	if l.Network == "unix" {
		return true
	}
	host, _, err := net.SplitHostPort(l.Address)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Listen opens the spec's socket. A Unix socket is created mode 0600 (its
// owner and mode decide who may connect, as ssh-agent's and the docker
// daemon's; SO_PEERCRED is checked anyway), or 0666 when allowOthers; a
// stale socket file left by a server that died is replaced, anything else
// at the path is an error.
func Listen(spec ListenSpec, allowOthers bool) (net.Listener, error) {
	if spec.Network != "unix" {
		return net.Listen(spec.Network, spec.Address)
	}
	if st, err := os.Lstat(spec.Address); err == nil {
		if st.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("--listen unix:%s: exists and is not a socket", spec.Address)
		}
		if c, err := net.Dial("unix", spec.Address); err == nil {
			c.Close()
			return nil, fmt.Errorf("--listen unix:%s: another server is listening there", spec.Address)
		}
		os.Remove(spec.Address)
	}
	old := syscall.Umask(0o177)
	l, err := net.Listen("unix", spec.Address)
	syscall.Umask(old)
	if err != nil {
		return nil, err
	}
	mode := os.FileMode(0o600)
	if allowOthers {
		mode = 0o666
	}
	if err := os.Chmod(spec.Address, mode); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}
