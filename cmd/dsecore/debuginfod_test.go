package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/debuginfodtest"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/dsecore/dsecore/report"
	"github.com/google/go-dap"
)

// runEnv runs dsecore with extra environment and returns stdout and stderr.
func runEnv(t *testing.T, env []string, args ...string) ([]byte, string) {
	t.Helper()
	cmd := exec.Command(dsecoreBin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dsecore %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out, stderr.String()
}

// clearFrame is dm_hash_node_t::clear's frame of the crashing stack.
func clearFrame(fs []report.Frame) *report.Frame {
	for i := range fs {
		if fs[i].Function == "dm_hash_node_t::clear" {
			return &fs[i]
		}
	}
	return nil
}

// TestDebuginfodEveryFace: a build stripped of its DWARF, whose debug files
// only a debuginfod server on 127.0.0.1 has (DEBUGINFOD_URLS, as gdb reads
// it), gets symbolized frames in bt, inspect and a DAP session; without
// the server the same frames have no source line.
func TestDebuginfodEveryFace(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	st := debuginfodtest.Strip(t, sc.Exe, sc.Lib)
	args := []string{sc.Core, "--exe", st.Exe, "--solib-search-path", st.Dir}

	// Without a server: the stripped library's frame has no line.
	var bare report.Backtrace
	out, _ := runEnv(t, []string{"DEBUGINFOD_URLS=", "XDG_CACHE_HOME=" + t.TempDir()}, append([]string{"bt", "--json"}, args...)...)
	if err := json.Unmarshal(out, &bare); err != nil || len(bare.Threads) != 1 {
		t.Fatalf("bt: %v\n%s", err, out)
	}
	if f := clearFrame(bare.Threads[0].Frames); f == nil || f.File != "" {
		t.Fatalf("without debuginfod the stripped clear() frame is %+v", f)
	}

	srv := debuginfodtest.Start(t, st.Files)
	cache := t.TempDir()
	env := []string{"DEBUGINFOD_URLS=" + srv.URL, "XDG_CACHE_HOME=" + cache}
	var bt report.Backtrace
	out, _ = runEnv(t, env, append([]string{"bt", "--json"}, args...)...)
	if err := json.Unmarshal(out, &bt); err != nil || len(bt.Threads) != 1 {
		t.Fatalf("bt: %v\n%s", err, out)
	}
	f := clearFrame(bt.Threads[0].Frames)
	if f == nil || !strings.HasSuffix(f.File, "dcache/dm.cc") || f.Line != 42 {
		t.Fatalf("bt with debuginfod: clear() frame %+v", f)
	}
	asked := strings.Join(srv.Asked(), " ")
	for _, id := range []string{st.LibID, st.ExeID} {
		if !strings.Contains(asked, "/buildid/"+id+"/debuginfo") {
			t.Errorf("the server was not asked for %s's debug file: %v", id, srv.Asked())
		}
	}
	if _, err := os.Stat(filepath.Join(cache, "dsecore", "debuginfod", ".build-id", st.LibID[:2], st.LibID[2:]+".debug")); err != nil {
		t.Errorf("the download is not in the cache: %v", err)
	}

	// inspect, with a fresh cache (the server is asked again).
	env[1] = "XDG_CACHE_HOME=" + t.TempDir()
	var doc report.Inspect
	out, _ = runEnv(t, env, append([]string{"inspect", "--json"}, args...)...)
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Crashed == nil || clearFrame(doc.Crashed.Frames) == nil || clearFrame(doc.Crashed.Frames).Line != 42 {
		t.Errorf("inspect's crashing stack: %+v", doc.Crashed)
	}
	if doc.Analysis == nil || doc.Analysis.Fault == nil || !strings.HasSuffix(doc.Analysis.Fault.File, "list_node.hpp") {
		t.Errorf("inspect's analysis without the library's DWARF: %+v", doc.Analysis)
	}
	for _, m := range doc.Modules {
		if filepath.Base(m.Name) == "libdcache.so" && (m.Status != "ok" || !strings.Contains(m.DebugPath, "debuginfod")) {
			t.Errorf("libdcache.so's module status %+v", m)
		}
	}

	// A DAP session.
	c := startDAP(t, "DEBUGINFOD_URLS="+srv.URL, "XDG_CACHE_HOME="+t.TempDir())
	c.ok("initialize", map[string]any{"adapterID": "dsecore"})
	c.ok("launch", map[string]any{"coreFile": sc.Core, "program": st.Exe, "solibSearchPath": []string{st.Dir}})
	c.waitEvent("initialized")
	c.ok("configurationDone", nil)
	stopped := c.waitEvent("stopped").(*dap.StoppedEvent)
	if !strings.HasSuffix(stopped.Body.Description, "in dm_hash_node_t::clear()") {
		t.Errorf("stopped %+v", stopped.Body)
	}
	trace := c.ok("stackTrace", map[string]any{"threadId": stopped.Body.ThreadId}).(*dap.StackTraceResponse)
	found := false
	for _, fr := range trace.Body.StackFrames {
		if fr.Name == "dm_hash_node_t::clear" {
			found = fr.Line == 42 && fr.Source != nil && strings.HasSuffix(fr.Source.Path, "dcache/dm.cc")
		}
	}
	if !found {
		t.Errorf("DAP frames: %+v", trace.Body.StackFrames)
	}
	c.ok("disconnect", nil)
}

// TestDebuginfodDeadServer: a server that takes requests and never answers
// costs one request (and its timeout) per run, not one per module or
// lookup; the answer is still given, and the warning names the server.
func TestDebuginfodDeadServer(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	st := debuginfodtest.Strip(t, sc.Exe, sc.Lib)
	dead := debuginfodtest.StartDead(t)
	env := []string{"DEBUGINFOD_URLS=" + dead.URL, "XDG_CACHE_HOME=" + t.TempDir()}
	out, stderr := runEnv(t, env, "inspect", sc.Core, "--exe", st.Exe, "--solib-search-path", st.Dir, "--debuginfod-timeout", "1s")
	if n := len(dead.Asked()); n != 1 {
		t.Errorf("the dead server was asked %d times: %v", n, dead.Asked())
	}
	if !strings.Contains(string(out), "dm_hash_node_t::clear") || !strings.Contains(string(out)+stderr, dead.URL) {
		t.Errorf("inspect with a dead server:\n%s\n%s", out, stderr)
	}
}
