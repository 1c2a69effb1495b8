package coroutines_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/analysis/coroutines"
)

// TestBuiltinProfilesRoundTrip: every built-in profile written as YAML and
// read back is the same profile, and writes the same YAML again.
func TestBuiltinProfilesRoundTrip(t *testing.T) {
	for name, p := range coroutines.Builtin() {
		y, err := p.YAML("header", nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		back, err := coroutines.ParseProfile(y, name+".yaml")
		if err != nil {
			t.Fatalf("%s: its YAML does not load: %v\n%s", name, err, y)
		}
		want := p
		want.Source = name + ".yaml"
		if !reflect.DeepEqual(*back, want) {
			t.Errorf("%s: read back\n%+v\nwant\n%+v", name, *back, want)
		}
		y2, _ := back.YAML("header", nil)
		if string(y2) != string(y) {
			t.Errorf("%s: written twice differs:\n%s\n---\n%s", name, y, y2)
		}
		if !strings.Contains(string(y), "rip: 0x") || !strings.Contains(string(y), "queues: {") {
			t.Errorf("%s: layout offsets in hex, maps in flow style:\n%s", name, y)
		}
	}
}

func writeProfile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fork.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestProfileCamelCase: a fork's profile with camelCase queue and member
// names loads exactly as written (viper folded map keys to lower case), on
// its base; maps replace the base's whole.
func TestProfileCamelCase(t *testing.T) {
	path := writeProfile(t, `base: libgo-v3
running: curTask_
task_count: nTasks_
hook_type: co::LinkedQueueHook
queues: {runnableQueue_: runnable, blockQueue_: block, newQueue_: new, gcQueue_: done}
states: {0: Ready, 1: Waiting, 2: Finished}
`)
	p, err := coroutines.LoadProfile(path)
	if err != nil {
		t.Fatal(err)
	}
	wantQ := map[string]string{"runnableQueue_": "runnable", "blockQueue_": "block", "newQueue_": "new", "gcQueue_": "done"}
	if !reflect.DeepEqual(p.Queues, wantQ) || p.Running != "curTask_" || p.TaskCount != "nTasks_" || p.HookType != "co::LinkedQueueHook" ||
		p.States[1] != "Waiting" || p.Name != path || p.Source != path {
		t.Errorf("profile %+v", p)
	}
	// The rest is libgo-v3's.
	base := coroutines.Builtin()["libgo-v3"]
	if p.TaskSP != base.TaskSP || p.EntryTrampoline != base.EntryTrampoline || !reflect.DeepEqual(p.Layout, base.Layout) || p.TaskFunc != "" {
		t.Errorf("not inherited from libgo-v3: %+v", p)
	}
	if got := p.Line("running"); got != "running: curTask_" {
		t.Errorf("Line(running) = %q", got)
	}
	if got := p.Line("queues"); got != "queues: {blockQueue_: block, gcQueue_: done, newQueue_: new, runnableQueue_: runnable}" {
		t.Errorf("Line(queues) = %q", got)
	}
	// A base that is a file, relative to the profile.
	dir := filepath.Dir(path)
	child := filepath.Join(dir, "child.yaml")
	os.WriteFile(child, []byte("base: fork.yaml\nname: child\ntask_func: opt_.func_\n"), 0o644)
	c, err := coroutines.LoadProfile(child)
	if err != nil || c.Name != "child" || c.Running != "curTask_" || c.TaskFunc != "opt_.func_" || !reflect.DeepEqual(c.Queues, wantQ) {
		t.Errorf("child profile %+v, %v", c, err)
	}
}

// TestProfileLoadErrors: what is wrong with a profile file is said at load,
// with the file, the line and the key.
func TestProfileLoadErrors(t *testing.T) {
	for _, c := range []struct {
		text string
		want []string
	}{
		{"base: libgo-v3\nrunnig: curTask_\n", []string{"line 2", `unknown key "runnig" (did you mean running?)`}},
		{"running: cur Task\n", []string{"line 1", "running:", `"cur Task" is not a member path`}},
		{"queues: {blockQueue_: blocked}\n", []string{"line 1", "queues.blockQueue_", `state "blocked"`}},
		{"queues: {blockQueue_: sleeping}\nstates: {0: runnable, 1: sleeping}\n", nil}, // a state the states map names
		{"layout: {r12: 8}\n", []string{"layout", "has no rip"}},
		{"layout: {r12: 8, rip: 0x38, rsp: 0x40, xmm0: 16}\n", []string{"line 1", `"xmm0" is not a register`}},
		{"queues: runnableQueue_\n", []string{"line 1", "queues:", "mapping is expected"}},
		{"base: libgo-v4\n", []string{"line 1", `base: "libgo-v4" is not a built-in profile`}},
		{"running: a_\nrunning: b_\n", []string{"line 2", `"running" already defined`}},
		{"task_type: co::Task<\n", []string{"task_type", "not a C++ type name"}},
		{"processers_kind: list\n", []string{"processers_kind", `"list"`}},
		{"- a\n- b\n", []string{"want a mapping", "found a list"}},
		{"running: [\n", []string{"fork.yaml"}},
	} {
		path := writeProfile(t, c.text)
		_, err := coroutines.LoadProfile(path)
		if c.want == nil {
			if err != nil {
				t.Errorf("%q: %v", c.text, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%q: loaded", c.text)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, path) && !strings.Contains(msg, "fork.yaml") {
			t.Errorf("%q: the error does not name the file: %s", c.text, msg)
		}
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%q: error %q does not say %q", c.text, msg, w)
			}
		}
	}
}
