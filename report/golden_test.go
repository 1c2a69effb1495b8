package report_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/dsecore/dsecore/report"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/ with what the writers write now")

// golden compares got with testdata/name, or writes it there with -update
// (as the Go toolchain's golden tests do).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./report -run %s -update writes it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what %s writes now (go test -update rewrites it after a deliberate change):\n--- want\n%s\n--- got\n%s", path, t.Name(), want, got)
	}
}

// goldenBacktrace is a backtrace document with every kind of frame a face
// shows: a signal frame, inline and tail-called frames, frames found by
// the frame-pointer chain and by a scan, a frame known only by its module
// and offset, a coroutine seam, an unwind cut short; two tasks on two
// Processers.
func goldenBacktrace() *report.Backtrace {
	crash := []report.Frame{
		{PC: "0x7f3a1c2d4e10", Function: "boost::intrusive::list_node_traits<void*>::get_next", Inline: true, File: "/usr/include/boost/intrusive/detail/list_node.hpp", Line: 63, Module: "libdcache.so", FoundBy: "signal frame"},
		{PC: "0x7f3a1c2d4e10", Function: "dm_hash_node_t::clear", File: "/src/dcache/dm.cc", Line: 42, Module: "libdcache.so", FoundBy: "signal frame"},
		{PC: "0x7f3a1c2d5100", Function: "lsm_release_all_csdobj", Tailcall: true, File: "/src/dcache/lsm.cc", Line: 88, Module: "libdcache.so", FoundBy: "cfi"},
		{PC: "0x7f3a1c2d5200", Function: "lsm_destroy", File: "/src/dcache/lsm.cc", Line: 120, Module: "libdcache.so", FoundBy: "frame pointer"},
		{PC: "0x7f3a1c2d5300", Function: "", Module: "libdcache.so", Offset: "0x5300", FoundBy: "scan"},
		{PC: "0x0", Function: "co::Task::Run", Boundary: true},
	}
	handler := []report.Frame{
		{PC: "0x55d0c0a01234", Function: "handle_fatal_signal", File: "/src/signal_handler.cc", Line: 31, Module: "ceph-dse", FoundBy: "saved context"},
		{PC: "0x7f3a1c000420", Function: "__restore_rt", Sigtramp: true, Module: "libc.so.6", FoundBy: "cfi"},
	}
	return &report.Backtrace{
		Threads: []report.Thread{
			{LWP: 31066, Pthread: "0x7f3a1b7fe6c0", Name: "Processer_5", Crashed: true, Frames: append(handler, crash...)},
			{LWP: 31067, Pthread: "0x7f3a1affd6c0", Name: "Processer_6", Frames: []report.Frame{
				{PC: "0x7f3a1c0a1b2c", Function: "futex_wait", File: "../sysdeps/nptl/futex-internal.h", Line: 146, Module: "libc.so.6", FoundBy: "saved context"},
			}, Error: "no CFI and no frame pointer at 0x7f3a1c0a1b2c"},
		},
		Tasks: []report.Task{
			{ID: 16, State: "running", Processer: 5, Running: true, LWP: 31066, FoundBy: "profile", Address: "0x56299fd70000",
				Func: "lsm_destroy", File: "/src/dcache/lsm.cc", Line: 118, Queue: "runnable", Top: "dm_hash_node_t::clear at dm.cc:42", Frames: crash[:4]},
			{ID: 15, State: "block", Processer: 6, FoundBy: "profile+scan", Address: "0x56299fd71000", SP: "0x7f3a10001f00",
				Func: "lsm_destroy", File: "/src/dcache/lsm.cc", Line: 118, Queue: "block", Top: "(anonymous namespace)::release_wait at lsm.cc:70",
				Frames: []report.Frame{{PC: "0x7f3a1c2d5400", Function: "(anonymous namespace)::release_wait", File: "/src/dcache/lsm.cc", Line: 70, Module: "libdcache.so", FoundBy: "saved context"}}},
		},
		Coroutines: &report.Coroutines{Profile: "ceph-dse", ProfileSource: "built-in", TaskCount: 2, Processers: []report.Processer{
			{ID: 5, Address: "0x56299fd60000", LWP: 31066, Pthread: "0x7f3a1b7fe6c0", Running: 16, Queues: map[string]int{"runnableQueue_": 0, "blockQueue_": 0}, ByState: map[string]int{"runnable": 0}},
			{ID: 6, Address: "0x56299fd61000", LWP: 31067, Pthread: "0x7f3a1affd6c0", Running: -1, Queues: map[string]int{"runnableQueue_": 0, "blockQueue_": 1}, ByState: map[string]int{"block": 1}},
		}},
		Warnings: []string{"libfoo.so: no local file found (build-id 1234); use --solib-search-path/--sysroot/--exe"},
	}
}

// TestBacktraceGolden: a backtrace document as JSON and as text (bt, the
// task list, the Processers, each frame style) is byte for byte the
// golden file's.
func TestBacktraceGolden(t *testing.T) {
	doc := goldenBacktrace()
	js, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "backtrace.json", append(js, '\n'))
	var b bytes.Buffer
	report.WriteBacktrace(&b, doc)
	b.WriteString("\n-- tasks --\n")
	report.WriteTasks(&b, doc.Coroutines, doc.Tasks, report.TaskTable{Title: true, Total: len(doc.Tasks), Shown: 16})
	b.WriteString("\n-- processers --\n")
	report.WriteProcessers(&b, doc.Coroutines)
	b.WriteString("\n-- frame styles (line, where, report) --\n")
	for _, f := range doc.Threads[0].Frames {
		b.WriteString(f.Text(report.FrameLine) + "\n" + f.Text(report.FrameWhere) + "\n" + f.Text(report.FrameReport) + "\n")
	}
	golden(t, "backtrace.txt", b.Bytes())
}

// TestModulesGolden: the modules table, every status.
func TestModulesGolden(t *testing.T) {
	mods := []report.ModuleStatus{
		{Name: "/usr/bin/ceph-dse", Path: "/usr/bin/ceph-dse", Start: "0x55d0c0a00000", End: "0x55d0c0b00000", Bias: "0x55d0c0a00000", BuildID: "8f1c", Status: "ok", SymbolStatus: "full"},
		{Name: "/opt/lib/libdcache.so", Path: "/opt/lib/libdcache.so", Start: "0x7f3a1c2d0000", End: "0x7f3a1c2e0000", Bias: "0x7f3a1c2d0000", BuildID: "77aa", Status: "build-id-mismatch", SymbolStatus: "BUILD-ID MISMATCH: full"},
		{Name: "/lib/x86_64-linux-gnu/libc.so.6", Path: "/lib/x86_64-linux-gnu/libc.so.6", Start: "0x7f3a1c000000", End: "0x7f3a1c200000", Bias: "0x7f3a1c000000", BuildID: "c0ff", Status: "no-debug-info", SymbolStatus: "names only (.dynsym)"},
		{Name: "/opt/lib/libfoo.so", Start: "0x7f3a1d000000", End: "0x7f3a1d010000", Bias: "0x7f3a1d000000", BuildID: "1234", Status: "missing", SymbolStatus: "none"},
		{Name: "/opt/lib/libbar.so", Path: "/opt/lib/libbar.so", DebugPath: "/usr/lib/debug/.build-id/ab/cd.debug", Start: "0x7f3a1e000000", End: "0x7f3a1e010000", Bias: "0x7f3a1e000000", BuildID: "abcd", Status: "ok",
			SymbolStatus: "partial: 1 of 2 .dwo missing", SymbolProblems: []string{"bar2.dwo: not found in /build/obj"}},
	}
	var b bytes.Buffer
	report.WriteModules(&b, mods)
	golden(t, "modules.txt", b.Bytes())
}
