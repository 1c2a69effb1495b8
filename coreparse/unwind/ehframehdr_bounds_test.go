package unwind_test

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"testing"

	"github.com/dsecore/dsecore/coreparse/unwind"
	"github.com/dsecore/dsecore/internal/testsupport/testcore"
)

// TestEHFrameIndexHeaderBounds: the .eh_frame_hdr table's bounds, on
// copies of a real program's file patched as the LSB's .eh_frame_hdr
// layout says (version, three encodings, eh_frame_ptr, fde_count, then
// fde_count pairs of 4 bytes each):
//   - a file that ends exactly where .eh_frame ends is indexed, and its
//     lookups find the FDEs the whole-section parse finds;
//   - a header of exactly 12 bytes whose count is 0 is a valid table of
//     no entries: indexed, and no pc is covered;
//   - a count one more than the section holds is refused.
func TestEHFrameIndexHeaderBounds(t *testing.T) {
	path := testcore.Make(t, testcore.NullDeref).Exe
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const bias = 0x7f0000000000
	open := func(t *testing.T, image []byte) (*elf.File, *elf.Section, *elf.Section) {
		t.Helper()
		f, err := elf.NewFile(bytes.NewReader(image))
		if err != nil {
			t.Fatal(err)
		}
		hdr, eh := f.Section(".eh_frame_hdr"), f.Section(".eh_frame")
		if hdr == nil || eh == nil {
			t.Fatalf("%s: no .eh_frame_hdr or .eh_frame", path)
		}
		return f, hdr, eh
	}
	f0, hdr0, eh0 := open(t, orig)
	all, err := unwind.LoadCFI(f0, bias)
	if err != nil {
		t.Fatal(err)
	}
	if hdr0.Offset+hdr0.Size > eh0.Offset {
		t.Fatalf("%s: .eh_frame_hdr (%#x+%#x) does not precede .eh_frame (%#x)", path, hdr0.Offset, hdr0.Size, eh0.Offset)
	}
	count := binary.LittleEndian.Uint32(orig[hdr0.Offset+8:])
	if want := (hdr0.Size - 12) / 8; uint64(count) != want {
		t.Fatalf("%s: fde_count %d, the section holds %d entries", path, count, want)
	}

	t.Run("file ends with .eh_frame", func(t *testing.T) {
		image := orig[:eh0.Offset+eh0.Size]
		f, _, _ := open(t, orig) // the section headers are past the cut
		x, err := unwind.NewEHFrameIndex(f, image, bias)
		if err != nil {
			t.Fatalf("a file ending at .eh_frame's last byte: %v", err)
		}
		found := 0
		for _, want := range all {
			got, err := x.FDEForPC(want.Begin())
			if err != nil {
				continue // .debug_frame only: not in the table
			}
			if got.Begin() != want.Begin() || got.End() != want.End() {
				t.Errorf("pc %#x: FDE %#x..%#x, LoadCFI's %#x..%#x", want.Begin()-bias, got.Begin()-bias, got.End()-bias, want.Begin()-bias, want.End()-bias)
			}
			found++
		}
		if found != int(count) {
			t.Errorf("%d FDEs found through the table, fde_count says %d", found, count)
		}
	})

	t.Run("no entries", func(t *testing.T) {
		image := bytes.Clone(orig)
		binary.LittleEndian.PutUint32(image[hdr0.Offset+8:], 0)
		f, hdr, _ := open(t, image)
		hdr.Size = 12
		x, err := unwind.NewEHFrameIndex(f, image, bias)
		if err != nil {
			t.Fatalf("a 12-byte header with fde_count 0: %v", err)
		}
		for _, want := range all {
			if _, err := x.FDEForPC(want.Begin()); !unwind.ErrNotIndexed(err) {
				t.Fatalf("pc %#x in an empty table: %v, want not indexed", want.Begin()-bias, err)
			}
		}
	})

	t.Run("one entry too many", func(t *testing.T) {
		image := bytes.Clone(orig)
		binary.LittleEndian.PutUint32(image[hdr0.Offset+8:], count+1)
		f, _, _ := open(t, image)
		if _, err := unwind.NewEHFrameIndex(f, image, bias); err == nil {
			t.Fatalf("fde_count %d in a section of %d entries: indexed, want an error", count+1, count)
		}
	})
}
