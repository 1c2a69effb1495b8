package server

import (
	"strconv"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/google/go-dap"
)

// TestCrashStackHints: the crashing thread's stack of the field crash, as
// a client draws it: the fatal-signal handler's frames above the signal
// frame deemphasized (subtle, their source's origin the handler), the
// signal frame a label, the frame at the faulting instruction (its pc
// expected.json's fault_ip, where the handler's sigcontext says the fault
// was) the one the client focuses (normal), and the application's frames
// below it drawn plainly (no hint), down to the coroutine's entry.
func TestCrashStackHints(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	c := startServer(t, Config{})
	c.launch(map[string]any{"coreFile": sc.Core, "program": sc.Exe})
	c.ok("configurationDone", nil)
	id := int(sc.Expected["crash_lwp"].(float64))
	fs := c.ok("stackTrace", map[string]any{"threadId": id}).(*dap.StackTraceResponse).Body.StackFrames
	faultIP, err := strconv.ParseUint(sc.Expected["fault_ip"].(string), 0, 64)
	if err != nil {
		t.Fatal(err)
	}
	sig := -1
	for i, f := range fs {
		if f.Name == "<signal handler called>" {
			sig = i
			break
		}
	}
	if sig < 1 || sig+3 >= len(fs) {
		t.Fatalf("no signal frame with handler frames above and frames below: %d of %d", sig, len(fs))
	}
	for i, f := range fs[:sig] {
		if f.PresentationHint != "subtle" || f.Source == nil || f.Source.Origin != originHandler {
			t.Errorf("#%d %s (the handler's): hint %q, source %+v", i, f.Name, f.PresentationHint, f.Source)
		}
	}
	if fs[sig].PresentationHint != "label" {
		t.Errorf("the signal frame: hint %q", fs[sig].PresentationHint)
	}
	focus := fs[sig+1]
	if pc, _ := strconv.ParseUint(focus.InstructionPointerReference, 0, 64); focus.PresentationHint != "normal" || pc != faultIP {
		t.Errorf("the frame below the signal frame: %s at %s, hint %q; want the fault at %#x, normal", focus.Name, focus.InstructionPointerReference, focus.PresentationHint, faultIP)
	}
	app := false
	for i, f := range fs[sig+2:] {
		if strings.HasPrefix(f.Name, "dm_hash_node_t::clear") {
			app = true
		}
		if f.PresentationHint != "" && !strings.Contains(f.Name, "[found by scan]") {
			t.Errorf("#%d %s (below the fault): hint %q", sig+2+i, f.Name, f.PresentationHint)
		}
	}
	if !app {
		t.Errorf("dm_hash_node_t::clear not below the fault")
	}
}
