package symbols

import (
	"debug/dwarf"
	"encoding/binary"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/dsecore/dsecore/internal/mmap"
	"github.com/dsecore/dsecore/internal/par"
)

// dieInfo is what naming needs of a DIE.
type dieInfo struct {
	tag     dwarf.Tag
	name    string
	linkage string
	parent  dwarf.Offset // enclosing DIE, 0 at the top of the unit
	spec    dwarf.Offset // DW_AT_specification
	origin  dwarf.Offset // DW_AT_abstract_origin
}

// scope is a subprogram or an inlined instance with its address ranges.
type scope struct {
	die      dwarf.Offset
	ranges   [][2]uint64
	low      uint64
	inline   bool
	callFile string
	callLine int
	callCol  int
	children []*scope
	calls    []callSite // call sites of a concrete function (inlined code included)

	// A concrete function's body (its inline instances, call sites and
	// call-site parameters) is read on first use: a unit of template-heavy
	// C++ holds thousands of functions and a backtrace touches a few.
	body     par.Once
	bodyRead atomic.Bool    // the body has been read (then the unit's index file keeps it)
	bodyDies []dwarf.Offset // the naming facts its body added to the unit's (read from DWARF)
	// bodyTable: instead of bodyDies, for a body from the unit's index
	// file: its naming facts, decoded when looked up.
	bodyTable *dieTable
	lazy      bool
	params    map[uint64][]CallParam // call-site parameters by return pc
	nested    []funcRange            // functions defined inside its DIE
}

// callSite is a DW_TAG_call_site (or GCC's DW_TAG_GNU_call_site).
type callSite struct {
	returnPC uint64
	tail     bool
	origin   dwarf.Offset // the called function's DIE, 0 when unknown (indirect call)
}

const (
	tagCallSiteParam     = dwarf.Tag(0x49)
	tagGNUCallSiteParam  = dwarf.Tag(0x410a)
	attrGNUCallSiteValue = dwarf.Attr(0x2111)
	tagGNUCallSite       = dwarf.Tag(0x4109)
	attrGNUTailCall      = dwarf.Attr(0x2115)
	attrGNUCallSiteT     = dwarf.Attr(0x2113) // DW_AT_GNU_call_site_target
)

func (s *scope) contains(addr uint64) bool {
	for _, r := range s.ranges {
		if addr >= r[0] && addr < r[1] {
			return true
		}
	}
	return false
}

// lineRow is one row as kept per unit: compact (a unit of template-heavy
// C++ has hundreds of thousands), its file an index into the unit's names.
type lineRow struct {
	Addr   uint64
	Line   int32
	File   uint16 // index into cuInfo.fileNames
	IsStmt bool
	end    bool
}

// lineTable is a unit's rows: decoded (a unit read from DWARF), or
// fixed-size records in its index file's mapping, decoded one at a time
// by the lookups (lineRecord bytes each: address, line, file, flags).
type lineTable struct {
	rows []lineRow
	raw  []byte
}

const lineRecord = 15

func (l *lineTable) len() int {
	if l.raw != nil {
		return len(l.raw) / lineRecord
	}
	return len(l.rows)
}

func (l *lineTable) at(i int) lineRow {
	if l.raw == nil {
		return l.rows[i]
	}
	b := l.raw[i*lineRecord : i*lineRecord+lineRecord]
	le := binary.LittleEndian
	return lineRow{Addr: le.Uint64(b), Line: int32(le.Uint32(b[8:])), File: le.Uint16(b[12:]), IsStmt: b[14]&1 != 0, end: b[14]&2 != 0}
}

// appendRecord writes a row as a record.
func (r lineRow) appendRecord(b []byte) []byte {
	le := binary.LittleEndian
	b = le.AppendUint64(b, r.Addr)
	b = le.AppendUint32(b, uint32(r.Line))
	b = le.AppendUint16(b, r.File)
	return append(b, flag(r.IsStmt)|flag(r.end)<<1)
}

type funcRange struct {
	lo, hi uint64
	s      *scope
}

// skipped is a DIE whose children the first pass left unread (a type's
// members, nested types and method declarations; a declaration's
// parameters): read when a name needs one of them.
type skipped struct {
	start, end dwarf.Offset // the DIE and the offset just past its subtree
	once       par.Once
	read       atomic.Bool    // its children have been read
	dies       []dwarf.Offset // the naming facts they added to the unit's
}

// addDies adds naming facts to the unit's and returns their offsets,
// sorted.
func (cu *cuInfo) addDies(dies map[dwarf.Offset]*dieInfo) []dwarf.Offset {
	cu.mergeDies(dies)
	return sortedKeys(dies)
}

// mergeDies adds naming facts to the unit's.
func (cu *cuInfo) mergeDies(dies map[dwarf.Offset]*dieInfo) {
	cu.mu.Lock()
	for k, v := range dies {
		cu.dies[k] = v
	}
	cu.mu.Unlock()
}

func sortedKeys(dies map[dwarf.Offset]*dieInfo) []dwarf.Offset {
	out := make([]dwarf.Offset, 0, len(dies))
	for k := range dies {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// cuInfo is one parsed compile unit: its line table, its concrete
// functions' ranges and the naming facts of what the first pass read.
type cuInfo struct {
	mu        sync.Mutex // guards dies and byName, filled lazily
	t         *Table
	dies      map[dwarf.Offset]*dieInfo
	funcs     []funcRange // sorted by lo
	lines     lineTable   // sorted by address, end-of-sequence rows first at an address
	fileNames []string    // the line rows' file names
	files     []string    // the line table's file names by index (DW_AT_call_file)
	byName    map[dwarf.Offset]string
	isC       bool // a C unit: gdb names functions by their linkage (assembler) name when there is one
	off       dwarf.Offset
	base      uint64    // the unit's base address (DW_AT_low_pc) for location lists
	addrBase  int64     // DW_AT_addr_base: this unit's part of .debug_addr
	skips     []skipped // by start (a unit has thousands: one allocation)

	// skel are the DIEs the first pass read (sorted); stored the parts of
	// the unit's index file not decoded yet (bodies, skipped subtrees) by
	// partKey; dirty: read more of than the index file has (the table's
	// Close writes it).
	skel      []dwarf.Offset
	skelTable *dieTable // instead of skel, for a unit from its index file: its facts, decoded when looked up
	// bodyTables are the naming facts of the bodies restored from the
	// index file (each a scope's bodyTable), looked up like skelTable.
	bodyTables []*dieTable
	stored     map[uint64][]byte
	dirty      atomic.Bool

	// nested indexes the functions defined inside other functions' DIEs,
	// built (by reading every deferred body) when an address of the unit
	// is in no top-level function.
	nestedOnce par.Once
	nested     []funcRange
}

func (t *Table) loadCU(off dwarf.Offset) *cuInfo {
	t.mu.Lock()
	e, ok := t.cuCache[off]
	if !ok {
		e = &cuEntry{}
		t.cuCache[off] = e
	}
	t.mu.Unlock()
	// Once per unit: goroutines that need it together wait for one parse.
	e.once.Do(func() {
		if e.cu = t.loadUnit(off); e.cu == nil {
			if e.cu = t.parseCU(off); e.cu != nil {
				e.cu.dirty.Store(true)
			}
		}
	})
	return e.cu
}

// cuEntry is a unit in the table's cache, parsed once.
type cuEntry struct {
	once par.Once
	cu   *cuInfo
}

func (t *Table) parseCU(off dwarf.Offset) (cu *cuInfo) {
	defer func() {
		if r := recover(); r != nil {
			mmap.Repanic(r) // a file that changed under the reader is the command's error, not this decoder's
			t.warnf("%s: compile unit at %#x: %v", filepath.Base(t.Path), off, r)
			cu = nil
		}
	}()
	d := t.dwarf
	r := d.Reader()
	r.Seek(off)
	top, err := r.Next()
	if err != nil || top == nil {
		t.warnf("%s: compile unit at %#x: %v", filepath.Base(t.Path), off, err)
		return nil
	}
	cu = &cuInfo{t: t, dies: map[dwarf.Offset]*dieInfo{}, byName: map[dwarf.Offset]string{}, off: off}
	cu.base, _ = top.Val(dwarf.AttrLowpc).(uint64)
	cu.addrBase, _ = top.Val(dwarf.AttrAddrBase).(int64)
	// A skeleton unit's entries are its split unit's (a .dwo, a .dwp's
	// part); its line table and addresses are its own.
	body := top
	if d.IsSkeleton(top) {
		if split, ok := d.Split(off); ok {
			r.Seek(split)
			if st, err := r.Next(); err == nil && st != nil {
				body = st
			}
		}
	}
	if lang, ok := body.Val(dwarf.AttrLanguage).(int64); ok {
		switch lang {
		case 0x1, 0x2, 0xc, 0x1d, 0x2c: // DW_LANG_C89, C, C99, C11, C17
			cu.isC = true
		}
	}
	if lr, err := d.LineReader(top); err == nil && lr != nil {
		cu.files = lineFileNames(lr.Files())
		var e dwarf.LineEntry
		fileIdx := map[*dwarf.LineFile]uint16{}
		for {
			if err := lr.Next(&e); err != nil {
				break
			}
			fi, ok := fileIdx[e.File]
			if !ok {
				name := ""
				if e.File != nil {
					name = e.File.Name
				}
				if len(cu.fileNames) >= 1<<16-1 {
					break // more files than a unit has: corrupt
				}
				fi = uint16(len(cu.fileNames))
				fileIdx[e.File] = fi
				cu.fileNames = append(cu.fileNames, name)
			}
			cu.lines.rows = append(cu.lines.rows, lineRow{Addr: e.Address, Line: int32(e.Line), File: fi, IsStmt: e.IsStmt, end: e.EndSequence})
		}
		if f := lr.Files(); len(f) > len(cu.files) {
			cu.files = lineFileNames(f)
		}
		// By address, an end of sequence before a row at the same address;
		// stable: rows at one address keep the program's order. Sequences
		// mostly come in address order: check before sorting.
		cmp := func(a, b lineRow) int {
			switch {
			case a.Addr != b.Addr:
				if a.Addr < b.Addr {
					return -1
				}
				return 1
			case a.end && !b.end:
				return -1
			case b.end && !a.end:
				return 1
			}
			return 0
		}
		if !slices.IsSortedFunc(cu.lines.rows, cmp) {
			slices.SortStableFunc(cu.lines.rows, cmp)
		}
	}
	if body != top && len(cu.files) > 0 {
		// DW_AT_call_file of split units index the file table of
		// .debug_line.dwo, which GCC and clang write as the skeleton's.
	}
	if !body.Children {
		return cu
	}
	dies := map[dwarf.Offset]*dieInfo{}
	if body != top {
		// The split unit's entries: offsets after the file's own.
		r.Seek(body.Offset)
		r.Next()
	}
	r.Reuse()
	cu.walk(r, walkFrame{}, true, dies, nil)
	cu.dies = dies
	cu.skel = sortedKeys(dies)
	sort.Slice(cu.funcs, func(i, j int) bool { return cu.funcs[i].lo < cu.funcs[j].lo })
	return cu
}
