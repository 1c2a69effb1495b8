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
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
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
// (fewer at the end of the file), copied out (into buf when it has room:
// the caller's to reuse) or not.
type bytesAt interface {
	size() uint64
	at(buf []byte, off, n uint64) ([]byte, error)
}

// memBytes is a core held in memory.
type memBytes []byte

func (m memBytes) size() uint64 { return uint64(len(m)) }

func (m memBytes) at(_ []byte, off, n uint64) ([]byte, error) {
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

func (fb *fileBytes) at(buf []byte, off, n uint64) ([]byte, error) {
	if off > fb.n {
		return nil, nil
	}
	n = min(n, fb.n-off)
	if n > maxHeaderRead {
		return nil, fmt.Errorf("%s: a header or note area of %d bytes at %#x: more than a core's (%d)", fb.f.Name(), n, off, maxHeaderRead)
	}
	b := buf[:0]
	if uint64(cap(b)) < n {
		b = make([]byte, n)
	}
	b = b[:n]
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
