package unwind_test

import (
	"bytes"
	"debug/elf"
	"testing"

	"github.com/dsecore/dsecore/coreparse/unwind"
	"github.com/dsecore/dsecore/internal/mmap"
	"github.com/dsecore/dsecore/internal/testsupport/testcore"
)

// TestEHFrameIndexMatchesLoadCFI: for every FDE the whole-section parse
// finds in objects with only .eh_frame (glibc, the C++ runtime, a real Ceph
// daemon and its library, a program of our own), the .eh_frame_hdr lookup
// of its first and last byte gives the same FDE: same range, same CIE and
// FDE instructions, the same signal-frame flag. A pc outside every FDE is
// not indexed (the caller then looks in the whole CFI).
func TestEHFrameIndexMatchesLoadCFI(t *testing.T) {
	paths := []string{
		testcore.Make(t, testcore.NullDeref).Exe,
		"/lib/x86_64-linux-gnu/libc.so.6",
		"/lib64/ld-linux-x86-64.so.2",
		"/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
		"/usr/bin/ceph-mon",
		"/usr/lib/x86_64-linux-gnu/ceph/libceph-common.so.2",
	}
	for _, path := range paths {
		f, err := elf.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		image, err := mmap.File(path)
		if err != nil {
			t.Fatal(err)
		}
		const bias = 0x7f0000000000
		all, err := unwind.LoadCFI(f, bias)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		x, err := unwind.NewEHFrameIndex(f, image, bias)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		checked := 0
		for _, want := range all {
			for _, pc := range []uint64{want.Begin(), want.End() - 1} {
				got, err := x.FDEForPC(pc)
				if err != nil {
					t.Errorf("%s: pc %#x (FDE %#x..%#x): %v", path, pc-bias, want.Begin()-bias, want.End()-bias, err)
					continue
				}
				if got.Begin() != want.Begin() || got.End() != want.End() || !bytes.Equal(got.Instructions, want.Instructions) ||
					!bytes.Equal(got.CIE.InitialInstructions, want.CIE.InitialInstructions) || got.CIE.CodeAlignmentFactor != want.CIE.CodeAlignmentFactor ||
					got.CIE.DataAlignmentFactor != want.CIE.DataAlignmentFactor || got.CIE.ReturnAddressRegister != want.CIE.ReturnAddressRegister ||
					unwind.IsSignalFrameFDE(got) != unwind.IsSignalFrameFDE(want) {
					t.Errorf("%s: pc %#x: FDE %#x..%#x, LoadCFI's %#x..%#x (or their instructions differ)", path, pc-bias, got.Begin()-bias, got.End()-bias, want.Begin()-bias, want.End()-bias)
				}
				checked++
			}
		}
		if checked < 10 {
			t.Errorf("%s: only %d FDE ends checked", path, checked)
		}
		if _, err := x.FDEForPC(bias - 1); !unwind.ErrNotIndexed(err) {
			t.Errorf("%s: a pc below the object: %v, want not indexed", path, err)
		}
		t.Logf("%s: %d FDEs, %d lookups equal", path, len(all), checked)
		f.Close()
		mmap.Unmap(image)
	}
}
