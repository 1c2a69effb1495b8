package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/coreparse/corefile"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
)

// cutCore writes the first n bytes of core to a file of its own, as a
// full disk or a core size limit leaves it.
func cutCore(t *testing.T, core string, n int64) string {
	t.Helper()
	in, err := os.Open(core)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	path := filepath.Join(t.TempDir(), "core")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, io.LimitReader(in, n)); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTruncatedCores: the field crash's core cut short. At 60% the
// libraries' header pages (and r_debug) are gone: the modules still come
// from NT_FILE and the local files, and the verdict is the full one. Cut
// inside the crashed thread's stack, the signal frame is gone: the
// verdict says so and says which memory, and does not call the signal
// sent (the core's record of the handler's re-raise says SI_TKILL).
func TestTruncatedCores(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	st, err := os.Stat(sc.Core)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("60-percent", func(t *testing.T) {
		core := cutCore(t, sc.Core, st.Size()*60/100)
		var doc struct {
			fieldVerdict
			Warnings []string `json:"warnings"`
		}
		runJSON(t, &doc, "inspect", core, "--exe", sc.Exe)
		checkFieldVerdict(t, sc, &doc.fieldVerdict)
		for _, m := range []string{"libdcache.so", "libc.so.6"} {
			if st, _ := moduleStatus(t, &doc.fieldVerdict, m); st != "full" {
				t.Errorf("%s: status %q", m, st)
			}
		}
		found := false
		for _, w := range doc.Warnings {
			if strings.Contains(w, "libdcache.so: its ELF header is not in the core") && strings.Contains(w, "NT_FILE") {
				found = true
			}
		}
		if !found {
			t.Errorf("no warning that libdcache.so's header was cut: %q", doc.Warnings)
		}
	})
	t.Run("stack-cut", func(t *testing.T) {
		c, err := corefile.Open(sc.Core)
		if err != nil {
			t.Fatal(err)
		}
		rsp := c.Threads[0].Regs.Rsp
		var off uint64
		for _, s := range c.Segments {
			if rsp >= s.Vaddr && rsp < s.Vaddr+s.Filesz {
				off = (s.Off + rsp - s.Vaddr) &^ 0xfff
			}
		}
		c.Close()
		if off == 0 {
			t.Fatalf("the crashed thread's rsp %#x is in no dumped segment", rsp)
		}
		core := cutCore(t, sc.Core, int64(off))
		var doc fieldVerdict
		runJSON(t, &doc, "inspect", core, "--exe", sc.Exe)
		v := doc.Analysis
		if !strings.HasPrefix(v.Verdict, "The signal frame is not in the core: the stack of LWP ") || !strings.Contains(v.Verdict, "was cut from the core") ||
			!strings.Contains(v.Verdict, "cannot be told from this core") || strings.Contains(v.Verdict, "not caused by an instruction") || v.Confidence != "low" {
			t.Errorf("verdict (%s): %s", v.Confidence, v.Verdict)
		}
	})
}
