// Package unwind walks the stack of one thread (or of any saved register
// context, such as a suspended coroutine) of a crashed x86-64 Linux process.
//
// It uses the call frame information of the loaded modules (.eh_frame and
// .debug_frame, parsed and interpreted by delve's pkg/dwarf/frame), recovers
// the interrupted context of kernel signal frames (__restore_rt), and falls
// back to gdb's amd64 prologue heuristics or the frame-pointer chain for code
// without CFI. It speaks runtime addresses only and knows nothing of symbols:
// callers provide memory, an FDE lookup and, optionally, function starts.
//
// The goal is to produce exactly the physical frames gdb produces, with the
// same pcs (gdb's frame.pc()) and the same callee-saved register values.
package unwind

import (
	"fmt"
	"strings"

	"github.com/go-delve/delve/pkg/dwarf/regnum"
)

// DWARF register numbers of the x86-64 System V psABI (figure 3.36).
const (
	RAX = regnum.AMD64_Rax
	RDX = regnum.AMD64_Rdx
	RCX = regnum.AMD64_Rcx
	RBX = regnum.AMD64_Rbx
	RSI = regnum.AMD64_Rsi
	RDI = regnum.AMD64_Rdi
	RBP = regnum.AMD64_Rbp
	RSP = regnum.AMD64_Rsp
	R8  = regnum.AMD64_R8
	R9  = regnum.AMD64_R9
	R10 = regnum.AMD64_R10
	R11 = regnum.AMD64_R11
	R12 = regnum.AMD64_R12
	R13 = regnum.AMD64_R13
	R14 = regnum.AMD64_R14
	R15 = regnum.AMD64_R15
	RIP = regnum.AMD64_Rip

	// NumRegs is the number of registers Regs tracks (DWARF 0..16).
	NumRegs = 17
)

var regNames = [NumRegs]string{"rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip"}

// RegName is the lower-case name of DWARF register n ("rbx"), or "r<n>"
// for a number Regs does not track.
func RegName(n int) string {
	if n >= 0 && n < NumRegs {
		return regNames[n]
	}
	return fmt.Sprintf("dwarf%d", n)
}

// RegNumber is the DWARF number of a register name ("rbx", "RBX", "%rbx"),
// -1 when unknown.
func RegNumber(name string) int {
	name = strings.ToLower(strings.TrimPrefix(name, "%"))
	for i, n := range regNames {
		if n == name {
			return i
		}
	}
	return -1
}

// CalleeSaved reports whether the psABI says a callee preserves register
// n: rbx, rbp, r12-r15 (and rsp, rip, which unwinding recovers anyway).
func CalleeSaved(n int) bool {
	switch n {
	case RBX, RBP, R12, R13, R14, R15, RSP, RIP:
		return true
	}
	return false
}

// Regs is a set of general-purpose registers in DWARF numbering.
// Valid has bit i set when V[i] is known.
type Regs struct {
	V     [NumRegs]uint64
	Valid uint32
}

// Set stores v in register n and marks it valid.
func (r *Regs) Set(n int, v uint64) {
	if n < 0 || n >= NumRegs {
		return
	}
	r.V[n] = v
	r.Valid |= 1 << n
}

// Get returns register n and whether it is known.
func (r *Regs) Get(n int) (uint64, bool) {
	if !r.Has(n) {
		return 0, false
	}
	return r.V[n], true
}

// Has reports whether register n is known.
func (r *Regs) Has(n int) bool {
	return n >= 0 && n < NumRegs && r.Valid&(1<<n) != 0
}

// Invalidate forgets register n.
func (r *Regs) Invalidate(n int) {
	if n < 0 || n >= NumRegs {
		return
	}
	r.V[n] = 0
	r.Valid &^= 1 << n
}

// PC is the rip register (0 when unknown).
func (r *Regs) PC() uint64 { return r.V[RIP] }

// SP is the rsp register (0 when unknown).
func (r *Regs) SP() uint64 { return r.V[RSP] }

// String lists the known registers, for messages and test failures.
func (r Regs) String() string {
	var b strings.Builder
	for i := 0; i < NumRegs; i++ {
		if i > 0 {
			b.WriteByte(' ')
		}
		if r.Has(i) {
			fmt.Fprintf(&b, "%s=%#x", regNames[i], r.V[i])
		} else {
			fmt.Fprintf(&b, "%s=<not saved>", regNames[i])
		}
	}
	return b.String()
}
