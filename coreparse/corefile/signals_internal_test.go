package corefile

import (
	"os"
	"regexp"
	"strconv"
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
