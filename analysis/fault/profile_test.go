package fault_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/analysis/fault"
)

// TestLoadProfile: a profile file overrides the built-in one key by key,
// with keys and values as written; element_states replaces the map whole.
func TestLoadProfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pool.yaml")
	os.WriteFile(path, []byte("name: Pool\nelement_state_field: State_\nelement_states: {0xdead: Recycled, 7: Live}\noperations: [Pool::Drain]\n"), 0o644)
	p, err := fault.LoadProfile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := fault.DefaultProfile()
	want.Name, want.ElementStateField = "Pool", "State_"
	want.ElementStates = map[int64]string{0xdead: "Recycled", 7: "Live"}
	want.Operations = []string{"Pool::Drain"}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("loaded %+v\nwant %+v", p, want)
	}
	if p, err := fault.LoadProfile("dcache"); err != nil || !reflect.DeepEqual(p, fault.DefaultProfile()) {
		t.Errorf("dcache: %+v, %v", p, err)
	}
}

// TestLoadProfileErrors: what is wrong is said with the file, the line
// and the key, as the coroutine profile's (keys are not case-folded: a
// capitalized key is an unknown one).
func TestLoadProfileErrors(t *testing.T) {
	for _, c := range []struct {
		text string
		want []string
	}{
		{"name: x\nOperations: [a]\n", []string{"line 2", `unknown key "Operations" (did you mean operations?)`}},
		{"name: x\nelement_states: [a, b]\n", []string{"line 2", "element_states:"}},
		{"operations: {a: b}\n", []string{"line 1", "operations:"}},
		{"name: a\nname: b\n", []string{"line 2", `"name" already defined`}},
		{"- a\n", []string{"line 1", "want a mapping"}},
	} {
		path := filepath.Join(t.TempDir(), "p.yaml")
		os.WriteFile(path, []byte(c.text), 0o644)
		_, err := fault.LoadProfile(path)
		if err == nil {
			t.Errorf("%q: loaded", c.text)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "analysis profile "+path+": ") {
			t.Errorf("%q: the error does not start with the file: %s", c.text, msg)
		}
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%q: error %q does not say %q", c.text, msg, w)
			}
		}
	}
	if _, err := fault.LoadProfile("/no/such.yaml"); err == nil || !strings.Contains(err.Error(), `not "dcache" and not a file`) {
		t.Errorf("a missing file: %v", err)
	}
}
