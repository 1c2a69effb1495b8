package unwind

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/go-delve/delve/pkg/dwarf/frame"
)

// EHFrameIndex finds the FDE of a pc through the object's .eh_frame_hdr
// binary search table (what the runtime unwinder itself uses) and parses
// only that FDE and its CIE, with delve's parser, on first use: an
// unwind of a few frames in a large program does not parse the CFI of
// every function. A pc the table does not cover is the caller's to look
// up in the whole CFI (LoadCFI: .debug_frame, objects without the table).
type EHFrameIndex struct {
	table   []byte // (initial location, FDE address) pairs, sdata4 each, relative to hdrAddr
	n       int
	hdrAddr uint64 // .eh_frame_hdr's link-time address
	eh      []byte // .eh_frame
	ehAddr  uint64 // .eh_frame's link-time address
	bias    uint64

	mu    sync.Mutex
	byOff map[int]*frame.FrameDescriptionEntry
}

// errNotIndexed: the table does not cover the pc (or its FDE could not be
// read): look in the whole CFI.
var errNotIndexed = errors.New("pc not covered by .eh_frame_hdr")

// ErrNotIndexed reports whether err means "look in the whole CFI".
func ErrNotIndexed(err error) bool { return errors.Is(err, errNotIndexed) }

// DW_EH_PE encodings the table uses (binutils ld, gold, lld and mold all
// write a datarel sdata4 table with a udata4 count).
const (
	pePCRelSData4   = 0x1b
	peUData4        = 0x03
	peDataRelSData4 = 0x3b
	peOmit          = 0xff
)

// NewEHFrameIndex reads the table of an object whose file is image (the
// whole file, e.g. mapped) and whose load bias is bias. It fails, and the
// caller uses LoadCFI, when the object has no table or one in another
// encoding.
func NewEHFrameIndex(f *elf.File, image []byte, bias uint64) (*EHFrameIndex, error) {
	hdr, eh := f.Section(".eh_frame_hdr"), f.Section(".eh_frame")
	if hdr == nil || eh == nil || hdr.Type == elf.SHT_NOBITS || eh.Type == elf.SHT_NOBITS || f.Class != elf.ELFCLASS64 {
		return nil, errors.New("no .eh_frame_hdr and .eh_frame")
	}
	if hdr.Flags&elf.SHF_COMPRESSED != 0 || eh.Flags&elf.SHF_COMPRESSED != 0 {
		return nil, errors.New("compressed CFI sections")
	}
	in := func(s *elf.Section) ([]byte, bool) {
		end := s.Offset + s.Size
		if end < s.Offset || end > uint64(len(image)) {
			return nil, false
		}
		return image[s.Offset:end], true
	}
	h, ok1 := in(hdr)
	e, ok2 := in(eh)
	if !ok1 || !ok2 || len(h) < 12 {
		return nil, errors.New("CFI sections outside the file")
	}
	if h[0] != 1 || h[1] != pePCRelSData4 || h[2] != peUData4 || h[3] != peDataRelSData4 {
		return nil, fmt.Errorf(".eh_frame_hdr version %d, encodings %#x %#x %#x: not indexed", h[0], h[1], h[2], h[3])
	}
	// eh_frame_ptr (pc-relative to its own field) must name .eh_frame.
	if ptr := uint64(int64(hdr.Addr+4) + int64(int32(binary.LittleEndian.Uint32(h[4:])))); ptr != eh.Addr {
		return nil, fmt.Errorf(".eh_frame_hdr points at %#x, .eh_frame is at %#x", ptr, eh.Addr)
	}
	n := int(binary.LittleEndian.Uint32(h[8:]))
	if n < 0 || 12+8*n > len(h) {
		return nil, fmt.Errorf(".eh_frame_hdr: %d entries do not fit in %d bytes", n, len(h))
	}
	return &EHFrameIndex{table: h[12 : 12+8*n], n: n, hdrAddr: hdr.Addr, eh: e, ehAddr: eh.Addr, bias: bias,
		byOff: map[int]*frame.FrameDescriptionEntry{}}, nil
}

func (x *EHFrameIndex) entry(i int) (loc, fde uint64) {
	b := x.table[8*i:]
	loc = uint64(int64(x.hdrAddr) + int64(int32(binary.LittleEndian.Uint32(b))))
	fde = uint64(int64(x.hdrAddr) + int64(int32(binary.LittleEndian.Uint32(b[4:]))))
	return loc, fde
}

// FDEForPC is the FDE covering the runtime pc, or an error for which
// ErrNotIndexed holds.
func (x *EHFrameIndex) FDEForPC(pc uint64) (*frame.FrameDescriptionEntry, error) {
	lpc := pc - x.bias
	// The last entry whose initial location is <= lpc.
	lo, hi := 0, x.n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if loc, _ := x.entry(mid); loc <= lpc {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		return nil, errNotIndexed
	}
	_, addr := x.entry(lo - 1)
	if addr < x.ehAddr || addr-x.ehAddr >= uint64(len(x.eh)) {
		return nil, errNotIndexed
	}
	off := int(addr - x.ehAddr)
	x.mu.Lock()
	fde, seen := x.byOff[off]
	x.mu.Unlock()
	if !seen {
		fde = x.parse(off)
		x.mu.Lock()
		x.byOff[off] = fde
		x.mu.Unlock()
	}
	if fde == nil || !fde.Cover(pc) {
		return nil, errNotIndexed
	}
	return fde, nil
}

// parse reads the FDE at off and its CIE as parseEach reads any FDE: a
// two-record section placed so that pc-relative encodings resolve to the
// same runtime addresses. nil when either cannot be read.
func (x *EHFrameIndex) parse(off int) *frame.FrameDescriptionEntry {
	f, ok := recordAt(x.eh, off, true)
	if !ok || f.isCIE {
		return nil
	}
	c, ok := recordAt(x.eh, f.cieOff, true)
	if !ok || !c.isCIE {
		return nil
	}
	fdes, err := parseFDE(x.eh, c, f, true, x.ehAddr+x.bias, 0)
	if err != nil || len(fdes) != 1 {
		return nil
	}
	return fdes[0]
}
