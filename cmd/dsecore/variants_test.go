package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/dsecore/dsecore/internal/testsupport/gdboracle"
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
	o := gdboracle.Options{InitCommands: []string{"set debug-file-directory " + strings.Join(v.DebugDirs(), ":")}}
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
// gdb's (pc, function, inline/signal kind, source line). Not dwp5: gdb 13
// dies of a segmentation fault reading clang-16's DWARF 5 split units
// (packaged or not), eu-stack 0.188 predates .dwp support, and lldb-16's
// frames follow other conventions (inline callers at their call sites'
// pcs); its verdict and statuses are asserted below.
func TestVariantsMatchGdb(t *testing.T) {
	vs := fixture.GetVariants(t)
	for _, name := range fixture.Variants {
		if name == fixture.VariantDWP5 {
			continue
		}
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
				Task     int64  `json:"task"`
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
		Name           string   `json:"name"`
		SymbolStatus   string   `json:"symbol_status"`
		SymbolProblems []string `json:"symbol_problems"`
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
	// The holder is the other engine's task, as the runtime names it: the
	// task parked on the Processer of the truth's releasing path.
	var want int64 = -1
	for _, r := range sc.Expected["racing_tasks"].([]any) {
		if r := r.(map[string]any); r["role"] == "released the same objects first" {
			for _, x := range sc.Expected["tasks"].([]any) {
				if tk := x.(map[string]any); tk["processer"] == r["processer"] && tk["state"] == "block" {
					want = int64(fixture.Num(t, tk["id"]))
				}
			}
		}
	}
	if want < 0 || len(a.Memory.Holders) == 0 || a.Memory.Holders[0].Task != want {
		t.Errorf("holders %+v: want task %d (the coroutine runtime's)", a.Memory.Holders, want)
	}
}

// TestVariantsVerdict: on every variant with its debug information, the
// field crash's verdict names clear(), the zero register and the holder's
// typed path, as on the plain build (the stale debuglink's is
// TestVariantsDegraded's).
func TestVariantsVerdict(t *testing.T) {
	vs := fixture.GetVariants(t)
	for _, name := range fixture.Variants {
		if name == fixture.VariantStale {
			continue
		}
		t.Run(name, func(t *testing.T) {
			v := vs.Variant(t, name)
			var doc fieldVerdict
			runJSON(t, &doc, append([]string{"inspect", v.Core, "--exe", v.Exe}, variantFlags(v)...)...)
			checkFieldVerdict(t, &v.Scenario, &doc)
			for _, m := range doc.Modules {
				if b := filepath.Base(m.Name); (b == "ceph-dse" || b == "libdcache.so") && m.SymbolStatus != "full" {
					t.Errorf("%s: symbol status %q", b, m.SymbolStatus)
				}
			}
			b, _ := json.Marshal(doc.Analysis.Memory.Holders)
			t.Logf("holders %s", b)
		})
	}
}

// copyTree copies a directory with cp -a (symbolic links kept as links).
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp -a %s %s: %v\n%s", src, dst, err, out)
	}
}

// moduleStatus returns a module's symbol status from inspect --json.
func moduleStatus(t *testing.T, doc *fieldVerdict, base string) (status string, problems []string) {
	t.Helper()
	for _, m := range doc.Modules {
		if filepath.Base(m.Name) == base {
			return m.SymbolStatus, m.SymbolProblems
		}
	}
	t.Fatalf("no module %s in %+v", base, doc.Modules)
	return "", nil
}

// TestVariantsDegraded: each way debug information goes missing gets its
// status and one warning naming the file looked for and where: the
// supplementary file removed, one .dwo removed, the .dwp removed, a
// debuglink's CRC not matching, only MiniDebugInfo; the verdict that
// rests on such a module says so, with less confidence.
func TestVariantsDegraded(t *testing.T) {
	vs := fixture.GetVariants(t)
	type result struct {
		doc      fieldVerdict
		warnings []string
	}
	inspect := func(t *testing.T, core string, args ...string) result {
		var r result
		var doc struct {
			fieldVerdict
			Warnings []string `json:"warnings"`
		}
		runJSON(t, &doc, append([]string{"inspect", core}, args...)...)
		r.doc, r.warnings = doc.fieldVerdict, doc.Warnings
		return r
	}
	warned := func(t *testing.T, r result, module string, words ...string) {
		t.Helper()
		for _, w := range r.warnings {
			ok := strings.HasPrefix(w, module+": debug info incomplete: ")
			for _, word := range words {
				ok = ok && strings.Contains(w, word)
			}
			if ok {
				return
			}
		}
		t.Errorf("no warning for %s with %q in %q", module, words, r.warnings)
	}
	lowered := func(t *testing.T, r result, module string) {
		t.Helper()
		v := r.doc.Analysis
		if v.Confidence == "high" || !strings.Contains(v.Verdict, "rests on incomplete debug information of "+module) {
			t.Errorf("verdict (%s) does not say it rests on %s's incomplete debug information: %s", v.Confidence, module, v.Verdict)
		}
	}

	t.Run("supplementary-missing", func(t *testing.T) {
		// Fedora's layout with the .dwz directory (and the build-id
		// link to its file) gone: every place gdb looks is named.
		v := vs.Variant(t, fixture.VariantFedora)
		dbg := filepath.Join(t.TempDir(), "debug")
		copyTree(t, v.DebugDir, dbg)
		sup := filepath.Base(v.Info["supplementary"])
		if err := os.RemoveAll(filepath.Join(dbg, ".dwz")); err != nil {
			t.Fatal(err)
		}
		r := inspect(t, v.Core, "--debug-file-directory", dbg, "--debug-file-directory", "/usr/lib/debug")
		st, problems := moduleStatus(t, &r.doc, "libdcache.so")
		if !strings.HasPrefix(st, "partial: supplementary file ") || !strings.Contains(st, sup+" not found (looked in ") ||
			len(problems) != 1 || !strings.Contains(problems[0], filepath.Join(dbg, ".dwz", sup)) || !strings.Contains(problems[0], "/usr/lib/debug/.dwz/"+sup) {
			t.Errorf("libdcache.so: status %q, problems %q", st, problems)
		}
		warned(t, r, "libdcache.so", "supplementary file", sup, "not found (looked in", dbg)
		lowered(t, r, "libdcache.so")
	})

	t.Run("one-dwo-missing", func(t *testing.T) {
		// The split units moved out of their compilation directory: beside
		// the binary, all but one.
		v := vs.Variant(t, fixture.VariantDWP4)
		bin := filepath.Join(t.TempDir(), "bin")
		if err := os.Mkdir(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"ceph-dse", "libdcache.so"} {
			copyTree(t, filepath.Join(filepath.Dir(v.Exe), f), bin)
		}
		dwos, _ := filepath.Glob(filepath.Join(filepath.Dir(filepath.Dir(v.Exe)), "dwo", "*.dwo"))
		gone := ""
		for _, d := range dwos {
			if strings.HasPrefix(filepath.Base(d), "libdcache.so-lsm") {
				gone = filepath.Base(d)
				continue
			}
			copyTree(t, d, bin)
		}
		// libdcache.so's two units (dm, lsm) and ceph-dse's, one per
		// source file (ceph-dse, co, hangs, signal_handler).
		if len(dwos) != 2+cephDseDwos(dwos) || cephDseDwos(dwos) < 3 || gone == "" {
			t.Fatalf(".dwo files %q", dwos)
		}
		r := inspect(t, v.Core, "--exe", filepath.Join(bin, "ceph-dse"), "--solib-search-path", bin)
		st, problems := moduleStatus(t, &r.doc, "libdcache.so")
		if !strings.HasPrefix(st, "partial: 1 of 2 .dwo missing: "+gone+" (looked in ") || len(problems) != 1 ||
			!strings.Contains(problems[0], filepath.Join(bin, gone)) {
			t.Errorf("libdcache.so: status %q, problems %q", st, problems)
		}
		if st, _ := moduleStatus(t, &r.doc, "ceph-dse"); st != "full" {
			t.Errorf("ceph-dse (its .dwo beside it): status %q", st)
		}
		warned(t, r, "libdcache.so", "1 of 2 .dwo missing", gone, bin)
	})

	t.Run("holder-module-partial", func(t *testing.T) {
		// The fault's frame is in libdcache.so, whose units are all there;
		// the holder (release_wait's `node`, in ceph-dse.cc's unit) is in
		// ceph-dse, one of whose .dwo (the signal handler's) is gone: the
		// verdict names the module its holder came from, with less
		// confidence.
		v := vs.Variant(t, fixture.VariantDWP4)
		bin := filepath.Join(t.TempDir(), "bin")
		if err := os.Mkdir(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"ceph-dse", "libdcache.so"} {
			copyTree(t, filepath.Join(filepath.Dir(v.Exe), f), bin)
		}
		dwos, _ := filepath.Glob(filepath.Join(filepath.Dir(filepath.Dir(v.Exe)), "dwo", "*.dwo"))
		gone := ""
		for _, d := range dwos {
			if filepath.Base(d) == "ceph-dse-signal_handler.dwo" {
				gone = filepath.Base(d)
				continue
			}
			copyTree(t, d, bin)
		}
		if gone == "" {
			t.Fatalf(".dwo files %q", dwos)
		}
		r := inspect(t, v.Core, "--exe", filepath.Join(bin, "ceph-dse"), "--solib-search-path", bin)
		if st, _ := moduleStatus(t, &r.doc, "libdcache.so"); st != "full" {
			t.Errorf("libdcache.so (the fault's module): status %q", st)
		}
		if st, _ := moduleStatus(t, &r.doc, "ceph-dse"); !strings.HasPrefix(st, fmt.Sprintf("partial: 1 of %d .dwo missing: %s", cephDseDwos(dwos), gone)) {
			t.Errorf("ceph-dse: status %q", st)
		}
		a := r.doc.Analysis
		if len(a.Memory.Holders) == 0 || a.Memory.Holders[0].Fallback || a.Memory.Holders[0].Function != "(anonymous namespace)::release_wait" {
			t.Fatalf("holders %+v: want release_wait's typed path first", a.Memory.Holders)
		}
		lowered(t, r, "ceph-dse")
		if !strings.Contains(a.Verdict, "where the holder task ") || strings.Contains(a.Verdict, "incomplete debug information of libdcache.so") {
			t.Errorf("verdict does not say the holder came from ceph-dse alone: %s", a.Verdict)
		}
	})

	t.Run("dwp-missing", func(t *testing.T) {
		v := vs.Variant(t, fixture.VariantDWP5)
		bin := filepath.Join(t.TempDir(), "bin")
		if err := os.Mkdir(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"ceph-dse", "libdcache.so"} {
			copyTree(t, filepath.Join(filepath.Dir(v.Exe), f), bin)
		}
		r := inspect(t, v.Core, "--exe", filepath.Join(bin, "ceph-dse"), "--solib-search-path", bin)
		for _, m := range []string{"ceph-dse", "libdcache.so"} {
			st, problems := moduleStatus(t, &r.doc, m)
			if !strings.Contains(st, ".dwo missing") || len(problems) != 1 || !strings.Contains(problems[0], filepath.Join(bin, m+".dwp")) {
				t.Errorf("%s: status %q, problems %q", m, st, problems)
			}
			warned(t, r, m, ".dwo missing", m+".dwp")
		}
		lowered(t, r, "libdcache.so")
	})

	t.Run("debuglink-crc-mismatch", func(t *testing.T) {
		v := vs.Variant(t, fixture.VariantStale)
		r := inspect(t, v.Core)
		st, problems := moduleStatus(t, &r.doc, "libdcache.so")
		if !strings.HasPrefix(st, "debug file rejected: CRC mismatch; names only (") || len(problems) != 1 ||
			problems[0] != fmt.Sprintf("the debug information found in %q does not match %q (CRC mismatch)", v.Info["stale"], v.Lib) {
			t.Errorf("libdcache.so: status %q, problems %q", st, problems)
		}
		if st, _ := moduleStatus(t, &r.doc, "ceph-dse"); st != "full" {
			t.Errorf("ceph-dse (its debuglink matches): status %q", st)
		}
		warned(t, r, "libdcache.so", "does not match", "(CRC mismatch)")
		lowered(t, r, "libdcache.so")
	})

	t.Run("minidebuginfo-only", func(t *testing.T) {
		// Fedora's stripped binaries without their debug package: the
		// function names of .gnu_debugdata, as gdb names them.
		v := vs.Variant(t, fixture.VariantFedora)
		r := inspect(t, v.Core, "--debug-file-directory", t.TempDir())
		for _, m := range []string{"ceph-dse", "libdcache.so"} {
			if st, _ := moduleStatus(t, &r.doc, m); st != "names only (MiniDebugInfo)" {
				t.Errorf("%s: status %q", m, st)
			}
		}
		var bt struct {
			Threads []struct {
				Frames []struct{ Function string } `json:"frames"`
			} `json:"threads"`
		}
		runJSON(t, &bt, "bt", v.Core, "--debug-file-directory", t.TempDir())
		names := map[string]bool{}
		for _, f := range bt.Threads[0].Frames {
			names[f.Function] = true
		}
		// handle_oneshot_fatal_signal is local (not in .dynsym): only
		// MiniDebugInfo names it.
		for _, want := range []string{"ceph_sig::(anonymous namespace)::handle_oneshot_fatal_signal", "dm_hash_node_t::clear", "lsm_release_all_csdobj"} {
			if !names[want] {
				t.Errorf("crashed thread has no frame %s: %v", want, names)
			}
		}
		lowered(t, r, "libdcache.so")
	})
}

// TestVariantClangPointerChainVerdict: the pointer-chain scenario built by
// clang++-16: the verdict names the holder thread's typed path (a path of
// the truth, in lsm_release_all_csdobj, where gdb prints lsm=lsm@entry=…
// and `p lsm->node` is the node), never a raw register of another frame.
func TestVariantClangPointerChainVerdict(t *testing.T) {
	v := fixture.GetVariants(t).VariantScenario(t, fixture.VariantClang, fixture.PointerChain)
	var doc struct {
		Analysis struct {
			Memory struct {
				Holders []struct {
					LWP      int    `json:"lwp"`
					Expr     string `json:"expr"`
					Variable string `json:"variable"`
					Function string `json:"function"`
					Value    string `json:"value"`
					Fallback bool   `json:"fallback"`
				} `json:"holders"`
			} `json:"memory"`
			Verdict    string `json:"verdict"`
			Confidence string `json:"confidence"`
		} `json:"analysis"`
	}
	runJSON(t, &doc, "inspect", v.Core, "--exe", v.Exe)
	truth := v.Expected["holder"].(map[string]any)
	hs := doc.Analysis.Memory.Holders
	if len(hs) == 0 || hs[0].Fallback || hs[0].LWP != int(fixture.Num(t, truth["lwp"])) || hs[0].Value != truth["object"] {
		t.Fatalf("holders %+v: want thread LWP %v's typed path to %v first", hs, truth["lwp"], truth["object"])
	}
	ok := false
	for _, x := range truth["paths"].([]any) {
		pt := x.(map[string]any)
		ok = ok || pt["function"] == hs[0].Function && pt["variable"] == hs[0].Variable && pt["expr"] == hs[0].Expr
	}
	if !ok || !strings.Contains(doc.Analysis.Verdict, "as `"+hs[0].Expr+"`") || strings.Contains(doc.Analysis.Verdict, "a raw match") {
		t.Errorf("holder %+v is not a path of the truth %v, or the verdict does not give it: %s", hs[0], truth["paths"], doc.Analysis.Verdict)
	}
	if doc.Analysis.Confidence != "high" || !strings.Contains(doc.Analysis.Verdict, "concurrent destruction") {
		t.Errorf("verdict (%s): %s", doc.Analysis.Confidence, doc.Analysis.Verdict)
	}
}

// TestVariantsIndexReused: the persistent index serves the builds whose
// DWARF spans files (a supplementary file, .dwo files, a .dwp): a first
// inspect of the core writes its entries (under the file's build-id and
// the attached files' ids), a second reads them and writes nothing (but
// the markers of files it checked whole), and gives the same verdict.
func TestVariantsIndexReused(t *testing.T) {
	vs := fixture.GetVariants(t)
	for _, name := range []string{fixture.VariantDWZ, fixture.VariantDWZ5, fixture.VariantFedora, fixture.VariantDebian,
		fixture.VariantSplit4, fixture.VariantSplit5, fixture.VariantDWP4, fixture.VariantDWP5} {
		t.Run(name, func(t *testing.T) {
			v := vs.Variant(t, name)
			cache := t.TempDir()
			env := []string{"XDG_CACHE_HOME=" + cache, "DEBUGINFOD_URLS="}
			args := append([]string{"inspect", v.Core, "--exe", v.Exe, "--json"}, variantFlags(v)...)
			first, _ := runEnv(t, env, args...)
			snap := func() map[string]string {
				m := map[string]string{}
				filepath.WalkDir(cache, func(p string, d os.DirEntry, err error) error {
					// A marker (cachefile.Checked: a file checked whole)
					// is what a run after the first may write.
					if err == nil && !d.IsDir() && !(strings.HasPrefix(d.Name(), ".") && strings.HasSuffix(d.Name(), ".verified")) {
						if st, err := os.Stat(p); err == nil {
							// A rewrite is a new file renamed in place: a new inode.
							m[strings.TrimPrefix(p, cache)] = fmt.Sprintf("%d %d %d", st.Size(), st.ModTime().UnixNano(), st.Sys().(*syscall.Stat_t).Ino)
						}
					}
					return nil
				})
				return m
			}
			before := snap()
			attached := 0
			for p := range before {
				if strings.Contains(p, "+sup-") || strings.Contains(p, "+split-") {
					attached++
				}
			}
			if attached == 0 {
				t.Fatalf("no index entry keyed by an attached file among %d cache files", len(before))
			}
			second, _ := runEnv(t, env, args...)
			after := snap()
			for p, s := range after {
				if before[p] != s {
					t.Errorf("the second run wrote %s", p)
				}
			}
			var a, b fieldVerdict
			if err := json.Unmarshal(first, &a); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(second, &b); err != nil {
				t.Fatal(err)
			}
			if a.Analysis.Verdict != b.Analysis.Verdict || a.Analysis.Verdict == "" {
				t.Errorf("verdicts differ:\n%s\n%s", a.Analysis.Verdict, b.Analysis.Verdict)
			}
			t.Logf("%d cache files, %d under an attached file's key", len(before), attached)
		})
	}
}

// TestVariantsSymtabCacheByTables: one build-id, several symbol tables:
// Fedora's stripped binary (MiniDebugInfo, no debug package at hand) and
// the same build dwz'd in place with its .symtab. Summarized in that order
// with one cache, the second is read with its own table: its
// thread-locals and the coroutine runtime's roots are found, as with an
// empty cache (before, the stripped binary's cached table answered for it
// and no task was found).
func TestVariantsSymtabCacheByTables(t *testing.T) {
	vs := fixture.GetVariants(t)
	fedora, dwz := vs.Variant(t, fixture.VariantFedora), vs.Variant(t, fixture.VariantDWZ)
	cache := t.TempDir()
	env := []string{"XDG_CACHE_HOME=" + cache, "DEBUGINFOD_URLS="}
	runEnv(t, env, "inspect", fedora.Core, "--exe", fedora.Exe, "--debug-file-directory", t.TempDir(), "--json")
	out, _ := runEnv(t, env, append([]string{"inspect", dwz.Core, "--exe", dwz.Exe, "--json"}, variantFlags(dwz)...)...)
	var doc fieldVerdict
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	checkFieldVerdict(t, &dwz.Scenario, &doc)
}
