// Package server is dsecore's Debug Adapter Protocol server: a core file
// opened in any DAP client (VS Code, nvim-dap, Emacs dap-mode, Theia).
// Messages are go-dap's; everything answered comes from the core, read
// only: threads and coroutine tasks, unwound stacks, DWARF variables,
// registers, the fault analysis, memory, disassembly and modules.
package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/dsecore/dsecore/internal/mmap"
	"github.com/dsecore/dsecore/session"
	"github.com/google/go-dap"
)

// Serve runs one DAP session over in/out until the client disconnects or
// the stream ends. A malformed message gets an error response when its
// sequence number can be read, and ends the session when the stream
// itself is broken (a bad header) or over a limit (Limits).
func Serve(in io.Reader, out io.Writer) error { return ServeWith(in, out, session.Options{}) }

// ServeWith is Serve with defaults for every session a client opens (its
// launch arguments override them): dsecore dap's flags.
func ServeWith(in io.Reader, out io.Writer, base session.Options) error {
	return ServeConfig(in, out, Config{Base: base})
}

// Config is what the server decides for every session it serves: set
// once, where the server is made (dsecore dap's flags).
type Config struct {
	Base   session.Options // defaults of the sessions launch opens
	Limits Limits          // zero fields: the defaults
	// Token, when not empty, must be the authToken of launch's or
	// attach's arguments (compared in constant time).
	Token []byte
	// Paths, when not nil, restricts every file a client names.
	Paths *PathPolicy
	// Log hears why sessions end and what was refused (default stderr);
	// Peer names the client in its lines.
	Log  io.Writer
	Peer string
}

// ServeConfig runs one DAP session with cfg.
func ServeConfig(in io.Reader, out io.Writer, cfg Config) error {
	cfg.Limits = cfg.Limits.WithDefaults()
	s := newConn(out)
	s.cfg = cfg
	s.base = cfg.Base
	if d, ok := out.(deadliner); ok {
		if _, isFile := out.(*os.File); !isFile {
			s.wdl = d
		}
	}
	// A file that faults under a mapping (truncated or replaced while the
	// session reads it) is a panic this goroutine's handlers recover,
	// not a SIGBUS that ends every session (recoverRequest); closing the
	// session too (it writes caches from those files).
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true)) // mmap.Guard, undone when the session ends
	defer s.close()
	r := newMsgReader(in, cfg.Limits)
	for {
		content, err := r.next()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// A broken header, or a message over a limit, leaves no way
			// to find the next message: say so, then end the session.
			s.send(&dap.OutputEvent{Event: s.event("output"), Body: dap.OutputEventBody{Category: "important",
				Output: fmt.Sprintf("dsecore: unreadable DAP message (%v): the session ends\n", err)}})
			return fmt.Errorf("dap: %w", err)
		}
		msg, err := dap.DecodeProtocolMessage(content)
		if err != nil {
			if !s.customRequest(content) {
				s.badMessage(content, err)
			}
		} else if req, ok := msg.(dap.RequestMessage); ok { // responses and events from a client are ignored
			if s.dispatch(req) {
				return s.endErr
			}
			s.warnChanged()
		}
		if s.done {
			return s.endErr
		}
	}
}

// logf writes a line to the server's log, naming the client.
func (c *conn) logf(format string, args ...any) {
	w := c.cfg.Log
	if w == nil {
		w = os.Stderr
	}
	peer := ""
	if c.cfg.Peer != "" {
		peer = c.cfg.Peer + ": "
	}
	fmt.Fprintf(w, "dsecore dap: %s%s\n", peer, fmt.Sprintf(format, args...))
}

// badMessage answers a message go-dap could not decode.
func (c *conn) badMessage(content []byte, err error) {
	var base struct {
		Seq     int    `json:"seq"`
		Type    string `json:"type"`
		Command string `json:"command"`
	}
	if json.Unmarshal(content, &base) != nil || base.Type != "request" {
		c.send(&dap.OutputEvent{Event: c.event("output"), Body: dap.OutputEventBody{Category: "important",
			Output: fmt.Sprintf("dsecore: ignored a malformed message: %v\n", err)}})
		return
	}
	c.sendError(base.Seq, base.Command, errBadMessage, fmt.Sprintf("%s: %v", base.Command, err))
}

// conn is one client's connection and what it opened.
type conn struct {
	mu  sync.Mutex // guards out and seq
	out io.Writer
	wdl deadliner // out's write deadline (nil: none)
	seq int

	cfg  Config
	base session.Options // defaults of the session launch opens
	st   *state          // the opened core, nil before launch

	clientProgress bool
	changedSaid    map[string]bool // the files warnChanged told the client of (by path)
	done           bool            // the session is over (the client is gone, or its files failed)
	endErr         error           // why, when it was not the client's choice

	// onPanic, when set (by the fuzz tests), hears of every panic the
	// handlers' recovery turns into an error response.
	onPanic func(command string, x any)
}

func newConn(out io.Writer) *conn { return &conn{out: out} }

// close closes the session's core and files; a panic doing it (a file
// that faulted) is logged, and ends nothing else.
func (c *conn) close() {
	defer func() {
		if x := recover(); x != nil {
			c.logf("closing the session: %v", x)
		}
	}()
	if c.st != nil {
		c.st.close()
	}
}

func (c *conn) send(m dap.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	switch x := m.(type) {
	case dap.ResponseMessage:
		x.GetResponse().Seq = c.seq
	case dap.EventMessage:
		x.GetEvent().Seq = c.seq
	}
	if c.wdl != nil {
		c.wdl.SetWriteDeadline(time.Now().Add(c.cfg.Limits.MessageTimeout))
	}
	if err := dap.WriteProtocolMessage(c.out, m); err != nil {
		c.done = true
		if c.endErr == nil && isTimeout(err) {
			c.endErr = &LimitError{"MessageTimeout", fmt.Sprintf("the client did not take a message within %v", c.cfg.Limits.MessageTimeout)}
		}
	}
}

func (c *conn) event(name string) dap.Event {
	return dap.Event{ProtocolMessage: dap.ProtocolMessage{Type: "event"}, Event: name}
}

func response(req *dap.Request) dap.Response {
	return dap.Response{ProtocolMessage: dap.ProtocolMessage{Type: "response"}, RequestSeq: req.Seq, Command: req.Command, Success: true}
}

func (c *conn) sendError(seq int, command string, id int, text string) {
	c.send(&dap.ErrorResponse{
		Response: dap.Response{ProtocolMessage: dap.ProtocolMessage{Type: "response"}, RequestSeq: seq, Command: command, Message: text},
		Body:     dap.ErrorResponseBody{Error: &dap.ErrorMessage{Id: id, Format: text, ShowUser: showUser(command)}},
	})
}

// recoverRequest turns a panic in a request's handler into that request's
// error response; the session goes on. Deferred by every handler entry.
// A fault under a mapping (a file of the session truncated or replaced
// while it is read) ends the session instead, with an error response
// naming the file and an error event: its files can no longer be trusted.
// Other sessions go on.
func (c *conn) recoverRequest(req *dap.Request) {
	if x := recover(); x != nil {
		if fe := mmap.AsFault(x); fe != nil {
			// A file of the session changed under its mapping (the
			// error names it, internal/mmap): what the session reads can
			// no longer be trusted.
			why := fmt.Sprintf("%s: %v: the session ends (launch again to read the files as they are now)", req.Command, fe)
			c.logf("%s", why)
			c.sendError(req.Seq, req.Command, errFilesFailed, why)
			c.endSession(why)
			return
		}
		if c.onPanic != nil {
			c.onPanic(req.Command, x)
		}
		if f, ok := x.(interface{ Addr() uintptr }); ok {
			// A fault outside every known mapping.
			why := fmt.Sprintf("%s: a memory fault at %#x (%v): the session ends", req.Command, f.Addr(), x)
			c.logf("%s\n%s", why, debug.Stack())
			c.sendError(req.Seq, req.Command, errFilesFailed, why)
			c.endSession(why)
			return
		}
		c.logf("%s: panic: %v\n%s", req.Command, x, debug.Stack())
		c.sendError(req.Seq, req.Command, errInternal, fmt.Sprintf("internal error in %s: %v", req.Command, x))
	}
}

// warnChanged tells the client, once for each, of the session's files
// (the core, a module, a debug or cache file) that changed since they
// were opened and did not fault: a library rebuilt in place of the same
// size, a core overwritten. What the session answered may no longer be
// the file's, but it goes on: the change may be harmless (a cp of the
// very same build), and the user decides. A change that faults a read
// ends the session instead (recoverRequest). Checked after each request:
// a stat of each file.
func (c *conn) warnChanged() {
	if c.st == nil || c.done {
		return
	}
	for _, line := range c.st.sess.Changed() {
		// Once per file, whatever it says next (a file being rewritten
		// is seen cut to 0 bytes, then modified).
		file := line
		for _, sep := range []string{": changed while being read", ": the core changed while it was read"} {
			if f, _, ok := strings.Cut(line, sep); ok {
				file = f
				break
			}
		}
		if c.changedSaid[file] {
			continue
		}
		if c.changedSaid == nil {
			c.changedSaid = map[string]bool{}
		}
		c.changedSaid[file] = true
		c.send(&dap.OutputEvent{Event: c.event("output"), Body: dap.OutputEventBody{Category: "important",
			Output: "dsecore: warning: " + line + " (answers may not be the file's from now on: launch again to read it as it is now)\n"}})
	}
}

// endSession ends the session on the server's side: an error event (an
// important output event, which clients show the user, and terminated),
// then the connection closes.
func (c *conn) endSession(why string) {
	c.send(&dap.OutputEvent{Event: c.event("output"), Body: dap.OutputEventBody{Category: "important", Output: "dsecore: " + why + "\n"}})
	c.send(&dap.TerminatedEvent{Event: c.event("terminated")})
	c.mu.Lock()
	c.done = true
	if c.endErr == nil {
		c.endErr = errors.New(why)
	}
	c.mu.Unlock()
}

// needsCore answers an error for a request that needs an opened core when
// there is none yet.
func (c *conn) needsCore(req *dap.Request) bool {
	if c.st == nil {
		c.sendError(req.Seq, req.Command, errNoCore, req.Command+": no core is open yet (send launch or attach first)")
		return false
	}
	return true
}

// dispatch handles one request; a panic becomes that request's error
// response. It reports whether the session is over.
func (c *conn) dispatch(m dap.RequestMessage) (end bool) {
	req := m.GetRequest()
	defer c.recoverRequest(req)
	needsCore := func() bool { return c.needsCore(req) }
	switch r := m.(type) {
	case *dap.InitializeRequest:
		c.clientProgress = r.Arguments.SupportsProgressReporting
		// go-dap drops an empty exceptionBreakpointFilters (omitempty): say
		// it explicitly, there are none.
		b, _ := json.Marshal(capabilities())
		var body map[string]any
		json.Unmarshal(b, &body)
		body["exceptionBreakpointFilters"] = []any{}
		c.send(&rawResponse{Response: response(req), Body: body})
	case *dap.LaunchRequest:
		c.launch(req, r.Arguments)
	case *dap.AttachRequest:
		c.launch(req, r.Arguments)
	case *dap.ConfigurationDoneRequest:
		if needsCore() {
			c.send(&dap.ConfigurationDoneResponse{Response: response(req)})
			c.sendStopped()
		}
	case *dap.ThreadsRequest:
		if needsCore() {
			c.send(&dap.ThreadsResponse{Response: response(req), Body: dap.ThreadsResponseBody{Threads: c.st.threads()}})
		}
	case *dap.StackTraceRequest:
		if needsCore() {
			c.stackTrace(r)
		}
	case *dap.ScopesRequest:
		if needsCore() {
			c.scopes(r)
		}
	case *dap.VariablesRequest:
		if needsCore() {
			c.variables(r)
		}
	case *dap.EvaluateRequest:
		if needsCore() {
			c.evaluate(r)
		}
	case *dap.DisassembleRequest:
		if needsCore() {
			c.disassemble(r)
		}
	case *dap.ReadMemoryRequest:
		if needsCore() {
			c.readMemory(r)
		}
	case *dap.ModulesRequest:
		if needsCore() {
			c.modules(r)
		}
	case *dap.LoadedSourcesRequest:
		if needsCore() {
			c.send(&dap.LoadedSourcesResponse{Response: response(req), Body: dap.LoadedSourcesResponseBody{Sources: c.st.loadedSources()}})
		}
	case *dap.ExceptionInfoRequest:
		if needsCore() {
			c.exceptionInfo(r)
		}
	case *dap.SourceRequest:
		if needsCore() {
			c.source(r)
		}
	case *dap.CompletionsRequest:
		if needsCore() {
			c.completions(r)
		}
	case *dap.CancelRequest:
		// Every request is answered before the next is read: nothing is
		// ever in flight to cancel.
		c.send(&dap.CancelResponse{Response: response(req)})
	case *dap.SetBreakpointsRequest, *dap.SetFunctionBreakpointsRequest, *dap.SetExceptionBreakpointsRequest, *dap.SetInstructionBreakpointsRequest:
		c.sendError(req.Seq, req.Command, errNoBreakpoints, "the target is a core file: breakpoints cannot be set")
	case *dap.ContinueRequest, *dap.NextRequest, *dap.StepInRequest, *dap.StepOutRequest, *dap.StepBackRequest,
		*dap.ReverseContinueRequest, *dap.PauseRequest, *dap.RestartRequest, *dap.RestartFrameRequest, *dap.GotoRequest:
		c.sendError(req.Seq, req.Command, errCannotRun, "the target is a core file: it cannot run, step or restart")
	case *dap.SetVariableRequest, *dap.SetExpressionRequest, *dap.WriteMemoryRequest:
		c.sendError(req.Seq, req.Command, errReadOnly, "the target is a core file: it is read-only")
	case *dap.DisconnectRequest:
		c.send(&dap.DisconnectResponse{Response: response(req)})
		return true
	case *dap.TerminateRequest:
		c.send(&dap.TerminateResponse{Response: response(req)})
		c.send(&dap.TerminatedEvent{Event: c.event("terminated")})
	default:
		c.sendError(req.Seq, req.Command, errUnsupported, fmt.Sprintf("unsupported request %q", req.Command))
	}
	return c.done
}

// capabilities say exactly what a core session can do.
func capabilities() dap.Capabilities {
	return dap.Capabilities{
		SupportsConfigurationDoneRequest: true,
		SupportsEvaluateForHovers:        true,
		SupportsCompletionsRequest:       true,
		SupportsModulesRequest:           true,
		SupportsValueFormattingOptions:   true,
		SupportsExceptionInfoRequest:     true,
		SupportsDelayedStackTraceLoading: true,
		SupportsLoadedSourcesRequest:     true,
		SupportsTerminateRequest:         true,
		SupportsReadMemoryRequest:        true,
		SupportsDisassembleRequest:       true,
		SupportsCancelRequest:            true,
		ExceptionBreakpointFilters:       []dap.ExceptionBreakpointsFilter{},
		AdditionalModuleColumns: []dap.ColumnDescriptor{
			{AttributeName: "buildId", Label: "Build ID"},
			{AttributeName: "debugFile", Label: "Debug file"},
		},
		CompletionTriggerCharacters: []string{".", ">", "$"},
	}
}

// rawResponse is a response with a body go-dap's types cannot express.
type rawResponse struct {
	dap.Response
	Body any `json:"body"`
}
