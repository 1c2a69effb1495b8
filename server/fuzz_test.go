package server

import (
	"bytes"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/dsecore/dsecore/internal/testsupport/bound"
)

// FuzzServe: any byte stream on the DAP transport ends in a clean return,
// never a panic or a hang.
func FuzzServe(f *testing.F) {
	msg := func(s string) []byte {
		return []byte("Content-Length: " + strconv.Itoa(len(s)) + "\r\n\r\n" + s)
	}
	f.Add(msg(`{"seq":1,"type":"request","command":"initialize","arguments":{"adapterID":"x"}}`))
	f.Add(append(msg(`{"seq":1,"type":"request","command":"threads"}`), msg(`{"seq":2,"type":"request","command":"stackTrace","arguments":{"threadId":1}}`)...))
	f.Add(msg(`{"seq":1,"type":"request","command":"launch","arguments":{"coreFile":"/nonexistent"}}`))
	f.Add(msg(`{"seq":1,"type":"request","command":"dsecore/tasks"}`))
	f.Add(msg(`{not json`))
	f.Add([]byte("Content-Length: 99999999999\r\n\r\n{}"))
	f.Add([]byte("Content-Length: -1\r\n\r\n"))
	f.Add([]byte("garbage\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<20 {
			return
		}
		bound.Within(t, 10*time.Second, func() { Serve(bytes.NewReader(data), io.Discard) }, "Serve did not return on %q", data)
	})
}
