package unwind

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/dsecore/dsecore/internal/mmap"
	"github.com/go-delve/delve/pkg/dwarf/frame"
)

// LoadCFI reads the call frame information of one ELF object: the FDEs of
// .eh_frame (pc-relative encodings resolved against the section's runtime
// address, Addr+bias) and of .debug_frame (absolute addresses plus bias),
// merged and sorted, in runtime addresses.
//
// delve's parser gives up on a whole section at the first entry it does
// not understand (an unsupported pointer encoding or augmentation, 64-bit
// DWARF) and may panic on malformed input. LoadCFI recovers, and then parses
// the section entry by entry, skipping only the entries delve rejects; see
// LoadCFIWarnings for what was skipped. The error is non-nil only when the
// object has CFI sections and not a single FDE could be read from them.
func LoadCFI(f *elf.File, bias uint64) (frame.FrameDescriptionEntries, error) {
	fdes, _, err := LoadCFIWarnings(f, bias)
	return fdes, err
}

// LoadCFIWarnings is LoadCFI that also returns a warning for each skipped
// part of the CFI (one line per section and reason, with counts).
func LoadCFIWarnings(f *elf.File, bias uint64) (frame.FrameDescriptionEntries, []string, error) {
	if f == nil {
		return nil, nil, errors.New("unwind: nil ELF file")
	}
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 {
		return nil, nil, fmt.Errorf("unwind: %v %v object: only x86-64 is supported", f.Class, f.Machine)
	}
	var (
		all      frame.FrameDescriptionEntries
		warnings []string
		errs     []string
	)
	for _, name := range []string{".eh_frame", ".debug_frame"} {
		sec := f.Section(name)
		if sec == nil || sec.Type == elf.SHT_NOBITS || sec.Size == 0 {
			continue
		}
		data, err := sec.Data()
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		eh := name == ".eh_frame"
		var ehAddr, staticBase uint64
		if eh {
			ehAddr = sec.Addr + bias
		} else {
			staticBase = bias
		}
		fdes, w := parseSection(name, data, eh, ehAddr, staticBase)
		warnings = append(warnings, w...)
		if !eh {
			fdes = dropDiscarded(fdes, bias)
			// Where both sections describe a function keep .eh_frame (what
			// the runtime unwinder uses): FDEForPC's binary search needs
			// entries that do not overlap.
			fdes = dropOverlapping(fdes, all)
		}
		if len(fdes) == 0 {
			errs = append(errs, fmt.Sprintf("%s: no FDE could be parsed", name))
			continue
		}
		all = all.Append(fdes) // Append sorts and drops duplicates; .eh_frame wins
	}
	if len(all) == 0 && len(errs) > 0 {
		return nil, warnings, fmt.Errorf("unwind: %s", strings.Join(errs, "; "))
	}
	if len(all) > 0 {
		all = all.Append(nil) // sorted even with one section
	}
	return all, warnings, nil
}

// ParseCFI parses one .eh_frame (ehFrameAddr = its runtime address, not 0)
// or .debug_frame (ehFrameAddr = 0; staticBase = load bias) section image
// with the same recovery as LoadCFI. The result is sorted.
func ParseCFI(data []byte, ehFrameAddr, staticBase uint64) (frame.FrameDescriptionEntries, []string) {
	eh := ehFrameAddr != 0
	name := ".debug_frame"
	if eh {
		name = ".eh_frame"
		staticBase = 0
	}
	fdes, w := parseSection(name, data, eh, ehFrameAddr, staticBase)
	return fdes.Append(nil), w
}

// IsSignalFrameFDE reports whether fde's CIE carries the 'S' augmentation:
// the FDE describes a signal trampoline, its caller's pc is the address of
// an interrupted instruction (not a return address).
func IsSignalFrameFDE(fde *frame.FrameDescriptionEntry) bool {
	if fde == nil || fde.CIE == nil {
		return false
	}
	a := fde.CIE.Augmentation
	return strings.HasPrefix(a, "z") && strings.ContainsRune(a[1:], 'S')
}

// parseSection runs delve's parser over a whole section and, when that
// fails, entry by entry.
func parseSection(name string, data []byte, eh bool, ehAddr, staticBase uint64) (frame.FrameDescriptionEntries, []string) {
	recs, walkWarn := walkRecords(data, eh)
	needsRewrite := false
	for _, r := range recs {
		if r.isCIE && r.version == 4 {
			needsRewrite = true
		}
	}
	if !needsRewrite && len(walkWarn) == 0 {
		fdes, err := safeParse(data, staticBase, ehAddr)
		if err == nil {
			return fdes, nil
		}
		walkWarn = append(walkWarn, fmt.Sprintf("%s: delve's parser rejected the section (%v); parsing entry by entry", name, err))
	}
	fdes, w := parseEach(name, data, recs, eh, ehAddr, staticBase)
	return fdes, append(walkWarn, w...)
}

// safeParse is frame.Parse made panic-free.
func safeParse(data []byte, staticBase, ehAddr uint64) (fdes frame.FrameDescriptionEntries, err error) {
	defer func() {
		if r := recover(); r != nil {
			mmap.Repanic(r) // a file that changed under the reader is the command's error, not this decoder's
			fdes, err = nil, fmt.Errorf("delve frame parser panicked: %v", r)
		}
	}()
	return frame.Parse(data, binary.LittleEndian, staticBase, 8, ehAddr)
}

// cfiRecord is one CIE or FDE of a CFI section, found by its length
// framing only (the contents are delve's business).
type cfiRecord struct {
	off     int  // section offset of the length field
	end     int  // section offset just past the record
	isCIE   bool //
	cieOff  int  // FDE: section offset of its CIE
	version byte // CIE: version
}

// walkRecords splits a CFI section into records. 64-bit DWARF records,
// which delve cannot read, are skipped with a warning.
func walkRecords(data []byte, eh bool) ([]cfiRecord, []string) {
	var recs []cfiRecord
	var warns []string
	skipped64 := 0
	for off := 0; off+4 <= len(data); {
		length := uint64(binary.LittleEndian.Uint32(data[off:]))
		if length == 0 { // terminator (or padding)
			off += 4
			continue
		}
		if length == 0xffffffff {
			if off+12 > len(data) {
				warns = append(warns, fmt.Sprintf("truncated 64-bit CFI record at %#x", off))
				break
			}
			l64 := binary.LittleEndian.Uint64(data[off+4:])
			if l64 > uint64(len(data)) || off+12+int(l64) > len(data) {
				warns = append(warns, fmt.Sprintf("truncated 64-bit CFI record at %#x", off))
				break
			}
			skipped64++
			off += 12 + int(l64)
			continue
		}
		r, ok := recordAt(data, off, eh)
		if !ok {
			warns = append(warns, fmt.Sprintf("CFI record at %#x has impossible length %#x; rest of section ignored", off, length))
			break
		}
		recs = append(recs, r)
		off = r.end
	}
	if skipped64 > 0 {
		warns = append(warns, fmt.Sprintf("%d 64-bit DWARF CFI records skipped (unsupported by delve)", skipped64))
	}
	return recs, warns
}

// recordAt reads the framing of the 32-bit CIE or FDE at off: false when
// its length is impossible (a terminator, a 64-bit record, past the end).
func recordAt(data []byte, off int, eh bool) (cfiRecord, bool) {
	if off < 0 || off+8 > len(data) {
		return cfiRecord{}, false
	}
	length := uint64(binary.LittleEndian.Uint32(data[off:]))
	if length < 4 || length > uint64(len(data)-off-4) {
		return cfiRecord{}, false
	}
	id := binary.LittleEndian.Uint32(data[off+4:])
	r := cfiRecord{off: off, end: off + 4 + int(length)}
	if (eh && id == 0) || (!eh && id == 0xffffffff) {
		r.isCIE = true
		if off+8 < len(data) {
			r.version = data[off+8]
		}
	} else if eh {
		r.cieOff = off + 4 - int(id)
	} else {
		r.cieOff = int(id)
	}
	return r, true
}

// parseEach parses every FDE on its own, as a two-record section holding
// its CIE and itself, placed so that pc-relative encodings resolve to the
// same runtime addresses as in the original section.
func parseEach(name string, data []byte, recs []cfiRecord, eh bool, ehAddr, staticBase uint64) (frame.FrameDescriptionEntries, []string) {
	cies := map[int]cfiRecord{}
	for _, r := range recs {
		if r.isCIE {
			cies[r.off] = r
		}
	}
	var out frame.FrameDescriptionEntries
	reasons := map[string]int{}
	for _, r := range recs {
		if r.isCIE {
			continue
		}
		cie, ok := cies[r.cieOff]
		if !ok {
			reasons["FDE refers to no CIE"]++
			continue
		}
		fdes, err := parseFDE(data, cie, r, eh, ehAddr, staticBase)
		if err != nil {
			reasons[err.Error()]++
			continue
		}
		out = append(out, fdes...)
	}
	var warns []string
	keys := make([]string, 0, len(reasons))
	for k := range reasons {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		warns = append(warns, fmt.Sprintf("%s: %d FDE(s) skipped: %s", name, reasons[k], k))
	}
	return out, warns
}

// parseFDE parses one FDE r with its CIE cie (records of data) as a
// two-record section placed so that pc-relative encodings resolve to the
// same runtime addresses as in the original section (delve gives one FDE,
// or none for an empty one).
func parseFDE(data []byte, cie, r cfiRecord, eh bool, ehAddr, staticBase uint64) (frame.FrameDescriptionEntries, error) {
	cieBytes := data[cie.off:cie.end]
	if !eh && cie.version == 4 {
		var err error
		if cieBytes, err = downgradeCIEv4(cieBytes); err != nil {
			return nil, err
		}
	}
	fdeBytes := append([]byte(nil), data[r.off:r.end]...)
	buf := make([]byte, 0, len(cieBytes)+len(fdeBytes))
	buf = append(buf, cieBytes...)
	if eh {
		// The CIE pointer is the distance from the pointer field back to the CIE.
		binary.LittleEndian.PutUint32(fdeBytes[4:], uint32(len(cieBytes)+4))
	} else {
		binary.LittleEndian.PutUint32(fdeBytes[4:], 0)
	}
	buf = append(buf, fdeBytes...)
	var base uint64
	if eh {
		base = ehAddr + uint64(r.off) - uint64(len(cieBytes))
		if base == 0 {
			base = 1 // never happens for a real section; keeps delve in .eh_frame mode
		}
	}
	return safeParse(buf, staticBase, base)
}

// downgradeCIEv4 rewrites a .debug_frame version-4 CIE (which has
// address_size and segment_selector_size after the augmentation string,
// fields delve does not read) as the equivalent version-3 CIE.
func downgradeCIEv4(b []byte) ([]byte, error) {
	// length(4) id(4) version(1) augmentation(NUL-terminated) addrsize(1) segsize(1) ...
	i := 9
	for i < len(b) && b[i] != 0 {
		i++
	}
	i++ // past NUL
	if i+2 > len(b) {
		return nil, errors.New("truncated version 4 CIE")
	}
	if b[i] != 8 || b[i+1] != 0 {
		return nil, fmt.Errorf("version 4 CIE with address size %d, segment size %d", b[i], b[i+1])
	}
	out := make([]byte, 0, len(b)-2)
	out = append(out, b[:i]...)
	out = append(out, b[i+2:]...)
	out[8] = 3
	binary.LittleEndian.PutUint32(out, uint32(len(out)-4))
	return out, nil
}

// dropDiscarded removes .debug_frame FDEs of functions the linker
// discarded: their start address was resolved to 0.
func dropDiscarded(fdes frame.FrameDescriptionEntries, bias uint64) frame.FrameDescriptionEntries {
	out := fdes[:0]
	for _, f := range fdes {
		if f.Begin()-bias == 0 {
			continue
		}
		out = append(out, f)
	}
	return out
}

// dropOverlapping removes the FDEs of add that overlap one of have
// (sorted).
func dropOverlapping(add, have frame.FrameDescriptionEntries) frame.FrameDescriptionEntries {
	if len(have) == 0 {
		return add
	}
	out := add[:0]
	for _, f := range add {
		// first entry of have ending after f begins
		i := sort.Search(len(have), func(i int) bool { return have[i].End() > f.Begin() })
		if i < len(have) && have[i].Begin() < f.End() && f.End() > f.Begin() {
			continue
		}
		out = append(out, f)
	}
	return out
}

// MergeCFI adds to fdes (sorted, as LoadCFI returns them) the entries of
// more that describe code fdes does not: a separate debug file's
// .debug_frame beside the module's own .eh_frame (gdb reads both). The
// result is sorted; fdes's entries win where both describe a function.
func MergeCFI(fdes, more frame.FrameDescriptionEntries) frame.FrameDescriptionEntries {
	more = dropOverlapping(append(frame.FrameDescriptionEntries(nil), more...), fdes)
	if len(more) == 0 {
		return fdes
	}
	return fdes.Append(more)
}
