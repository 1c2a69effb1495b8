package corefile_test

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/dsecore/dsecore/coreparse/corefile"
	"github.com/dsecore/dsecore/internal/testsupport/testcore"
)

// Programs that die of the signals whose siginfo carries a fault address
// (si_addr), each its own way: a division by zero (SIGFPE, FPE_INTDIV),
// ud2 (SIGILL, ILL_ILLOPN), a read past the end of a mapped empty file
// (SIGBUS, BUS_ADRERR).
var faultAddrPrograms = []struct {
	p        testcore.Program
	signo    int32
	code     string
	addrIsPC bool
}{
	{testcore.Program{Name: "sigfpe", Lang: "c", Flags: []string{"-O0", "-g"}, Source: `
volatile int zero = 0;
int main(void) { return 7 / zero; }
`}, 8, "FPE_INTDIV", true},
	{testcore.Program{Name: "sigill", Lang: "c", Flags: []string{"-O0", "-g"}, Source: `
int main(void) { __builtin_trap(); return 0; }
`}, 4, "ILL_ILLOPN", true},
	{testcore.Program{Name: "sigbus", Lang: "c", Flags: []string{"-O0", "-g"}, Source: `
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
int main(void) {
	FILE *f = tmpfile();
	if (!f) return 2;
	volatile char *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fileno(f), 0);
	if (p == MAP_FAILED) return 3;
	return p[16];
}
`}, 7, "BUS_ADRERR", false},
}

// TestFaultAddressMatchesReadelf: the fault address of SIGFPE, SIGILL and
// SIGBUS cores is the kernel's si_addr as eu-readelf reads it (the code
// reads si_addr only for the signals that carry one), and for the
// instruction faults it is where the thread stopped.
func TestFaultAddressMatchesReadelf(t *testing.T) {
	for _, c := range faultAddrPrograms {
		t.Run(c.p.Name, func(t *testing.T) {
			r := testcore.Make(t, c.p)
			core := open(t, r.Core)
			notes := readelfNotes(t, r.Core)
			m := regexp.MustCompile(`si_signo: (\d+), si_errno: \d+, si_code: (-?\d+)\n\s+fault address: (0x[0-9a-f]+)`).FindStringSubmatch(notes)
			if m == nil {
				t.Fatalf("eu-readelf shows no fault address:\n%s", notes)
			}
			si := core.SigInfo
			if si == nil || fmt.Sprint(si.Signo) != m[1] || fmt.Sprint(si.Code) != m[2] || fmt.Sprintf("%#x", si.Addr) != m[3] {
				t.Fatalf("siginfo %+v, eu-readelf signo %s code %s address %s", si, m[1], m[2], m[3])
			}
			if si.Signo != c.signo || si.CodeName() != c.code || si.Addr == 0 {
				t.Errorf("siginfo %+v (%s), want signal %d %s at a non-zero address", si, si.CodeName(), c.signo, c.code)
			}
			if corefile.SignalName(int(si.Signo)) == "" || si.CodeDescription() == "" {
				t.Errorf("signal %d code %d unnamed", si.Signo, si.Code)
			}
			if c.addrIsPC {
				if len(core.Threads) == 0 || core.Threads[0].Regs.Rip != si.Addr {
					t.Errorf("fault address %#x is not the crashing thread's pc", si.Addr)
				}
			}
		})
	}
}
