package batch

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

// TestCephCrashEnrichKeepsCephsReport: the daemon's own report as a real
// ceph-mon 16.2.15 wrote it (testdata/ceph-mon-assert-meta.json: the
// fixtures/ceph corpus's assert crash, written by Ceph's signal handler
// into its crash directory), enriched: every field of Ceph's is kept byte
// for byte where it was (strings, the backtrace's list, assert_line a
// number), dsecore's fields follow; an EIO's io_error (a bool) and its
// numbers, a null and an object are kept as JSON of the same value; a
// string escaped as Ceph does not (`\/`) is written as Ceph writes it; an
// earlier enrichment's fields are replaced, so enriching twice is
// enriching once; a report that is not a JSON object is an error.
func TestCephCrashEnrichKeepsCephsReport(t *testing.T) {
	own, err := os.ReadFile("testdata/ceph-mon-assert-meta.json")
	if err != nil {
		t.Fatal(err)
	}
	c := Core{Path: "/var/lib/ceph/crash/core.ceph-mon.1", Size: 1 << 20, Time: time.Date(2026, 12, 7, 4, 12, 29, 0, time.UTC),
		Verdict: "an assertion failed", Evidence: []string{"[assert] e"}, TopFrames: []string{"f (a.cc:1)"}}
	got, err := CephCrashEnrich(own, c)
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.TrimSuffix(own, []byte("\n}\n"))
	if !bytes.HasPrefix(got, body) || !bytes.HasPrefix(got[len(body):], []byte(",\n    \"dsecore_core\": ")) {
		t.Fatalf("Ceph's fields not kept as Ceph wrote them:\n%s", got)
	}
	var m map[string]any
	if err := json.Unmarshal(got, &m); err != nil || m["assert_line"] != 495.0 || m["dsecore_verdict"] != c.Verdict {
		t.Errorf("enriched: %v %v", m, err)
	}
	again, err := CephCrashEnrich(got, Core{Path: c.Path, Size: c.Size, Time: c.Time, Verdict: "other"})
	if want, _ := CephCrashEnrich(own, Core{Path: c.Path, Size: c.Size, Time: c.Time, Verdict: "other"}); err != nil || !bytes.Equal(again, want) {
		t.Errorf("enriched twice (%v):\n%s\nonce:\n%s", err, again, want)
	}

	// An EIO's fields as Ceph's handler writes them, and values no Ceph
	// report has (null, an object, a list of numbers): the same JSON.
	eio := strings.Replace(string(own), "    \"backtrace\": [", `    "io_error": true,
    "io_error_devname": "sdb",
    "io_error_path": "\/var\/lib\/ceph\/osd\/ceph-0\/block",
    "io_error_code": -5,
    "io_error_optype": 8,
    "io_error_offset": 4096,
    "io_error_length": 65536,
    "x_null": null,
    "x_object": {"a": [1, 2]},
    "x_numbers": [1, 2],
    "backtrace": [`, 1)
	got, err = CephCrashEnrich([]byte(eio), c)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"\n    \"io_error\": true,\n", "\n    \"io_error_code\": -5,\n", "\n    \"io_error_length\": 65536,\n",
		"\n    \"io_error_path\": \"/var/lib/ceph/osd/ceph-0/block\",\n", "\n    \"x_null\": null,\n", "\n    \"x_object\": {\"a\":[1,2]},\n",
		"\n    \"x_numbers\": [1,2],\n", "\n    \"backtrace\": [\n        \"/lib/x86_64-linux-gnu/libc.so.6(+0x3c050) [0x7ff10965a050]\",\n"} {
		if !strings.Contains(string(got), line) {
			t.Errorf("no %q in\n%s", line, got)
		}
	}

	for _, bad := range []string{"", "[]", `"meta"`, `{"a": 1,`, `{"a": }`, `{"a": 1`, `{1: 2}`} {
		if b, err := CephCrashEnrich([]byte(bad), c); err == nil {
			t.Errorf("%q enriched: %s", bad, b)
		}
	}
}
