package unwind

import (
	"debug/elf"
	"encoding/binary"
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
)

// FuzzParseCFI: any .eh_frame bytes give FDEs and warnings, never a panic.
func FuzzParseCFI(f *testing.F) {
	sc := fixture.Get(f).Scenario(f, fixture.FieldCrash)
	for _, p := range []string{sc.Lib, sc.Exe} {
		ef, err := elf.Open(p)
		if err != nil {
			f.Fatal(err)
		}
		if s := ef.Section(".eh_frame"); s != nil {
			if b, err := s.Data(); err == nil {
				f.Add(b, s.Addr)
			}
		}
		ef.Close()
	}
	f.Add([]byte{}, uint64(0))
	f.Fuzz(func(t *testing.T, data []byte, addr uint64) {
		if len(data) > 1<<20 {
			return
		}
		fdes, _ := ParseCFI(data, addr, 0)
		for _, fde := range fdes {
			IsSignalFrameFDE(fde)
		}
	})
}

// bytesMem is target memory made of the fuzzer's bytes, mapped at base.
type bytesMem struct {
	base uint64
	b    []byte
}

func (m bytesMem) ReadAt(p []byte, addr uint64) (int, error) {
	if addr < m.base || addr-m.base >= uint64(len(m.b)) {
		return 0, errUnmapped
	}
	n := copy(p, m.b[addr-m.base:])
	if n < len(p) {
		return n, errUnmapped
	}
	return n, nil
}

func (m bytesMem) ReadUint64(addr uint64) (uint64, error) {
	var b [8]byte
	if _, err := m.ReadAt(b[:], addr); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

type memErr string

func (e memErr) Error() string { return string(e) }

const errUnmapped = memErr("unmapped")

// FuzzUnwindStack: the unwinder on a random stack, with no CFI (the frame
// pointer and signal-frame paths), ends within MaxFrames without a panic;
// a stack whose frame pointers loop ends too.
func FuzzUnwindStack(f *testing.F) {
	loop := make([]byte, 64)
	binary.LittleEndian.PutUint64(loop[0:], 0x10000) // rbp → itself
	binary.LittleEndian.PutUint64(loop[8:], 0x401000)
	f.Add(loop, uint64(0x401000), uint64(0x10000), uint64(0x10000))
	// The kernel's sigreturn trampoline: mov $15,%rax; syscall.
	tramp := append([]byte{0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05}, make([]byte, 1024)...)
	f.Add(tramp, uint64(0x10000), uint64(0x10100), uint64(0))
	f.Fuzz(func(t *testing.T, stack []byte, pc, sp, bp uint64) {
		if len(stack) > 1<<20 {
			return
		}
		m := bytesMem{base: 0x10000, b: stack}
		var r Regs
		r.Set(RIP, pc)
		r.Set(RSP, sp)
		r.Set(RBP, bp)
		frames, _, _ := (&Unwinder{Mem: m, MaxFrames: 256}).UnwindStop(r)
		if len(frames) > 256 {
			t.Fatalf("%d frames past the limit", len(frames))
		}
		// The same with the mapping known (one executable mapping: the
		// frame-pointer chain's checks) and a symbol for every pc.
		u := &Unwinder{Mem: m, MaxFrames: 256,
			MappingAt: func(a uint64) (Mapping, bool) {
				return Mapping{Lo: m.base, Hi: m.base + uint64(len(m.b)), Exec: true}, a >= m.base && a-m.base < uint64(len(m.b))
			},
			FuncStart: func(pc uint64) (uint64, bool) { return pc &^ 0xff, true }}
		if frames, _, _ := u.UnwindStop(r); len(frames) > 256 {
			t.Fatalf("%d frames past the limit", len(frames))
		}
		SigtrampStart(m, pc)
		ReadSignalFrame(m, sp)
	})
}
