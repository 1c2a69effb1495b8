package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/debuginfodtest"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/dsecore/dsecore/report"
)

// TestDebuginfodUntrusted: what a debuginfod server sends is checked, not
// trusted. A server answering the library's build-id with a file of
// another build-id, or with a file over DEBUGINFOD_MAXSIZE (refused from
// its Content-Length, as libdebuginfod does), is ignored with a warning
// naming the server, the build-id and why; nothing of it is kept in the
// cache, and the library's frame goes without a source line rather than
// with a wrong one. The same server with the right file and no limit
// gives the line (the control).
func TestDebuginfodUntrusted(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	st := debuginfodtest.Strip(t, sc.Exe, sc.Lib)
	args := []string{"bt", "--json", sc.Core, "--exe", st.Exe, "--solib-search-path", st.Dir}
	clearLine := func(out []byte) (string, int, string) {
		t.Helper()
		var bt report.Backtrace
		if err := json.Unmarshal(out, &bt); err != nil || len(bt.Threads) != 1 {
			t.Fatalf("bt: %v\n%s", err, out)
		}
		f := clearFrame(bt.Threads[0].Frames)
		if f == nil {
			t.Fatalf("no clear() frame: %s", out)
		}
		return f.File, f.Line, strings.Join(bt.Warnings, "\n")
	}
	libDebug := st.LibID + "/debuginfo"
	for _, c := range []struct {
		name    string
		files   map[string]string
		env     []string
		warning string
	}{
		{"another build-id", map[string]string{libDebug: st.Files[st.ExeID+"/debuginfo"]}, nil,
			"the debuginfo of build-id " + st.LibID + ": the file has build-id " + st.ExeID + ": ignored"},
		{"over DEBUGINFOD_MAXSIZE", map[string]string{libDebug: st.Files[libDebug]}, []string{"DEBUGINFOD_MAXSIZE=4096"},
			"the debuginfo of build-id " + st.LibID + ": "},
		{"the control", map[string]string{libDebug: st.Files[libDebug]}, nil, ""},
	} {
		srv := debuginfodtest.Start(t, c.files)
		cache := t.TempDir()
		out, _ := runEnv(t, append([]string{"DEBUGINFOD_URLS=" + srv.URL, "XDG_CACHE_HOME=" + cache}, c.env...), args...)
		file, line, warnings := clearLine(out)
		kept := filepath.Join(cache, "dsecore", "debuginfod", ".build-id", st.LibID[:2], st.LibID[2:]+".debug")
		_, keptErr := os.Stat(kept)
		if c.warning == "" {
			if !strings.HasSuffix(file, "dcache/dm.cc") || line != 42 || keptErr != nil {
				t.Errorf("%s: clear() at %s:%d, cache %v\n%s", c.name, file, line, keptErr, warnings)
			}
			continue
		}
		if file != "" || line != 0 {
			t.Errorf("%s: clear() at %s:%d from a file that should have been ignored", c.name, file, line)
		}
		if !strings.Contains(warnings, "debuginfod "+srv.URL+": "+c.warning) {
			t.Errorf("%s: no warning %q in\n%s", c.name, c.warning, warnings)
		}
		if keptErr == nil {
			t.Errorf("%s: the ignored file is in the cache: %s", c.name, kept)
		}
		if c.env != nil && !strings.Contains(warnings, "bytes announced, over the limit of 4096 (DEBUGINFOD_MAXSIZE): ignored") {
			t.Errorf("%s: the warning does not say the size: %s", c.name, warnings)
		}
	}
}
