package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/coreparse/corefile"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/google/go-dap"
)

// wrongLibrary is a sysroot in which the field crash's libdcache.so is
// another build's (the coverage build's): a BUILD-ID MISMATCH.
func wrongLibrary(t *testing.T, sc, cov *fixture.Scenario) string {
	t.Helper()
	c, err := corefile.Open(sc.Core)
	if err != nil {
		t.Fatal(err)
	}
	var libPath string
	for _, f := range c.Files {
		if filepath.Base(f.Path) == "libdcache.so" {
			libPath = f.Path
		}
	}
	c.Close()
	if libPath == "" {
		t.Fatal("the core names no libdcache.so")
	}
	sysroot := t.TempDir()
	dst := filepath.Join(sysroot, libPath)
	b, err := os.ReadFile(cov.Lib)
	if err != nil {
		t.Fatal(err)
	}
	if os.MkdirAll(filepath.Dir(dst), 0o755) != nil || os.WriteFile(dst, b, 0o644) != nil {
		t.Fatal("cannot make the sysroot")
	}
	return sysroot
}

// TestLaunchModuleProblems: a module the session cannot trust (another
// build of libdcache.so) or could not find (the missing-lib core) is told
// once: one important output, the launch response's message, and one
// dsecore/modules event whose fields say the module, its status and the
// launch argument that fixes it, sent before the outputs; the core's
// warning of the same problem is not sent again as console output; the modules view says the symbols
// that were loaded.
func TestLaunchModuleProblems(t *testing.T) {
	set := fixture.Get(t)
	sc, cov := set.Scenario(t, fixture.FieldCrash), set.Scenario(t, fixture.Coverage)
	for _, tc := range []struct {
		name, status, says string
		args               map[string]any
	}{
		{"wrong library", "build-id-mismatch", "BUILD-ID MISMATCH: ",
			map[string]any{"coreFile": sc.Core, "program": sc.Exe, "sysroot": wrongLibrary(t, sc, cov)}},
		{"missing library", "missing", "no local file found",
			map[string]any{"coreFile": filepath.Join(set.Dir, "missing-lib", "core")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := &syncBuffer{}
			c := &client{t: t, s: newConn(out), out: out}
			defer c.s.close()
			c.ok("initialize", map[string]any{"adapterID": "test"})
			c.seq++
			c.s.dispatch(request(t, c.seq, "launch", tc.args))
			raw := out.take()
			var important, console []string
			var events []modulesEvent
			var resp *dap.LaunchResponse
			var order []string // event, important, response: in the order sent
			r := bufio.NewReader(bytes.NewReader(raw))
			for {
				b, err := dap.ReadBaseMessage(r)
				if err != nil {
					break
				}
				var w wire
				json.Unmarshal(b, &w)
				switch {
				case w.Event == eventModules:
					var e modulesEvent
					if err := json.Unmarshal(b, &e); err != nil {
						t.Fatal(err)
					}
					events = append(events, e)
					order = append(order, "event")
				case w.Event == "output":
					var o dap.OutputEvent
					json.Unmarshal(b, &o)
					text := strings.TrimSuffix(strings.TrimPrefix(o.Body.Output, "dsecore: "), "\n")
					if o.Body.Category == "important" {
						important = append(important, text)
						order = append(order, "important")
					} else {
						console = append(console, text)
					}
				case w.Type == "response":
					m, _ := dap.DecodeProtocolMessage(b)
					resp, _ = m.(*dap.LaunchResponse)
					order = append(order, "response")
				}
			}
			if resp == nil || !resp.Success {
				t.Fatalf("launch: %s", raw)
			}
			var lib []string
			for _, o := range important {
				if strings.Contains(o, "libdcache.so") {
					lib = append(lib, o)
				}
			}
			if len(lib) != 1 || !strings.Contains(lib[0], tc.says) || !strings.Contains(lib[0], "(set solibSearchPath or sysroot)") {
				t.Errorf("important outputs about libdcache.so: %q, want one saying %q", lib, tc.says)
			}
			for _, o := range console {
				if strings.Contains(o, "libdcache.so") && (strings.Contains(o, "MISMATCH") || strings.Contains(o, "no local file")) {
					t.Errorf("the problem again on the console: %q", o)
				}
			}
			if len(lib) == 0 || !strings.Contains(resp.Message, lib[0]) {
				t.Errorf("launch response's message %q", resp.Message)
			}
			if len(order) == 0 || order[0] != "event" || order[len(order)-1] != "response" {
				t.Errorf("sent in the order %v: the event first (a client then knows the important outputs for what they are), the response last", order)
			}
			if len(events) != 1 {
				t.Fatalf("%d dsecore/modules events, want 1", len(events))
			}
			var pr *moduleProblem
			for i, p := range events[0].Body.Problems {
				if filepath.Base(p.Module) == "libdcache.so" {
					pr = &events[0].Body.Problems[i]
				}
			}
			if pr == nil || pr.Status != tc.status || pr.Fix != "solibSearchPath" || pr.BuildID == "" || pr.Message != lib[0] ||
				(tc.status == "build-id-mismatch") != (pr.FileBuildID != "" && pr.FileBuildID != pr.BuildID) {
				t.Errorf("libdcache.so's problem %+v", pr)
			}
			if tc.status == "build-id-mismatch" {
				// Its symbols are loaded (another build's): the modules view says so.
				_, b, _ := c.call("modules", map[string]any{})
				var mods struct {
					Body struct{ Modules []map[string]any } `json:"body"`
				}
				json.Unmarshal(b, &mods)
				for _, m := range mods.Body.Modules {
					if m["name"] == "libdcache.so" && m["symbolStatus"] != "BUILD-ID MISMATCH: full" {
						t.Errorf("modules view: %v", m)
					}
				}
			}
		})
	}
}
