package gdbscript_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
)

// The bridge is never silent about what its answer lacks, and says nothing
// it has no reason to.

// TestAnalyzeMissingLibrary: gdb run as a user runs it (gdb -x dsecore.py
// EXE CORE) on a core whose build directory is gone: next to the verdict,
// dse analyze says libdcache.so was not found and the setting that fixes
// it; once set, the verdict is the field crash's and the note is gone.
func TestAnalyzeMissingLibrary(t *testing.T) {
	set := fixture.Get(t)
	sc := set.Scenario(t, "missing-lib")
	exe := filepath.Join(set.Dir, "bin-gone", "ceph-dse")
	lib := field(sc, "fault_module") // the path the core names, gone
	if _, err := os.Stat(lib); err == nil {
		t.Fatalf("%s exists: the scenario's library should be gone", lib)
	}
	out := runGDB(t, nil, "-nx", "-batch", "-x", script(t), "-ex", "echo ==before==\\n", "-ex", "dse analyze",
		"-ex", "set solib-search-path "+filepath.Join(set.Dir, "bin"), "-ex", "echo ==after==\\n", "-ex", "dse analyze", exe, sc.Core)
	before := after(out, "==before==")
	before = before[:strings.Index(before, "==after==")]
	lines := strings.Split(before, "\n")
	v := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "Verdict (confidence low)") {
			v = i
		}
	}
	if v < 0 || v+2 >= len(lines) {
		t.Fatalf("dse analyze: no low-confidence verdict:\n%s", before)
	}
	if want := fmt.Sprintf("libdcache.so was not found (the core names %s)", lib); !strings.HasPrefix(lines[v+1], want) {
		t.Errorf("dse analyze: the line after the verdict is %q, want it to start with %q:\n%s", lines[v+1], want, before)
	}
	mustContain(t, "the fix", lines[v+2], "set solib-search-path DIR", "then dse analyze again")
	fixed := after(out, "==after==")
	mustContain(t, "dse analyze after set solib-search-path", fixed,
		"Verdict (confidence high): NULL pointer read in boost::intrusive::list_node_traits<void*>::get_next")
	if strings.Contains(fixed, "was not found") {
		t.Errorf("the note stays once the library is found:\n%s", fixed)
	}
}

// TestBtNumbering: dse bt numbers the task's frames as gdb's frame N
// reaches them, without a gap (the thread's own inline frames printed
// under its placeholder) and without the empty frame gdb finds past the
// entry trampoline.
func TestBtNumbering(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	out := gdb(t, sc, nil, "echo ==bt==\\n", "dse bt 15", "echo ==task==\\n", "dse task 15", "echo ==own==\\n", "bt", "echo ==frame==\\n", "frame 3")
	for _, part := range []string{"dse bt 15", "bt"} {
		var text string
		if part == "dse bt 15" {
			text = after(out, "==bt==")
			text = text[:strings.Index(text, "==task==")]
		} else { // gdb's own bt, the task shown
			text = after(out, "==own==")
			text = text[:strings.Index(text, "==frame==")]
		}
		levels := regexp.MustCompile(`(?m)^\s*#(\d+)\s`).FindAllStringSubmatch(text, -1)
		if len(levels) < 10 {
			t.Fatalf("%s: %d frames:\n%s", part, len(levels), text)
		}
		for i, m := range levels {
			if n, _ := strconv.Atoi(m[1]); n != i {
				t.Errorf("%s: frame %d is numbered #%d:\n%s", part, i, n, text)
				break
			}
		}
		if strings.Contains(text, "0x0000000000000000 in  ()") {
			t.Errorf("%s: an empty frame past the trampoline:\n%s", part, text)
		}
		if !strings.Contains(text, "make_fcontext") || strings.Count(text, "saved context follows>") != 1 {
			t.Errorf("%s: not one placeholder, or no trampoline:\n%s", part, text)
		}
		// The frame printed as #3 is what `frame 3` selects.
		row := regexp.MustCompile(`(?m)^#3\s+.*$`).FindString(text)
		if !strings.Contains(row, "release_wait") {
			t.Errorf("%s: #3 is %q, want release_wait:\n%s", part, row, text)
		}
	}
	mustContain(t, "frame 3", after(out, "==frame=="), "#3  ", "release_wait")
}

// upstreamProfile names created-at fields this build's task does not have,
// as the ceph-dse profile does on upstream libgo's tasks.
const upstreamProfile = `base: ceph-dse
name: upstream-like
task_func: origin_.fn_
task_file: ""
task_line: ""
`

// TestAbsentFields: with a profile naming created-at fields the task type
// does not have, dse tasks leaves out the empty CREATED AT column and the
// task printer reads what is there without a note on every print.
func TestAbsentFields(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.Abort)
	var task6 string
	for _, x := range sc.Expected["tasks"].([]any) {
		if m := x.(map[string]any); m["id"].(float64) == 6 {
			task6 = m["address"].(string)
		}
	}
	prof := filepath.Join(t.TempDir(), "upstream.yaml")
	if err := os.WriteFile(prof, []byte(upstreamProfile), 0o644); err != nil {
		t.Fatal(err)
	}
	out := gdb(t, sc, []string{"DSECORE_PROFILE=" + prof}, "echo ==tasks==\\n", "dse tasks", "echo ==print==\\n", "set language c++",
		"p *(co::Task *)"+task6)
	tasks := after(out, "==tasks==")
	tasks = tasks[:strings.Index(tasks, "==print==")]
	mustContain(t, "dse tasks", tasks, "profile upstream-like", "ID     STATE", "WHERE")
	if strings.Contains(tasks, "CREATED AT") {
		t.Errorf("dse tasks shows an empty CREATED AT column:\n%s", tasks)
	}
	pr := after(out, "==print==")
	mustContain(t, "p *task", pr, "= co::Task 6 [block] on Processer 0, saved sp 0x")
	if strings.Contains(pr, "[not read from") || strings.Contains(pr, "created in") {
		t.Errorf("the task printer notes a field this build does not have:\n%s", pr)
	}
}

// TestSummaryFromProfile: the dcache types' summaries are the fault
// profile's (its summaries), not names written in the bridge.
func TestSummaryFromProfile(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	node := field(sc, "node")
	def := gdb(t, sc, nil, "set language c++", "echo ==p==\\n", "p *(dm_hash_node_t *)"+node)
	mustContain(t, "the built-in profile", after(def, "==p=="), "= dm_hash_node_t {key = 0x", ", bucket = ", ", refcount = 2, state = ")
	prof := filepath.Join(t.TempDir(), "analysis.yaml")
	os.WriteFile(prof, []byte("name: mine\nsummaries:\n  dm_hash_node_t: [refcount, state/x]\n"), 0o644)
	mine := gdb(t, sc, []string{"DSECORE_ANALYSIS_PROFILE=" + prof}, "set language c++", "echo ==p==\\n", "p *(dm_hash_node_t *)"+node)
	p := after(mine, "==p==")
	if !regexp.MustCompile(`= dm_hash_node_t \{refcount = 2, state = 0x[0-9a-f]+\} = \{`).MatchString(p) {
		t.Errorf("with summaries {dm_hash_node_t: [refcount, state/x]}:\n%s", p)
	}
}
