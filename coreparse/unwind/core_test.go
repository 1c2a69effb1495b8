package unwind_test

// A minimal, test-only reader of kernel-written ELF cores: PT_LOAD memory,
// file-backed text read from the NT_FILE mapped files, NT_PRSTATUS
// registers, NT_SIGINFO, and the CFI of every mapped ELF object. It exists
// so that the unwinder can be tested on real cores independently of
// coreparse/corefile; it is deliberately small and not used outside tests.

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"testing"

	"github.com/dsecore/dsecore/coreparse/unwind"
	"github.com/go-delve/delve/pkg/dwarf/frame"
)

type testSeg struct{ vaddr, memsz, filesz, off uint64 }

type testFileMap struct {
	start, end, off uint64 // off in bytes
	path            string
}

type testThread struct {
	lwp  int
	regs unwind.Regs
}

type testModule struct {
	path       string
	start, end uint64
	bias       uint64
	fdes       frame.FrameDescriptionEntries
	elf        *elf.File
	debug      *elf.File // separate debug file (libc6-dbg), found by build-id
}

// openDebugFile finds /usr/lib/debug/.build-id/xx/rest.debug, where gdb
// finds the symbols of Debian's stripped libraries.
func openDebugFile(ef *elf.File) *elf.File {
	sec := ef.Section(".note.gnu.build-id")
	if sec == nil {
		return nil
	}
	b, err := sec.Data()
	if err != nil || len(b) < 16 {
		return nil
	}
	namesz, descsz := binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:])
	off := 12 + (int(namesz)+3)&^3
	if off+int(descsz) > len(b) || descsz < 2 {
		return nil
	}
	id := fmt.Sprintf("%x", b[off:off+int(descsz)])
	df, err := elf.Open("/usr/lib/debug/.build-id/" + id[:2] + "/" + id[2:] + ".debug")
	if err != nil {
		return nil
	}
	return df
}

type testCore struct {
	f       *os.File
	segs    []testSeg
	files   []testFileMap
	threads []testThread
	siginfo []byte
	mods    []*testModule
	opened  map[string]*os.File
}

func openTestCore(t testing.TB, path string) *testCore {
	t.Helper()
	c, err := readTestCore(path)
	if err != nil {
		t.Fatalf("reading core %s: %v", path, err)
	}
	t.Cleanup(c.close)
	return c
}

func (c *testCore) close() {
	c.f.Close()
	for _, f := range c.opened {
		f.Close()
	}
	for _, m := range c.mods {
		if m.elf != nil {
			m.elf.Close()
		}
		if m.debug != nil {
			m.debug.Close()
		}
	}
}

func readTestCore(path string) (*testCore, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	if ef.Type != elf.ET_CORE {
		f.Close()
		return nil, errors.New("not a core")
	}
	c := &testCore{f: f, opened: map[string]*os.File{}}
	le := binary.LittleEndian
	for _, p := range ef.Progs {
		switch p.Type {
		case elf.PT_LOAD:
			c.segs = append(c.segs, testSeg{p.Vaddr, p.Memsz, p.Filesz, p.Off})
		case elf.PT_NOTE:
			b := make([]byte, p.Filesz)
			if _, err := f.ReadAt(b, int64(p.Off)); err != nil {
				return nil, err
			}
			for len(b) >= 12 {
				namesz, descsz, typ := le.Uint32(b), le.Uint32(b[4:]), le.Uint32(b[8:])
				nameEnd := 12 + (int(namesz)+3)&^3
				descEnd := nameEnd + (int(descsz)+3)&^3
				if descEnd > len(b) {
					break
				}
				desc := b[nameEnd : nameEnd+int(descsz)]
				switch typ {
				case 1: // NT_PRSTATUS: pr_pid @32, pr_reg (user_regs_struct) @112
					if len(desc) >= 112+27*8 {
						var th testThread
						th.lwp = int(le.Uint32(desc[32:]))
						r := func(i int) uint64 { return le.Uint64(desc[112+8*i:]) }
						// user_regs_struct: r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi orig_rax rip cs eflags rsp ...
						order := []int{unwind.R15, unwind.R14, unwind.R13, unwind.R12, unwind.RBP, unwind.RBX, unwind.R11, unwind.R10,
							unwind.R9, unwind.R8, unwind.RAX, unwind.RCX, unwind.RDX, unwind.RSI, unwind.RDI}
						for i, n := range order {
							th.regs.Set(n, r(i))
						}
						th.regs.Set(unwind.RIP, r(16))
						th.regs.Set(unwind.RSP, r(19))
						c.threads = append(c.threads, th)
					}
				case 0x53494749: // NT_SIGINFO
					c.siginfo = append([]byte(nil), desc...)
				case 0x46494c45: // NT_FILE
					if len(desc) < 16 {
						break
					}
					count, pagesz := le.Uint64(desc), le.Uint64(desc[8:])
					if count > uint64(len(desc))/24 {
						break
					}
					names := desc[16+24*count:]
					for i := uint64(0); i < count; i++ {
						e := desc[16+24*i:]
						end := bytes.IndexByte(names, 0)
						if end < 0 {
							break
						}
						c.files = append(c.files, testFileMap{le.Uint64(e), le.Uint64(e[8:]), le.Uint64(e[16:]) * pagesz, string(names[:end])})
						names = names[end+1:]
					}
				}
				b = b[descEnd:]
			}
		}
	}
	ef.Close() // does not close f (NewFile)
	c.loadModules()
	return c, nil
}

// ReadAt reads dumped memory first, then the bytes of file-backed
// mappings the kernel did not dump, from the local file.
func (c *testCore) ReadAt(p []byte, addr uint64) (int, error) {
	done := 0
	for done < len(p) {
		a := addr + uint64(done)
		n := c.readChunk(p[done:], a)
		if n == 0 {
			return done, fmt.Errorf("address %#x not in the core", a)
		}
		done += n
	}
	return done, nil
}

func (c *testCore) readChunk(p []byte, a uint64) int {
	for _, s := range c.segs {
		if a >= s.vaddr && a < s.vaddr+s.filesz {
			n := min(uint64(len(p)), s.vaddr+s.filesz-a)
			m, _ := c.f.ReadAt(p[:n], int64(s.off+a-s.vaddr))
			return m
		}
	}
	for _, fm := range c.files {
		if a >= fm.start && a < fm.end {
			f := c.opened[fm.path]
			if f == nil {
				var err error
				if f, err = os.Open(fm.path); err != nil {
					return 0
				}
				c.opened[fm.path] = f
			}
			n := min(uint64(len(p)), fm.end-a)
			m, err := f.ReadAt(p[:n], int64(fm.off+a-fm.start))
			if err != nil && err != io.EOF {
				return 0
			}
			return m
		}
	}
	return 0
}

func (c *testCore) ReadUint64(addr uint64) (uint64, error) {
	var b [8]byte
	if _, err := c.ReadAt(b[:], addr); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// loadModules finds every mapped ELF object, its load bias and its CFI.
func (c *testCore) loadModules() {
	byPath := map[string]*testModule{}
	var order []*testModule
	for _, fm := range c.files {
		m := byPath[fm.path]
		if m == nil {
			m = &testModule{path: fm.path, start: fm.start, end: fm.end, bias: ^uint64(0)}
			byPath[fm.path] = m
			order = append(order, m)
		}
		m.start, m.end = min(m.start, fm.start), max(m.end, fm.end)
		if fm.off == 0 && m.bias == ^uint64(0) {
			m.bias = fm.start // base for now
		}
	}
	for _, m := range order {
		if m.bias == ^uint64(0) {
			continue
		}
		ef, err := elf.Open(m.path)
		if err != nil {
			continue
		}
		lo := ^uint64(0)
		for _, p := range ef.Progs {
			if p.Type == elf.PT_LOAD && p.Vaddr < lo {
				lo = p.Vaddr
			}
		}
		m.bias -= lo &^ 0xfff
		m.elf = ef
		m.debug = openDebugFile(ef)
		m.fdes, _ = unwind.LoadCFI(ef, m.bias)
		c.mods = append(c.mods, m)
	}
	sort.Slice(c.mods, func(i, j int) bool { return c.mods[i].start < c.mods[j].start })
}

func (c *testCore) moduleAt(pc uint64) *testModule {
	for _, m := range c.mods {
		if pc >= m.start && pc < m.end {
			return m
		}
	}
	return nil
}

func (c *testCore) findFDE(pc uint64) (*frame.FrameDescriptionEntry, error) {
	m := c.moduleAt(pc)
	if m == nil {
		return nil, fmt.Errorf("pc %#x in no module", pc)
	}
	return m.fdes.FDEForPC(pc)
}

// funcStart is a symbol-table lookup for the no-CFI heuristics.
func (c *testCore) funcStart(pc uint64) (uint64, bool) {
	m := c.moduleAt(pc)
	if m == nil || m.elf == nil {
		return 0, false
	}
	fa := pc - m.bias
	best, ok := uint64(0), false
	gets := []func() ([]elf.Symbol, error){m.elf.Symbols, m.elf.DynamicSymbols}
	if m.debug != nil {
		gets = append(gets, m.debug.Symbols)
	}
	for _, get := range gets {
		syms, _ := get()
		for _, s := range syms {
			if elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Value == 0 {
				continue
			}
			if s.Value <= fa && (s.Size == 0 || fa < s.Value+s.Size) && (!ok || s.Value > best) {
				best, ok = s.Value, true
			}
		}
	}
	return best + m.bias, ok
}

func (c *testCore) unwinder() *unwind.Unwinder {
	return &unwind.Unwinder{Mem: c, FindFDE: c.findFDE, FuncStart: c.funcStart}
}
