package symbols

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"unsafe"

	"github.com/ulikunitz/xz"
)

// Symbol is one ELF symbol (or a synthetic "name@plt" entry).
type Symbol struct {
	Name      string // as in the file (mangled)
	Value     uint64 // file address; for STT_TLS the offset in the TLS block
	Size      uint64
	Type      elf.SymType
	Bind      elf.SymBind
	Synthetic bool // a PLT entry, named by its relocation
	Section   elf.SectionIndex
}

// DemangledName is the symbol's name demangled with parameters, as objdump
// -C and c++filt print it (demangled on first use: a table has tens of
// thousands of symbols and a backtrace names a few).
func (s Symbol) DemangledName() string { return Demangle(s.Name) }

// symbolSource is one symbol table of a module's files.
type symbolSource struct {
	f    *elf.File
	path string
	dyn  bool // .dynsym, else .symtab
}

// symbolSources are the tables a module's symbols come from, in the order
// both the layout and the raw answers read them (of two entries with one
// name and value, the first read is kept): the file's .symtab, the debug
// file's, then the file's .dynsym.
func (t *Table) symbolSources() []symbolSource {
	return []symbolSource{{t.file, t.Path, false}, {t.debug, t.DebugPath, false}, {t.file, t.Path, true}}
}

// keptEntry says whether a named symbol table entry is one of the
// module's symbols: defined in a section, and not a section's or a source
// file's own entry.
func keptEntry(sec elf.SectionIndex, typ elf.SymType) bool {
	return sec != elf.SHN_UNDEF && typ != elf.STT_SECTION && typ != elf.STT_FILE
}

func (t *Table) loadSymbols() {
	t.symOnce.Do(func() {
		defer t.recoverWarn("symbols")
		cache := t.pick()
		switch {
		case t.cached != nil:
			t.st = t.cached
		case t.raw != nil:
			// A question the raw tables do not answer: laid out here,
			// written by the background fill.
			t.layOut("")
		default:
			t.layOut(cache)
		}
	})
}

// pick maps the layout's cache file when there is one that checks out
// (cached), else, under Resolver.AnswerFirst, opens the raw tables (raw);
// it returns the cache file's path ("" without a cache).
func (t *Table) pick() string {
	t.pickOnce.Do(func() {
		defer t.recoverWarn("symbols")
		t.symPath = t.symtabCachePath()
		if t.symPath == "" {
			return
		}
		if t.loadSymtabCache(t.symPath) {
			return
		}
		if t.resolver != nil && t.resolver.AnswerFirst {
			t.raw, _ = t.openRaw()
			t.deferred.Store(t.raw != nil)
		}
	})
	return t.symPath
}

// Deferred reports whether the table left a cache file unwritten under
// Resolver.AnswerFirst (its symbol layout: it answered from the raw
// symbol tables; a unit index file: deferWrite): a background run
// (dsecore's cache fill) is to write it. A table asked nothing is not.
func (t *Table) Deferred() bool { return t.deferred.Load() }

// layOut lays out the symbols read from the files (st) and writes the
// layout to cache unless cache is "".
func (t *Table) layOut(cache string) {
	type key struct {
		name  string
		value uint64
	}
	// The tables, read first: their sizes size the rest.
	var tables [][]elf.Symbol
	var dynamic []elf.Symbol // the file's, for its PLT entries' names
	n := 0
	for _, src := range t.symbolSources() {
		if src.f == nil {
			continue
		}
		m, _ := t.wholeFile(src.path) // nil: the sections are read instead
		if syms, err := rawSymbols(src.f, m, src.dyn); err == nil {
			if src.dyn {
				dynamic = syms
			}
			tables = append(tables, syms)
			n += len(syms)
		}
	}
	if t.SymbolSource() == SymbolsMiniDebugInfo {
		// No symbol table but the one of .gnu_debugdata (Fedora's
		// MiniDebugInfo): the functions .dynsym does not name.
		if syms, err := miniDebugInfoSymbols(t.file); err != nil {
			t.warnf("%s: .gnu_debugdata: %v", filepath.Base(t.Path), err)
		} else {
			tables = append(tables, syms)
			n += len(syms)
		}
	}
	all := make([]Symbol, 0, n+64)
	seen := make(map[key]bool, n)
	for _, syms := range tables {
		for _, s := range syms {
			typ := elf.ST_TYPE(s.Info)
			if s.Name == "" || !keptEntry(s.Section, typ) {
				continue
			}
			k := key{s.Name, s.Value}
			if seen[k] {
				continue
			}
			seen[k] = true
			all = append(all, Symbol{Name: s.Name, Value: s.Value, Size: s.Size, Type: typ, Bind: elf.ST_BIND(s.Info), Section: s.Section})
		}
	}
	all = append(all, pltSymbols(t.file, dynamic)...)
	var funcs, anys []int
	for i, s := range all {
		if s.Type == elf.STT_FUNC || s.Type == elf.STT_GNU_IFUNC || s.Synthetic {
			funcs = append(funcs, i)
		}
		if s.Type != elf.STT_TLS && s.Section != elf.SHN_ABS && s.Section != elf.SHN_COMMON {
			anys = append(anys, i)
		}
	}
	// Sorted by address; at one address, global before weak before local,
	// then the sized one, then by name for stability (gdb and objdump
	// prefer global symbols among aliases).
	rank := func(b elf.SymBind) int {
		switch b {
		case elf.STB_GLOBAL:
			return 0
		case elf.STB_WEAK:
			return 1
		}
		return 2
	}
	cmp := func(i, j int) int {
		a, b := &all[i], &all[j]
		switch {
		case a.Value != b.Value:
			if a.Value < b.Value {
				return -1
			}
			return 1
		case rank(a.Bind) != rank(b.Bind):
			return rank(a.Bind) - rank(b.Bind)
		case (a.Size == 0) != (b.Size == 0):
			if a.Size != 0 {
				return -1
			}
			return 1
		}
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return i - j // the tables' order: a stable sort's, by pdqsort (n log n, not symMerge's n log² n)
	}
	slices.SortFunc(funcs, cmp)
	slices.SortFunc(anys, cmp)
	b := encodeSymtab(all, funcs, anys)
	t.st, _ = parseSymtab(b, true) // laid out just now: no checksum to check
	if cache != "" {
		t.writeLater(cache, b)
	}
}

// Where a table's function names come from (SymbolSource).
const (
	SymbolsSymtab        = ".symtab"       // the file's or its debug file's symbol table
	SymbolsMiniDebugInfo = "MiniDebugInfo" // .gnu_debugdata's (an xz-compressed ELF's) symbol table, with .dynsym
	SymbolsDynsym        = ".dynsym"       // the dynamic symbols only (exported names)
	SymbolsNone          = "none"
)

// SymbolSource says where the table's function names come from: a full
// symbol table, MiniDebugInfo, the dynamic symbols only, or nothing.
func (t *Table) SymbolSource() string {
	for _, f := range []*elf.File{t.file, t.debug} {
		if f != nil && f.SectionByType(elf.SHT_SYMTAB) != nil {
			return SymbolsSymtab
		}
	}
	if s := t.file.Section(".gnu_debugdata"); s != nil && s.Type != elf.SHT_NOBITS {
		return SymbolsMiniDebugInfo
	}
	if t.file.SectionByType(elf.SHT_DYNSYM) != nil {
		return SymbolsDynsym
	}
	return SymbolsNone
}

// miniDebugInfoSymbols reads the symbol table of a file's .gnu_debugdata:
// an ELF file compressed with xz holding the function symbols .dynsym
// lacks (as gdb's minidebug.c and elfutils read it).
func miniDebugInfoSymbols(f *elf.File) ([]elf.Symbol, error) {
	s := f.Section(".gnu_debugdata")
	if s == nil {
		return nil, nil
	}
	raw, err := s.Data()
	if err != nil {
		return nil, err
	}
	r, err := xz.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	// Bounded: a MiniDebugInfo ELF holds symbols, a few MiB at most.
	b, err := io.ReadAll(io.LimitReader(r, 256<<20))
	if err != nil {
		return nil, err
	}
	mini, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer mini.Close()
	return mini.Symbols()
}

// rawSymbols reads an ELF64 file's .symtab (or, with dyn, .dynsym) as
// debug/elf's Symbols and DynamicSymbols do (the null symbol left out,
// names without versions), in place in the file's mapping m when there is
// one, each name a substring of one copy of the string table: tens of
// thousands of symbols, not as many allocations. Other classes go through
// debug/elf.
func rawSymbols(f *elf.File, m mapped, dyn bool) ([]elf.Symbol, error) {
	typ := elf.SHT_SYMTAB
	if dyn {
		typ = elf.SHT_DYNSYM
	}
	sec := f.SectionByType(typ)
	if f.Class != elf.ELFCLASS64 || f.ByteOrder != binary.LittleEndian || sec == nil || int(sec.Link) >= len(f.Sections) {
		if dyn {
			return f.DynamicSymbols()
		}
		return f.Symbols()
	}
	data, ok := inFile(m, sec)
	if !ok {
		var err error
		if data, err = sec.Data(); err != nil {
			return nil, err
		}
	}
	strSec := f.Sections[sec.Link]
	strData, ok := inFile(m, strSec)
	if !ok {
		var err error
		if strData, err = strSec.Data(); err != nil {
			return nil, err
		}
	}
	// The names alias the string table's bytes, not a copy of them (the
	// ~1.5 MB of a Ceph library's names were as much fresh memory, its
	// page faults the largest part of reading the table): they live in
	// the file's mapping, which lives as long as the table, or in the
	// section's bytes read; and they are only read while loadSymbols lays
	// the table out (its names are copied into the layout).
	strs := unsafe.String(unsafe.SliceData(strData), len(strData))
	const size = 24 // Elf64_Sym
	if len(data) < size {
		return nil, nil
	}
	out := make([]elf.Symbol, 0, len(data)/size-1)
	le := binary.LittleEndian
	for off := size; off+size <= len(data); off += size {
		e := data[off : off+size]
		s := elf.Symbol{Info: e[4], Other: e[5], Section: elf.SectionIndex(le.Uint16(e[6:])), Value: le.Uint64(e[8:]), Size: le.Uint64(e[16:])}
		if n := int(le.Uint32(e)); n < len(strs) {
			s.Name = strs[n:]
			if i := strings.IndexByte(s.Name, 0); i >= 0 {
				s.Name = s.Name[:i]
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// NearestSymbol names any address the way objdump annotates operands: the
// closest symbol at or before it (functions, objects, PLT entries) in the
// same section, whatever its size. The name is demangled.
func (t *Table) NearestSymbol(addr uint64) (name string, start uint64, ok bool) {
	s, ok := t.nearestSymbol(addr)
	if !ok {
		return "", 0, false
	}
	return s.DemangledName(), s.Value, true
}

// NearestSymbolLinkage is NearestSymbol with the symbol's own (mangled)
// name, as gdb labels addresses in x/ output (asm-demangle off).
func (t *Table) NearestSymbolLinkage(addr uint64) (name string, start uint64, ok bool) {
	s, ok := t.nearestSymbol(addr)
	return s.Name, s.Value, ok
}

// PointeeSymbol names what a data pointer points into, as gdb's print
// labels it (<g_point>, <g_point+8>): the closest symbol at or before the
// address in its section, when it starts there or its size holds the
// address; off is the address's offset in it. The name is demangled.
func (t *Table) PointeeSymbol(addr uint64) (name string, off uint64, ok bool) {
	s, ok := t.nearestSymbol(addr)
	if !ok || addr != s.Value && addr-s.Value >= s.Size {
		return "", 0, false
	}
	return s.DemangledName(), addr - s.Value, true
}

func (t *Table) nearestSymbol(addr uint64) (Symbol, bool) {
	t.loadSymbols()
	var sec *elf.Section
	for _, s := range t.file.Sections {
		if s.Flags&elf.SHF_ALLOC != 0 && addr >= s.Addr && addr < s.Addr+s.Size {
			sec = s
			break
		}
	}
	if sec == nil {
		return Symbol{}, false
	}
	st := t.st
	if st == nil {
		return Symbol{}, false
	}
	i := sort.Search(st.nAny, func(i int) bool { return st.value(st.anyAt(i)) > addr })
	for j := i - 1; j >= 0; j-- {
		v := st.value(st.anyAt(j))
		if v < sec.Addr {
			break
		}
		k := j
		for k > 0 && st.value(st.anyAt(k-1)) == v {
			k--
		}
		return st.sym(st.anyAt(k)), true
	}
	return Symbol{}, false
}

// pltSymbols names the PLT entries "sym@plt" as objdump does: with IBT
// (.plt.sec) entry i of .rela.plt is at .plt.sec+16*i, else at .plt+16*(i+1).
// dyn are the file's dynamic symbols (as DynamicSymbols gives them).
func pltSymbols(f *elf.File, dyn []elf.Symbol) []Symbol {
	return pltSymbolsNamed(f, len(dyn), func(i int) string { return dyn[i].Name })
}

// pltSymbolsNamed is pltSymbols with n dynamic symbols named by name(i).
func pltSymbolsNamed(f *elf.File, n int, dynName func(i int) string) []Symbol {
	rela := f.Section(".rela.plt")
	if rela == nil || n == 0 {
		return nil
	}
	data, err := rela.Data()
	if err != nil {
		return nil
	}
	base, skip := uint64(0), uint64(0)
	if s := f.Section(".plt.sec"); s != nil {
		base = s.Addr
	} else if s := f.Section(".plt"); s != nil {
		base, skip = s.Addr, 1
	} else {
		return nil
	}
	var out []Symbol
	for i := 0; i+24 <= len(data); i += 24 {
		info := binary.LittleEndian.Uint64(data[i+8:])
		symIdx := info >> 32
		name := ""
		if symIdx > 0 && symIdx <= uint64(n) {
			name = dynName(int(symIdx - 1))
		}
		if name == "" {
			continue // IRELATIVE and friends: objdump names them *ABS*+0x…@plt
		}
		out = append(out, Symbol{Name: name + "@plt", Value: base + 16*(uint64(i/24)+skip), Size: 16,
			Type: elf.STT_FUNC, Bind: elf.STB_GLOBAL, Synthetic: true})
	}
	return out
}

// Symbols returns every symbol of the file and its debug file.
func (t *Table) Symbols() []Symbol {
	t.loadSymbols()
	t.allOnce.Do(func() {
		if t.st == nil {
			return
		}
		t.all = make([]Symbol, t.st.n)
		for i := range t.all {
			t.all[i] = t.st.sym(uint32(i))
		}
	})
	return t.all
}

// AnySymbol says whether match holds for a symbol's name and type, asking
// in table order (Symbols' order) until it does. The name is the table's
// own bytes, valid only during the call: a question about every symbol
// (is a context switch routine defined?) copies no name and makes no
// Symbol, where Symbols makes every one of them.
func (t *Table) AnySymbol(match func(name []byte, typ elf.SymType) bool) bool {
	t.loadSymbols()
	st := t.st
	if st == nil {
		return false
	}
	for i := 0; i < st.n; i++ {
		if match(st.nameBytes(uint32(i)), elf.SymType(st.rec(uint32(i))[24])) {
			return true
		}
	}
	return false
}

// SymbolAt returns the function symbol containing addr (demangled, with
// parameters, as objdump -C names it) and its start. A symbol without a
// size contains everything up to the next symbol.
func (t *Table) SymbolAt(addr uint64) (name string, start uint64, ok bool) {
	s, ok := t.funcSymbolAt(addr)
	if !ok {
		return "", 0, false
	}
	return s.DemangledName(), s.Value, true
}

func (t *Table) funcSymbolAt(addr uint64) (Symbol, bool) {
	if t.pick(); t.raw != nil {
		return t.raw.funcSymbolAt(addr)
	}
	t.loadSymbols()
	st := t.st
	if st == nil {
		return Symbol{}, false
	}
	i := sort.Search(st.nFuncs, func(i int) bool { return st.value(st.funcAt(i)) > addr })
	// Among the symbols starting at or before addr, the closest start wins;
	// at that start the preferred alias (first in order).
	for j := i - 1; j >= 0; j-- {
		v := st.value(st.funcAt(j))
		k := j
		for k > 0 && st.value(st.funcAt(k-1)) == v {
			k--
		}
		for m := k; m <= j; m++ {
			c := st.funcAt(m)
			if sz := st.size(c); sz == 0 || addr < v+sz {
				return st.sym(c), true
			}
		}
		best := st.funcAt(k)
		if sz := st.size(best); sz != 0 && addr >= v+sz {
			return Symbol{}, false
		}
		return st.sym(best), true
	}
	return Symbol{}, false
}

// LookupSymbol finds a symbol by its mangled name or its demangled name
// (with parameters, e.g. "co::Processer::GetCurrentProcesser()::proc"),
// locals and TLS symbols included. For STT_TLS symbols the value is the
// offset in the module's TLS block.
func (t *Table) LookupSymbol(name string) (addr, size uint64, ok bool) {
	s, ok := t.Lookup(name)
	return s.Value, s.Size, ok
}

// Lookup is LookupSymbol with the whole symbol: the first symbol (in the
// table's order) with that mangled name, else the first whose demangled
// name it is. Mangled names through the table's order by name; a
// demangled name is matched only against the few symbols whose mangled
// names hold every identifier it names (mayMangle), so the table is never
// demangled as a whole.
func (t *Table) Lookup(name string) (Symbol, bool) {
	t.loadSymbols()
	st := t.st
	if st == nil {
		return Symbol{}, false
	}
	if i, ok := st.lookup(name); ok {
		return st.sym(i), true
	}
	need := mangledParts(name)
	if len(need) == 0 {
		for i := uint32(0); i < uint32(st.n); i++ {
			if st.isCxx(i) && Demangle(string(st.nameBytes(i))) == name {
				return st.sym(i), true
			}
		}
		return Symbol{}, false
	}
	// Search the mangled names for the longest part, one hit after the
	// other in table order: the first symbol that holds every part and
	// demangles to the name is the one the whole-table scan would find.
	longest := need[0]
	for _, p := range need {
		if len(p) > len(longest) {
			longest = p
		}
	}
	// The identifier is searched for, then its length before it: digits
	// are the commonest bytes of mangled names, a poor first byte to scan.
	ident := strings.TrimLeft(longest, "0123456789")
	digits := longest[:len(longest)-len(ident)]
	for pos := 0; ; {
		at := st.searchNames(ident, pos)
		if at < 0 {
			break
		}
		if at < len(digits) || string(st.names[at-len(digits):at]) != digits {
			pos = at + 1
			continue
		}
		k := st.symbolAtName(at)
		off, n := st.nameAt(k)
		if st.isCxx(k) {
			if s := st.sym(k); mayMangle(s.Name, need) && s.DemangledName() == name {
				return s, true
			}
		}
		pos = off + n + 1
	}
	return Symbol{}, false
}
