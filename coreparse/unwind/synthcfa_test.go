package unwind_test

import (
	"testing"

	"github.com/dsecore/dsecore/coreparse/unwind"
)

// TestSynthEqualCFA: a caller whose CFA equals its callee's (a function
// that keeps its return address above its CFA) is not "inner to this
// frame": gdb's frame_id_inner compares the stack addresses strictly
// (core_addr_lessthan on x86-64), so the unwind goes on to the outermost
// frame.
func TestSynthEqualCFA(t *testing.T) {
	const offsetExtendedSf = 0x11 // DW_CFA_offset_extended_sf reg, sleb factored offset
	s := newSynth(t,
		synthFDE{begin: 0x1000, size: 0x100}, // leaf: CFA rsp+8, rip at CFA-8
		synthFDE{begin: 0x2000, size: 0x100, insns: []byte{cfaDefCfa, 7, 0, offsetExtendedSf, 16, 0x7f}}, // CFA rsp+0, rip at CFA+8
		synthFDE{begin: 0x3000, size: 0x100, insns: []byte{cfaUndefined, 16}},                            // outermost
	)
	s.mem.put64(0x5000, 0x2010, 0, 0x3010)
	frames, reason, err := s.unwinder().UnwindStop(regs(unwind.RIP, 0x1000, unwind.RSP, 0x5000))
	if reason != unwind.StopOutermost || err != nil || len(frames) != 3 || frames[1].PC != 0x2010 || frames[2].PC != 0x3010 ||
		frames[0].CFA != 0x5008 || frames[1].CFA != 0x5008 {
		t.Fatalf("%d frames, %v, %v: %+v", len(frames), reason, err, frames)
	}
}

// TestSynthReturnAddressInRegisters: return addresses the CFI keeps in
// registers (DW_CFA_register rip, r12 and r13), read from no stack slot,
// are two different saved pcs, not a frame that "did not save the PC";
// in a register that is not known, the pc is unknown.
func TestSynthReturnAddressInRegisters(t *testing.T) {
	s := newSynth(t,
		synthFDE{begin: 0x1000, size: 0x100, insns: []byte{cfaRegister, 16, 12}}, // rip in r12
		synthFDE{begin: 0x2000, size: 0x100, insns: []byte{cfaRegister, 16, 13}}, // rip in r13
		synthFDE{begin: 0x3000, size: 0x100, insns: []byte{cfaUndefined, 16}},    // outermost
	)
	s.mem.put64(0x5000, 0)
	frames, reason, err := s.unwinder().UnwindStop(regs(unwind.RIP, 0x1000, unwind.RSP, 0x5000, unwind.R12, 0x2010, unwind.R13, 0x3010))
	if reason != unwind.StopOutermost || err != nil || len(frames) != 3 || frames[1].PC != 0x2010 || frames[2].PC != 0x3010 {
		t.Fatalf("%d frames, %v, %v: %+v", len(frames), reason, err, frames)
	}
	// r12 unknown: the return address is not known, and no memory read
	// failed (gdb: the pc is unavailable, not "cannot access memory").
	frames, reason, _ = s.unwinder().UnwindStop(regs(unwind.RIP, 0x1000, unwind.RSP, 0x5000, unwind.R13, 0x3010))
	if reason != unwind.StopNoPC || len(frames) != 1 {
		t.Errorf("rip in an unknown r12: %d frames, %v; want 1, %v", len(frames), reason, unwind.StopNoPC)
	}
}

// TestSynthCFAExpressionMemory: a CFA expression (DW_CFA_def_cfa_expression
// rsp; deref) whose load cannot be read stops the unwind for memory, as gdb
// says "Cannot access memory", not for bad CFI; a load read short without
// an error is no value either.
func TestSynthCFAExpressionMemory(t *testing.T) {
	s := newSynth(t, synthFDE{begin: 0x1000, size: 0x100, insns: []byte{cfaDefCfaExpr, 3, opBreg0 + 7, 0, opDeref}})
	s.mem.put(0x1000, make([]byte, 0x100)) // code
	// The CFA the load would give if its last byte were dropped (0x5010),
	// and a return address there.
	s.mem.put64(0x7000, 0xff00_0000_0000_5010)
	s.mem.put64(0x5008, 0x1010)
	for _, c := range []struct {
		name string
		mem  unwind.Memory
		sp   uint64
	}{
		{"unmapped", s.mem, 0x4000},
		{"short read", shortMem{s.mem}, 0x7000},
	} {
		frames, reason, err := (&unwind.Unwinder{Mem: c.mem, FindFDE: s.fdes.FDEForPC}).UnwindStop(regs(unwind.RIP, 0x1000, unwind.RSP, c.sp))
		if reason != unwind.StopMemory || err == nil || len(frames) != 1 {
			t.Errorf("%s: %d frames, %v, %v; want 1 frame, %v", c.name, len(frames), reason, err, unwind.StopMemory)
		}
	}
}
