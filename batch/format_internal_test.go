package batch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dsecore/dsecore/analysis/cephcrash"
)

// TestShortAndOneLine: a signature is cut to its version and 12 digits
// of hash, a short one left whole; a text is one line, cut to n with an
// ellipsis only when longer than n.
func TestShortAndOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"v1:0123456789abcdef":       "v1:0123456789ab",
		"v1:0123456789ab":           "v1:0123456789ab",
		"v1:abc":                    "v1:abc",
		"hang-v1:0123456789abcdef0": "hang-v1:0123456789ab",
	} {
		if got := short(in); got != want {
			t.Errorf("short(%q) = %q, want %q", in, got, want)
		}
	}
	if got := oneLine("ab\n cd", 5); got != "ab cd" {
		t.Errorf("oneLine of exactly 5: %q", got)
	}
	if got := oneLine("ab cde", 5); got != "ab c…" {
		t.Errorf("oneLine of 6 in 5: %q", got)
	}
}

// TestChart: cores within two days are counted by hour, bars as wide as
// the chart's width allows (ten bars of (640-20)/10 = 62 px); cores two
// days apart or more by day.
func TestChart(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 1, 30, 0, 0, time.UTC)
	var cores []Core
	for i := 0; i < 10; i++ {
		cores = append(cores, Core{Time: t0.Add(time.Duration(i) * time.Hour)})
	}
	cores = append(cores, Core{Time: t0.Add(10 * time.Minute)})
	c := buildChart(cores)
	if c.Unit != "hour" || len(c.Bars) != 10 {
		t.Fatalf("ten hours: unit %s, %d bars", c.Unit, len(c.Bars))
	}
	for i, b := range c.Bars {
		n, h := 1, 60
		if i == 0 {
			n, h = 2, 120
		}
		want := chartBar{X: 10 + i*62, Y: c.Base - h, W: 56, H: h, N: n, Label: t0.Add(time.Duration(i) * time.Hour).Format("01-02 15h")}
		if b != want {
			t.Errorf("bar %d: %+v, want %+v", i, b, want)
		}
	}
	d := buildChart([]Core{{Time: t0}, {Time: t0.Add(48 * time.Hour)}})
	if d.Unit != "day" || len(d.Bars) != 2 || d.Bars[0].Label != "12-07" || d.Bars[1].Label != "12-09" || d.Bars[0].W != 74 {
		t.Errorf("two days apart: unit %s, bars %+v", d.Unit, d.Bars)
	}
}

// TestSummaryWithoutErrors: a summary with no failed core and no missing
// build has no such sections, in the table and in Markdown.
func TestSummaryWithoutErrors(t *testing.T) {
	s := &Summary{Cores: []Core{{Path: "core.1"}}}
	var tb, md bytes.Buffer
	WriteSummaryTable(&tb, s)
	WriteSummaryMarkdown(&md, s)
	for _, no := range []string{"Not summarized", "Missing files"} {
		if strings.Contains(tb.String(), no) {
			t.Errorf("table: %q in\n%s", no, tb.String())
		}
	}
	for _, no := range []string{"## Not summarized", "## Missing builds"} {
		if strings.Contains(md.String(), no) {
			t.Errorf("Markdown: %q in\n%s", no, md.String())
		}
	}
}

// TestCephCrashMetaFields: the machine comes from the core's AT_PLATFORM
// when Ceph's report does not say it, not over the report's; dsecore's
// lists are left out when empty.
func TestCephCrashMetaFields(t *testing.T) {
	meta := func(c Core) map[string]any {
		var m map[string]any
		if err := json.Unmarshal(CephCrashMeta(c), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	now := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	m := meta(Core{Path: "core.1", Time: now, Platform: "x86_64", Error: "not a core"})
	if m["utsname_machine"] != "x86_64" {
		t.Errorf("machine from AT_PLATFORM: %v", m["utsname_machine"])
	}
	for _, k := range []string{"dsecore_evidence", "dsecore_frames", "dsecore_build", "dsecore_signature"} {
		if v, ok := m[k]; ok {
			t.Errorf("%s = %v in the meta of a core with none", k, v)
		}
	}
	m = meta(Core{Path: "core.1", Time: now, Platform: "x86_64", Ceph: &cephcrash.Report{Host: [][2]string{{"utsname_machine", "aarch64"}}}})
	if m["utsname_machine"] != "aarch64" {
		t.Errorf("the report's machine: %v", m["utsname_machine"])
	}
	m = meta(Core{Path: "core.1", Time: now})
	if v, ok := m["utsname_machine"]; ok {
		t.Errorf("no machine known: %v", v)
	}
	m = meta(Core{Path: "core.1", Time: now, Evidence: []string{"[r] e"}, TopFrames: []string{"f (a.cc:1)"}, Build: map[string]string{"exe": "ab"}})
	if fmt.Sprint(m["dsecore_evidence"], m["dsecore_frames"], m["dsecore_build"]) != "[[r] e] [f (a.cc:1)] [exe ab]" {
		t.Errorf("lists: %v %v %v", m["dsecore_evidence"], m["dsecore_frames"], m["dsecore_build"])
	}
}

// TestCephCrashMetaAssertAndEIO: an assertion's line and an EIO's code,
// op type, offset and length are numbers in the meta when the report has
// them, left out when zero (a zero is no value: none was recorded).
func TestCephCrashMetaAssertAndEIO(t *testing.T) {
	now := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	var m map[string]any
	b := CephCrashMeta(Core{Path: "core.1", Time: now, Ceph: &cephcrash.Report{Assert: &cephcrash.Assert{Condition: "x > 0", Line: 42},
		IOError: &cephcrash.IOError{Devname: "sda", Code: -5, Optype: 2, Offset: 4096, Length: 512}}})
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(m["assert_line"], m["io_error"], m["io_error_code"], m["io_error_optype"], m["io_error_offset"], m["io_error_length"]) != "42 true -5 2 4096 512" {
		t.Errorf("meta %s", b)
	}
	m = nil
	b = CephCrashMeta(Core{Path: "core.1", Time: now, Ceph: &cephcrash.Report{Assert: &cephcrash.Assert{Condition: "x > 0"}, IOError: &cephcrash.IOError{Devname: "sda"}}})
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"assert_line", "io_error_code", "io_error_optype", "io_error_offset", "io_error_length"} {
		if v, ok := m[k]; ok {
			t.Errorf("%s = %v for a zero field", k, v)
		}
	}
	if m["assert_condition"] != "x > 0" || m["io_error"] != true || m["io_error_devname"] != "sda" {
		t.Errorf("meta %s", b)
	}
}

// TestMissingBuildsOrder: the missing builds by module, then build ID
// (two builds of one module: cores of two versions), each with its count
// of cores; a missing file without a build ID is named by its path. The
// same every time (they come from a map).
func TestMissingBuildsOrder(t *testing.T) {
	cores := []Core{
		{Path: "a", Missing: []string{"libdcache.so (build-id bb)", "libz.so.1 (build-id 01)"}},
		{Path: "b", Missing: []string{"libdcache.so (build-id aa)", "libdcache.so (build-id bb; /usr/lib/libdcache.so has cc)"}},
		{Path: "c", Missing: []string{"/opt/dse/lib/libjournal.so"}},
	}
	want := []MissingBuild{{Module: "/opt/dse/lib/libjournal.so", Cores: 1}, {Module: "libdcache.so", BuildID: "aa", Cores: 1},
		{Module: "libdcache.so", BuildID: "bb", Cores: 2}, {Module: "libz.so.1", BuildID: "01", Cores: 1}}
	for range 20 {
		if got := BuildSummary(cores, nil).MissingBuilds; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("missing builds %+v, want %+v", got, want)
		}
	}
}
