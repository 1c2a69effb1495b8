// Package server is dsecore's Debug Adapter Protocol server: a core file
// opened in any DAP client (VS Code, nvim-dap, Emacs dap-mode, Theia).
// Messages are go-dap's; everything answered comes from the core, read
// only: threads and coroutine tasks, unwound stacks, DWARF variables,
// registers, the fault analysis, memory, disassembly and modules.
package server

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sync"

	"github.com/dsecore/dsecore/internal/mmap"
	"github.com/dsecore/dsecore/session"
	"github.com/google/go-dap"
)

// Serve runs one DAP session over in/out until the client disconnects or
// the stream ends. A malformed message gets an error response when its
// sequence number can be read, and ends the session when the stream
// itself is broken (a bad header).
func Serve(in io.Reader, out io.Writer) error { return ServeWith(in, out, session.Options{}) }

// ServeWith is Serve with defaults for every session a client opens (its
// launch arguments override them): dsecore dap's flags.
func ServeWith(in io.Reader, out io.Writer, base session.Options) error {
	s := newConn(out)
	s.base = base
	defer s.close()
	r := bufio.NewReader(in)
	for {
		content, err := dap.ReadBaseMessage(r)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil
			}
			// A broken header (or a message over go-dap's size limit) leaves
			// no way to find the next message: say so, then end the session.
			s.send(&dap.OutputEvent{Event: s.event("output"), Body: dap.OutputEventBody{Category: "important",
				Output: fmt.Sprintf("dsecore: unreadable DAP message (%v): the session ends\n", err)}})
			return fmt.Errorf("dap: %w", err)
		}
		msg, err := dap.DecodeProtocolMessage(content)
		if err != nil {
			if !s.customRequest(content) {
				s.badMessage(content, err)
			}
			continue
		}
		req, ok := msg.(dap.RequestMessage)
		if !ok {
			continue // responses and events from a client are ignored
		}
		if s.dispatch(req) {
			return nil
		}
	}
}

// badMessage answers a message go-dap could not decode.
func (s *conn) badMessage(content []byte, err error) {
	var base struct {
		Seq     int    `json:"seq"`
		Type    string `json:"type"`
		Command string `json:"command"`
	}
	if json.Unmarshal(content, &base) != nil || base.Type != "request" {
		s.send(&dap.OutputEvent{Event: s.event("output"), Body: dap.OutputEventBody{Category: "important",
			Output: fmt.Sprintf("dsecore: ignored a malformed message: %v\n", err)}})
		return
	}
	s.sendError(base.Seq, base.Command, 1000, fmt.Sprintf("%s: %v", base.Command, err))
}

// conn is one client's connection and what it opened.
type conn struct {
	mu  sync.Mutex // guards out and seq
	out io.Writer
	seq int

	base session.Options // defaults of the session launch opens
	st   *state          // the opened core, nil before launch

	clientProgress bool
	done           bool

	// onPanic, when set (by the fuzz tests), hears of every panic the
	// handlers' recovery turns into an error response.
	onPanic func(command string, x any)
}

func newConn(out io.Writer) *conn { return &conn{out: out} }

func (s *conn) close() {
	if s.st != nil {
		s.st.close()
	}
}

func (s *conn) send(m dap.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	switch x := m.(type) {
	case dap.ResponseMessage:
		x.GetResponse().Seq = s.seq
	case dap.EventMessage:
		x.GetEvent().Seq = s.seq
	}
	if err := dap.WriteProtocolMessage(s.out, m); err != nil {
		s.done = true
	}
}

func (s *conn) event(name string) dap.Event {
	return dap.Event{ProtocolMessage: dap.ProtocolMessage{Type: "event"}, Event: name}
}

func response(req *dap.Request) dap.Response {
	return dap.Response{ProtocolMessage: dap.ProtocolMessage{Type: "response"}, RequestSeq: req.Seq, Command: req.Command, Success: true}
}

func (s *conn) sendError(seq int, command string, id int, text string) {
	s.send(&dap.ErrorResponse{
		Response: dap.Response{ProtocolMessage: dap.ProtocolMessage{Type: "response"}, RequestSeq: seq, Command: command, Message: text},
		Body:     dap.ErrorResponseBody{Error: &dap.ErrorMessage{Id: id, Format: text, ShowUser: showUser(command)}},
	})
}

// recoverRequest turns a panic in a request's handler into that request's
// error response; the session goes on. Deferred by every handler entry.
func (s *conn) recoverRequest(req *dap.Request) {
	if x := recover(); x != nil {
		if fe := mmap.AsFault(x); fe != nil {
			// A file of the session changed under its mapping: the error
			// names it (internal/mmap), it is no internal error.
			fmt.Fprintf(os.Stderr, "dsecore dap: %s: %v\n", req.Command, fe)
			s.sendError(req.Seq, req.Command, 1004, fmt.Sprintf("%s: %v", req.Command, fe))
			return
		}
		if s.onPanic != nil {
			s.onPanic(req.Command, x)
		}
		fmt.Fprintf(os.Stderr, "dsecore dap: %s: panic: %v\n%s", req.Command, x, debug.Stack())
		s.sendError(req.Seq, req.Command, 1001, fmt.Sprintf("internal error in %s: %v", req.Command, x))
	}
}

// needsCore answers an error for a request that needs an opened core when
// there is none yet.
func (s *conn) needsCore(req *dap.Request) bool {
	if s.st == nil {
		s.sendError(req.Seq, req.Command, 1002, req.Command+": no core is open yet (send launch or attach first)")
		return false
	}
	return true
}

// dispatch handles one request; a panic becomes that request's error
// response. It reports whether the session is over.
func (s *conn) dispatch(m dap.RequestMessage) (end bool) {
	req := m.GetRequest()
	defer s.recoverRequest(req)
	needsCore := func() bool { return s.needsCore(req) }
	switch r := m.(type) {
	case *dap.InitializeRequest:
		s.clientProgress = r.Arguments.SupportsProgressReporting
		// go-dap drops an empty exceptionBreakpointFilters (omitempty): say
		// it explicitly, there are none.
		b, _ := json.Marshal(capabilities())
		var body map[string]any
		json.Unmarshal(b, &body)
		body["exceptionBreakpointFilters"] = []any{}
		s.send(&rawResponse{Response: response(req), Body: body})
	case *dap.LaunchRequest:
		s.launch(req, r.Arguments)
	case *dap.AttachRequest:
		s.launch(req, r.Arguments)
	case *dap.ConfigurationDoneRequest:
		if needsCore() {
			s.send(&dap.ConfigurationDoneResponse{Response: response(req)})
			s.sendStopped()
		}
	case *dap.ThreadsRequest:
		if needsCore() {
			s.send(&dap.ThreadsResponse{Response: response(req), Body: dap.ThreadsResponseBody{Threads: s.st.threads()}})
		}
	case *dap.StackTraceRequest:
		if needsCore() {
			s.stackTrace(r)
		}
	case *dap.ScopesRequest:
		if needsCore() {
			s.scopes(r)
		}
	case *dap.VariablesRequest:
		if needsCore() {
			s.variables(r)
		}
	case *dap.EvaluateRequest:
		if needsCore() {
			s.evaluate(r)
		}
	case *dap.DisassembleRequest:
		if needsCore() {
			s.disassemble(r)
		}
	case *dap.ReadMemoryRequest:
		if needsCore() {
			s.readMemory(r)
		}
	case *dap.ModulesRequest:
		if needsCore() {
			s.modules(r)
		}
	case *dap.LoadedSourcesRequest:
		if needsCore() {
			s.send(&dap.LoadedSourcesResponse{Response: response(req), Body: dap.LoadedSourcesResponseBody{Sources: s.st.loadedSources()}})
		}
	case *dap.ExceptionInfoRequest:
		if needsCore() {
			s.exceptionInfo(r)
		}
	case *dap.SourceRequest:
		if needsCore() {
			s.source(r)
		}
	case *dap.CompletionsRequest:
		if needsCore() {
			s.completions(r)
		}
	case *dap.CancelRequest:
		// Every request is answered before the next is read: nothing is
		// ever in flight to cancel.
		s.send(&dap.CancelResponse{Response: response(req)})
	case *dap.SetBreakpointsRequest, *dap.SetFunctionBreakpointsRequest, *dap.SetExceptionBreakpointsRequest, *dap.SetInstructionBreakpointsRequest:
		s.sendError(req.Seq, req.Command, 2001, "the target is a core file: breakpoints cannot be set")
	case *dap.ContinueRequest, *dap.NextRequest, *dap.StepInRequest, *dap.StepOutRequest, *dap.StepBackRequest,
		*dap.ReverseContinueRequest, *dap.PauseRequest, *dap.RestartRequest, *dap.RestartFrameRequest, *dap.GotoRequest:
		s.sendError(req.Seq, req.Command, 2002, "the target is a core file: it cannot run, step or restart")
	case *dap.SetVariableRequest, *dap.SetExpressionRequest, *dap.WriteMemoryRequest:
		s.sendError(req.Seq, req.Command, 2003, "the target is a core file: it is read-only")
	case *dap.DisconnectRequest:
		s.send(&dap.DisconnectResponse{Response: response(req)})
		return true
	case *dap.TerminateRequest:
		s.send(&dap.TerminateResponse{Response: response(req)})
		s.send(&dap.TerminatedEvent{Event: s.event("terminated")})
	default:
		s.sendError(req.Seq, req.Command, 1003, fmt.Sprintf("unsupported request %q", req.Command))
	}
	return s.done
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
