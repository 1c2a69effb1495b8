package server

import (
	"strings"
	"testing"
	"time"

	"github.com/dsecore/dsecore/internal/mmap"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/google/go-dap"
)

// TestPrefetchPanicReported: a panic the prefetch meets inside work the
// session makes once and shares (here the thread list, injected: a file
// that changed under its mapping, as a fault reads) is dropped by the
// prefetch, and the request that asks for that work next reports it: the
// threads request fails naming the file and the session ends, as without
// the prefetch. With a plain sync.Once the request got the zero value,
// an empty thread list, and succeeded.
func TestPrefetchPanicReported(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	fault := &mmap.FaultError{Path: sc.Exe, Offset: 0x1000, Why: "injected by the test"}
	done := make(chan struct{})
	prefetchStart = func(st *state) {
		st.threadsOnce.Do(func() { panic(fault) })
	}
	prefetchDone = func(*state) { close(done) }
	defer func() { prefetchStart, prefetchDone = nil, nil }()
	c := startServer(t, Config{})
	c.launch(map[string]any{"coreFile": sc.Core, "program": sc.Exe})
	select {
	case <-done:
	case <-time.After(120 * time.Second):
		t.Fatal("the prefetch did not end in 120 s")
	}
	c.ok("configurationDone", nil)
	for {
		if _, ok := c.next().msg.(*dap.StoppedEvent); ok {
			break
		}
	}
	r := c.call("threads", nil)
	if r.GetResponse().Success {
		t.Fatalf("threads answered after the prefetch's panic in the thread list: %+v", r)
	}
	e, ok := r.(*dap.ErrorResponse)
	if !ok || e.Body.Error == nil || e.Body.Error.Id != errFilesFailed || !strings.Contains(e.Body.Error.Format, fault.Error()) {
		t.Fatalf("threads: %+v; want error %d naming %q", r, errFilesFailed, fault.Error())
	}
	// The session ended: its files can no longer be trusted.
	for {
		if _, ok := c.next().msg.(*dap.TerminatedEvent); ok {
			break
		}
	}
}
