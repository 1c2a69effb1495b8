package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/coreparse/corefile"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/dsecore/dsecore/internal/testsupport/gdboracle"
	"github.com/dsecore/dsecore/report"
)

// run runs dsecore and returns its stdout; a failure fails the test.
func run(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(dsecoreBin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dsecore %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

func runJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out := run(t, append(args, "--json")...)
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("dsecore %v: not JSON: %v\n%s", args, err, out)
	}
}

func hexField(t *testing.T, m map[string]any, key string) uint64 {
	t.Helper()
	s, ok := m[key].(string)
	if !ok {
		t.Fatalf("expected.json: %s missing or not a string: %v", key, m[key])
	}
	v, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64)
	if err != nil {
		t.Fatalf("expected.json: %s=%q: %v", key, s, err)
	}
	return v
}

func intField(t *testing.T, m map[string]any, key string) int {
	t.Helper()
	f, ok := m[key].(float64)
	if !ok {
		t.Fatalf("expected.json: %s missing or not a number: %v", key, m[key])
	}
	return int(f)
}

// TestFieldCrashStack: under the handler and __restore_rt, the crashing
// thread shows the field report's inline chain down to lsm_destroy.
func TestFieldCrashStack(t *testing.T) {
	set := fixture.Get(t)
	for _, name := range []string{fixture.FieldCrash, fixture.Coverage, fixture.Large} {
		t.Run(name, func(t *testing.T) {
			sc := set.Scenario(t, name)
			var doc report.Backtrace
			runJSON(t, &doc, "bt", sc.Core, "--exe", sc.Exe)
			if len(doc.Threads) != 1 {
				t.Fatalf("%d threads for the default (crashed) thread", len(doc.Threads))
			}
			th := doc.Threads[0]
			if !th.Crashed || th.LWP != intField(t, sc.Expected, "crash_lwp") {
				t.Errorf("crashed thread LWP %d crashed=%v, expected LWP %d", th.LWP, th.Crashed, intField(t, sc.Expected, "crash_lwp"))
			}
			tramp := -1
			for i, f := range th.Frames {
				if f.Sigtramp {
					tramp = i
					break
				}
			}
			if tramp < 1 {
				t.Fatalf("no signal trampoline frame under a handler:\n%s", framesText(th.Frames))
			}
			if !strings.Contains(th.Frames[tramp-1].Function, "handler") && !strings.Contains(framesText(th.Frames[:tramp]), "handle") {
				t.Errorf("frames above __restore_rt are not the handler:\n%s", framesText(th.Frames[:tramp]))
			}
			want := []struct {
				fn     string
				inline bool
			}{
				{"boost::intrusive::list_node_traits<void*>::get_next", true},
				{"erase_and_dispose<dm_hash_node_t::delete_dm_obj_t>", true},
				{"dm_hash_node_t::clear", false},
			}
			rest := th.Frames[tramp+1:]
			if len(rest) < len(want) {
				t.Fatalf("only %d frames under the trampoline", len(rest))
			}
			for i, w := range want {
				f := rest[i]
				if !strings.Contains(f.Function, w.fn) || f.Inline != w.inline {
					t.Errorf("frame %d under the trampoline: %s inline=%v, want %s inline=%v\n%s", i, f.Function, f.Inline, w.fn, w.inline, framesText(rest))
				}
			}
			if rest[0].PC != report.Hex(hexField(t, sc.Expected, "fault_ip")) {
				t.Errorf("fault frame pc %s, the handler saw rip %s", rest[0].PC, report.Hex(hexField(t, sc.Expected, "fault_ip")))
			}
			if rest[0].Module != "libdcache.so" || rest[2].File != "dm.cc" && !strings.HasSuffix(rest[2].File, "/dm.cc") {
				t.Errorf("fault frame module %q, clear() file %q", rest[0].Module, rest[2].File)
			}
			found := false
			for _, f := range rest[3:] {
				if f.Function == "lsm_destroy" {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("lsm_destroy not under dm_hash_node_t::clear():\n%s", framesText(rest))
			}
		})
	}
}

func framesText(fs []report.Frame) string {
	var b strings.Builder
	for i, f := range fs {
		fmt.Fprintf(&b, "  #%d %s\n", i, fmtFrame(f))
	}
	return b.String()
}

// TestInspectRealFault: the core's record is the handler's re-raise
// (SI_TKILL); the real fault is SEGV_MAPERR at 0 with the handler's
// registers. Without the handler, both are the same SEGV_MAPERR.
func TestInspectRealFault(t *testing.T) {
	set := fixture.Get(t)
	for _, name := range []string{fixture.FieldCrash, fixture.NoHandler, fixture.UseAfterFree, fixture.Abort} {
		t.Run(name, func(t *testing.T) {
			sc := set.Scenario(t, name)
			var doc report.Inspect
			runJSON(t, &doc, "inspect", sc.Core, "--exe", sc.Exe)
			if doc.Fault == nil || doc.Signal == nil || doc.Fault.Signal == nil {
				t.Fatalf("no signal/fault: %+v", doc)
			}
			if doc.Process.PID != intField(t, sc.Expected, "pid") || doc.Process.Threads != len(sc.Expected["threads"].([]any)) {
				t.Errorf("process %+v, expected pid %v and %d threads", doc.Process, sc.Expected["pid"], len(sc.Expected["threads"].([]any)))
			}
			handler := sc.Expected["handler"] == true
			wantSig := sc.Expected["signal"].(string)
			if doc.Fault.Signal.Name != wantSig || doc.Signal.Name != wantSig {
				t.Errorf("signals %s / %s, want %s", doc.Signal.Name, doc.Fault.Signal.Name, wantSig)
			}
			if doc.Fault.ReRaised != handler {
				t.Errorf("reraised=%v with handler=%v", doc.Fault.ReRaised, handler)
			}
			if handler && doc.Signal.CodeName != "SI_TKILL" {
				t.Errorf("core's record %s, want SI_TKILL (the handler's pthread_kill)", doc.Signal.Text)
			}
			if wantSig == "SIGSEGV" {
				if doc.Fault.Signal.CodeName != "SEGV_MAPERR" || doc.Fault.Signal.Addr != report.Hex(hexField(t, sc.Expected, "fault_addr")) {
					t.Errorf("real fault %s, want SEGV_MAPERR at %s", doc.Fault.Signal.Text, sc.Expected["fault_addr"])
				}
				if !strings.Contains(doc.Fault.Function, "get_next") {
					t.Errorf("fault in %s, want the inlined get_next", doc.Fault.Function)
				}
			}
			if handler {
				regs, _ := sc.Expected["fault_regs"].(map[string]any)
				if len(regs) < 17 {
					t.Fatalf("expected.json fault_regs: %v", regs)
				}
				for n, v := range regs {
					want, _ := strconv.ParseUint(strings.TrimPrefix(v.(string), "0x"), 16, 64)
					if got, ok := doc.Fault.Registers[n]; !ok || got != report.Hex(want) {
						t.Errorf("fault register %s = %s, the handler saw %#x", n, got, want)
					}
				}
				if doc.Fault.PC != report.Hex(hexField(t, sc.Expected, "fault_ip")) {
					t.Errorf("fault pc %s, handler's rip %v", doc.Fault.PC, sc.Expected["fault_ip"])
				}
			}
			if doc.Crashed == nil || doc.Crashed.LWP != intField(t, sc.Expected, "crash_lwp") || doc.Fault.LWP != doc.Crashed.LWP {
				t.Errorf("crashed thread %+v, expected LWP %v", doc.Crashed, sc.Expected["crash_lwp"])
			}
			var lib *report.ModuleStatus
			for i := range doc.Modules {
				if filepath.Base(doc.Modules[i].Name) == "libdcache.so" {
					lib = &doc.Modules[i]
				}
			}
			if lib == nil || lib.Status != "ok" || lib.Start != report.Hex(hexField(t, sc.Expected, "lib_base")) || lib.BuildID != readelfBuildID(t, sc.Lib) {
				t.Errorf("libdcache.so module %+v; expected base %v, build-id %s", lib, sc.Expected["lib_base"], readelfBuildID(t, sc.Lib))
			}
			// The text form says the same things.
			text := string(run(t, "inspect", sc.Core, "--exe", sc.Exe))
			for _, s := range []string{"Real fault:", doc.Fault.Signal.Text, "LWP " + strconv.Itoa(doc.Crashed.LWP), "libdcache.so"} {
				if !strings.Contains(text, s) {
					t.Errorf("inspect text lacks %q:\n%s", s, text)
				}
			}
		})
	}
}

func readelfBuildID(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("readelf", "-n", path).Output()
	if err != nil {
		t.Fatalf("readelf -n %s: %v", path, err)
	}
	m := regexp.MustCompile(`Build ID: ([0-9a-f]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("readelf -n %s: no build id", path)
	}
	return string(m[1])
}

// TestInspectBuildIDMismatch: handing over the wrong libdcache.so (the
// coverage build) is reported loudly, and the right one is preferred when
// both are offered.
func TestInspectBuildIDMismatch(t *testing.T) {
	set := fixture.Get(t)
	sc := set.Scenario(t, fixture.FieldCrash)
	cov := set.Scenario(t, fixture.Coverage)
	// A sysroot in which the library's path holds the wrong build.
	c, err := corefile.Open(sc.Core)
	if err != nil {
		t.Fatal(err)
	}
	var libPath string
	for _, f := range c.Files {
		if filepath.Base(f.Path) == "libdcache.so" {
			libPath = f.Path
		}
	}
	c.Close()
	if libPath == "" {
		t.Fatal("libdcache.so not among the core's mappings")
	}
	sysroot := t.TempDir()
	dst := filepath.Join(sysroot, libPath)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(cov.Lib)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var doc report.Inspect
	runJSON(t, &doc, "inspect", sc.Core, "--exe", sc.Exe, "--sysroot", sysroot)
	status := ""
	for _, m := range doc.Modules {
		if filepath.Base(m.Name) == "libdcache.so" {
			status = m.Status
		}
	}
	if status != "build-id-mismatch" || !strings.Contains(strings.Join(doc.Warnings, "\n"), "BUILD-ID MISMATCH") {
		t.Errorf("wrong library: status %q, warnings %q", status, doc.Warnings)
	}
	// Both offered: the matching one wins, no warning.
	runJSON(t, &doc, "inspect", sc.Core, "--exe", sc.Exe, "--solib-search-path", filepath.Dir(cov.Lib), "--solib-search-path", filepath.Dir(sc.Lib))
	for _, m := range doc.Modules {
		if filepath.Base(m.Name) == "libdcache.so" && (m.Status != "ok" || m.Path != sc.Lib) {
			t.Errorf("with both builds offered: %+v", m)
		}
	}
}

// TestSymbolizeMatchesAddr2lineAndObjdump: a dmesg line made from the core's
// fault ip and the library's mapping gives addr2line's function, inline
// chain and line, and objdump's instructions.
func TestSymbolizeMatchesAddr2lineAndObjdump(t *testing.T) {
	set := fixture.Get(t)
	for _, name := range []string{fixture.FieldCrash, fixture.Coverage} {
		t.Run(name, func(t *testing.T) {
			sc := set.Scenario(t, name)
			ip := hexField(t, sc.Expected, "fault_ip")
			c, err := corefile.Open(sc.Core)
			if err != nil {
				t.Fatal(err)
			}
			var vma corefile.FileMapping
			for _, f := range c.Files {
				if ip >= f.Start && ip < f.End {
					vma = f
				}
			}
			c.Close()
			if vma.Path == "" {
				t.Fatalf("fault ip %#x in no file mapping", ip)
			}
			lines := map[string]string{
				"old kernel":   fmt.Sprintf("[Fri Jan 29 17:56:02 2021] Processer_5[%d]: segfault at 0 ip %016x sp %016x error 4 in libdcache.so[%x+%x]", 4242, ip, 0x7fc79d505b60, vma.Start, vma.End-vma.Start),
				"kernel ≥ 6.2": fmt.Sprintf("Processer_5[%d]: segfault at 0 ip %016x sp %016x error 4 in libdcache.so[%x,%x+%x] likely on CPU 1 (core 1, socket 0)", 4242, ip, 0x7fc79d505b60, vma.Offset+(ip-vma.Start), vma.Start, vma.End-vma.Start),
			}
			wantAddr := hexField(t, sc.Expected, "fault_ip_lib_offset")
			for kind, line := range lines {
				var doc report.Symbolize
				runJSON(t, &doc, "symbolize", "--lib", sc.Lib, "--dmesg", line)
				if doc.Address != report.Hex(wantAddr) {
					t.Fatalf("%s: file address %s, the program's dladdr said %#x", kind, doc.Address, wantAddr)
				}
				if doc.Dmesg == nil || !strings.Contains(doc.Dmesg.Explanation, "read") || !strings.Contains(doc.Dmesg.Explanation, "user mode") {
					t.Errorf("%s: error explanation %+v", kind, doc.Dmesg)
				}
				compareAddr2line(t, sc.Lib, wantAddr, doc.Frames)
				compareObjdump(t, sc.Lib, doc.Window)
				if !strings.Contains(doc.Listing, "=>") || !strings.Contains(doc.Listing, "dm.cc:") {
					t.Errorf("listing without pc mark or source lines:\n%s", doc.Listing)
				}
			}
			// The IP@BASE and --offset forms agree.
			var a, b report.Symbolize
			runJSON(t, &a, "symbolize", "--lib", sc.Lib, fmt.Sprintf("%#x@%#x", ip, hexField(t, sc.Expected, "lib_base")))
			runJSON(t, &b, "symbolize", "--lib", sc.Lib, "--offset", report.Hex(wantAddr))
			if a.Address != report.Hex(wantAddr) || b.Address != a.Address || len(a.Frames) != len(b.Frames) || a.Symbol != b.Symbol {
				t.Errorf("IP@BASE gives %s %s, --offset gives %s %s", a.Address, a.Symbol, b.Address, b.Symbol)
			}
		})
	}
}

// compareAddr2line: same levels, same function (parameters aside), same
// file and line as `addr2line -i -f -C`.
func compareAddr2line(t *testing.T, lib string, addr uint64, frames []report.Location) {
	t.Helper()
	out, err := exec.Command("addr2line", "-i", "-f", "-C", "-e", lib, fmt.Sprintf("%#x", addr)).Output()
	if err != nil {
		t.Fatalf("addr2line: %v", err)
	}
	ls := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(ls)%2 != 0 || len(ls)/2 != len(frames) {
		t.Fatalf("%d levels, addr2line %d:\n%s\nours: %+v", len(frames), len(ls)/2, out, frames)
	}
	for i := range frames {
		fn, pos := ls[2*i], ls[2*i+1]
		file, lineStr, _ := strings.Cut(pos, ":")
		lineStr, _, _ = strings.Cut(lineStr, " ")
		line, _ := strconv.Atoi(lineStr)
		if plainName(fn) != plainName(frames[i].Function) {
			t.Errorf("level %d: function %q, addr2line %q", i, frames[i].Function, fn)
		}
		if filepath.Base(file) != filepath.Base(frames[i].File) || line != frames[i].Line {
			t.Errorf("level %d: %s:%d, addr2line %s", i, frames[i].File, frames[i].Line, pos)
		}
	}
	if len(frames) < 3 {
		t.Errorf("the fault's inline chain has %d levels, want get_next in erase_and_dispose in clear()", len(frames))
	}
}

var objdumpLine = regexp.MustCompile(`^\s*([0-9a-f]+):\t((?:[0-9a-f]{2} )+)\s*\t?(.*)$`)

// compareObjdump: the window is objdump -d's instructions over the same
// range, address for address, byte for byte, text for text.
func compareObjdump(t *testing.T, lib string, window []report.Instruction) {
	t.Helper()
	if len(window) < 10 {
		t.Fatalf("window of %d instructions", len(window))
	}
	first, _ := strconv.ParseUint(strings.TrimPrefix(window[0].Addr, "0x"), 16, 64)
	last, _ := strconv.ParseUint(strings.TrimPrefix(window[len(window)-1].Addr, "0x"), 16, 64)
	lastLen := len(strings.Fields(window[len(window)-1].Bytes))
	out, err := exec.Command("objdump", "-d", "-C", "-w", fmt.Sprintf("--start-address=%#x", first),
		fmt.Sprintf("--stop-address=%#x", last+uint64(lastLen)), lib).Output()
	if err != nil {
		t.Fatalf("objdump: %v", err)
	}
	type inst struct{ addr, bytes, text string }
	var od []inst
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := objdumpLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		od = append(od, inst{"0x" + m[1], strings.TrimSpace(m[2]), strings.TrimSpace(m[3])})
	}
	if len(od) != len(window) {
		t.Errorf("%d instructions, objdump %d", len(window), len(od))
	}
	for i := 0; i < min(len(od), len(window)); i++ {
		w := window[i]
		ours := w.ATT
		if w.Comment != "" {
			ours += " " + w.Comment
		}
		if od[i].addr != w.Addr || od[i].bytes != w.Bytes || normSpace(od[i].text) != normSpace(ours) {
			t.Errorf("instruction %d: ours %s [%s] %q, objdump %s [%s] %q", i, w.Addr, w.Bytes, ours, od[i].addr, od[i].bytes, od[i].text)
			return
		}
	}
}

// plainName reduces a function name to what addr2line and gdb agree on:
// no parameters, no template arguments, no return type.
func plainName(s string) string { return gdboracle.PlainFunction(s) }

func normSpace(s string) string { return strings.Join(strings.Fields(s), " ") }
