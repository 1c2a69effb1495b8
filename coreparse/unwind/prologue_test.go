package unwind_test

import (
	"testing"

	"github.com/dsecore/dsecore/coreparse/unwind"
)

// TestPrologueNoCFI: frame 0 in a function without CFI, stopped at each
// step of its prologue, unwinds as gdb's amd64_analyze_prologue says: at
// the function's first byte and after endbr64 the return address is on
// top of the stack; after `push %rbp` it is above the saved rbp, which is
// the caller's rbp; after `mov %rsp,%rbp` the frame is rbp's. With and
// without endbr64.
func TestPrologueNoCFI(t *testing.T) {
	const ra = 0x300b // after the call at 0x3006
	caller := []byte{0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0xe8, 0, 0, 0, 0}
	for _, c := range []struct {
		name   string
		code   []byte
		pc     uint64 // offset in the function
		pushed bool   // push %rbp executed
		framed bool   // mov %rsp,%rbp executed
	}{
		{"endbr64: at the start", endbrPrologue, 0, false, false},
		{"endbr64: before push", endbrPrologue, 4, false, false},
		{"endbr64: after push", endbrPrologue, 5, true, false},
		{"endbr64: after mov", endbrPrologue, 8, true, true},
		{"plain: at the start", plainPrologue, 0, false, false},
		{"plain: after push", plainPrologue, 1, true, false},
		{"plain: after mov", plainPrologue, 4, true, true},
	} {
		s := newSynth(t, synthFDE{begin: 0x3000, size: 0x100, insns: []byte{cfaUndefined, 16}}) // the outermost caller
		s.mem.put(0x3000, caller)
		s.mem.put(0x1000, append(append([]byte{}, c.code...), make([]byte, 0x40)...))
		const sp, savedRBP, frameRBP = 0x5000, 0x5100, 0x6000
		start := unwind.Regs{}
		start.Set(unwind.RIP, 0x1000+c.pc)
		start.Set(unwind.RSP, sp)
		start.Set(unwind.RBP, 0x7777) // not the saved rbp: the caller's comes from the stack
		wantSP := uint64(sp + 8)
		switch {
		case c.framed:
			// rbp = rsp after the push; the test moves the frame elsewhere
			// to tell rbp's frame from rsp's.
			start.Set(unwind.RBP, frameRBP)
			s.mem.put64(frameRBP, savedRBP, ra)
			s.mem.put64(sp, 0xdead, 0xdead)
			wantSP = frameRBP + 16
		case c.pushed:
			s.mem.put64(sp, savedRBP, ra)
			wantSP = sp + 16
		default:
			s.mem.put64(sp, ra, 0xdead)
		}
		u := s.unwinder()
		u.FuncStart = func(pc uint64) (uint64, bool) { return 0x1000, pc >= 0x1000 && pc < 0x1100 }
		frames, reason, err := u.UnwindStop(start)
		if len(frames) < 2 {
			t.Errorf("%s: %d frames, %v, %v", c.name, len(frames), reason, err)
			continue
		}
		f := frames[1]
		if f.PC != ra || f.Regs.SP() != wantSP {
			t.Errorf("%s: caller pc %#x rsp %#x, want %#x %#x", c.name, f.PC, f.Regs.SP(), uint64(ra), wantSP)
		}
		if rbp, ok := f.Regs.Get(unwind.RBP); c.pushed && (!ok || rbp != savedRBP) {
			t.Errorf("%s: caller rbp %#x (%v), want the saved %#x", c.name, rbp, ok, uint64(savedRBP))
		}
	}
}

var (
	endbrPrologue = []byte{0xf3, 0x0f, 0x1e, 0xfa, 0x55, 0x48, 0x89, 0xe5} // endbr64; push %rbp; mov %rsp,%rbp
	plainPrologue = []byte{0x55, 0x48, 0x89, 0xe5}                         // push %rbp; mov %rsp,%rbp
)
