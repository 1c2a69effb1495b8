package unwind_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/coreparse/unwind"
)

// psABI is the x86-64 System V psABI's DWARF register numbering (figure
// 3.36): 0–15 the general-purpose registers, 16 the return address (rip).
var psABI = []string{"rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip"}

// TestRegsBounds: every register of the psABI's numbering, the first and
// the last included, is named, numbered, stored, read and forgotten;
// the numbers just outside (−1, 17) are named "dwarfN", never stored, and
// change nothing; String lists all 17 in order, unknown ones as not saved;
// CalleeSaved is the psABI's list of preserved registers.
func TestRegsBounds(t *testing.T) {
	if unwind.NumRegs != len(psABI) {
		t.Fatalf("NumRegs %d, the psABI numbers %d", unwind.NumRegs, len(psABI))
	}
	for n, name := range psABI {
		if got := unwind.RegName(n); got != name {
			t.Errorf("RegName(%d) = %q, want %q", n, got, name)
		}
		if got := unwind.RegNumber("%" + strings.ToUpper(name)); got != n {
			t.Errorf("RegNumber(%%%s) = %d, want %d", strings.ToUpper(name), got, n)
		}
		var r unwind.Regs
		r.Set(n, 0x1000+uint64(n))
		if v, ok := r.Get(n); !ok || v != 0x1000+uint64(n) || r.Valid != 1<<n {
			t.Errorf("register %d: Get %#x %v, Valid %#x after Set", n, v, ok, r.Valid)
		}
		r.Invalidate(n)
		if v, ok := r.Get(n); ok || v != 0 || r.Valid != 0 || r.V[n] != 0 {
			t.Errorf("register %d: Get %#x %v, Valid %#x after Invalidate", n, v, ok, r.Valid)
		}
	}
	for _, n := range []int{-1, unwind.NumRegs} {
		if got, want := unwind.RegName(n), fmt.Sprintf("dwarf%d", n); got != want {
			t.Errorf("RegName(%d) = %q, want %q", n, got, want)
		}
		var r unwind.Regs
		r.Set(unwind.RAX, 1)
		r.Set(unwind.RIP, 2)
		before := r
		r.Set(n, 7)
		r.Invalidate(n)
		if r != before || r.Has(n) {
			t.Errorf("register %d: Set and Invalidate changed %v to %v", n, before, r)
		}
	}
	// The psABI's figure 3.4: rbx, rbp, rsp and r12–r15 are preserved
	// across calls (and rip, which the unwind recovers as the return
	// address); the others are not.
	preserved := map[string]bool{"rbx": true, "rbp": true, "rsp": true, "r12": true, "r13": true, "r14": true, "r15": true, "rip": true}
	for n, name := range psABI {
		if got := unwind.CalleeSaved(n); got != preserved[name] {
			t.Errorf("CalleeSaved(%s) = %v, want %v", name, got, preserved[name])
		}
	}
	var r unwind.Regs
	r.Set(unwind.RAX, 0x10)
	r.Set(unwind.RIP, 0x401000)
	var want []string
	for n, name := range psABI {
		switch n {
		case 0:
			want = append(want, name+"=0x10")
		case 16:
			want = append(want, name+"=0x401000")
		default:
			want = append(want, name+"=<not saved>")
		}
	}
	if got := r.String(); got != strings.Join(want, " ") {
		t.Errorf("String() = %q\nwant        %q", got, strings.Join(want, " "))
	}
}
