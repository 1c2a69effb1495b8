package coreparse

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
)

// DlInfo is what glibc's dladdr would have answered in the crashed process
// for an address: what backtrace_symbols prints and Ceph's crash reports
// (and so the cluster's stack_sig) are made of.
type DlInfo struct {
	OK    bool   // the address is inside a loaded object's segments
	Fname string // link_map's l_name; the executable's is argv[0]
	Base  uint64 // l_addr, the load bias (backtrace_symbols' "+offset" base)
	Sname string // the dynamic symbol containing the address, "" when none
	Saddr uint64
}

// BacktraceSymbol is the line glibc's backtrace_symbols writes for addr:
// "file(symbol+0xoff) [0xaddr]", "file(+0xoff) [0xaddr]" or "[0xaddr]".
func (p *Process) BacktraceSymbol(addr uint64) string {
	d := p.Dladdr(addr)
	if !d.OK || d.Fname == "" {
		return fmt.Sprintf("[%#x]", addr)
	}
	saddr := d.Saddr
	if d.Sname == "" {
		saddr = d.Base
	}
	if d.Sname == "" && saddr == 0 {
		return fmt.Sprintf("%s() [%#x]", d.Fname, addr)
	}
	sign, off := '+', addr-saddr
	if addr < saddr {
		sign, off = '-', saddr-addr
	}
	offs := fmt.Sprintf("%#x", off) // printf's %#tx: "0" for zero
	if off == 0 {
		offs = "0"
	}
	return fmt.Sprintf("%s(%s%c%s) [%#x]", d.Fname, d.Sname, sign, offs, addr)
}

// Dladdr mirrors glibc's _dl_addr: the object whose PT_LOAD segments hold
// addr; among the symbols its hash table references (defined, not TLS,
// not absolute), the one with the highest value that contains addr (a
// sized symbol: value <= addr < value+size; an unsized one: addr ==
// value), the first in the table winning a tie.
func (p *Process) Dladdr(addr uint64) DlInfo {
	m := p.ModuleAt(addr)
	if m == nil {
		return DlInfo{}
	}
	ds := m.dynsyms()
	if ds == nil || !ds.inside(addr-m.Bias) {
		return DlInfo{}
	}
	d := DlInfo{OK: true, Fname: m.LinkName, Base: m.Bias}
	if m.IsExe {
		if argv := p.Argv(); len(argv) > 0 {
			d.Fname = argv[0]
		}
	}
	a := addr - m.Bias
	best := -1
	for i, s := range ds.syms {
		if a < s.Value {
			continue
		}
		if s.Size == 0 || s.Section == elf.SHN_UNDEF {
			if a != s.Value {
				continue
			}
		} else if a >= s.Value+s.Size {
			continue
		}
		if best < 0 || ds.syms[best].Value < s.Value {
			best = i
		}
	}
	if best >= 0 {
		d.Sname, d.Saddr = ds.syms[best].Name, ds.syms[best].Value+m.Bias
	}
	return d
}

// dynTable is one object's dladdr view: its load segments and the dynamic
// symbols its hash table lists, in table order.
type dynTable struct {
	loads []elf.ProgHeader
	syms  []elf.Symbol
}

func (t *dynTable) inside(a uint64) bool {
	for _, ph := range t.loads {
		if a >= ph.Vaddr && a < ph.Vaddr+ph.Memsz {
			return true
		}
	}
	return false
}

// dynsyms reads the module's local file once: its PT_LOAD headers and the
// dynamic symbols glibc's _dl_addr looks at. With DT_GNU_HASH those are the
// symbols from the table's symoffset on (the hash never lists local or
// undefined symbols); with only DT_HASH, the global and weak ones.
func (m *Module) dynsyms() *dynTable {
	m.dynOnce.Do(func() {
		if m.Path == "" || m.BuildIDMismatch {
			return
		}
		f, err := elf.Open(m.Path)
		if err != nil {
			return
		}
		defer f.Close()
		t := &dynTable{}
		for _, ph := range f.Progs {
			if ph.Type == elf.PT_LOAD {
				t.loads = append(t.loads, ph.ProgHeader)
			}
		}
		syms, err := f.DynamicSymbols() // index i is the table's i+1
		if err != nil {
			m.dyn = t
			return
		}
		first := 0
		gnu := false
		if sec := f.Section(".gnu.hash"); sec != nil {
			if b, err := sec.Data(); err == nil && len(b) >= 16 {
				if off := int(binary.LittleEndian.Uint32(b[4:])); off >= 1 {
					first, gnu = off-1, true
				}
			}
		}
		for i := first; i < len(syms); i++ {
			s := syms[i]
			typ, bind := elf.ST_TYPE(s.Info), elf.ST_BIND(s.Info)
			if s.Section == elf.SHN_UNDEF && s.Value == 0 || s.Section == elf.SHN_ABS || typ == elf.STT_TLS {
				continue
			}
			if !gnu && bind != elf.STB_GLOBAL && bind != elf.STB_WEAK {
				continue
			}
			t.syms = append(t.syms, s)
		}
		m.dyn = t
	})
	return m.dyn
}

// Argv is the process's argument vector as the dynamic linker kept it
// (_dl_argv in ld.so): argv[0] is what glibc names the executable by.
func (p *Process) Argv() []string {
	p.argvOnce.Do(func() {
		for _, m := range p.Modules {
			if m.Syms == nil {
				continue
			}
			s, ok := m.Syms.Lookup("_dl_argv")
			if !ok {
				continue
			}
			vec, err := p.Core.ReadUint64(s.Value + m.Bias)
			if err != nil || vec == 0 {
				continue
			}
			for i := uint64(0); i < 4096; i++ {
				a, err := p.Core.ReadUint64(vec + 8*i)
				if err != nil || a == 0 {
					break
				}
				str, err := p.Core.ReadCString(a, 1<<16)
				if err != nil {
					break
				}
				p.argv = append(p.argv, str)
			}
			return
		}
	})
	return p.argv
}
