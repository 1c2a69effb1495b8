package cluster

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestCores: crash reports as `ceph crash ls --format json` gives them (the
// crash module's stored objects, with stack_sig, archived) read as
// summaries: an analysed one with dsecore's signature, verdict, node and
// builds; a daemon's own without analysis as an error naming Ceph's
// stack_sig; --since by the report's timestamp, in either of the
// module's formats.
func TestCores(t *testing.T) {
	ls := `[
 {"crash_id": "2026-12-07T01:34:02.926323Z_a8cb05f2-a109-478d-ba65-1aba0b294e59", "timestamp": "2026-12-07T01:34:02.926323Z",
  "process_name": "ceph-dse", "entity_name": "client.64", "utsname_hostname": "vm", "backtrace": ["(dm_hash_node_t::clear()+0x3f) [0x7f86025c94ff]"],
  "stack_sig": "a5c0a705d43cefc0965dbf6230091bc5611dc88f4feded5422aa6c3b59f86850",
  "dsecore_node": "nodeB", "dsecore_real_fault": "SIGSEGV (SEGV_MAPERR) at 0x0", "dsecore_verdict": "NULL pointer read in …",
  "dsecore_confidence": "high", "dsecore_signature": "v1:e031da12", "dsecore_signature_frames": ["dm_hash_node_t::clear", "lsm_destroy"],
  "dsecore_build": ["libdcache.so 689957c2"], "dsecore_lwp": 14829, "archived": "2026-12-07 03:00:00.000000"},
 {"crash_id": "2026-12-06T01:00:00.000000Z_00000000-a109-478d-ba65-1aba0b294e59", "timestamp": "2026-12-06 01:00:00.000000",
  "process_name": "ceph-osd", "utsname_hostname": "node9", "backtrace": [], "stack_sig": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}
]`
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(ls), &raw); err != nil {
		t.Fatal(err)
	}
	cores, warnings := Cores(raw, time.Time{}, time.Time{})
	if len(cores) != 2 || len(warnings) != 0 {
		t.Fatalf("%d cores, warnings %v", len(cores), warnings)
	}
	a, o := cores[0], cores[1]
	if a.Signature == nil || a.Signature.ID() != "v1:e031da12" || a.Node != "nodeB" || a.Build["libdcache.so"] != "689957c2" || a.LWP != 14829 ||
		a.Error != "" || a.Verdict != "NULL pointer read in …" || a.Time.Format(time.RFC3339Nano) != "2026-12-07T01:34:02.926323Z" ||
		a.Ceph == nil || a.Ceph.EntityName != "client.64" || len(a.Warnings) != 1 {
		t.Errorf("analysed: %+v", a)
	}
	if o.Signature != nil || o.Node != "node9" || !strings.Contains(o.Error, "stack_sig e3b0c44298fc") || o.Time.Format(time.RFC3339) != "2026-12-06T01:00:00Z" {
		t.Errorf("the daemon's own: %+v", o)
	}
	since, _ := time.Parse(time.RFC3339, "2026-12-07T00:00:00Z")
	if cores, _ := Cores(raw, since, time.Time{}); len(cores) != 1 || cores[0].Path != a.Path {
		t.Errorf("--since: %d", len(cores))
	}
}
