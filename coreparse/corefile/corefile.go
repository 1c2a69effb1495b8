// Package corefile reads an x86-64 Linux ELF core file: its notes (threads
// and their registers, process info, the signal record, auxv, file
// mappings) and the process memory in its PT_LOAD segments.
//
// The file is opened read-only and never read whole: its headers and notes
// are parsed from a mapping that Open drops before it returns, and process
// memory is read with pread(2) through a bounded page cache (pagecache.go),
// so the core costs the process at most the cache's budget of RSS whatever
// its size. Bytes of file-backed mappings that the kernel did not dump
// (text, read-only data) come from the mapped file itself through a
// resolver. Every read of memory that is not there is an error value
// (*MemError wrapping ErrUnmapped), never a panic.
package corefile

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/dsecore/dsecore/internal/cachefile"
	"github.com/dsecore/dsecore/internal/mmap"
)

// Note types not named by debug/elf.
const (
	NT_PRSTATUS   = 1
	NT_FPREGSET   = 2
	NT_PRPSINFO   = 3
	NT_AUXV       = 6
	NT_X86_XSTATE = 0x202
	NT_SIGINFO    = 0x53494749
	NT_FILE       = 0x46494c45
)

// Auxiliary vector tags.
const (
	AT_PHDR         = 3
	AT_PHENT        = 4
	AT_PHNUM        = 5
	AT_PAGESZ       = 6
	AT_BASE         = 7
	AT_ENTRY        = 9
	AT_EXECFN       = 31
	AT_SYSINFO_EHDR = 33
)

// Regs is the kernel's user_regs_struct for x86-64, in its order.
type Regs struct {
	R15, R14, R13, R12, Rbp, Rbx, R11, R10, R9, R8, Rax, Rcx, Rdx, Rsi, Rdi,
	OrigRax, Rip, Cs, Eflags, Rsp, Ss, FsBase, GsBase, Ds, Es, Fs, Gs uint64
}

// Thread is one NT_PRSTATUS note and the notes that follow it.
type Thread struct {
	LWP     int
	PPID    int
	Regs    Regs
	CurSig  int
	SigPend uint64
	SigHold uint64
	FPRegs  []byte // NT_FPREGSET (512 bytes, fxsave layout), nil when absent
	XState  []byte // NT_X86_XSTATE, nil when absent
}

// Pthread is the thread's pthread_t: its TCB address, fs_base on x86-64 glibc.
func (t *Thread) Pthread() uint64 { return t.Regs.FsBase }

// PSInfo is NT_PRPSINFO.
type PSInfo struct {
	State byte
	SName byte
	Zomb  byte
	Nice  int8
	Flag  uint64
	UID   uint32
	GID   uint32
	PID   int32
	PPID  int32
	PGRP  int32
	SID   int32
	Fname string // the command name (comm of the thread group leader)
	Args  string // the start of the command line
	// ArgsCut says Args may be cut short: the kernel copies at most 79
	// bytes of the command line into pr_psargs (ELF_PRARGSZ, NULs turned
	// to spaces), and a command line that ended within them ends in a
	// space (its last NUL); one that filled them may go on, its last word
	// may be part of a longer one.
	ArgsCut bool
}

// SigInfo is NT_SIGINFO (the fields of siginfo_t a debugger uses).
type SigInfo struct {
	Signo, Errno, Code int32
	Addr               uint64 // si_addr for SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP
	PID                int32  // si_pid for signals sent by a process
	UID                uint32
}

// AuxvEntry is one NT_AUXV pair.
type AuxvEntry struct{ Tag, Val uint64 }

// FileMapping is one NT_FILE entry.
type FileMapping struct {
	Start, End uint64
	Offset     uint64 // in bytes
	Path       string
}

// Segment is one PT_LOAD program header of the core.
type Segment struct {
	Vaddr, Memsz, Filesz, Off uint64
	Flags                     elf.ProgFlag
	avail                     uint64 // bytes of Filesz really present in the (maybe truncated) file
}

// Core is an opened core file.
type Core struct {
	Path     string
	Threads  []Thread
	PSInfo   *PSInfo
	SigInfo  *SigInfo
	Auxv     []AuxvEntry
	Files    []FileMapping
	Segments []Segment // sorted by Vaddr
	Warnings []string

	data   []byte     // the bytes given to NewCore; nil for a core Open opened
	file   *os.File   // the core Open opened (read-only), read through pages
	stamp  mmap.Stamp // of file when it was opened
	pages  *pageCache // of file
	closed atomic.Bool

	mu       sync.Mutex
	resolver func(string) (string, bool)
	opened   map[string]*mappedFile // files behind undumped pages (nil: unavailable)
	shrank   map[string]string      // file → the first read that found it shorter (Changed)
}

// mappedFile is a file behind undumped file-backed pages, read with pread
// through a page cache of its own.
type mappedFile struct {
	f     *os.File
	pages *pageCache
}

// mappedFileCacheBytes is the page cache of each file behind undumped
// pages: code pages the core left out (a library's text) are read
// thousands of times when unwinding tasks, a few pages of them.
const mappedFileCacheBytes = 1 << 20

// ErrUnmapped is wrapped by every error for memory the core cannot supply.
var ErrUnmapped = errors.New("memory not in the core")

// MemError is a failed memory read.
type MemError struct {
	Addr uint64
	Len  int
	Err  error
}

func (e *MemError) Error() string {
	return fmt.Sprintf("cannot read %d bytes at %#x: %v", e.Len, e.Addr, e.Err)
}

func (e *MemError) Unwrap() error { return e.Err }

// Open opens the core read-only and parses its headers and notes.
func Open(path string) (*Core, error) {
	return OpenCache(path, DefaultCacheBytes)
}

// OpenCache is Open with a page cache of cacheBytes for process memory.
func OpenCache(path string, cacheBytes int) (*Core, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s: is a directory, not a core file", path)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if st.Size() == 0 {
		return nil, fmt.Errorf("%s: empty file", path)
	}
	f, err := openReadOnly(path) // O_RDONLY: the core is never written
	if err != nil {
		return nil, err // os.Open's error names the file (permission denied, …)
	}
	if st, err = f.Stat(); err != nil {
		f.Close()
		return nil, err
	}
	// The headers and notes are parsed (by NewCore's parse) from the few
	// parts of the file they are in, read with pread: a core is never
	// mapped, so neither its size nor a change to it while it is read can
	// cost address space or raise SIGBUS.
	size := st.Size()
	if n, ok := cachefile.ContentSize(f); ok {
		size = n // a decompressed core in the cache: its checksums follow it
	}
	c, err := parse(path, &fileBytes{f: f, n: uint64(size)})
	if err != nil {
		f.Close()
		return nil, err
	}
	c.data = nil
	c.file = f
	c.stamp = mmap.StampOf(st)
	c.pages = newPageCache(path, newCoreFile(f), size, cacheBytes)
	return c, nil
}

// bytesAt is what parse reads the core from: the bytes in [off, off+n)
// (fewer at the end of the file), copied out or not.
type bytesAt interface {
	size() uint64
	at(off, n uint64) ([]byte, error)
}

// memBytes is a core held in memory.
type memBytes []byte

func (m memBytes) size() uint64 { return uint64(len(m)) }
func (m memBytes) at(off, n uint64) ([]byte, error) {
	if off > uint64(len(m)) {
		return nil, nil
	}
	return m[off : off+min(n, uint64(len(m))-off)], nil
}

// fileBytes is a core file read with pread.
type fileBytes struct {
	f *os.File
	n uint64
}

func (fb *fileBytes) size() uint64 { return fb.n }
func (fb *fileBytes) at(off, n uint64) ([]byte, error) {
	if off > fb.n {
		return nil, nil
	}
	n = min(n, fb.n-off)
	if n > maxHeaderRead {
		return nil, fmt.Errorf("%s: a header or note area of %d bytes at %#x: more than a core's (%d)", fb.f.Name(), n, off, maxHeaderRead)
	}
	b := make([]byte, n)
	k, err := fb.f.ReadAt(b, int64(off))
	if uint64(k) < n {
		if err == nil || err == io.EOF {
			err = fmt.Errorf("%w: %s is shorter than when it was opened", errShrank, fb.f.Name())
		}
		return nil, fmt.Errorf("reading %s at %#x: %w", fb.f.Name(), off+uint64(k), err)
	}
	return b, nil
}

// maxHeaderRead bounds one read of program headers or notes: a core of
// 65,535 program headers has 3.5 MiB of them, a thread's notes are a few
// KiB (10,000 threads' are tens of MiB).
const maxHeaderRead = 256 << 20

// openReadOnly opens path read-only. A path /dev/fd/N (or /proc/self/fd/N)
// names a descriptor this process inherited: it is duplicated, not opened
// again through /proc, whose magic link would check the file's permissions
// anew. The node agent's analysis child, which drops its privileges after
// its parent opened the core, reads it so.
func openReadOnly(path string) (*os.File, error) {
	for _, prefix := range []string{"/dev/fd/", "/proc/self/fd/"} {
		if rest, ok := strings.CutPrefix(path, prefix); ok {
			if n, err := strconv.Atoi(rest); err == nil && n > 2 {
				fd, err := syscall.Dup(n)
				if err != nil {
					return nil, &os.PathError{Op: "dup", Path: path, Err: err}
				}
				syscall.CloseOnExec(fd)
				return os.NewFile(uintptr(fd), path), nil
			}
		}
	}
	return os.Open(path)
}

// NewCore parses a core held in memory (tests, fuzzing).
func NewCore(name string, data []byte) (*Core, error) {
	c, err := parse(name, memBytes(data))
	if err != nil {
		return nil, err
	}
	c.data = data
	return c, nil
}

// Close releases the core file, its page cache and any files mapped for
// undumped pages. Reads after Close fail (ErrUnmapped and os.ErrClosed).
func (c *Core) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.mu.Lock()
	for _, mf := range c.opened {
		if mf != nil {
			mf.pages.close()
			mf.f.Close()
		}
	}
	c.opened = nil
	c.mu.Unlock()
	if c.pages != nil {
		c.pages.close()
	}
	if c.file != nil {
		return c.file.Close()
	}
	return nil
}

// errClosed is the error of a read of a closed core.
var errClosed = fmt.Errorf("%w: %w", ErrUnmapped, os.ErrClosed)

func (c *Core) warnf(format string, args ...any) {
	c.Warnings = append(c.Warnings, fmt.Sprintf(format, args...))
}

func parse(path string, src bytesAt) (c *Core, err error) {
	defer func() {
		if r := recover(); r != nil {
			c, err = nil, fmt.Errorf("%s: malformed core: %v", path, r)
		}
	}()
	c = &Core{Path: path}
	size := src.size()
	data, err := src.at(0, 64)
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
			sh0, err := src.at(shoff+44, 4)
			if err != nil {
				return nil, err
			}
			phnum = uint64(le.Uint32(sh0))
		}
	}
	if phoff > size || phnum*phentsize > size-phoff {
		return nil, fmt.Errorf("%s: program headers beyond the end of the file (truncated core?)", path)
	}
	phdrs, err := src.at(phoff, phnum*phentsize)
	if err != nil {
		return nil, err
	}
	// One segment per header at most (a core of ten thousand task stacks
	// has twenty thousand): sized once, not regrown.
	c.Segments = make([]Segment, 0, phnum)
	for i := uint64(0); i < phnum; i++ {
		ph := phdrs[i*phentsize:]
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
			notes, err := src.at(off, end-off)
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
	sort.Slice(c.Segments, func(i, j int) bool { return c.Segments[i].Vaddr < c.Segments[j].Vaddr })
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

// SetFileResolver sets how paths named by NT_FILE map to local files, for
// file-backed pages the kernel did not dump.
func (c *Core) SetFileResolver(f func(corePath string) (localPath string, ok bool)) {
	c.mu.Lock()
	c.resolver = f
	c.opened = nil
	c.mu.Unlock()
}

// SegmentAt returns the PT_LOAD segment containing addr.
func (c *Core) SegmentAt(addr uint64) (*Segment, bool) {
	i := sort.Search(len(c.Segments), func(i int) bool { return c.Segments[i].Vaddr+c.Segments[i].Memsz > addr })
	if i < len(c.Segments) && addr >= c.Segments[i].Vaddr {
		return &c.Segments[i], true
	}
	return nil, false
}

// FileAt returns the NT_FILE mapping containing addr.
func (c *Core) FileAt(addr uint64) (*FileMapping, bool) {
	for i := range c.Files {
		if addr >= c.Files[i].Start && addr < c.Files[i].End {
			return &c.Files[i], true
		}
	}
	return nil, false
}

// Mapped reports whether addr lies in some PT_LOAD segment.
func (c *Core) Mapped(addr uint64) bool {
	_, ok := c.SegmentAt(addr)
	return ok
}

// Readable reports whether one byte at addr can be read.
func (c *Core) Readable(addr uint64) bool {
	var b [1]byte
	_, err := c.ReadAt(b[:], addr)
	return err == nil
}

// ReadAt reads process memory at addr, across segment edges.
func (c *Core) ReadAt(p []byte, addr uint64) (int, error) {
	if c.closed.Load() {
		return 0, &MemError{Addr: addr, Len: len(p), Err: errClosed}
	}
	n := 0
	for n < len(p) {
		a := addr + uint64(n)
		if a < addr {
			return n, &MemError{Addr: a, Len: len(p) - n, Err: ErrUnmapped}
		}
		k, err := c.readOne(p[n:], a)
		n += k
		if err != nil {
			return n, &MemError{Addr: a + uint64(k), Len: len(p) - n, Err: err}
		}
	}
	return n, nil
}

// readOne reads from the segment holding addr, up to its end.
func (c *Core) readOne(p []byte, addr uint64) (int, error) {
	s, ok := c.SegmentAt(addr)
	if !ok {
		return 0, ErrUnmapped
	}
	off := addr - s.Vaddr
	want := min(uint64(len(p)), s.Memsz-off)
	if off < s.avail {
		q := p[:min(want, s.avail-off)]
		if c.pages == nil {
			return copy(q, c.data[s.Off+off:]), nil
		}
		k, err := c.pages.readAt(q, int64(s.Off+off))
		if err != nil {
			if c.closed.Load() {
				return k, errClosed
			}
			c.noteShrank(c.Path, err)
			return k, fmt.Errorf("%w (%w)", ErrUnmapped, err)
		}
		return k, nil
	}
	// Not in the file: undumped (beyond Filesz) or truncated.
	limit := s.Memsz
	if off < s.Filesz {
		limit = s.Filesz // truncated part: only the file can supply it
		if s.Flags&elf.PF_W != 0 {
			// Writable memory the process may have changed (.data, the
			// GOT): the file holds its first values, not the process's.
			return 0, fmt.Errorf("%w (core truncated)", ErrUnmapped)
		}
	}
	want = min(want, limit-off)
	if k, err := c.readMappedFile(p[:want], addr); err == nil {
		return k, nil
	}
	if off < s.Filesz {
		return 0, fmt.Errorf("%w (core truncated)", ErrUnmapped)
	}
	if _, fileBacked := c.FileAt(addr); !fileBacked {
		// Anonymous memory the kernel chose not to dump (a PROT_NONE guard
		// page, say): p_memsz beyond p_filesz is zero-filled by ELF's
		// rules, and gdb reads it as zeros too.
		clear(p[:want])
		return int(want), nil
	}
	return 0, fmt.Errorf("%w (file-backed page not dumped, and the file is not available)", ErrUnmapped)
}

// Dumped reports whether the byte at addr is in the core file itself (not
// zero-filled, not read from a mapped file).
func (c *Core) Dumped(addr uint64) bool {
	s, ok := c.SegmentAt(addr)
	return ok && addr-s.Vaddr < s.avail
}

// readMappedFile reads undumped bytes of a file-backed mapping from the file.
func (c *Core) readMappedFile(p []byte, addr uint64) (int, error) {
	fm, ok := c.FileAt(addr)
	if !ok {
		return 0, ErrUnmapped
	}
	c.mu.Lock()
	if c.resolver == nil || c.closed.Load() {
		c.mu.Unlock()
		return 0, ErrUnmapped
	}
	if c.opened == nil {
		c.opened = map[string]*mappedFile{}
	}
	mf, seen := c.opened[fm.Path]
	if !seen {
		// A path the resolver does not know yet is asked again later: the
		// modules are being found (their headers read) when a core cut
		// short first sends a read here.
		if local, ok := c.resolver(fm.Path); ok {
			mf = openMappedFile(local)
			c.opened[fm.Path] = mf
		}
	}
	c.mu.Unlock()
	want := min(uint64(len(p)), fm.End-addr)
	off := fm.Offset + (addr - fm.Start)
	if mf == nil || off > uint64(mf.pages.size) || uint64(mf.pages.size)-off < want {
		return 0, ErrUnmapped
	}
	// (A Close meanwhile closes the cache under its locks: the read fails.)
	k, err := mf.pages.readAt(p[:want], int64(off))
	if err != nil {
		c.noteShrank(mf.pages.name, err)
		return 0, fmt.Errorf("%w (%w)", ErrUnmapped, err)
	}
	return k, nil
}

// noteShrank remembers the first read that found its file (name) shorter
// than when it was opened, for Changed.
func (c *Core) noteShrank(name string, err error) {
	if !errors.Is(err, errShrank) {
		return
	}
	c.mu.Lock()
	if c.shrank == nil {
		c.shrank = map[string]string{}
	}
	if _, ok := c.shrank[name]; !ok {
		c.shrank[name] = fmt.Sprintf("%s: changed while being read (shorter than when it was opened): %v", name, err)
	}
	c.mu.Unlock()
}

// Changed says what changed, since Open, in the files the core's memory is
// read from, one line each (nil when nothing did): the core itself (its
// size or modification time differ now, or a read found it shorter) and
// the files behind undumped pages found shorter. Answers made from a core
// that changed may not be the core's: a face warns.
func (c *Core) Changed() []string {
	var out []string
	coreChanged := false
	if c.file != nil {
		if st, err := c.file.Stat(); err == nil {
			if why := c.stamp.Differs(mmap.StampOf(st)); why != "" {
				out = append(out, fmt.Sprintf("%s: the core changed while it was read (%s): answers may not be the core's", c.Path, why))
				coreChanged = true
			}
		}
	}
	c.mu.Lock()
	for name, line := range c.shrank {
		if !(coreChanged && name == c.Path) {
			out = append(out, line)
		}
	}
	c.mu.Unlock()
	sort.Strings(out)
	return out
}

// openMappedFile opens a file behind undumped pages (nil when it cannot
// be): read with pread, never mapped, so a library replaced or cut
// shorter while the core is read is an error of the read, not SIGBUS.
func openMappedFile(path string) *mappedFile {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil
	}
	return &mappedFile{f: f, pages: newPageCache(path, newCoreFile(f), st.Size(), mappedFileCacheBytes)}
}

// ReadUint64 reads a little-endian 64-bit word.
func (c *Core) ReadUint64(addr uint64) (uint64, error) {
	var b [8]byte
	if _, err := c.ReadAt(b[:], addr); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// ReadUint32 reads a little-endian 32-bit word.
func (c *Core) ReadUint32(addr uint64) (uint32, error) {
	var b [4]byte
	if _, err := c.ReadAt(b[:], addr); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b[:]), nil
}

// ReadCString reads a NUL-terminated string of at most max bytes.
func (c *Core) ReadCString(addr uint64, max int) (string, error) {
	var out []byte
	buf := make([]byte, 64)
	for len(out) < max {
		n, err := c.ReadAt(buf[:min(len(buf), max-len(out))], addr+uint64(len(out)))
		if i := bytes.IndexByte(buf[:n], 0); i >= 0 {
			return string(append(out, buf[:i]...)), nil
		}
		out = append(out, buf[:n]...)
		if err != nil {
			// A string ending at the end of readable memory.
			if n == 0 && len(out) == 0 {
				return "", err
			}
			if n == 0 {
				return string(out), err
			}
		}
	}
	return string(out), nil
}
