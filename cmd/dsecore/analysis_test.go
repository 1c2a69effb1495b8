package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
)

// readmeAnalysisKeys are the `analysis.…` keys the README's table
// documents, expanded: "`analysis.fault.pc`, `.intel`" documents
// analysis.fault.pc and analysis.fault.intel.
func readmeAnalysisKeys(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixture.RepoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	cell := regexp.MustCompile("`([.a-z_\\[\\]]+)`")
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "| `analysis.") {
			continue
		}
		first := strings.Split(line, "|")[1]
		prefix := ""
		for _, m := range cell.FindAllStringSubmatch(first, -1) {
			k := m[1]
			if strings.HasPrefix(k, "analysis.") {
				prefix = k[:strings.LastIndex(k, ".")]
			} else {
				k = prefix + k
			}
			keys[k] = true
		}
	}
	return keys
}

// jsonKeys lists the leaf keys of v ("a.b[].c"); objects keyed by data
// (fields, per_thread) are leaves.
func jsonKeys(v any, path string, out map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		if strings.HasSuffix(path, ".fields") || strings.HasSuffix(path, ".per_thread") {
			out[path] = true
			return
		}
		for k, e := range x {
			jsonKeys(e, path+"."+k, out)
		}
	case []any:
		if len(x) == 0 {
			return // an empty list says nothing about its elements' keys
		}
		if _, ok := x[0].(map[string]any); ok {
			for _, e := range x {
				jsonKeys(e, path+"[]", out)
			}
			return
		}
		out[path] = true
	default:
		out[path] = true
	}
}

// TestInspectAnalysisContract: inspect --json's analysis section, on the
// field crash with its logs and the kernel's line, has exactly the keys the
// README documents, with the values the fixture knows; the abort core adds
// the assertion; the text form carries the verdict and its evidence.
func TestInspectAnalysisContract(t *testing.T) {
	set := fixture.Get(t)
	sc := set.Scenario(t, fixture.FieldCrash)
	ip := hexField(t, sc.Expected, "fault_ip")
	dmesg := fmt.Sprintf("Processer_5[%d]: segfault at 0 ip %016x sp %016x error 4 in libdcache.so[7f0000000000+1000]",
		intField(t, sc.Expected, "crash_lwp"), ip, hexField(t, sc.Expected, "fault_sp"))
	var doc struct {
		Analysis map[string]any `json:"analysis"`
	}
	args := []string{"inspect", sc.Core, "--exe", sc.Exe, "--log-dir", sc.Dir, "--dmesg", dmesg}
	runJSON(t, &doc, args...)
	got := map[string]bool{}
	jsonKeys(doc.Analysis, "analysis", got)

	ab := set.Scenario(t, fixture.Abort)
	var abortDoc struct {
		Analysis map[string]any `json:"analysis"`
	}
	runJSON(t, &abortDoc, "inspect", ab.Core, "--exe", ab.Exe)
	jsonKeys(abortDoc.Analysis, "analysis", got)
	uaf := set.Scenario(t, fixture.UseAfterFree)
	var uafDoc struct {
		Analysis map[string]any `json:"analysis"`
	}
	runJSON(t, &uafDoc, "inspect", uaf.Core, "--exe", uaf.Exe)
	jsonKeys(uafDoc.Analysis, "analysis", got)
	// The second fault: a thread spinning on its own fault while the first
	// is in the handler (analysis.handling).
	sf := set.Scenario(t, fixture.SecondFault)
	var sfDoc struct {
		Analysis map[string]any `json:"analysis"`
	}
	runJSON(t, &sfDoc, "inspect", sf.Core, "--exe", sf.Exe)
	jsonKeys(sfDoc.Analysis, "analysis", got)
	// The memory section's heap rules and a thread's holder.
	for _, name := range []string{fixture.DoubleFree, fixture.PointerChain} {
		m := set.Scenario(t, name)
		var mdoc struct {
			Analysis map[string]any `json:"analysis"`
		}
		runJSON(t, &mdoc, "inspect", m.Core, "--exe", m.Exe)
		jsonKeys(mdoc.Analysis, "analysis", got)
	}

	documented := readmeAnalysisKeys(t)
	if len(documented) < 40 {
		t.Fatalf("README documents %d analysis keys", len(documented))
	}
	var undocumented, absent []string
	for k := range got {
		if !documented[k] {
			undocumented = append(undocumented, k)
		}
	}
	// Keys that only appear when something is wrong.
	rare := map[string]bool{"analysis.warnings": true, "analysis.list_walk.first_null_after": true, "analysis.logs.notes": true,
		"analysis.others[].lwp": true, "analysis.same_code[].lwp": true,
		"analysis.memory.bounds": true, "analysis.memory.heap_reason": true, "analysis.memory.holders[].fallback": true, "analysis.memory.warnings": true}
	// A fault inside the handler itself (analysis.nested) has no fixture
	// core: the real-daemon corpus's wild-pc core (Ceph's handler faulting
	// in backtrace()) has it (TestCephCorpus).
	for _, k := range []string{"description", "frames", "pc", "reads_wild_pc", "signal"} {
		rare["analysis.nested."+k] = true
	}
	// The second-fault fixture parks its spinner inside the handler (so
	// that the core's record is the crashed thread's, deterministically):
	// a spinner caught at its faulting instruction (handling[].at_fault)
	// has no fixture core.
	for _, k := range []string{"at_fault", "name"} {
		rare["analysis.handling[]."+k] = true
	}
	for k := range documented {
		if !got[k] && !rare[k] {
			absent = append(absent, k)
		}
	}
	sort.Strings(undocumented)
	sort.Strings(absent)
	if len(undocumented) > 0 || len(absent) > 0 {
		t.Errorf("inspect --json analysis keys not in the README: %q\nREADME keys never produced: %q", undocumented, absent)
	}

	// Values.
	a, _ := json.Marshal(doc.Analysis)
	var v struct {
		Fault struct {
			PC, Register, Value, SiCode, Kind string
			SiAddr                            string `json:"si_addr"`
			SiCodeName                        string `json:"si_code"`
			Matches                           bool   `json:"address_matches_si_addr"`
			Origin                            []struct {
				Text     string `json:"text"`
				LoopBack bool   `json:"loop_back"`
			} `json:"origin"`
		} `json:"fault"`
		Objects []struct{ Role, Type, Address string } `json:"objects"`
		Walk    struct {
			HookOffset string `json:"hook_offset"`
			Size       int64  `json:"size"`
			Element    string `json:"element"`
		} `json:"list_walk"`
		Others []struct {
			Task    int64  `json:"task"`
			Path    string `json:"path"`
			Address string `json:"address"`
		} `json:"others"`
		Dmesg struct {
			IPMatches  bool `json:"ip_matches"`
			SameThread bool `json:"same_thread"`
			BaseOK     bool `json:"base_matches"`
		} `json:"dmesg"`
		Logs struct {
			Concurrent [][2]string `json:"concurrent"`
			HandlerOK  bool        `json:"handler_thread_matches"`
		} `json:"logs"`
		Timeline []struct {
			Time     string `json:"time"`
			AtDump   bool   `json:"at_dump"`
			Who      string `json:"who"`
			Task     int64  `json:"task"`
			Text     string `json:"text"`
			Evidence string `json:"evidence"`
			Ref      string `json:"ref"`
			Source   string `json:"source"`
			File     string `json:"file"`
			Line     int    `json:"line"`
			Frame    int    `json:"frame"`
			Function string `json:"function"`
		} `json:"timeline"`
		Memory struct {
			Holders []struct {
				Expr string `json:"expr"`
				Task int64  `json:"task"`
			} `json:"holders"`
		} `json:"memory"`
		Verdict    string   `json:"verdict"`
		Confidence string   `json:"confidence"`
		Rules      []string `json:"rules"`
	}
	if err := json.Unmarshal(a, &v); err != nil {
		t.Fatal(err)
	}
	node := fmt.Sprintf("%#x", hexField(t, sc.Expected, "node"))
	if v.Fault.PC != fmt.Sprintf("%#x", ip) || v.Fault.Register != "rbx" || v.Fault.Value != "0x0" || v.Fault.SiCodeName != "SEGV_MAPERR" ||
		v.Fault.SiAddr != "0x0" || !v.Fault.Matches || v.Fault.Kind != "null" || len(v.Fault.Origin) == 0 || !v.Fault.Origin[0].LoopBack {
		t.Errorf("fault %+v", v.Fault)
	}
	if len(v.Objects) == 0 || v.Objects[0].Role != "owner" || v.Objects[0].Type != "dm_hash_node_t" || v.Objects[0].Address != node {
		t.Errorf("objects %+v, node %s", v.Objects, node)
	}
	if v.Walk.HookOffset != "0x130" || v.Walk.Element != "dm_obj_t" || v.Walk.Size != -1 {
		t.Errorf("list walk %+v", v.Walk)
	}
	if len(v.Others) == 0 || v.Others[0].Address != node || !strings.Contains(v.Others[0].Path, "lsm_release_all_csdobj") {
		t.Errorf("others %+v", v.Others)
	}
	if !v.Dmesg.IPMatches || !v.Dmesg.SameThread || v.Dmesg.BaseOK {
		t.Errorf("dmesg %+v (the line's base is made up: it must not match)", v.Dmesg)
	}
	if len(v.Logs.Concurrent) == 0 || !v.Logs.HandlerOK {
		t.Errorf("logs %+v", v.Logs)
	}
	if v.Confidence != "high" || !strings.Contains(v.Verdict, "concurrent destruction") {
		t.Errorf("verdict (%s) %s", v.Confidence, v.Verdict)
	}
	// The timeline in JSON: a log step quotes its line of the file it
	// names; the holder's step names the task, the frame, and the path the
	// memory section's holder has; the fault step is the crashed thread's.
	var logs, holder, fault int
	for _, st := range v.Timeline {
		switch st.Evidence {
		case "log":
			b, err := os.ReadFile(filepath.Join(sc.Dir, st.File))
			ls := strings.Split(string(b), "\n")
			if err != nil || st.Line < 1 || st.Line > len(ls) || ls[st.Line-1] != st.Source || st.Time == "" || st.AtDump {
				t.Errorf("log step %+v", st)
			}
			logs++
		case "fault":
			fault++
			if st.Ref != "fault" || st.Task != -1 || !strings.Contains(st.Text, "through a NULL pointer") {
				t.Errorf("fault step %+v", st)
			}
		case "frame":
			if st.Ref == "memory.holders[0]" {
				holder++
				if len(v.Memory.Holders) == 0 || st.Task != v.Memory.Holders[0].Task || !st.AtDump || st.Frame != 3 ||
					st.Function != "(anonymous namespace)::release_wait" || !strings.Contains(st.Text, "`"+v.Memory.Holders[0].Expr+"`") {
					t.Errorf("holder step %+v, memory holders %+v", st, v.Memory.Holders)
				}
			}
		}
	}
	if logs < 10 || holder != 1 || fault != 1 {
		t.Errorf("timeline: %d log, %d holder, %d fault steps", logs, holder, fault)
	}

	text := string(run(t, args...))
	for _, want := range []string{"Verdict (confidence high):", "[shared-object]", "\nTimeline:\n", "evidence (log): ceph-dse.engine.64.4.log:", "[log-concurrent]", "[dmesg-mismatch]", "Kernel line: ip matches true",
		"lsm_release_all_csdobj start to release all csd obj."} {
		if !strings.Contains(text, want) {
			t.Errorf("inspect text lacks %q", want)
		}
	}
}
