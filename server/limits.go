package server

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/google/go-dap"
)

// Limits bound what one client may cost the server, as net/http's
// ReadHeaderTimeout and MaxHeaderBytes do for an HTTP server: a client
// over a limit loses its own connection (with an output event and a log
// line saying which limit), never the server or another session.
type Limits struct {
	// MaxHeaderBytes bounds a message's header (DAP's header is one
	// Content-Length line; default 4 KiB).
	MaxHeaderBytes int
	// MaxMessageBytes bounds a message's content (default, and at most,
	// go-dap's own 4 MiB).
	MaxMessageBytes int
	// MessageTimeout is the time a client on a socket has to send a whole
	// message once its first byte arrived, to send its first message after
	// connecting, and to take each message the server writes (default 30
	// s). Between messages a client may be idle as long as it likes: a
	// person looks at a stack. Streams without deadlines (stdio) have none.
	MessageTimeout time.Duration
	// MaxHeldBytes is a session's budget for what its evaluate and
	// variables results keep alive (the references a client may expand
	// later): past it, evaluate answers an error (default 64 MiB).
	MaxHeldBytes int64
}

// The defaults of Limits.
const (
	DefaultMaxHeaderBytes  = 4 << 10
	DefaultMaxMessageBytes = 4 << 20 // go-dap's contentMaxLength
	DefaultMessageTimeout  = 30 * time.Second
	DefaultMaxHeldBytes    = 64 << 20
)

// WithDefaults is l with every zero field set to its default.
func (l Limits) WithDefaults() Limits {
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if l.MaxMessageBytes <= 0 || l.MaxMessageBytes > DefaultMaxMessageBytes {
		l.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if l.MessageTimeout <= 0 {
		l.MessageTimeout = DefaultMessageTimeout
	}
	if l.MaxHeldBytes <= 0 {
		l.MaxHeldBytes = DefaultMaxHeldBytes
	}
	return l
}

// LimitError is a client's message over one of the Limits: the session
// ends with it.
type LimitError struct {
	Limit string // "MaxHeaderBytes", "MaxMessageBytes", "MessageTimeout"
	Msg   string
}

func (e *LimitError) Error() string { return e.Msg }

// deadliner is a stream with read and write deadlines (a net.Conn).
type deadliner interface {
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

// msgReader reads DAP messages through go-dap's reader after checking,
// on what is already buffered, that the header ends within
// MaxHeaderBytes and names a length within MaxMessageBytes: go-dap
// itself buffers a header without bound (ReadString) and allocates up to
// 4 MiB on a length it was given.
type msgReader struct {
	r     *bufio.Reader
	dl    deadliner // nil: no deadlines
	lim   Limits
	first bool // no message read yet
}

func newMsgReader(in io.Reader, lim Limits) *msgReader {
	m := &msgReader{r: bufio.NewReaderSize(in, max(4096, lim.MaxHeaderBytes+8)), lim: lim, first: true}
	// Deadlines on a socket; an *os.File (stdio) is left without: its
	// SetReadDeadline fails on a terminal or a regular file, and the
	// client of stdio is the user.
	if d, ok := in.(deadliner); ok {
		if _, isFile := in.(*os.File); !isFile {
			m.dl = d
		}
	}
	return m
}

var crlfcrlf = []byte("\r\n\r\n")

// next reads one message's content.
func (m *msgReader) next() ([]byte, error) {
	if m.dl != nil {
		// Idle between messages: no deadline, except before the first.
		var idle time.Time
		if m.first {
			idle = time.Now().Add(m.lim.MessageTimeout)
		}
		m.dl.SetReadDeadline(idle)
	}
	if _, err := m.r.Peek(1); err != nil {
		if m.first && isTimeout(err) {
			return nil, &LimitError{"MessageTimeout", fmt.Sprintf("no message within %v of connecting", m.lim.MessageTimeout)}
		}
		return nil, err
	}
	m.first = false
	if m.dl != nil {
		m.dl.SetReadDeadline(time.Now().Add(m.lim.MessageTimeout))
	}
	// The header, bounded, on the buffered bytes.
	for {
		buf, _ := m.r.Peek(m.r.Buffered())
		if i := bytes.Index(buf, crlfcrlf); i >= 0 {
			if i > m.lim.MaxHeaderBytes {
				return nil, m.headerTooLong()
			}
			if n, ok := contentLength(buf[:i]); ok && n > int64(m.lim.MaxMessageBytes) {
				return nil, &LimitError{"MaxMessageBytes", fmt.Sprintf("a message of %d bytes: the limit is %d", n, m.lim.MaxMessageBytes)}
			}
			break
		}
		if len(buf) >= m.lim.MaxHeaderBytes+len(crlfcrlf) {
			return nil, m.headerTooLong()
		}
		if _, err := m.r.Peek(len(buf) + 1); err != nil {
			return nil, m.timeout(err, "header")
		}
	}
	content, err := dap.ReadBaseMessage(m.r)
	if err != nil {
		return nil, m.timeout(err, "content")
	}
	return content, nil
}

func (m *msgReader) headerTooLong() error {
	return &LimitError{"MaxHeaderBytes", fmt.Sprintf("a message header longer than %d bytes", m.lim.MaxHeaderBytes)}
}

// timeout names a read deadline that passed inside a message.
func (m *msgReader) timeout(err error, part string) error {
	if isTimeout(err) {
		return &LimitError{"MessageTimeout", fmt.Sprintf("a message whose %s did not arrive within %v of its first byte", part, m.lim.MessageTimeout)}
	}
	return err
}

func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// contentLength is the value of a header that is exactly one
// Content-Length field (the only form go-dap reads); ok is false for any
// other header, which go-dap then refuses with its own error.
func contentLength(h []byte) (int64, bool) {
	v, ok := bytes.CutPrefix(h, []byte("Content-Length: "))
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	return n, err == nil && n >= 0
}
