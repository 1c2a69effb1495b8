package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/internal/fixture"
	"github.com/dsecore/dsecore/internal/gdboracle"
)

// The field crash as the field ships its debug information
// (fixtures/variants): dwz'd in place, with DWARF 5 .debug_sup, in
// Fedora's and Debian's layouts, with a stale debuglink, split DWARF 4
// and 5 with .dwo files and .dwp packages, and built by clang++-16.

// variantFlags are dsecore's flags for a variant: its debug-file
// directory beside the system's, as gdb is told.
func variantFlags(v *fixture.Variant) []string {
	var out []string
	for _, d := range v.DebugDirs() {
		out = append(out, "--debug-file-directory", d)
	}
	return out
}

// variantGdb is gdb's view of a variant's core: with its debug-file
// directories; for dwz --dwarf-5, which gdb 13 cannot read (nor eu-stack
// 0.188, nor lldb-16: "Cannot handle DW_FORM_strp_sup"), gdb on the same
// binaries before dwz ran (the same code and build-id, the DWARF dwz
// rewrote), mapped in through a sysroot of links.
func variantGdb(t *testing.T, v *fixture.Variant) gdboracle.Options {
	t.Helper()
	o := gdboracle.Options{Commands: []string{"set debug-file-directory " + strings.Join(v.DebugDirs(), ":")}}
	if v.Name != fixture.VariantDWZ5 {
		return o
	}
	root := t.TempDir()
	for _, top := range []string{"lib", "lib64", "usr", "etc"} {
		if err := os.Symlink("/"+top, filepath.Join(root, top)); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Dir(v.Exe)
	mirror := filepath.Join(root, bin)
	if err := os.MkdirAll(mirror, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ceph-dse", "libdcache.so"} {
		if err := os.Symlink(filepath.Join(filepath.Dir(bin), "predwz", f), filepath.Join(mirror, f)); err != nil {
			t.Fatal(err)
		}
	}
	o.Sysroot = root
	return o
}

// TestVariantsMatchGdb: every thread's frames on every variant equal
// gdb's (pc, function, inline/signal kind, source line).
func TestVariantsMatchGdb(t *testing.T) {
	vs := fixture.GetVariants(t)
	for _, name := range fixture.Variants {
		t.Run(name, func(t *testing.T) {
			v := vs.Variant(t, name)
			exe := v.Exe
			o := variantGdb(t, v)
			if o.Sysroot != "" {
				exe = filepath.Join(filepath.Dir(filepath.Dir(v.Exe)), "predwz", "ceph-dse")
			}
			gdbThreads, err := gdboracle.Backtraces(exe, v.Core, o)
			if err != nil {
				t.Fatal(err)
			}
			compareThreads(t, v.Exe, v.Core, gdbThreads, "gdb", variantFlags(v)...)
		})
	}
}

// fieldVerdict is what inspect --json says of the field crash that the
// tests hold every variant to.
type fieldVerdict struct {
	Analysis struct {
		Fault struct {
			Register string `json:"register"`
			Value    string `json:"value"`
			Kind     string `json:"kind"`
		} `json:"fault"`
		Objects []struct {
			Role, Type, Address string
			FromDWARF           bool `json:"from_dwarf"`
		} `json:"objects"`
		Memory struct {
			Holders []struct {
				Expr     string `json:"expr"`
				Variable string `json:"variable"`
				Function string `json:"function"`
				Fallback bool   `json:"fallback"`
			} `json:"holders"`
		} `json:"memory"`
		Verdict    string `json:"verdict"`
		Confidence string `json:"confidence"`
	} `json:"analysis"`
	Modules []struct {
		Name         string `json:"name"`
		SymbolStatus string `json:"symbol_status"`
	} `json:"modules"`
}

// checkFieldVerdict asserts the field crash's verdict: the fault in
// clear(), the zero register, the owner found from DWARF, and the other
// path's holder as a typed variable.
func checkFieldVerdict(t *testing.T, sc *fixture.Scenario, doc *fieldVerdict) {
	t.Helper()
	a := doc.Analysis
	node := fmt.Sprintf("%#x", hexField(t, sc.Expected, "node"))
	if a.Fault.Value != "0x0" || a.Fault.Kind != "null" || a.Fault.Register == "" {
		t.Errorf("fault %+v: not the zero register", a.Fault)
	}
	if !strings.Contains(a.Verdict, "dm_hash_node_t::clear") || !strings.Contains(a.Verdict, "%"+a.Fault.Register+" = 0x0") {
		t.Errorf("verdict does not name clear() and the zero register: %s", a.Verdict)
	}
	if len(a.Objects) == 0 || a.Objects[0].Type != "dm_hash_node_t" || a.Objects[0].Address != node || !a.Objects[0].FromDWARF {
		t.Errorf("owner %+v, want dm_hash_node_t %s from DWARF", a.Objects, node)
	}
	if len(a.Memory.Holders) == 0 || a.Memory.Holders[0].Fallback || a.Memory.Holders[0].Variable == "" {
		t.Errorf("holders %+v: want a typed path (a DWARF variable) first", a.Memory.Holders)
	} else if !strings.Contains(a.Verdict, "as `"+a.Memory.Holders[0].Expr+"`") {
		t.Errorf("verdict does not give the holder's path `%s`: %s", a.Memory.Holders[0].Expr, a.Verdict)
	}
	if a.Confidence != "high" || !strings.Contains(a.Verdict, "concurrent destruction") {
		t.Errorf("verdict (%s): %s", a.Confidence, a.Verdict)
	}
}

// TestVariantsVerdict: on every variant, the field crash's verdict names
// clear(), the zero register and the holder's typed path, as on the
// plain build.
func TestVariantsVerdict(t *testing.T) {
	vs := fixture.GetVariants(t)
	for _, name := range fixture.Variants {
		t.Run(name, func(t *testing.T) {
			v := vs.Variant(t, name)
			var doc fieldVerdict
			runJSON(t, &doc, append([]string{"inspect", v.Core, "--exe", v.Exe}, variantFlags(v)...)...)
			checkFieldVerdict(t, &v.Scenario, &doc)
			b, _ := json.Marshal(doc.Analysis.Memory.Holders)
			t.Logf("holders %s", b)
		})
	}
}
