package symbols

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"slices"
	"strings"
)

// rawSyms answers the questions a first answer asks of a module's symbols
// (the function at a pc, a function by name) from the files' symbol
// tables in place, by a pass over them per question, as eu-stack does:
// no layout, no sort, no copy of the names. A cold run (no symtab cache
// file yet) of the first answer asks a few dozen such questions, and
// laying out the tables of the modules in its stack was 38 % of it; the
// layout and its cache file are left to the background fill (docs/
// architecture.md, "The first answer, cold"). Every answer is the one the
// layout gives (TestRawSymsAgree): the same sources in the same order,
// the same symbols left out, the same duplicates dropped, the same
// preferences among aliases.
type rawSyms struct {
	srcs []rawSrc
	plt  []Symbol // the PLT entries' names (pltSymbols), after every source
}

// rawSrc is one ELF64 little-endian symbol table: its entries (the null
// one included) and its string table.
type rawSrc struct {
	data []byte
	strs []byte
}

const elfSym64 = 24 // sizeof(Elf64_Sym)

// openRaw finds the symbol tables loadSymbols would read; false when one
// of them is not read in place (another class or byte order, a table
// linked to no string table) or the table has MiniDebugInfo: those take
// the layout.
func (t *Table) openRaw() (*rawSyms, bool) {
	if t.SymbolSource() == SymbolsMiniDebugInfo {
		return nil, false
	}
	r := &rawSyms{}
	var dyn *rawSrc
	for _, src := range t.symbolSources() {
		if src.f == nil {
			continue
		}
		typ := elf.SHT_SYMTAB
		if src.dyn {
			typ = elf.SHT_DYNSYM
		}
		sec := src.f.SectionByType(typ)
		if sec == nil {
			continue // rawSymbols' error: no table
		}
		if src.f.Class != elf.ELFCLASS64 || src.f.ByteOrder != binary.LittleEndian || int(sec.Link) >= len(src.f.Sections) {
			return nil, false
		}
		m, _ := t.wholeFile(src.path)
		data, ok := inFile(m, sec)
		if !ok {
			var err error
			if data, err = sec.Data(); err != nil {
				continue
			}
		}
		strSec := src.f.Sections[sec.Link]
		strs, ok := inFile(m, strSec)
		if !ok {
			var err error
			if strs, err = strSec.Data(); err != nil {
				continue
			}
		}
		r.srcs = append(r.srcs, rawSrc{data: data, strs: strs})
		if src.dyn {
			dyn = &r.srcs[len(r.srcs)-1]
		}
	}
	if dyn != nil {
		// pltSymbols names entry i of .rela.plt by dynamic symbol i
		// (rawSymbols' list leaves the null symbol out).
		r.plt = pltSymbolsNamed(t.file, len(dyn.data)/elfSym64-1, func(i int) string { return dyn.name((i + 1) * elfSym64) })
	}
	return r, true
}

// name is the entry's name at off (rawSymbols' rule: up to a NUL).
func (s *rawSrc) name(off int) string {
	n := int(binary.LittleEndian.Uint32(s.data[off:]))
	if n >= len(s.strs) {
		return ""
	}
	b := s.strs[n:]
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// named reports whether the entry's name is name, without copying it.
func (s *rawSrc) named(off int, name string) bool {
	n := int(binary.LittleEndian.Uint32(s.data[off:]))
	if n >= len(s.strs) || len(s.strs)-n < len(name) || string(s.strs[n:n+len(name)]) != name {
		return false
	}
	return n+len(name) == len(s.strs) || s.strs[n+len(name)] == 0
}

// kept reports whether loadSymbols keeps the entry (before duplicates):
// a name, a section, not a section or file symbol.
func (s *rawSrc) kept(off int) bool {
	e := s.data[off:]
	if !keptEntry(elf.SectionIndex(binary.LittleEndian.Uint16(e[6:])), elf.ST_TYPE(e[4])) {
		return false
	}
	n := int(binary.LittleEndian.Uint32(e))
	return n < len(s.strs) && s.strs[n] != 0
}

func isFuncType(typ elf.SymType) bool { return typ == elf.STT_FUNC || typ == elf.STT_GNU_IFUNC }

func (s *rawSrc) value(off int) uint64 { return binary.LittleEndian.Uint64(s.data[off+8:]) }

func (s *rawSrc) sym(off int) Symbol {
	e := s.data[off:]
	le := binary.LittleEndian
	return Symbol{Name: s.name(off), Value: le.Uint64(e[8:]), Size: le.Uint64(e[16:]), Type: elf.ST_TYPE(e[4]),
		Bind: elf.ST_BIND(e[4]), Section: elf.SectionIndex(le.Uint16(e[6:]))}
}

// rawCand is a symbol with its place in the table's order.
type rawCand struct {
	Symbol
	src, off int
}

// dedup drops, of candidates in table order, those whose name and value
// an earlier one has: loadSymbols' duplicates.
func dedup(cs []rawCand) []rawCand {
	type key struct {
		name  string
		value uint64
	}
	seen := map[key]bool{}
	out := cs[:0]
	for _, c := range cs {
		k := key{c.Name, c.Value}
		if !seen[k] {
			seen[k] = true
			out = append(out, c)
		}
	}
	return out
}

// funcSymbolAt is Table.funcSymbolAt's answer from the raw tables: the
// greatest start at or before addr among the function symbols, and at it
// the first (in the layout's order of aliases) whose size holds addr or
// that has none.
func (r *rawSyms) funcSymbolAt(addr uint64) (Symbol, bool) {
	bound := addr
	for {
		// The greatest function start at or before bound.
		var v uint64
		found := false
		for k := range r.srcs {
			s := &r.srcs[k]
			for off := elfSym64; off+elfSym64 <= len(s.data); off += elfSym64 {
				e := s.data[off:]
				if !isFuncType(elf.ST_TYPE(e[4])) {
					continue
				}
				if x := binary.LittleEndian.Uint64(e[8:]); x <= bound && (!found || x > v) && s.kept(off) {
					v, found = x, true
				}
			}
		}
		for _, p := range r.plt {
			if p.Value <= bound && (!found || p.Value > v) {
				v, found = p.Value, true
			}
		}
		if !found {
			return Symbol{}, false
		}
		// Every kept symbol at v, duplicates dropped as the layout drops
		// them (a function named like an object before it at the same
		// address is no function symbol).
		var at []rawCand
		for k := range r.srcs {
			s := &r.srcs[k]
			for off := elfSym64; off+elfSym64 <= len(s.data); off += elfSym64 {
				if s.value(off) == v && s.kept(off) {
					at = append(at, rawCand{Symbol: s.sym(off), src: k, off: off})
				}
			}
		}
		for i, p := range r.plt {
			if p.Value == v {
				at = append(at, rawCand{Symbol: p, src: len(r.srcs), off: i})
			}
		}
		var group []rawCand
		for _, c := range dedup(at) {
			if isFuncType(c.Type) || c.Synthetic {
				group = append(group, c)
			}
		}
		if len(group) == 0 {
			if v == 0 {
				return Symbol{}, false
			}
			bound = v - 1
			continue
		}
		slices.SortFunc(group, aliasOrder)
		for _, c := range group {
			if c.Size == 0 || addr < v+c.Size {
				return c.Symbol, true
			}
		}
		return Symbol{}, false
	}
}

// aliasOrder is loadSymbols' order of symbols at one address: global,
// weak, local; the sized first; by name; in table order.
func aliasOrder(a, b rawCand) int {
	if ra, rb := bindRank(a.Bind), bindRank(b.Bind); ra != rb {
		return ra - rb
	}
	if (a.Size == 0) != (b.Size == 0) {
		if a.Size != 0 {
			return -1
		}
		return 1
	}
	if c := strings.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	if a.src != b.src {
		return a.src - b.src
	}
	return a.off - b.off
}

func bindRank(b elf.SymBind) int {
	switch b {
	case elf.STB_GLOBAL:
		return 0
	case elf.STB_WEAK:
		return 1
	}
	return 2
}

// lookupFunc is Table.lookupFunc's answer from the raw tables: of the
// non-synthetic function symbols named name, the lowest binding value,
// then the first in the layout's address order.
func (r *rawSyms) lookupFunc(name string) (Symbol, bool) {
	var named []rawCand
	for k := range r.srcs {
		s := &r.srcs[k]
		for off := elfSym64; off+elfSym64 <= len(s.data); off += elfSym64 {
			if s.named(off, name) && s.kept(off) {
				named = append(named, rawCand{Symbol: s.sym(off), src: k, off: off})
			}
		}
	}
	var best *rawCand
	for _, c := range dedup(named) {
		if !isFuncType(c.Type) {
			continue
		}
		if best == nil || c.Bind < best.Bind || c.Bind == best.Bind && (c.Value < best.Value || c.Value == best.Value && aliasOrder(c, *best) < 0) {
			best = &c
		}
	}
	if best == nil {
		return Symbol{}, false
	}
	return best.Symbol, true
}
