package unwind_test

import (
	"bufio"
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"

	"github.com/dsecore/dsecore/coreparse/unwind"
	"github.com/dsecore/dsecore/internal/testsupport/testcore"
)

// debugFrameOnly has no .eh_frame entries for its own functions: the CFI
// of leaf, middle and main is in .debug_frame only.
var debugFrameOnly = testcore.Program{
	Name:  "debugframe",
	Lang:  "c",
	Flags: []string{"-O2", "-g", "-fno-asynchronous-unwind-tables", "-fno-unwind-tables"},
	Source: `#include <stdio.h>
__attribute__((noinline)) long leaf(long *p) { return *p + 1; }
__attribute__((noinline)) long middle(long *p, int n) { long s = 0; for (int i = 0; i < n; i++) s += leaf(p + i); return s; }
int main(int argc, char **argv) { printf("%ld\n", middle((long *)(argc * 8L), 3)); return 0; }
`,
}

// debugFrameV4 is debugFrameOnly as clang builds it with DWARF 5: its
// .debug_frame CIE is version 4 (address and segment sizes after the
// augmentation, which delve does not read: downgradeCIEv4), where gcc's
// is version 1.
var debugFrameV4 = func() testcore.Program {
	p := debugFrameOnly
	p.Name, p.Compiler = "debugframe-v4", "clang-16"
	p.Flags = []string{"-O2", "-gdwarf-5", "-fno-asynchronous-unwind-tables", "-fno-unwind-tables"}
	return p
}()

var readelfFDE = regexp.MustCompile(`FDE cie=[0-9a-f]+ pc=([0-9a-f]+)\.\.([0-9a-f]+)`)

// readelfFDEs lists the FDE ranges binutils sees in .eh_frame and
// .debug_frame, less the .debug_frame entries of discarded functions.
func readelfFDEs(t *testing.T, path string) map[[2]uint64]bool {
	t.Helper()
	// readelf exits 1 on Debian's libc (it cannot follow .gnu_debuglink)
	// after printing everything: judge by the output.
	out, err := exec.Command("readelf", "-wf", path).Output()
	if len(out) == 0 {
		t.Fatalf("readelf -wf %s: %v", path, err)
	}
	set := map[[2]uint64]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		m := readelfFDE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		lo, _ := strconv.ParseUint(m[1], 16, 64)
		hi, _ := strconv.ParseUint(m[2], 16, 64)
		if lo == 0 {
			continue
		}
		set[[2]uint64{lo, hi}] = true
	}
	return set
}

// TestLoadCFIMatchesReadelf: every FDE of real objects (glibc's .eh_frame
// with its 'S' signal-frame CIE, libstdc++'s "zPLR" CIEs, Boost.Context,
// a .debug_frame-only executable) loads, at the right addresses, with
// no warning.
func TestLoadCFIMatchesReadelf(t *testing.T) {
	paths := []string{testcore.Make(t, debugFrameOnly).Exe, testcore.Make(t, testcore.NullDeref).Exe}
	v4 := testcore.Make(t, debugFrameV4).Exe
	if out, _ := exec.Command("readelf", "-wf", v4).Output(); !regexp.MustCompile(`(?m)^\s+Version:\s+4$`).Match(out) {
		t.Fatalf("%s: readelf shows no version 4 CIE:\n%s", v4, out)
	}
	paths = append(paths, v4)
	for _, p := range []string{
		"/lib/x86_64-linux-gnu/libc.so.6",
		"/lib64/ld-linux-x86-64.so.2",
		"/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
		"/lib/x86_64-linux-gnu/libgcc_s.so.1",
		"/usr/lib/x86_64-linux-gnu/libboost_context.so.1.74.0",
	} {
		if _, err := os.Stat(p); err == nil {
			paths = append(paths, p)
		}
	}
	total := 0
	for _, path := range paths {
		f, err := elf.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		const bias = 0x7f0000000000
		fdes, warns, err := unwind.LoadCFIWarnings(f, bias)
		f.Close()
		if err != nil || len(warns) > 0 {
			t.Errorf("%s: %v %q", path, err, warns)
		}
		want := readelfFDEs(t, path)
		got := map[[2]uint64]bool{}
		signal := 0
		for i, fde := range fdes {
			got[[2]uint64{fde.Begin() - bias, fde.End() - bias}] = true
			if i > 0 && fdes[i-1].Begin() > fde.Begin() {
				t.Errorf("%s: FDEs not sorted", path)
			}
			if unwind.IsSignalFrameFDE(fde) {
				signal++
			}
		}
		for r := range want {
			if !got[r] {
				t.Errorf("%s: FDE %#x..%#x missing", path, r[0], r[1])
			}
		}
		for r := range got {
			if !want[r] {
				t.Errorf("%s: FDE %#x..%#x not in readelf's output", path, r[0], r[1])
			}
		}
		// glibc's __restore_rt (ld.so has its own copy) is the only "zRS" FDE.
		glibc := path == "/lib/x86_64-linux-gnu/libc.so.6" || path == "/lib64/ld-linux-x86-64.so.2"
		if glibc != (signal == 1) {
			t.Errorf("%s: %d signal-frame FDEs", path, signal)
		}
		total += len(fdes)
	}
	t.Logf("%d FDEs of %d objects match readelf", total, len(paths))
}
