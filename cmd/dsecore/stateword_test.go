package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/analysis/coroutines"
	"github.com/dsecore/dsecore/internal/cxxname"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/dsecore/dsecore/report"
	"github.com/google/go-dap"
)

// TestOneWordPerState: on the field crash, every task's state is one word
// in every face: the tasks JSON, the tasks table, the DAP's thread names
// and the gdb bridge (`dse bt` through real gdb); the lists elide long
// template argument lists as the verdict does (no DAP thread name, tasks
// table row or thread list row keeps one); the timeline's steps at the dump
// do not say "at the dump" after the faces' own "at dump".
func TestOneWordPerState(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	out, err := exec.Command(dsecoreBin, "tasks", sc.Core, "--exe", sc.Exe, "--json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tasks []report.Task `json:"tasks"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	want := map[int64]string{}
	for _, tk := range doc.Tasks {
		want[tk.ID] = coroutines.StateWord(tk.State, tk.Running)
	}
	if len(want) == 0 || want[15] != "block" {
		t.Fatalf("tasks: %v (task 15 waits: block)", want)
	}
	elided := func(face, s string) {
		if cxxname.Elide(s) != s {
			t.Errorf("%s: %q keeps a long template argument list", face, s)
		}
	}

	// The tasks table.
	text, err := exec.Command(dsecoreBin, "tasks", sc.Core, "--exe", sc.Exe).Output()
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`^[ *] (\d+)\s+(\S+)\s`)
	rows := 0
	for _, l := range strings.Split(string(text), "\n") {
		m := row.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		rows++
		var id int64
		fmt.Sscan(m[1], &id)
		if m[2] != want[id] {
			t.Errorf("tasks table: task %d is %q, the JSON says %q", id, m[2], want[id])
		}
		elided("tasks table", l)
	}
	if rows != len(want) {
		t.Errorf("tasks table: %d rows for %d tasks", rows, len(want))
	}

	// inspect's thread list and timeline.
	insp, err := exec.Command(dsecoreBin, "inspect", sc.Core, "--exe", sc.Exe, "--log-dir", sc.Dir).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(insp), "\n") {
		if strings.HasPrefix(l, "  LWP ") || strings.HasPrefix(l, "* LWP ") {
			elided("inspect's threads", l)
		}
		if strings.Contains(l, "at dump") && strings.Contains(l, "at the dump") {
			t.Errorf("timeline: %q", l)
		}
	}
	idoc := inspectDoc(t, sc.Core)
	if idoc.Analysis != nil {
		for _, st := range idoc.Analysis.Timeline {
			if st.AtDump && strings.HasPrefix(st.Text, "at the dump") {
				t.Errorf("timeline step at the dump says it again: %q", st.Text)
			}
		}
	}

	// The DAP's threads.
	c := startDAP(t)
	c.ok("initialize", map[string]any{"adapterID": "dsecore"})
	c.ok("launch", map[string]any{"coreFile": sc.Core, "program": sc.Exe, "showTasks": "all"})
	c.waitEvent("initialized")
	c.ok("configurationDone", nil)
	c.waitEvent("stopped")
	name := regexp.MustCompile(`^task (\d+) \[([a-z]+)\] `)
	shown := 0
	for _, th := range c.ok("threads", nil).(*dap.ThreadsResponse).Body.Threads {
		elided("DAP threads", th.Name)
		m := name.FindStringSubmatch(th.Name)
		if m == nil {
			continue
		}
		shown++
		var id int64
		fmt.Sscan(m[1], &id)
		if m[2] != want[id] {
			t.Errorf("DAP thread %q: the JSON says %q", th.Name, want[id])
		}
	}
	if shown == 0 {
		t.Errorf("the DAP shows no task")
	}

	// The gdb bridge, in real gdb.
	cmd := exec.Command("gdb", "-nx", "-batch", "-ex", "source "+filepath.Join(fixture.RepoRoot(), "gdbscript", "dsecore.py"),
		"-ex", "dse bt 15", sc.Exe, sc.Core)
	cmd.Env = append(os.Environ(), "DSECORE="+dsecoreBin)
	g, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("gdb: %v\n%s", err, g)
	}
	if !strings.Contains(string(g), "Task 15 ("+want[15]+"):") {
		t.Errorf("gdb's dse bt 15 does not say %q:\n%s", want[15], g)
	}
}
