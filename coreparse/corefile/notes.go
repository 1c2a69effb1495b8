package corefile

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"sort"
)

func parse(path string, src bytesAt) (c *Core, err error) {
	defer func() {
		if r := recover(); r != nil {
			c, err = nil, fmt.Errorf("%s: malformed core: %v", path, r)
		}
	}()
	c = &Core{Path: path}
	size := src.size()
	data, err := src.at(nil, 0, 64)
	if err != nil {
		return nil, err
	}
	if len(data) < 64 || !bytes.Equal(data[:4], []byte(elf.ELFMAG)) {
		return nil, fmt.Errorf("%s: not an ELF file", path)
	}
	if elf.Class(data[elf.EI_CLASS]) != elf.ELFCLASS64 || elf.Data(data[elf.EI_DATA]) != elf.ELFDATA2LSB {
		return nil, fmt.Errorf("%s: not a 64-bit little-endian ELF file", path)
	}
	le := binary.LittleEndian
	if t := elf.Type(le.Uint16(data[16:])); t != elf.ET_CORE {
		return nil, fmt.Errorf("%s: ELF type %v, not a core file (ET_CORE)", path, t)
	}
	if m := elf.Machine(le.Uint16(data[18:])); m != elf.EM_X86_64 {
		return nil, fmt.Errorf("%s: machine %v, only x86-64 cores are supported", path, m)
	}
	phoff, phentsize, phnum := le.Uint64(data[32:]), uint64(le.Uint16(data[54:])), uint64(le.Uint16(data[56:]))
	if phentsize < 56 {
		return nil, fmt.Errorf("%s: bad program header size %d", path, phentsize)
	}
	if phnum == 0xffff { // PN_XNUM: the real count is in section 0's sh_info
		shoff := le.Uint64(data[40:])
		if shoff+64 <= size && shoff+64 > shoff {
			sh0, err := src.at(nil, shoff+44, 4)
			if err != nil {
				return nil, err
			}
			phnum = uint64(le.Uint32(sh0))
		}
	}
	if phoff > size || phnum*phentsize > size-phoff {
		return nil, fmt.Errorf("%s: program headers beyond the end of the file (truncated core?)", path)
	}
	// One segment per header at most (a core of ten thousand task stacks
	// has twenty thousand): sized once, not regrown. The headers are read
	// a chunk at a time into one buffer (20,000 headers are 1.1 MB: read
	// at once, fresh pages faulted in only to be read once).
	c.Segments = make([]Segment, 0, phnum)
	const chunk = 1024
	var buf []byte
	var phdrs []byte
	for i := uint64(0); i < phnum; i++ {
		if i%chunk == 0 {
			if phdrs, err = src.at(buf, phoff+i*phentsize, min(chunk, phnum-i)*phentsize); err != nil {
				return nil, err
			}
			buf = phdrs
		}
		ph := phdrs[(i%chunk)*phentsize:]
		typ := elf.ProgType(le.Uint32(ph[0:]))
		flags := elf.ProgFlag(le.Uint32(ph[4:]))
		off, vaddr, filesz, memsz := le.Uint64(ph[8:]), le.Uint64(ph[16:]), le.Uint64(ph[32:]), le.Uint64(ph[40:])
		switch typ {
		case elf.PT_NOTE:
			if off >= size {
				c.warnf("core truncated: note segment at file offset %#x is missing", off)
				continue
			}
			end := off + filesz
			if end > size || end < off {
				c.warnf("core truncated: note segment cut at %d of %d bytes", size-off, filesz)
				end = size
			}
			notes, err := src.at(nil, off, end-off)
			if err != nil {
				return nil, err
			}
			c.parseNotes(notes)
		case elf.PT_LOAD:
			s := Segment{Vaddr: vaddr, Memsz: memsz, Filesz: filesz, Off: off, Flags: flags, avail: filesz}
			if filesz > memsz {
				s.Filesz, s.avail = memsz, memsz
			}
			if off >= size {
				s.avail = 0
			} else if off+s.Filesz > size || off+s.Filesz < off {
				s.avail = size - off
			}
			if s.avail < s.Filesz {
				c.warnf("core truncated: segment %#x-%#x has %d of its %d bytes", vaddr, vaddr+memsz, s.avail, s.Filesz)
			}
			c.Segments = append(c.Segments, s)
		}
	}
	// The kernel writes them in address order: sorted already, as a rule.
	if !sort.SliceIsSorted(c.Segments, func(i, j int) bool { return c.Segments[i].Vaddr < c.Segments[j].Vaddr }) {
		sort.Slice(c.Segments, func(i, j int) bool { return c.Segments[i].Vaddr < c.Segments[j].Vaddr })
	}
	return c, nil
}

func (c *Core) parseNotes(b []byte) {
	le := binary.LittleEndian
	var cur *Thread
	for len(b) > 0 {
		if len(b) < 12 {
			c.warnf("note area: %d trailing bytes", len(b))
			return
		}
		namesz, descsz, typ := uint64(le.Uint32(b[0:])), uint64(le.Uint32(b[4:])), le.Uint32(b[8:])
		nameEnd := 12 + align4(namesz)
		descEnd := nameEnd + align4(descsz)
		if nameEnd > uint64(len(b)) || nameEnd+descsz > uint64(len(b)) || descEnd < nameEnd {
			c.warnf("note area: note type %#x truncated", typ)
			return
		}
		name := string(bytes.TrimRight(b[12:12+namesz], "\x00"))
		desc := b[nameEnd : nameEnd+descsz]
		if descEnd > uint64(len(b)) {
			descEnd = uint64(len(b))
		}
		b = b[descEnd:]
		if name != "CORE" && name != "LINUX" {
			continue
		}
		switch typ {
		case NT_PRSTATUS:
			if len(desc) < 112+27*8 {
				c.warnf("NT_PRSTATUS of %d bytes, want 336", len(desc))
				continue
			}
			t := Thread{
				CurSig:  int(le.Uint16(desc[12:])),
				SigPend: le.Uint64(desc[16:]),
				SigHold: le.Uint64(desc[24:]),
				LWP:     int(int32(le.Uint32(desc[32:]))),
				PPID:    int(int32(le.Uint32(desc[36:]))),
			}
			binary.Read(bytes.NewReader(desc[112:112+27*8]), le, &t.Regs)
			c.Threads = append(c.Threads, t)
			cur = &c.Threads[len(c.Threads)-1]
		case NT_FPREGSET:
			if name == "CORE" && cur != nil {
				cur.FPRegs = append([]byte(nil), desc...)
			}
		case NT_X86_XSTATE:
			if cur != nil {
				cur.XState = append([]byte(nil), desc...)
			}
		case NT_PRPSINFO:
			if len(desc) < 136 {
				c.warnf("NT_PRPSINFO of %d bytes, want 136", len(desc))
				continue
			}
			c.PSInfo = &PSInfo{
				State: desc[0], SName: desc[1], Zomb: desc[2], Nice: int8(desc[3]),
				Flag: le.Uint64(desc[8:]), UID: le.Uint32(desc[16:]), GID: le.Uint32(desc[20:]),
				PID: int32(le.Uint32(desc[24:])), PPID: int32(le.Uint32(desc[28:])),
				PGRP: int32(le.Uint32(desc[32:])), SID: int32(le.Uint32(desc[36:])),
				Fname: cstr(desc[40:56]), Args: string(bytes.TrimRight([]byte(cstr(desc[56:136])), " ")),
			}
			c.PSInfo.ArgsCut = len(cstr(desc[56:136])) >= 79 && desc[56+78] != ' '

		case NT_SIGINFO:
			if len(desc) < 24 {
				c.warnf("NT_SIGINFO of %d bytes", len(desc))
				continue
			}
			si := DecodeSigInfo(desc)
			c.SigInfo = &si
		case NT_AUXV:
			for i := 0; i+16 <= len(desc); i += 16 {
				e := AuxvEntry{le.Uint64(desc[i:]), le.Uint64(desc[i+8:])}
				c.Auxv = append(c.Auxv, e)
				if e.Tag == 0 {
					break
				}
			}
		case NT_FILE:
			c.parseFileNote(desc)
		}
	}
}

// DecodeSigInfo reads the fields of a kernel siginfo_t.
func DecodeSigInfo(b []byte) SigInfo {
	le := binary.LittleEndian
	si := SigInfo{Signo: int32(le.Uint32(b[0:])), Errno: int32(le.Uint32(b[4:])), Code: int32(le.Uint32(b[8:]))}
	if len(b) < 24 {
		return si
	}
	switch {
	case si.Code > 0 && (si.Signo == 11 || si.Signo == 7 || si.Signo == 4 || si.Signo == 8 || si.Signo == 5):
		si.Addr = le.Uint64(b[16:])
	default:
		si.PID = int32(le.Uint32(b[16:]))
		si.UID = le.Uint32(b[20:])
	}
	return si
}

func (c *Core) parseFileNote(d []byte) {
	le := binary.LittleEndian
	if len(d) < 16 {
		c.warnf("NT_FILE of %d bytes", len(d))
		return
	}
	count, page := le.Uint64(d[0:]), le.Uint64(d[8:])
	if count > uint64(len(d))/24 {
		c.warnf("NT_FILE claims %d mappings in %d bytes", count, len(d))
		return
	}
	names := d[16+24*count:]
	for i := uint64(0); i < count; i++ {
		e := d[16+24*i:]
		nul := bytes.IndexByte(names, 0)
		if nul < 0 {
			c.warnf("NT_FILE: names end after %d of %d mappings", i, count)
			return
		}
		c.Files = append(c.Files, FileMapping{Start: le.Uint64(e[0:]), End: le.Uint64(e[8:]), Offset: le.Uint64(e[16:]) * page,
			Path: string(names[:nul])})
		names = names[nul+1:]
	}
}

func align4(n uint64) uint64 { return (n + 3) &^ 3 }

func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// AuxvValue returns the value of an auxv tag.
func (c *Core) AuxvValue(tag uint64) (uint64, bool) {
	for _, e := range c.Auxv {
		if e.Tag == tag {
			return e.Val, true
		}
	}
	return 0, false
}
