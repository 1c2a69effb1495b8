package corefile

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/dsecore/dsecore/internal/mmap"
)

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
