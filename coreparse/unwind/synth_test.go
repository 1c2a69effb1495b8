package unwind_test

// Synthetic stacks: hand-made memory and hand-encoded .eh_frame, for the
// cases real cores do not produce on demand (cycles, corrupt stacks,
// unusual CFI rules, a section delve rejects).

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/coreparse/unwind"
	"github.com/go-delve/delve/pkg/dwarf/frame"
)

type fakeMem struct{ pages map[uint64][]byte } // 4 KiB pages

func newFakeMem() *fakeMem { return &fakeMem{pages: map[uint64][]byte{}} }

func (m *fakeMem) put(addr uint64, b []byte) {
	for i, c := range b {
		a := addr + uint64(i)
		p := m.pages[a>>12]
		if p == nil {
			p = make([]byte, 4096)
			m.pages[a>>12] = p
		}
		p[a&4095] = c
	}
}

func (m *fakeMem) put64(addr uint64, vs ...uint64) {
	for i, v := range vs {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], v)
		m.put(addr+8*uint64(i), b[:])
	}
}

func (m *fakeMem) ReadAt(p []byte, addr uint64) (int, error) {
	for i := range p {
		a := addr + uint64(i)
		pg := m.pages[a>>12]
		if pg == nil {
			return i, fmt.Errorf("unmapped %#x", a)
		}
		p[i] = pg[a&4095]
	}
	return len(p), nil
}

func (m *fakeMem) ReadUint64(addr uint64) (uint64, error) {
	var b [8]byte
	if _, err := m.ReadAt(b[:], addr); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// DWARF CFA opcodes and register numbers used below.
const (
	cfaDefCfa        = 0x0c
	cfaDefCfaExpr    = 0x0f
	cfaExpression    = 0x10
	cfaValOffsetSf   = 0x15
	cfaValExpression = 0x16
	cfaUndefined     = 0x07
	cfaSameValue     = 0x08
	cfaRegister      = 0x09
	cfaOffset        = 0x80 // | reg, uleb factored offset
	opBreg0          = 0x70
	opDeref          = 0x06
	opPlusUconst     = 0x23
)

type synthFDE struct {
	begin, size uint64
	insns       []byte
	aug         string // CIE augmentation, default "zR"
}

// ehFrame encodes one CIE per FDE (so that each may have its own
// augmentation) as a .eh_frame section mapped at base.
func ehFrame(base uint64, fdes []synthFDE) []byte {
	var out []byte
	u32 := func(v uint32) { out = binary.LittleEndian.AppendUint32(out, v) }
	for _, f := range fdes {
		aug := f.aug
		if aug == "" {
			aug = "zR"
		}
		cieOff := len(out)
		var cie []byte
		cie = append(cie, 1)               // version
		cie = append(cie, aug...)          // augmentation
		cie = append(cie, 0, 1, 0x78, 16)  // NUL, code align 1, data align -8, RA column 16
		cie = append(cie, 1, 0x1b)         // augmentation data: pcrel|sdata4
		cie = append(cie, cfaDefCfa, 7, 8) // CFA = rsp+8
		cie = append(cie, cfaOffset|16, 1) // rip at CFA-8
		u32(uint32(4 + len(cie)))
		u32(0)
		out = append(out, cie...)
		fdeOff := len(out)
		body := make([]byte, 0, 16+len(f.insns))
		pcField := base + uint64(fdeOff) + 8
		body = binary.LittleEndian.AppendUint32(body, uint32(int32(int64(f.begin)-int64(pcField))))
		body = binary.LittleEndian.AppendUint32(body, uint32(f.size))
		body = append(body, 0) // augmentation data length
		body = append(body, f.insns...)
		u32(uint32(4 + len(body)))
		u32(uint32(fdeOff + 4 - cieOff))
		out = append(out, body...)
	}
	return append(out, 0, 0, 0, 0)
}

type synthStack struct {
	mem  *fakeMem
	fdes frame.FrameDescriptionEntries
}

func newSynth(t *testing.T, fdes ...synthFDE) *synthStack {
	t.Helper()
	const ehAddr = 0x600000
	parsed, warns := unwind.ParseCFI(ehFrame(ehAddr, fdes), ehAddr, 0)
	if len(warns) > 0 || len(parsed) != len(fdes) {
		t.Fatalf("CFI: %d FDEs, warnings %v", len(parsed), warns)
	}
	return &synthStack{mem: newFakeMem(), fdes: parsed}
}

func (s *synthStack) unwinder() *unwind.Unwinder {
	return &unwind.Unwinder{Mem: s.mem, FindFDE: s.fdes.FDEForPC}
}

func regs(kv ...uint64) unwind.Regs {
	var r unwind.Regs
	for i := 0; i+1 < len(kv); i += 2 {
		r.Set(int(kv[i]), kv[i+1])
	}
	return r
}

// fpFunc is a function at [begin, begin+0x100) that uses a frame pointer
// from its start: CFA = rbp+16, rbp saved at CFA-16, rip at CFA-8.
func fpFunc(begin uint64) synthFDE {
	return synthFDE{begin: begin, size: 0x100, insns: []byte{cfaDefCfa, 6, 16, cfaOffset | 6, 2}}
}

func TestSynthCycleStops(t *testing.T) {
	s := newSynth(t, fpFunc(0x1000))
	// rbp points at itself: every caller has the same CFA and function.
	s.mem.put64(0x8000, 0x8000, 0x1010)
	frames, reason, err := s.unwinder().UnwindStop(regs(unwind.RIP, 0x1008, unwind.RSP, 0x7ff0, unwind.RBP, 0x8000))
	if reason != unwind.StopSameID || err == nil || len(frames) != 1 {
		t.Fatalf("%d frames, %v, %v", len(frames), reason, err)
	}
}

func TestSynthInnerCFA(t *testing.T) {
	s := newSynth(t, fpFunc(0x1000))
	// A chain that goes down the stack: 0x9000 → 0x8000 → 0x7000 → unmapped.
	s.mem.put64(0x9000, 0x8000, 0x1010)
	s.mem.put64(0x8000, 0x7000, 0x1020)
	s.mem.put64(0x7000, 0x6000, 0x1030)
	start := regs(unwind.RIP, 0x1008, unwind.RSP, 0x8ff0, unwind.RBP, 0x9000)
	frames, reason, err := s.unwinder().UnwindStop(start)
	// gdb shows the frame whose CFA is inner to its callee's, then stops.
	if reason != unwind.StopInnerCFA || len(frames) != 2 || frames[1].PC != 0x1010 {
		t.Fatalf("%d frames, %v, %v", len(frames), reason, err)
	}
	u := s.unwinder()
	u.AllowStackSwitch = true
	frames, reason, _ = u.UnwindStop(start)
	if reason != unwind.StopMemory || len(frames) != 4 {
		t.Fatalf("stack switch allowed: %d frames, %v", len(frames), reason)
	}
}

func TestSynthMaxFrames(t *testing.T) {
	s := newSynth(t, fpFunc(0x1000))
	for i := uint64(0); i < 2000; i++ {
		s.mem.put64(0x10000+16*i, 0x10000+16*(i+1), 0x1010)
	}
	u := s.unwinder()
	u.MaxFrames = 100
	frames, reason, err := u.UnwindStop(regs(unwind.RIP, 0x1008, unwind.RSP, 0xfff0, unwind.RBP, 0x10000))
	if reason != unwind.StopMaxFrames || len(frames) != 100 || err == nil {
		t.Fatalf("%d frames, %v", len(frames), reason)
	}
	u.MaxFrames = 0
	frames, reason, _ = u.UnwindStop(regs(unwind.RIP, 0x1008, unwind.RSP, 0xfff0, unwind.RBP, 0x10000))
	if reason != unwind.StopMaxFrames || len(frames) != unwind.DefaultMaxFrames {
		t.Fatalf("default bound: %d frames, %v", len(frames), reason)
	}
}

func TestSynthStops(t *testing.T) {
	s := newSynth(t,
		synthFDE{begin: 0x1000, size: 0x100},                                  // leaf: CFA rsp+8
		synthFDE{begin: 0x2000, size: 0x100, insns: []byte{cfaUndefined, 16}}, // _start-like
	)
	s.mem.put64(0x5000, 0x2010)             // return into the outermost function
	s.mem.put64(0x6000, 0)                  // return address 0
	s.mem.put(0x1000, make([]byte, 0x3000)) // code
	u := s.unwinder()

	frames, reason, err := u.UnwindStop(regs(unwind.RIP, 0x1000, unwind.RSP, 0x5000))
	if reason != unwind.StopOutermost || err != nil || len(frames) != 2 || frames[1].PC != 0x2010 || frames[1].CFA != 0x5010 {
		t.Errorf("outermost: %d frames %v %v", len(frames), reason, err)
	}
	frames, reason, err = u.UnwindStop(regs(unwind.RIP, 0x1000, unwind.RSP, 0x6000))
	if reason != unwind.StopZeroPC || err != nil || len(frames) != 2 || frames[1].PC != 0 {
		t.Errorf("zero pc: %d frames %v %v", len(frames), reason, err)
	}
	frames, reason, err = u.UnwindStop(regs(unwind.RIP, 0x1000, unwind.RSP, 0x4000)) // unmapped stack
	var se *unwind.StopError
	if reason != unwind.StopMemory || !errors.As(err, &se) || len(frames) != 1 {
		t.Errorf("unreadable: %d frames %v %v", len(frames), reason, err)
	} else if se.Frame != 0 || se.PC != 0x1000 {
		// The error names the last frame returned: the only one, at the
		// start's pc.
		t.Errorf("unreadable: stopped after frame #%d pc %#x, want #0 pc 0x1000", se.Frame, se.PC)
	}
	// Frame 0 in code without CFI or frame pointer: gdb's frameless guess.
	frames, reason, _ = u.UnwindStop(regs(unwind.RIP, 0x3000, unwind.RSP, 0x5000))
	if reason != unwind.StopOutermost || len(frames) != 2 || frames[1].Kind != unwind.KindHeuristic || frames[1].PC != 0x2010 {
		t.Errorf("no CFI, frame 0: %d frames %v", len(frames), reason)
	}
	// A return address into such code: stop there.
	s.mem.put64(0x5800, 0x3010)
	frames, reason, _ = u.UnwindStop(regs(unwind.RIP, 0x1000, unwind.RSP, 0x5800))
	if reason != unwind.StopNoUnwindInfo || len(frames) != 2 {
		t.Errorf("no CFI, caller: %d frames %v", len(frames), reason)
	}
	frames, reason, err = u.UnwindStop(regs(unwind.RSP, 0x5000)) // no pc at all
	if reason != unwind.StopNoPC || frames != nil {
		t.Errorf("no pc: %d frames (nil %v) %v, want none (nil)", len(frames), frames == nil, reason)
	}
	if !errors.As(err, &se) || se.Frame != -1 || se.PC != 0 {
		t.Errorf("no pc: %v, want a stop before any frame", err)
	}
	if _, reason, _ = (&unwind.Unwinder{Mem: s.mem}).UnwindStop(regs(unwind.RIP, 0x1000, unwind.RSP, 0x5000)); reason != unwind.StopNoUnwindInfo {
		t.Errorf("no FDE finder: %v", reason)
	}
}

// TestSynthRules exercises every register rule kind through delve.
func TestSynthRules(t *testing.T) {
	insns := []byte{
		cfaDefCfaExpr, 5, opBreg0 + 7, 0x10, opDeref, opPlusUconst, 8, // CFA = *(rsp+0x10) + 8
		cfaExpression, 3, 2, opBreg0 + 7, 0x20, // rbx saved at rsp+0x20 (overridden below)
		cfaValExpression, 12, 4, opBreg0 + 7, 0x30, opPlusUconst, 5, // r12 = rsp+0x35
		cfaValOffsetSf, 13, 0x7e, // r13 = CFA + (-2)*(-8)
		cfaRegister, 14, 0, // r14 = the callee's rax
		cfaSameValue, 15,
		cfaUndefined, 6, // rbp: delve reports DW_CFA_restore the same way; kept as unspecified
		cfaOffset | 3, 3, // rbx at CFA-24
	}
	s := newSynth(t, synthFDE{begin: 0x1000, size: 0x100, insns: insns})
	const sp = 0x7000
	s.mem.put64(sp+0x10, 0x9000) // CFA = 0x9008
	s.mem.put64(0x9008-8, 0x4242)
	s.mem.put64(0x9008-24, 0xb0b0)
	u := s.unwinder()
	start := regs(unwind.RIP, 0x1000, unwind.RSP, sp, unwind.RAX, 0xaaaa, unwind.RBX, 1, unwind.RBP, 2,
		unwind.R12, 3, unwind.R13, 4, unwind.R14, 5, unwind.R15, 0xf15, unwind.RDI, 7)
	frames, reason, err := u.UnwindStop(start)
	if len(frames) < 2 {
		t.Fatalf("%d frames %v %v", len(frames), reason, err)
	}
	f := frames[1]
	want := map[int]uint64{unwind.RIP: 0x4242, unwind.RSP: 0x9008, unwind.RBX: 0xb0b0, unwind.RBP: 2,
		unwind.R12: sp + 0x35, unwind.R13: 0x9008 + 16, unwind.R14: 0xaaaa, unwind.R15: 0xf15}
	for n, v := range want {
		if got, ok := f.Regs.Get(n); !ok || got != v {
			t.Errorf("%s = %#x (valid %v), want %#x", unwind.RegName(n), got, ok, v)
		}
	}
	if f.Regs.Has(unwind.RAX) || f.Regs.Has(unwind.RDI) {
		t.Errorf("caller-saved registers survived: %v", f.Regs)
	}
	if frames[0].CFA != 0x9008 {
		t.Errorf("CFA %#x", frames[0].CFA)
	}
}

// TestParseCFIRecovers: delve rejects a whole section for one CIE it does
// not understand; the other FDEs must survive.
func TestParseCFIRecovers(t *testing.T) {
	const ehAddr = 0x600000
	sec := ehFrame(ehAddr, []synthFDE{
		{begin: 0x1000, size: 0x10},
		{begin: 0x2000, size: 0x10, aug: "zRX"}, // unknown augmentation character
		{begin: 0x3000, size: 0x10},
	})
	fdes, warns := unwind.ParseCFI(sec, ehAddr, 0)
	var begins []uint64
	for _, f := range fdes {
		begins = append(begins, f.Begin())
	}
	if fmt.Sprint(begins) != fmt.Sprint([]uint64{0x1000, 0x3000}) {
		t.Errorf("FDEs at %#x", begins)
	}
	if len(warns) == 0 || !strings.Contains(strings.Join(warns, "\n"), "1 FDE(s) skipped") {
		t.Errorf("warnings %q", warns)
	}
	// 'S' is recognised.
	fdes, warns = unwind.ParseCFI(ehFrame(ehAddr, []synthFDE{{begin: 0x1000, size: 0x10, aug: "zRS"}}), ehAddr, 0)
	if len(fdes) != 1 || len(warns) != 0 || !unwind.IsSignalFrameFDE(fdes[0]) {
		t.Errorf("zRS: %d FDEs %v", len(fdes), warns)
	}
}

// TestParseCFIGarbage: no panic, whatever the bytes.
func TestParseCFIGarbage(t *testing.T) {
	good := ehFrame(0x600000, []synthFDE{fpFunc(0x1000), fpFunc(0x2000)})
	seed := uint32(12345)
	rnd := func() uint32 { seed = seed*1664525 + 1013904223; return seed >> 8 }
	for i := 0; i < 5000; i++ {
		b := append([]byte(nil), good...)
		for j := 0; j < 1+i%8; j++ {
			b[int(rnd())%len(b)] = byte(rnd())
		}
		if i%7 == 0 {
			b = b[:int(rnd())%len(b)]
		}
		fdes, _ := unwind.ParseCFI(b, 0x600000, 0)
		fdes2, _ := unwind.ParseCFI(b, 0, 0x1000) // as .debug_frame
		// Whatever was parsed must be usable without panics.
		m := newFakeMem()
		m.put64(0x7000, 0x7100, 0x1010, 0x7200, 0x2010)
		for _, set := range []frame.FrameDescriptionEntries{fdes, fdes2} {
			sort.Slice(set, func(i, j int) bool { return set[i].Begin() < set[j].Begin() })
			u := &unwind.Unwinder{Mem: m, FindFDE: set.FDEForPC, MaxFrames: 32}
			u.UnwindStop(regs(unwind.RIP, 0x1008, unwind.RSP, 0x7000, unwind.RBP, 0x7000))
		}
	}
}

func TestRegs(t *testing.T) {
	var r unwind.Regs
	r.Set(unwind.RBX, 5)
	r.Set(99, 1)
	if v, ok := r.Get(unwind.RBX); !ok || v != 5 || r.Has(unwind.RAX) || r.Has(99) {
		t.Fatal(r)
	}
	r.Invalidate(unwind.RBX)
	if r.Has(unwind.RBX) || r.Valid != 0 {
		t.Fatal(r)
	}
	if unwind.RegNumber("%R12") != unwind.R12 || unwind.RegName(unwind.RIP) != "rip" || unwind.RegNumber("xmm0") != -1 {
		t.Fatal("names")
	}
}

// TestSynthSignalFDE: a signal trampoline known only by its CIE's 'S'
// (not glibc's code bytes): its caller is exact, and the inner-CFA rule
// does not apply across it.
func TestSynthSignalFDE(t *testing.T) {
	s := newSynth(t,
		synthFDE{begin: 0x1000, size: 0x100}, // leaf handler: returns into the trampoline
		// trampoline: CFA = *(rsp+8) (the interrupted rsp), rip at *(rsp+16)
		synthFDE{begin: 0x2000, size: 0x10, aug: "zRS", insns: []byte{
			cfaDefCfaExpr, 3, opBreg0 + 7, 8, opDeref,
			cfaExpression, 16, 2, opBreg0 + 7, 16,
		}},
		fpFunc(0x3000), // interrupted function with a frame pointer
	)
	s.mem.put(0x1000, make([]byte, 0x3000))
	s.mem.put64(0x9000, 0x2000)         // handler's return address: the trampoline
	s.mem.put64(0x9010, 0x8000, 0x3004) // at rsp+8 and rsp+16 of the trampoline: interrupted rsp (below!) and pc
	s.mem.put64(0x8010, 0xa000, 0x3050) // [rbp]=0x8010: caller's rbp and return address
	frames, reason, err := s.unwinder().UnwindStop(regs(unwind.RIP, 0x1000, unwind.RSP, 0x9000, unwind.RBP, 0x8010))
	if len(frames) < 4 {
		t.Fatalf("%d frames %v %v", len(frames), reason, err)
	}
	if !frames[1].Sigtramp || frames[1].SigFrame != nil || !frames[2].Exact || frames[2].PC != 0x3004 || frames[3].PC != 0x3050 {
		t.Errorf("frames %+v", frames[:4])
	}
	if frames[1].CFA != 0x8000 {
		t.Errorf("trampoline CFA %#x", frames[1].CFA)
	}
}

// TestParseCFISkips64Bit: a 64-bit DWARF record (length 0xffffffff, then
// an 8-byte length: DWARF 4 §7.2.2, §7.4) which delve cannot read is
// skipped by its own length, with a warning, and the records after it are
// read; a 64-bit record cut short ends the section with a warning.
func TestParseCFISkips64Bit(t *testing.T) {
	const ehAddr = 0x600000
	rec64 := func(n int) []byte {
		b := binary.LittleEndian.AppendUint32(nil, 0xffffffff)
		b = binary.LittleEndian.AppendUint64(b, uint64(n))
		return append(b, make([]byte, n)...)
	}
	for _, n := range []int{0, 16, 37} {
		prefix := rec64(n)
		// The records after the prefix keep their addresses (pc-relative
		// encodings): the section starts len(prefix) bytes earlier.
		sec := append(prefix, ehFrame(ehAddr, []synthFDE{fpFunc(0x1000), fpFunc(0x2000)})...)
		fdes, warns := unwind.ParseCFI(sec, ehAddr-uint64(len(prefix)), 0)
		var begins []uint64
		for _, f := range fdes {
			begins = append(begins, f.Begin())
		}
		if fmt.Sprint(begins) != fmt.Sprint([]uint64{0x1000, 0x2000}) {
			t.Errorf("64-bit record of %d bytes first: FDEs at %#x (%q)", n, begins, warns)
		}
		if len(warns) != 1 || !strings.Contains(warns[0], "1 64-bit DWARF CFI records skipped") {
			t.Errorf("64-bit record of %d bytes: warnings %q", n, warns)
		}
	}
	good := ehFrame(ehAddr, []synthFDE{fpFunc(0x1000)})
	for name, tail := range map[string][]byte{
		"header cut":   rec64(0)[:11],
		"length past":  append(rec64(8)[:12], make([]byte, 7)...),
		"length ≫ all": binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint32(nil, 0xffffffff), 1<<62),
	} {
		fdes, warns := unwind.ParseCFI(append(append([]byte(nil), good...), tail...), ehAddr, 0)
		if len(fdes) != 1 || fdes[0].Begin() != 0x1000 || !strings.Contains(strings.Join(warns, "\n"), "truncated 64-bit CFI record") {
			t.Errorf("%s: %d FDEs, warnings %q", name, len(fdes), warns)
		}
	}
	// Exactly long enough: skipped, not truncated.
	for _, n := range []int{0, 8} {
		fdes, warns := unwind.ParseCFI(append(append([]byte(nil), good...), rec64(n)...), ehAddr, 0)
		if len(fdes) != 1 || len(warns) != 1 || !strings.Contains(warns[0], "1 64-bit DWARF CFI records skipped") {
			t.Errorf("a whole 64-bit record of %d bytes last: %d FDEs, warnings %q", n, len(fdes), warns)
		}
	}
}

// TestMergeCFI: a debug file's .debug_frame adds the functions the
// module's .eh_frame lacks; where both describe code (overlapping ranges,
// not only equal ones) the module's entry stays; the result is sorted.
func TestMergeCFI(t *testing.T) {
	const ehAddr = 0x600000
	parse := func(fs ...synthFDE) frame.FrameDescriptionEntries {
		t.Helper()
		fdes, warns := unwind.ParseCFI(ehFrame(ehAddr, fs), ehAddr, 0)
		if len(warns) != 0 || len(fdes) != len(fs) {
			t.Fatalf("synthetic CFI: %d FDEs %q", len(fdes), warns)
		}
		sort.Slice(fdes, func(i, j int) bool { return fdes[i].Begin() < fdes[j].Begin() })
		return fdes
	}
	ranges := func(fdes frame.FrameDescriptionEntries) string {
		var b strings.Builder
		for _, f := range fdes {
			fmt.Fprintf(&b, "%#x-%#x ", f.Begin(), f.End())
		}
		return b.String()
	}
	have := parse(synthFDE{begin: 0x1000, size: 0x40}, synthFDE{begin: 0x3000, size: 0x40})
	for _, c := range []struct {
		more []synthFDE
		want string
	}{
		{nil, "0x1000-0x1040 0x3000-0x3040 "},
		// equal, overlapping at either end, inside: all the module's
		{[]synthFDE{{begin: 0x1000, size: 0x40}, {begin: 0x103f, size: 0x10}, {begin: 0x2ff0, size: 0x11}, {begin: 0x3010, size: 0x8}}, "0x1000-0x1040 0x3000-0x3040 "},
		// touching is not overlapping; the gaps and the ends are added, sorted
		{[]synthFDE{{begin: 0x4000, size: 0x10}, {begin: 0x1040, size: 0x10}, {begin: 0x500, size: 0x100}, {begin: 0x2ff0, size: 0x10}}, "0x500-0x600 0x1000-0x1040 0x1040-0x1050 0x2ff0-0x3000 0x3000-0x3040 0x4000-0x4010 "},
	} {
		var more frame.FrameDescriptionEntries
		if len(c.more) > 0 {
			more, _ = unwind.ParseCFI(ehFrame(ehAddr, c.more), ehAddr, 0)
		}
		got := unwind.MergeCFI(have, more)
		if ranges(got) != c.want {
			t.Errorf("merge of %s: %s, want %s", ranges(more), ranges(got), c.want)
		}
		for i := range got {
			pc := got[i].Begin()
			if f, err := got.FDEForPC(pc); err != nil || f.Begin() != pc {
				t.Errorf("merge of %s: no FDE found at %#x", ranges(more), pc)
			}
		}
	}
	if got := unwind.MergeCFI(nil, have); ranges(got) != ranges(have) {
		t.Errorf("merge into nothing: %s", ranges(got))
	}
}
