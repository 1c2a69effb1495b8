package yamlfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDecodeMapping(t *testing.T) {
	type profile struct {
		Running string            `yaml:"running"`
		Queues  map[string]string `yaml:"queues"`
	}
	var p profile
	if err := DecodeMapping("p.yaml", []byte("running: curTask_\nqueues: {runnableQueue_: runnable, blockQueue_: block}\n"), &p); err != nil {
		t.Fatal(err)
	}
	if p.Running != "curTask_" || p.Queues["runnableQueue_"] != "runnable" || p.Queues["blockQueue_"] != "block" || len(p.Queues) != 2 {
		t.Errorf("keys and values not as written: %+v", p)
	}
	for _, c := range []struct{ in, want string }{
		{"exe: x\nsolib-search-path: [unclosed\n", "p.yaml: line 2, column 20: sequence end token ']' not found"},
		{"a: 1\nb: 2: 3\n", "p.yaml: line 2, column 4: mapping value is not allowed in this context"},
		{"exe: 1\nexe: 2\n", `p.yaml: line 2, column 1: mapping key "exe" already defined at [1:1]`},
		{"- a\n- b\n", "p.yaml: line 1, column 1: want a mapping of settings (key: value), found a list"},
		{"just words\n", "p.yaml: line 1, column 1: want a mapping of settings (key: value), found a single value"},
		{"\x7fELF\x02\x01\x01\x00", "p.yaml: not a text file (it holds NUL bytes)"},
		{"running: x\nrunnning: y\n", "p.yaml: line 2, column 1: unknown field \"runnning\""},
	} {
		var p profile
		err := DecodeMapping("p.yaml", []byte(c.in), &p)
		if err == nil || err.Error() != c.want {
			t.Errorf("%q: got %v, want %s", c.in, err, c.want)
		}
	}
	if err := DecodeMapping("empty.yaml", nil, &p); err != nil {
		t.Errorf("an empty file is an empty mapping: %v", err)
	}
}

func TestReadMapping(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(p, []byte("a: 1\n"), 0o644)
	var m map[string]int
	if _, err := ReadMapping(p, &m); err != nil || m["a"] != 1 {
		t.Errorf("%v %v", m, err)
	}
	if _, err := ReadMapping(filepath.Join(t.TempDir(), "none.yaml"), &m); !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
}
