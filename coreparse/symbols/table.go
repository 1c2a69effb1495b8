// Package symbols answers "what is at this address" for one ELF object, in
// file addresses: ELF symbols (demangled C++ names, PLT entries), DWARF line
// tables and inline chains, and separate debug files (build-id and
// .gnu_debuglink). DWARF is parsed lazily, one compile unit at a time.
package symbols

import (
	"debug/dwarf"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/dsecore/dsecore/coreparse/symbols/die"
	"github.com/dsecore/dsecore/internal/mmap"
	"github.com/dsecore/dsecore/internal/par"
)

// Table is the symbol information of one ELF object.
type Table struct {
	Path      string
	DebugPath string
	SupPath   string // the supplementary file (dwz) attached, "" when none
	DWPPath   string // the split DWARF package attached, "" when none

	file    *elf.File
	debug   *elf.File // separate debug file, nil when none
	supFile *elf.File // supplementary file, nil when none

	resolver *Resolver // where the files the DWARF refers to are looked for
	// problems are what is missing from the debug information (a
	// supplementary file, .dwo files): one line each, naming the file
	// looked for and where (under mu).
	problems                 []string
	splitsFound, splitsTotal int

	symOnce par.Once
	st      *symtab // the ELF symbols (mapped from the cache, or laid out here)
	// pickOnce looks for the layout's cache file once (cached: it, when it
	// checks out); without it, under Resolver.AnswerFirst, raw answers the
	// first answer's questions instead of a layout.
	pickOnce par.Once
	cached   *symtab
	raw      *rawSyms
	symPath  string // the layout's cache file ("": no cache)
	deferred atomic.Bool

	allOnce par.Once
	all     []Symbol // Symbols(), decoded on first call

	exportsOnce par.Once
	exports     *exports // the dynamic symbols' GNU hash table (nil: none)

	dwarfOnce   par.Once
	dwarfLoaded atomic.Bool // loadDWARF has run (DWARFLoaded)
	dwarf       *die.Data
	cus         []cuRange // sorted by lo
	buildID     string    // hex, of the file the DWARF is read from ("" when none)
	indexID     string    // the persistent index's directory: buildID, with the attached files' identity
	indexKey    indexKey  // the sections the persistent index must match

	types typeIndex

	// locMemo remembers locate's answers by address: thousands of task
	// stacks share a few dozen return addresses.
	locMemo sync.Map // locKey → []Location
	// varsMemo remembers Variables' answers by (scope, pc): the holder
	// search reads the variables of ten thousand tasks parked at the same
	// few return addresses.
	varsMemo sync.Map // varsKey → varsAnswer
	// varsAtMemo remembers VariablesAt's answers (the variables with
	// their location expressions at the pc), fbMemo FrameBase's by
	// function.
	varsAtMemo sync.Map // varsKey → varsAtAnswer
	fbMemo     sync.Map // dwarf.Offset (the function's DIE) → []byte

	locOnce par.Once
	locData map[string]locSectionData // location-list sections, by name (under mu)

	mu       sync.Mutex
	cuCache  map[dwarf.Offset]*cuEntry
	warnings []string

	mapMu sync.Mutex
	maps  []mapped          // section mappings, released by Close
	whole map[string]mapped // the table's ELF files mapped whole, by path (under mapMu)

	writes sync.WaitGroup // cache files being written (writeLater), waited for by Close

	stamps [2]mmap.Stamp // of Path and DebugPath when opened (Changed)
}

// Location is one level of the source position of an address.
type Location struct {
	Function   string // qualified name without parameters, as gdb names frames
	Linkage    string // mangled name when known
	Demangled  string // with parameters when known (addr2line -f -C's form), else Function
	File       string // full path as the line table has it
	Line       int
	Column     int
	Inline     bool   // an inlined instance (DW_TAG_inlined_subroutine)
	Low        uint64 // entry of the function or inline instance
	FromSymtab bool   // no DWARF covered the address: the name is the ELF symbol's
	// Scope is the DIE of the function or inlined instance (its variables
	// are its children), CU the unit's; 0 without DWARF.
	Scope, CU dwarf.Offset
}

// LineRow is one row of a line table.
type LineRow struct {
	Addr   uint64
	File   string
	Line   int
	IsStmt bool
}

// Open opens an ELF file and, when debugPath is not "", its separate debug
// file. Nothing is parsed until it is needed. The files its DWARF refers
// to (a supplementary file, split units) are looked for beside it.
func Open(path, debugPath string) (*Table, error) { return OpenWith(path, debugPath, nil) }

// OpenWith is Open with where to look for the files the DWARF refers to.
func OpenWith(path, debugPath string, r *Resolver) (*Table, error) {
	return OpenFiles(path, debugPath, r, elf.Open)
}

// OpenFiles is OpenWith with the function that opens the two files (a
// caller that has opened them already, for their build-ids and debug
// links, hands them over instead of opening them again). The table owns
// what open returns: Close closes it.
func OpenFiles(path, debugPath string, r *Resolver, open func(string) (*elf.File, error)) (*Table, error) {
	f, err := open(path)
	if err != nil {
		return nil, err
	}
	t := &Table{Path: path, DebugPath: debugPath, file: f, resolver: r, cuCache: map[dwarf.Offset]*cuEntry{}}
	t.stamps[0], _ = mmap.StampFile(path)
	if debugPath != "" {
		d, err := open(debugPath)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("debug file %s: %w", debugPath, err)
		}
		t.debug = d
		t.stamps[1], _ = mmap.StampFile(debugPath)
	}
	return t, nil
}

// ObjectFile is the object's ELF file as the table opened it: its
// headers, for a caller that reads the sections from its own mapping.
func (t *Table) ObjectFile() *elf.File { return t.file }

// Close releases the files.
func (t *Table) Close() error {
	t.writes.Wait()
	t.flushUnits()
	var errs []error
	if t.debug != nil {
		errs = append(errs, t.debug.Close())
	}
	if t.supFile != nil {
		errs = append(errs, t.supFile.Close())
	}
	errs = append(errs, t.file.Close())
	t.dwarf = nil
	for _, m := range t.maps {
		errs = append(errs, mmap.Unmap(m))
	}
	t.maps = nil
	return errors.Join(errs...)
}

// Changed says which of the files the table maps (the object, its debug
// file, its cache files) changed since they were mapped, one line each:
// answers read from them may not be the file's.
func (t *Table) Changed() []string {
	var out []string
	// The object and its debug file: any change since Open, a file
	// renamed over them included (what is opened later by path, a
	// section's mapping, would be another file's).
	for i, path := range []string{t.Path, t.DebugPath} {
		if path == "" {
			continue
		}
		now, err := mmap.StampFile(path)
		why := ""
		if err != nil {
			why = err.Error()
		} else {
			why = t.stamps[i].Differs(now)
		}
		if why != "" {
			out = append(out, path+": changed while being read ("+why+")")
		}
	}
	// The cache files mapped: a change of the file mapped (one renamed
	// over it by a concurrent run leaves the mapping intact).
	t.mapMu.Lock()
	maps := append([]mapped(nil), t.maps...)
	t.mapMu.Unlock()
	for _, line := range changedIn(maps) {
		if !slices.Contains(out, line) {
			out = append(out, line)
		}
	}
	return out
}

// changedIn is Changed of a list of mappings.
func changedIn(maps []mapped) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range maps {
		if why := mmap.ChangedIn(m); why != "" {
			line := mmap.PathOf(m) + ": changed while being read (" + why + ")"
			if !seen[line] {
				seen[line] = true
				out = append(out, line)
			}
		}
	}
	return out
}

// Warnings says what could not be read (corrupt DWARF, …).
func (t *Table) Warnings() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.warnings...)
}

func (t *Table) warnf(format string, args ...any) {
	t.mu.Lock()
	t.warnings = append(t.warnings, fmt.Sprintf(format, args...))
	t.mu.Unlock()
}

func (t *Table) recoverWarn(what string) {
	if r := recover(); r != nil {
		mmap.Repanic(r) // a file that changed under the reader is the command's error, not this decoder's
		t.warnf("%s: %s: %v", filepath.Base(t.Path), what, r)
	}
}

// Preload reads now what the first lookup would: the ELF symbols and the
// DWARF unit index.
func (t *Table) Preload() {
	if t.pick(); t.raw == nil {
		t.loadSymbols()
	}
	t.loadDWARF()
}

// HasDWARF reports whether the object (or its debug file) has DWARF.
func (t *Table) HasDWARF() bool {
	t.loadDWARF()
	return t.dwarf != nil
}

type cuRange struct {
	lo, hi uint64
	off    dwarf.Offset
}

func (t *Table) loadDWARF() {
	t.dwarfOnce.Do(func() {
		defer t.dwarfLoaded.Store(true)
		defer t.recoverWarn("DWARF")
		src, path := t.file, t.Path
		if t.debug != nil && t.debug.Section(".debug_info") != nil {
			src, path = t.debug, t.DebugPath
		}
		info := src.Section(".debug_info")
		if info == nil {
			return
		}
		secs, err := t.openDWARF(src, path)
		if err != nil {
			t.warnf("%s: DWARF: %v", filepath.Base(t.Path), err)
			return
		}
		k := indexKey{uint64(len(secs.Info)), uint64(len(secs.Abbrev))}
		t.indexKey = k
		if id := BuildID(src); len(id) > 0 {
			t.buildID = hex.EncodeToString(id)
		}
		t.indexID = t.buildID
		index := t.indexPath(t.buildID, k, "units")
		var d *die.Data
		if b, ok := readIndex(index, k); ok {
			if units, cus, ok := decodeUnits(b, k); ok {
				if dd, err := die.New(secs, units); err == nil {
					t.cus, d = cus, dd
				}
			}
		}
		if d == nil {
			if d, err = die.New(secs, nil); err != nil {
				t.warnf("%s: DWARF: %v", filepath.Base(t.Path), err)
				return
			}
			t.cus = t.unitRanges(d)
			if len(t.warnings) == 0 && index != "" && !t.deferWrite() {
				t.writeIndex(index, k, encodeUnits(d.Units(), t.cus))
			}
		}
		// The files the entries refer to, before any is read: their
		// entries take offsets after the file's own.
		var attached []string
		if s := t.attachSupplementary(d, src, path); s != "" {
			attached = append(attached, s)
		}
		if len(secs.Types) > 0 {
			if err := d.AttachTypes(secs.Types); err != nil {
				t.warnf("%s: DWARF: %v", filepath.Base(t.Path), err)
			}
		}
		if d.HasTypeUnits() {
			// References to type units (DW_FORM_ref_sig8) resolve: an
			// index built before they did is not this one.
			attached = append(attached, "types")
		}
		if s := t.attachSplits(d); s != "" {
			attached = append(attached, s)
		}
		if len(attached) > 0 && t.indexID != "" {
			// The index of entries that refer to other files is kept by
			// their identity too: another supplementary file, or another
			// set of .dwo, is another index.
			t.indexID += "+" + strings.Join(attached, "+")
			t.indexKey.info = d.End()
		}
		t.dwarf = d
	})
}

// cuFor returns the compile unit covering addr.
func (t *Table) cuFor(addr uint64) *cuInfo {
	t.loadDWARF()
	if t.dwarf == nil {
		return nil
	}
	i := sort.Search(len(t.cus), func(i int) bool { return t.cus[i].lo > addr })
	for j := i - 1; j >= 0 && j >= i-64; j-- {
		if addr >= t.cus[j].lo && addr < t.cus[j].hi {
			return t.loadCU(t.cus[j].off)
		}
	}
	return nil
}

// Locate returns the source position of a file address as gdb shows it in
// frames, innermost inline level first; the last Location is the concrete
// function.
func (t *Table) Locate(addr uint64) []Location { return t.locate(addr, true) }

// LocateAddr2line is Locate with addr2line's choice among line-table rows
// at one address (the last row, where gdb prefers a statement row).
func (t *Table) LocateAddr2line(addr uint64) []Location { return t.locate(addr, false) }

// ScopeAt is the DWARF scope and unit of inline level lvl at a file
// address (Locate(addr)[lvl].Scope and .CU, without copying the levels);
// zeros when there is no such level.
func (t *Table) ScopeAt(addr uint64, lvl int) (scope, cu dwarf.Offset) {
	k := locKey{addr, true}
	v, ok := t.locMemo.Load(k)
	if !ok {
		t.locate(addr, true)
		v, _ = t.locMemo.Load(k)
	}
	if locs, _ := v.([]Location); lvl >= 0 && lvl < len(locs) {
		return locs[lvl].Scope, locs[lvl].CU
	}
	return 0, 0
}

type locKey struct {
	addr     uint64
	gdbStyle bool
}

func (t *Table) locate(addr uint64, gdbStyle bool) []Location {
	k := locKey{addr, gdbStyle}
	if v, ok := t.locMemo.Load(k); ok {
		return append([]Location(nil), v.([]Location)...)
	}
	locs := t.locateUncached(addr, gdbStyle)
	t.locMemo.Store(k, append([]Location(nil), locs...))
	return locs
}

// LocateSource is Locate's answer when the DWARF covers addr (Demangled
// may be left empty), nil when Locate would name it by its ELF symbol
// (FromSymtab): the source marks a disassembly interleaves. A listing asks it for every instruction, and a
// function known only by its symbol (a stripped library's) would be
// demangled once for each of them to be dropped.
func (t *Table) LocateSource(addr uint64) []Location {
	if v, ok := t.locMemo.Load(locKey{addr, true}); ok {
		locs := v.([]Location)
		if len(locs) == 0 || locs[0].FromSymtab {
			return nil
		}
		return append([]Location(nil), locs...)
	}
	if cu := t.cuFor(addr); cu != nil {
		return cu.locateAs(addr, true, false)
	}
	return nil
}

func (t *Table) locateUncached(addr uint64, gdbStyle bool) []Location {
	if cu := t.cuFor(addr); cu != nil {
		if locs := cu.locate(addr, gdbStyle); len(locs) > 0 {
			return locs
		}
	}
	s, ok := t.funcSymbolAt(addr)
	if !ok {
		return nil
	}
	loc := Location{Function: symbolFrameName(s.Name), Linkage: s.Name, Demangled: s.DemangledName(), Low: s.Value, FromSymtab: true}
	if cu := t.cuFor(addr); cu != nil {
		// Only a row inside the symbol's function: code without line
		// rows (top-level asm) would otherwise take the line of the
		// function before it.
		if row, ok := cu.lineAt(addr, gdbStyle); ok && row.Addr >= s.Value {
			loc.File, loc.Line = row.File, row.Line
		}
	}
	return []Location{loc}
}

// symbolFrameName is the name gdb gives a frame known only by its ELF
// symbol: demangled without parameters — but, as gdb prints a minimal
// symbol's whole demangled name, with the return type a function
// template's mangled name carries ("void finish_contexts<…>", where a
// DWARF name is "finish_contexts<…>").
func symbolFrameName(name string) string {
	return demangleNoParamsWithReturn(name)
}

// LineRows returns the line-table rows with addresses in [lo, hi).
func (t *Table) LineRows(lo, hi uint64) []LineRow {
	t.loadDWARF()
	var out []LineRow
	seen := map[dwarf.Offset]bool{}
	for _, c := range t.cus {
		if c.hi <= lo || c.lo >= hi || seen[c.off] {
			continue
		}
		seen[c.off] = true
		cu := t.loadCU(c.off)
		if cu == nil {
			continue
		}
		for i := 0; i < cu.lines.len(); i++ {
			if r := cu.lines.at(i); r.Addr >= lo && r.Addr < hi && !r.end {
				out = append(out, cu.row(r))
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Addr < out[j].Addr })
	return out
}
