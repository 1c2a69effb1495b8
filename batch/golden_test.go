package batch_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dsecore/dsecore/analysis/signature"
	"github.com/dsecore/dsecore/batch"
	"github.com/dsecore/dsecore/coreparse"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/ with what the formats write now")

// golden compares got with testdata/name, or writes it there with -update
// (as the Go toolchain's golden tests do).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./batch -run %s -update writes it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what %s writes now (go test -update rewrites it after a deliberate change):\n--- want\n%s\n--- got\n%s", path, t.Name(), want, got)
	}
}

// goldenCores are five summaries as Summarize would make them: two cores
// of the field crash on two nodes (one group, the double release), one
// with the same top frames and another caller (a family), an abort with
// an assertion, and a core that could not be read; a library missing on
// two of them.
func goldenCores() []batch.Core {
	frames := func(fns ...string) []coreparse.Frame {
		var fs []coreparse.Frame
		for i, fn := range fns {
			fs = append(fs, coreparse.Frame{Level: i, PC: 0x401000 + uint64(i)*0x10, Function: fn, File: "/src/dcache/dm.cc", Line: 40 + i})
		}
		return fs
	}
	clear := frames("boost::intrusive::list_node_traits<void*>::get_next", "dm_hash_node_t::clear", "lsm_release_all_csdobj",
		"lsm_destroy", "engine_shutdown", "co::Task::Run")
	other := frames("boost::intrusive::list_node_traits<void*>::get_next", "dm_hash_node_t::clear", "lsm_release_all_csdobj",
		"lsm_destroy", "engine_restart", "co::Task::Run")
	abort := frames("abort", "ceph::__ceph_assert_fail", "dm_obj_t::release", "lsm_release_all_csdobj")
	t0 := time.Date(2026, 11, 3, 1, 34, 2, 0, time.UTC)
	sig := func(fs []coreparse.Frame) *signature.Signature { s := signature.Compute(fs, 5); return &s }
	verdict := "Likely concurrent destruction (double release) of the objects of dm_hash_node_t 0x56299fd78530 by two paths"
	field := func(path, node string, lwp int, at time.Time, fs []coreparse.Frame) batch.Core {
		return batch.Core{Path: path, Size: 25 << 20, MTime: at, Time: at, Node: node, PID: 31000 + lwp%100, Process: "ceph-dse",
			Exe: "/usr/bin/ceph-dse", Signal: "SIGSEGV (SEGV_MAPERR) at 0x0", SignalName: "SIGSEGV", ReRaised: true, LWP: lwp,
			ThreadName: "Processer_5", Task: 16, TopFrames: []string{"dm_hash_node_t::clear (dm.cc:41)", "lsm_release_all_csdobj (dm.cc:42)"},
			Backtrace: []string{"#0 get_next", "#1 dm_hash_node_t::clear", "#2 lsm_release_all_csdobj"}, Verdict: verdict,
			Confidence: "likely", VerdictRule: "verdict-concurrent-release", Evidence: []string{"[list-walk] size_ underflowed to -1"},
			Build:   map[string]string{"ceph-dse": "8f1c", "libdcache.so": "77aa"},
			Missing: []string{"/opt/lib/libdcache.so (build-id 77aa)"}, Signature: sig(fs), Seconds: 1.5}
	}
	a := field("nodes/n1/core.ceph-dse.31066", "n1", 31066, t0, clear)
	b := field("nodes/n2/core.ceph-dse.42001", "n2", 42001, t0.Add(26*time.Hour), clear)
	c := field("nodes/n2/core.ceph-dse.42077", "n2", 42077, t0.Add(50*time.Hour), other)
	c.Missing = nil
	d := batch.Core{Path: "nodes/n1/core.ceph-dse.31999", Size: 20 << 20, MTime: t0.Add(time.Hour), Time: t0.Add(time.Hour), Node: "n1",
		PID: 31999, Process: "ceph-dse", Signal: "SIGABRT sent by pid 31999", SignalName: "SIGABRT", LWP: 31999, Task: -1,
		TopFrames: []string{"dm_obj_t::release (dm.cc:42)"}, Verdict: "assertion failed: refcount > 0", Confidence: "certain",
		VerdictRule: "verdict-assertion", Assertion: &batch.Assert{Text: "refcount > 0", Function: "dm_obj_t::release"},
		Build: map[string]string{"ceph-dse": "8f1c"}, Signature: sig(abort), Seconds: 0.5}
	e := batch.Failed(batch.Core{Path: "nodes/n3/core.truncated", Size: 4096, MTime: t0, Time: t0, Node: "n3"},
		errorString("nodes/n3/core.truncated: not an ELF core file"))
	return []batch.Core{a, b, c, d, e}
}

type errorString string

func (e errorString) Error() string { return string(e) }

// TestFormatsGolden: the summary document of goldenCores in each format
// (json, table, markdown, html, one Ceph crash report) is byte for byte
// the golden file's. The clock is fixed.
func TestFormatsGolden(t *testing.T) {
	doc := batch.BuildSummary(goldenCores(), nil)
	doc.Generated = time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	doc.CoroutineProfile = "ceph-dse (built-in)"
	doc.Warnings = []string{"nodes/n4: permission denied"}
	var js bytes.Buffer
	enc := json.NewEncoder(&js)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		t.Fatal(err)
	}
	golden(t, "summary.json", js.Bytes())
	var tab, md, html bytes.Buffer
	batch.WriteSummaryTable(&tab, doc)
	golden(t, "summary.txt", tab.Bytes())
	batch.WriteSummaryMarkdown(&md, doc)
	golden(t, "summary.md", md.Bytes())
	if err := batch.WriteSummaryHTML(&html, doc, nil); err != nil {
		t.Fatal(err)
	}
	golden(t, "summary.html", html.Bytes())
	golden(t, "ceph-crash-meta.json", batch.CephCrashMeta(doc.Cores[0]))
}
