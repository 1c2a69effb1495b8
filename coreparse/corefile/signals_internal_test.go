package corefile

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestCodesMatchKernelHeaders: every si_code the tables name has the
// value the kernel's own header gives it (linux-libc-dev's
// asm-generic/siginfo.h, the header the kernel writes NT_SIGINFO by), in
// the family of its signal — an independent oracle for the tables'
// numbers, which a test of one or two fixture cores never reaches.
func TestCodesMatchKernelHeaders(t *testing.T) {
	const header = "/usr/include/asm-generic/siginfo.h"
	b, err := os.ReadFile(header)
	if err != nil {
		t.Fatalf("the kernel's siginfo header (linux-libc-dev): %v", err)
	}
	defs := map[string]int32{}
	for _, m := range regexp.MustCompile(`(?m)^#\s*define\s+((?:SI|ILL|FPE|SEGV|BUS|TRAP)_[A-Z_]+)\s+(-?(?:0x)?[0-9a-fA-F]+)\b`).FindAllStringSubmatch(string(b), -1) {
		v, err := strconv.ParseInt(m[2], 0, 32)
		if err != nil {
			t.Fatalf("%s: %s = %q", header, m[1], m[2])
		}
		defs[m[1]] = int32(v)
	}
	if len(defs) < 40 {
		t.Fatalf("%s: only %d si_code definitions read", header, len(defs))
	}
	// Named by newer kernels than the headers of some distributions
	// (SEGV_CPERR: Linux 6.6, shadow stacks).
	newer := map[string]bool{"SEGV_CPERR": true}
	family := map[int32]string{11: "SEGV_", 7: "BUS_", 4: "ILL_", 8: "FPE_", 5: "TRAP_"}
	n := 0
	check := func(signo, code int32, name string) {
		t.Helper()
		v, ok := defs[name]
		if !ok {
			if !newer[name] {
				t.Errorf("%s (signal %d code %d) is not in %s", name, signo, code, header)
			}
			return
		}
		if v != code {
			t.Errorf("%s is %d in the tables, %d in %s", name, code, v, header)
		}
		if f := family[signo]; name[:3] != "SI_" && (len(name) < len(f) || name[:len(f)] != f) {
			t.Errorf("%s listed under signal %d", name, signo)
		}
		if got := (&SigInfo{Signo: signo, Code: code}).CodeName(); got != name {
			t.Errorf("signal %d code %d named %q, want %q", signo, code, got, name)
		}
		n++
	}
	for code, c := range genericCodes {
		check(11, code, c.name)
		check(0, code, c.name)
	}
	for signo, l := range faultCodes {
		for code, c := range l {
			if code > 0 {
				check(signo, int32(code), c.name)
			}
		}
	}
	if n < 45 {
		t.Errorf("%d codes checked", n)
	}
}

// TestSignalNamesMatchKernelHeaders: signals 1–31 by a name the kernel's
// asm-generic/signal.h gives their number; no name for 0 and for the
// real-time signals 32–64, which gdb calls SIG32…SIG64. Their texts, 0–65,
// are glibc's strsignal (read through python3's ctypes): it numbers the
// real-time signals from its SIGRTMIN, 34, and knows no 0, 32, 33 or 65.
func TestSignalNamesMatchKernelHeaders(t *testing.T) {
	const header = "/usr/include/asm-generic/signal.h"
	b, err := os.ReadFile(header)
	if err != nil {
		t.Fatalf("the kernel's signal header (linux-libc-dev): %v", err)
	}
	names := map[int][]string{}
	for _, m := range regexp.MustCompile(`(?m)^#define\s+(SIG[A-Z0-9]+)\s+(\d+)\s*$`).FindAllStringSubmatch(string(b), -1) {
		if n, _ := strconv.Atoi(m[2]); n >= 1 && n < 32 { // not SIGRTMIN (32), MINSIGSTKSZ, SIGSTKSZ
			names[n] = append(names[n], m[1])
		}
	}
	if len(names) != 31 {
		t.Fatalf("%s: %d signal numbers read, want 31", header, len(names))
	}
	out, err := exec.Command("python3", "-c", `import ctypes
libc = ctypes.CDLL(None)
libc.strsignal.restype = ctypes.c_char_p
for n in range(0, 66):
    print(libc.strsignal(n).decode())`).Output()
	if err != nil {
		t.Fatalf("python3 (glibc's strsignal): %v", err)
	}
	texts := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	for n := 0; n <= 65; n++ {
		got := SignalName(n)
		if ns := names[n]; ns != nil {
			if !slices.Contains(ns, got) {
				t.Errorf("signal %d named %q, %s: %v", n, got, header, ns)
			}
			if d := SignalDescription(n); d != texts[n] {
				t.Errorf("signal %d: %q, strsignal: %q", n, d, texts[n])
			}
		} else {
			if got != fmt.Sprintf("SIG%d", n) {
				t.Errorf("signal %d named %q, want SIG%d", n, got, n)
			}
			if d := SignalDescription(n); d != texts[n] {
				t.Errorf("signal %d: %q, strsignal: %q", n, d, texts[n])
			}
		}
	}
}

// TestCodeJustPastTheTable: a fault code one past its signal's table
// (the next code a newer kernel may define) is named by its number, and
// SI_KERNEL (0x80), above every fault code, generically.
func TestCodeJustPastTheTable(t *testing.T) {
	for signo, l := range faultCodes {
		if got := (&SigInfo{Signo: signo, Code: int32(len(l))}).CodeName(); got != fmt.Sprintf("code %d", len(l)) {
			t.Errorf("signal %d code %d: %q", signo, len(l), got)
		}
		if got := (&SigInfo{Signo: signo, Code: 0x80}).CodeName(); got != "SI_KERNEL" {
			t.Errorf("signal %d code 0x80: %q", signo, got)
		}
	}
}
