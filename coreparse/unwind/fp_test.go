package unwind_test

import (
	"strings"
	"testing"

	"github.com/dsecore/dsecore/coreparse/unwind"
)

// The frame-pointer chain on a synthetic stack: code without CFI at
// 0x10000 (A) and 0x10100 (B), a leaf with CFI at 0x20000 (C), the outermost
// function with CFI at 0x20100 (D); the stack is the mapping
// [0x7000, 0x9000), another writable mapping [0x9000, 0xa000) is not.
type fpStack struct {
	*synthStack
	funcs map[uint64]uint64 // function start by pc range start (FuncStart), nil: no symbols
}

const (
	fpA, fpB, fpC, fpD = 0x10000, 0x10100, 0x20000, 0x20100
	stackLo, stackHi   = 0x7000, 0x9000
)

// callAt writes "call rel32" ending at ret: ret is then a return address.
func callAt(m *fakeMem, ret uint64) { m.put(ret-5, []byte{0xe8, 0, 0, 0, 0}) }

func newFPStack(t *testing.T) *fpStack {
	s := newSynth(t,
		synthFDE{begin: fpC, size: 0x100},                                  // leaf: CFA rsp+8, rip at [rsp]
		synthFDE{begin: fpD, size: 0x100, insns: []byte{cfaUndefined, 16}}, // outermost
	)
	s.mem.put(0x10000, make([]byte, 0x200)) // code, nops as zeros
	s.mem.put(0x20000, make([]byte, 0x200))
	s.mem.put(stackLo, make([]byte, 0x3000))
	return &fpStack{synthStack: s}
}

func (s *fpStack) unwinder() *unwind.Unwinder {
	u := s.synthStack.unwinder()
	u.MappingAt = func(addr uint64) (unwind.Mapping, bool) {
		switch {
		case addr >= 0x10000 && addr < 0x30000:
			return unwind.Mapping{Lo: 0x10000, Hi: 0x30000, Exec: true}, true
		case addr >= stackLo && addr < stackHi:
			return unwind.Mapping{Lo: stackLo, Hi: stackHi}, true
		case addr >= stackHi && addr < 0xa000:
			return unwind.Mapping{Lo: stackHi, Hi: 0xa000}, true
		}
		return unwind.Mapping{}, false
	}
	if s.funcs != nil {
		u.FuncStart = func(pc uint64) (uint64, bool) {
			for lo, start := range s.funcs {
				if pc >= lo && pc < lo+0x100 {
					return start, true
				}
			}
			return 0, false
		}
	}
	return u
}

// TestFramePointerChain: A (interrupted, no CFI, no symbols) → B through
// the chain → D, whose CFI takes over and ends the stack. The chain keeps
// rbp, rsp and rip; every other register, callee-saved ones too, is lost.
func TestFramePointerChain(t *testing.T) {
	s := newFPStack(t)
	s.mem.put64(0x7f00, 0x1234)           // the word at rsp: no return address
	s.mem.put64(0x7f10, 0x7f40, fpB+0x10) // A's frame: saved rbp, return address into B
	s.mem.put64(0x7f40, 0x7f80, fpD+0x10) // B's frame: into D
	callAt(s.mem, fpB+0x10)
	callAt(s.mem, fpD+0x10)
	start := regs(unwind.RIP, fpA+0x50, unwind.RSP, 0x7f00, unwind.RBP, 0x7f10, unwind.RBX, 0x42, unwind.R12, 7)
	frames, reason, err := s.unwinder().UnwindStop(start)
	if reason != unwind.StopOutermost || err != nil || len(frames) != 3 {
		t.Fatalf("%d frames, %v, %v", len(frames), reason, err)
	}
	b, d := frames[1], frames[2]
	if b.PC != fpB+0x10 || b.Kind != unwind.KindFramePointer || b.Regs.SP() != 0x7f20 || b.Regs.V[unwind.RBP] != 0x7f40 || frames[0].CFA != 0x7f20 {
		t.Errorf("B: %+v", b)
	}
	if d.PC != fpD+0x10 || d.Kind != unwind.KindFramePointer || d.Regs.SP() != 0x7f50 || d.FDE == nil {
		t.Errorf("D: %+v", d)
	}
	for _, f := range frames[1:] {
		for _, n := range []int{unwind.RBX, unwind.R12, unwind.RAX} {
			if f.Regs.Has(n) {
				t.Errorf("frame at %#x: %s known (%#x), the chain cannot recover it", f.PC, unwind.RegName(n), f.Regs.V[n])
			}
		}
	}
	if frames[1].Kind.String() != "frame pointer" || frames[0].Kind.String() != "saved context" {
		t.Errorf("kinds %q %q", frames[0].Kind, frames[1].Kind)
	}
}

// TestFramePointerChecks: the chain is followed only inside the stack's
// mapping, upward, to return addresses; where it is not, the unwind stops
// after the frame and says why.
func TestFramePointerChecks(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rbp, ra uint64
		noCall  bool
		why     string
	}{
		{"rbp in another mapping", 0x9800, fpD + 0x10, false, "outside the stack's mapping"},
		{"rbp below rsp", 0x7e00, fpD + 0x10, false, "below rsp"},
		{"rbp 0", 0, fpD + 0x10, false, "rbp is 0"},
		{"rbp unaligned", 0x7f44, fpD + 0x10, false, "not 8-byte aligned"},
		{"no call before the return address", 0x7f40, fpD + 0x10, true, "does not follow a call instruction"},
		{"return address in the stack", 0x7f40, 0x7f00, false, "does not follow a call instruction"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newFPStack(t)
			// C (CFI) returns into B (no CFI) with B's rbp as given.
			s.mem.put64(0x7f00, fpB+0x10)
			callAt(s.mem, fpB+0x10)
			if tc.rbp >= stackLo && tc.rbp < 0xa000 {
				s.mem.put64(tc.rbp&^7, 0, tc.ra)
			}
			if !tc.noCall {
				callAt(s.mem, fpD+0x10)
			}
			frames, reason, err := s.unwinder().UnwindStop(regs(unwind.RIP, fpC+8, unwind.RSP, 0x7f00, unwind.RBP, tc.rbp))
			if reason != unwind.StopNoUnwindInfo || len(frames) != 2 || err == nil || !strings.Contains(err.Error(), tc.why) ||
				!strings.Contains(err.Error(), "the frame-pointer chain ends") {
				t.Errorf("%d frames, %v, %v; want a stop after B because %s", len(frames), reason, err, tc.why)
			}
		})
	}
}

// TestFramePointerOrGdb: where gdb's prologue analysis finds a believable
// return address it wins over the chain (a leaf that keeps no frame
// pointer: the chain would skip its caller); a push-only guess the chain
// confirms is a frame-pointer frame; a guess that is no return address
// loses to the chain.
func TestFramePointerOrGdb(t *testing.T) {
	s := newFPStack(t)
	s.funcs = map[uint64]uint64{fpA: fpA, fpB: fpB}
	// A: a frameless leaf (no push %rbp), interrupted; its return address
	// at rsp into B; rbp is B's (its frame at 0x7f40, returning into D).
	s.mem.put64(0x7f00, fpB+0x10)
	callAt(s.mem, fpB+0x10)
	s.mem.put64(0x7f40, 0x7f80, fpD+0x10)
	callAt(s.mem, fpD+0x10)
	frames, _, _ := s.unwinder().UnwindStop(regs(unwind.RIP, fpA+0x20, unwind.RSP, 0x7f00, unwind.RBP, 0x7f40, unwind.RBX, 5))
	if len(frames) < 2 || frames[1].PC != fpB+0x10 || frames[1].Kind != unwind.KindHeuristic || frames[1].Kind.String() != "scan" {
		t.Fatalf("frameless leaf: %+v", frames)
	}
	if v, ok := frames[1].Regs.Get(unwind.RBX); !ok || v != 5 {
		t.Errorf("gdb's frameless frame keeps rbx (the leaf did not touch it): %v", frames[1].Regs)
	}
	// B: "push %rbp; mov $1,%eax; mov %rsp,%rbp" (gdb sees a push, no frame
	// pointer): stopped at the call, rsp = rbp, so gdb's guess is the
	// chain's frame.
	s.mem.put(fpB, []byte{0x55, 0xb8, 1, 0, 0, 0, 0x48, 0x89, 0xe5})
	frames, _, _ = s.unwinder().UnwindStop(regs(unwind.RIP, fpB+0x10, unwind.RSP, 0x7f40, unwind.RBP, 0x7f40))
	if len(frames) < 2 || frames[1].PC != fpD+0x10 || frames[1].Kind != unwind.KindFramePointer {
		t.Errorf("push-only guess confirmed by the chain: %+v", frames)
	}
	// Deeper in B (rsp below rbp), gdb's guess reads a local: the chain.
	s.mem.put64(0x7f28, 0x10)
	frames, _, _ = s.unwinder().UnwindStop(regs(unwind.RIP, fpB+0x10, unwind.RSP, 0x7f20, unwind.RBP, 0x7f40))
	if len(frames) < 2 || frames[1].PC != fpD+0x10 || frames[1].Kind != unwind.KindFramePointer {
		t.Errorf("scheduled prologue: %+v", frames)
	}
}

// TestCallBefore: calls of every length end at a return address; other
// instructions do not. The shortest call that ends there is reported
// ("41 ff d4", call *%r12, ends in "ff d4", call *%rsp).
func TestCallBefore(t *testing.T) {
	m := newFakeMem()
	for _, tc := range []struct {
		code []byte
		len  int // of the call found, 0 for none
	}{
		{[]byte{0xe8, 1, 2, 3, 4}, 5},             // call rel32
		{[]byte{0xff, 0xd0}, 2},                   // call *%rax
		{[]byte{0x41, 0xff, 0xd4}, 2},             // call *%r12
		{[]byte{0xff, 0x15, 1, 2, 3, 4}, 6},       // call *disp(%rip)
		{[]byte{0xff, 0x94, 0x24, 1, 2, 3, 4}, 7}, // call *disp32(%rsp)
		{[]byte{0x48, 0x89, 0xe5}, 0},             // mov %rsp,%rbp
		{[]byte{0xe9, 1, 2, 3, 4}, 0},             // jmp rel32
	} {
		const ret = 0x1010
		m.put(0x1000, make([]byte, 16))
		m.put(ret-uint64(len(tc.code)), tc.code)
		start, ok := unwind.CallBefore(m, ret)
		if ok != (tc.len > 0) || ok && start != ret-uint64(tc.len) {
			t.Errorf("% x: call %v at %#x, want a %d-byte call", tc.code, ok, start, tc.len)
		}
	}
	if _, ok := unwind.CallBefore(m, 0x20000); ok {
		t.Errorf("a call in unreadable memory")
	}
}
