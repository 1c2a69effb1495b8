package coreparse

// The core's own account of what was loaded: the NT_FILE mappings grouped
// by path, an ELF image read from the core or its file, and the dynamic
// linker's link map (r_debug) walked from the executable's DT_DEBUG.

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dsecore/dsecore/coreparse/corefile"
)

// mappedObject gathers the NT_FILE mappings of one path.
type mappedObject struct {
	path       string
	start, end uint64
	base       uint64 // start of the mapping at file offset 0
	hasBase    bool
}

func groupFileMappings(files []corefile.FileMapping) []*mappedObject {
	byPath := map[string]*mappedObject{}
	var order []*mappedObject
	for _, fm := range files {
		o := byPath[fm.Path]
		if o == nil {
			o = &mappedObject{path: fm.Path, start: fm.Start, end: fm.End}
			byPath[fm.Path] = o
			order = append(order, o)
		}
		o.start = min(o.start, fm.Start)
		o.end = max(o.end, fm.End)
		if fm.Offset == 0 && (!o.hasBase || fm.Start < o.base) {
			o.base, o.hasBase = fm.Start, true
		}
	}
	return order
}

// elfImage is what can be learnt about an ELF object from the core's memory
// at its load address: its program headers and build-id.
type elfImage struct {
	phdrs   []elf.Prog64
	bias    uint64
	buildID []byte
}

const pageMask = 0xfff

// readELFImageFile reads the program headers of the first ELF file among
// paths, as mapped at base (no build-id: the core has none to compare); nil
// when none is an ELF file.
func readELFImageFile(paths []string, base uint64) (*elfImage, string) {
	for _, path := range paths {
		f, err := elf.Open(path)
		if err != nil {
			continue
		}
		img := &elfImage{}
		minVaddr := ^uint64(0)
		for _, p := range f.Progs {
			img.phdrs = append(img.phdrs, elf.Prog64{Type: uint32(p.Type), Flags: uint32(p.Flags), Off: p.Off, Vaddr: p.Vaddr,
				Paddr: p.Paddr, Filesz: p.Filesz, Memsz: p.Memsz, Align: p.Align})
			if p.Type == elf.PT_LOAD && p.Vaddr < minVaddr {
				minVaddr = p.Vaddr
			}
		}
		f.Close()
		if minVaddr == ^uint64(0) {
			continue
		}
		img.bias = base - (minVaddr &^ pageMask)
		return img, path
	}
	return nil, ""
}

// readELFImage parses the ELF header and program headers mapped at base. The
// kernel dumps the first page of every ELF mapping precisely so this works.
func readELFImage(c *corefile.Core, base uint64) (*elfImage, error) {
	var eh elf.Header64
	buf := make([]byte, binary.Size(eh))
	if _, err := c.ReadAt(buf, base); err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(buf, []byte(elf.ELFMAG)) {
		return nil, fmt.Errorf("no ELF header at %#x", base)
	}
	if err := binary.Read(bytes.NewReader(buf), binary.LittleEndian, &eh); err != nil {
		return nil, err
	}
	if eh.Phnum == 0 || eh.Phnum > 256 || eh.Phentsize != uint16(binary.Size(elf.Prog64{})) {
		return nil, fmt.Errorf("implausible program headers at %#x (phnum %d)", base, eh.Phnum)
	}
	pb := make([]byte, int(eh.Phnum)*int(eh.Phentsize))
	if _, err := c.ReadAt(pb, base+eh.Phoff); err != nil {
		return nil, err
	}
	img := &elfImage{phdrs: make([]elf.Prog64, eh.Phnum)}
	if err := binary.Read(bytes.NewReader(pb), binary.LittleEndian, img.phdrs); err != nil {
		return nil, err
	}
	minVaddr := ^uint64(0)
	for _, p := range img.phdrs {
		if elf.ProgType(p.Type) == elf.PT_LOAD && p.Vaddr < minVaddr {
			minVaddr = p.Vaddr
		}
	}
	if minVaddr == ^uint64(0) {
		return nil, fmt.Errorf("no PT_LOAD in ELF image at %#x", base)
	}
	img.bias = base - (minVaddr &^ pageMask)
	for _, p := range img.phdrs {
		if elf.ProgType(p.Type) != elf.PT_NOTE {
			continue
		}
		addr := p.Vaddr + img.bias
		// Only trust bytes the kernel really dumped: a build-id read back
		// from a local file would compare that file with itself.
		if !dumped(c, addr, p.Filesz) || p.Filesz > 1<<16 {
			continue
		}
		nb := make([]byte, p.Filesz)
		if _, err := c.ReadAt(nb, addr); err != nil {
			continue
		}
		if id := parseBuildIDNotes(nb); id != nil {
			img.buildID = id
			break
		}
	}
	return img, nil
}

func dumped(c *corefile.Core, addr, size uint64) bool {
	s, ok := c.SegmentAt(addr)
	return ok && addr+size <= s.Vaddr+s.Filesz
}

// parseBuildIDNotes finds NT_GNU_BUILD_ID in a PT_NOTE segment's bytes.
func parseBuildIDNotes(b []byte) []byte {
	for len(b) >= 12 {
		namesz := binary.LittleEndian.Uint32(b[0:])
		descsz := binary.LittleEndian.Uint32(b[4:])
		typ := binary.LittleEndian.Uint32(b[8:])
		nameEnd := 12 + align4(uint64(namesz))
		descEnd := nameEnd + align4(uint64(descsz))
		if descEnd > uint64(len(b)) {
			return nil
		}
		if typ == 3 /* NT_GNU_BUILD_ID */ && namesz == 4 && string(b[12:15]) == "GNU" {
			return append([]byte(nil), b[nameEnd:nameEnd+uint64(descsz)]...)
		}
		b = b[descEnd:]
	}
	return nil
}

func align4(n uint64) uint64 { return (n + 3) &^ 3 }

// linkMapEntry is one struct link_map of the dynamic linker.
type linkMapEntry struct {
	addr uint64 // l_addr: the load bias
	name string // l_name
	ld   uint64 // l_ld: the module's dynamic section
}

// rDebugAddr finds r_debug through the executable's DT_DEBUG entry.
func rDebugAddr(c *corefile.Core, exe *elfImage) (uint64, error) {
	var dyn uint64
	for _, p := range exe.phdrs {
		if elf.ProgType(p.Type) == elf.PT_DYNAMIC {
			dyn = p.Vaddr + exe.bias
		}
	}
	if dyn == 0 {
		return 0, errors.New("executable has no PT_DYNAMIC (static binary?)")
	}
	var rdebug uint64
	for i := uint64(0); i < 512; i++ {
		tag, err := c.ReadUint64(dyn + 16*i)
		if err != nil {
			return 0, fmt.Errorf("reading dynamic section: %w", err)
		}
		if tag == uint64(elf.DT_NULL) {
			break
		}
		if tag == uint64(elf.DT_DEBUG) {
			rdebug, err = c.ReadUint64(dyn + 16*i + 8)
			if err != nil {
				return 0, err
			}
		}
	}
	if rdebug == 0 {
		return 0, errors.New("DT_DEBUG is empty: the dynamic linker had not filled r_debug")
	}
	return rdebug, nil
}

// readLinkMap walks r_debug.r_map from the executable's DT_DEBUG entry.
func readLinkMap(c *corefile.Core, exe *elfImage) ([]linkMapEntry, error) {
	rdebug, err := rDebugAddr(c, exe)
	if err != nil {
		return nil, err
	}
	lm, err := c.ReadUint64(rdebug + 8) // r_debug.r_map
	if err != nil {
		return nil, fmt.Errorf("reading r_debug: %w", err)
	}
	var out []linkMapEntry
	seen := map[uint64]bool{}
	for lm != 0 && !seen[lm] && len(out) < 4096 {
		seen[lm] = true
		var w [4]uint64
		for i := range w {
			if w[i], err = c.ReadUint64(lm + 8*uint64(i)); err != nil {
				return out, fmt.Errorf("reading link_map at %#x: %w", lm, err)
			}
		}
		name, _ := c.ReadCString(w[1], 4096)
		out = append(out, linkMapEntry{addr: w[0], name: name, ld: w[2]})
		lm = w[3]
	}
	return out, nil
}
