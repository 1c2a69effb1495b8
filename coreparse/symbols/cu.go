package symbols

import (
	"debug/dwarf"
	"encoding/binary"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/dsecore/dsecore/coreparse/symbols/die"
	"github.com/dsecore/dsecore/internal/mmap"
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
	body     sync.Once
	bodyRead atomic.Bool    // the body has been read (then the unit's index file keeps it)
	bodyDies []dwarf.Offset // the naming facts its body added to the unit's
	lazy     bool
	params   map[uint64][]CallParam // call-site parameters by return pc
	nested   []funcRange            // functions defined inside its DIE
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
	once       sync.Once
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
	stored    map[uint64][]byte
	dirty     atomic.Bool

	// nested indexes the functions defined inside other functions' DIEs,
	// built (by reading every deferred body) when an address of the unit
	// is in no top-level function.
	nestedOnce sync.Once
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
	once sync.Once
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

// walkInto are the DIEs whose children the first pass reads (besides
// concrete functions, whose bodies it defers).
var walkInto = map[dwarf.Tag]bool{dwarf.TagNamespace: true}

// walkFrame is the DIE a walk is inside of.
type walkFrame struct {
	die   dwarf.Offset
	scope *scope
	fn    *scope // the concrete function around it
	csPC  uint64 // a call site's return pc, for its parameters
}

// walk reads the children of the DIE `at` describes, up to its end, into
// dies and the unit's scopes. The first pass (skeleton) reads the unit's
// structure only: a concrete function becomes a lazy scope with its body
// unread, and a type's members are skipped and remembered in cu.skips; the
// later walks read one function's body or one type's members in full.
func (cu *cuInfo) walk(r *die.Reader, at walkFrame, skeleton bool, dies map[dwarf.Offset]*dieInfo, nested *[]funcRange) {
	t, d := cu.t, cu.t.dwarf
	stack := []walkFrame{at}
	for len(stack) > 0 {
		e, err := r.Next()
		if err != nil {
			t.warnf("%s: compile unit at %#x: %v", filepath.Base(t.Path), cu.off, err)
			break
		}
		if e == nil {
			break
		}
		if e.Tag == 0 {
			stack = stack[:len(stack)-1]
			continue
		}
		parent := stack[len(stack)-1]
		// Naming needs the functions (and what they name themselves
		// after) and the scopes around them: a DIE with children, or a
		// function. Leaves (variables, parameters, call sites, members)
		// are never named nor anyone's parent.
		if e.Children || e.Tag == dwarf.TagSubprogram || e.Tag == dwarf.TagInlinedSubroutine {
			dies[e.Offset] = newDieInfo(e, parent.die)
		}

		cur, fn := parent.scope, parent.fn
		csPC := uint64(0)
		switch e.Tag {
		case tagCallSiteParam, tagGNUCallSiteParam:
			if parent.csPC != 0 && fn != nil {
				loc, _ := e.Val(dwarf.AttrLocation).([]byte)
				val, ok := e.Val(dwarf.AttrCallValue).([]byte)
				if !ok {
					val, _ = e.Val(attrGNUCallSiteValue).([]byte)
				}
				// DW_OP_reg0..reg31: the parameter's register at the call.
				if len(loc) == 1 && loc[0] >= 0x50 && loc[0] <= 0x6f && len(val) > 0 {
					if fn.params == nil {
						fn.params = map[uint64][]CallParam{}
					}
					fn.params[parent.csPC] = append(fn.params[parent.csPC], CallParam{Reg: int(loc[0] - 0x50), Value: val})
				}
			}
		case dwarf.TagCallSite, tagGNUCallSite:
			if fn == nil {
				break
			}
			cs := callSite{}
			if pc, ok := e.Val(dwarf.AttrCallReturnPC).(uint64); ok {
				cs.returnPC = pc
			} else if pc, ok := e.Val(dwarf.AttrLowpc).(uint64); ok {
				cs.returnPC = pc
			}
			if b, ok := e.Val(dwarf.AttrCallTailCall).(bool); ok && b {
				cs.tail = true
			} else if b, ok := e.Val(attrGNUTailCall).(bool); ok && b {
				cs.tail = true
			}
			if o, ok := e.Val(dwarf.AttrCallOrigin).(dwarf.Offset); ok {
				cs.origin = o
			} else if o, ok := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset); ok {
				cs.origin = o
			}
			if cs.returnPC != 0 {
				fn.calls = append(fn.calls, cs)
				csPC = cs.returnPC
			}
		case dwarf.TagSubprogram, dwarf.TagInlinedSubroutine:
			ranges, _ := d.Ranges(e)
			if len(ranges) == 0 {
				break
			}
			s := &scope{die: e.Offset, ranges: ranges, low: ranges[0][0], inline: e.Tag == dwarf.TagInlinedSubroutine}
			if lowpc, ok := e.Val(dwarf.AttrLowpc).(uint64); ok {
				s.low = lowpc
			} else if ep, ok := e.Val(dwarf.AttrEntrypc).(uint64); ok {
				s.low = ep
			}
			if s.inline {
				if fi, ok := e.Val(dwarf.AttrCallFile).(int64); ok && fi >= 0 && int(fi) < len(cu.files) {
					s.callFile = cu.files[fi]
				}
				if l, ok := e.Val(dwarf.AttrCallLine).(int64); ok {
					s.callLine = int(l)
				}
				if c, ok := e.Val(dwarf.AttrCallColumn).(int64); ok {
					s.callCol = int(c)
				}
			}
			if s.inline && cur != nil {
				cur.children = append(cur.children, s)
			} else if !s.inline {
				if !skeleton {
					// A function defined inside another's DIE (a local
					// class's methods, a lambda's): read with it.
					if nested != nil {
						for _, rg := range ranges {
							*nested = append(*nested, funcRange{rg[0], rg[1], s})
						}
					}
					fn = s
					cur = s
					break
				}
				for _, rg := range ranges {
					cu.funcs = append(cu.funcs, funcRange{rg[0], rg[1], s})
				}
				if e.Children {
					s.lazy = true
					r.SkipChildren()
					continue
				}
				fn = s
			}
			cur = s
		}
		// The first pass goes into namespaces only (a concrete function's
		// body is read on first use, above): the children of anything
		// else (a type's members, a declaration's parameters) are skipped,
		// and read when a name needs them. Only with DW_AT_sibling (GCC
		// gives one to every DIE with children): it says where the subtree
		// ends.
		if skeleton && e.Children && !walkInto[e.Tag] {
			if sib, ok := e.Val(dwarf.AttrSibling).(dwarf.Offset); ok && sib > e.Offset {
				cu.skips = append(cu.skips, skipped{start: e.Offset, end: sib})
				r.SkipChildren()
				continue
			}
		}
		if e.Children {
			stack = append(stack, walkFrame{die: e.Offset, scope: cur, fn: fn, csPC: csPC})
		}
	}
}

// expand reads a lazy function's body (once; concurrent callers wait).
func (cu *cuInfo) expand(fn *scope) {
	if fn == nil || !fn.lazy {
		return
	}
	fn.body.Do(func() {
		defer cu.t.recoverWarn("function body")
		if cu.restoreBody(fn) {
			return
		}
		r := cu.t.dwarf.Reader()
		r.Seek(fn.die)
		if e, err := r.Next(); err != nil || e == nil || !e.Children {
			return
		}
		dies := map[dwarf.Offset]*dieInfo{}
		var nested []funcRange
		r.Reuse()
		cu.walk(r, walkFrame{die: fn.die, scope: fn, fn: fn}, false, dies, &nested)
		fn.nested = nested
		fn.bodyDies = cu.addDies(dies)
		fn.bodyRead.Store(true)
		cu.dirty.Store(true)
	})
}

// expandSkipped reads the children of the skipped DIE whose subtree holds
// off; false when no skipped subtree does.
func (cu *cuInfo) expandSkipped(off dwarf.Offset) bool {
	i := sort.Search(len(cu.skips), func(i int) bool { return cu.skips[i].start > off })
	if i == 0 {
		return false
	}
	sk := &cu.skips[i-1]
	if off <= sk.start || off >= sk.end {
		return false
	}
	sk.once.Do(func() {
		defer cu.t.recoverWarn("type members")
		if cu.restoreSkipped(sk) {
			return
		}
		r := cu.t.dwarf.Reader()
		r.Seek(sk.start)
		if e, err := r.Next(); err != nil || e == nil || !e.Children {
			return
		}
		dies := map[dwarf.Offset]*dieInfo{}
		r.Reuse()
		cu.walk(r, walkFrame{die: sk.start}, false, dies, nil)
		sk.dies = cu.addDies(dies)
		sk.read.Store(true)
		cu.dirty.Store(true)
	})
	return true
}

// lineFileNames are a line table's file names by index ("" for none).
func lineFileNames(files []*dwarf.LineFile) []string {
	out := make([]string, len(files))
	for i, f := range files {
		if f != nil {
			out[i] = f.Name
		}
	}
	return out
}

// row is a kept row as a LineRow.
func (cu *cuInfo) row(r lineRow) LineRow {
	return LineRow{Addr: r.Addr, File: cu.fileNames[r.File], Line: int(r.Line), IsStmt: r.IsStmt}
}

// lineAt returns the line-table row for addr: the last row at the greatest
// address not above it (with gdbStyle, an is_stmt row at that address is
// preferred, as gdb does; addr2line takes the last row); no row inside a
// gap between sequences.
func (cu *cuInfo) lineAt(addr uint64, gdbStyle bool) (LineRow, bool) {
	l := &cu.lines
	i := sort.Search(l.len(), func(i int) bool { return l.at(i).Addr > addr })
	if i == 0 {
		return LineRow{}, false
	}
	best := l.at(i - 1)
	if best.end {
		return LineRow{}, false
	}
	if gdbStyle && !best.IsStmt {
		for j := i - 1; j > 0; j-- {
			prev := l.at(j - 1)
			if prev.Addr != best.Addr || prev.end {
				break
			}
			if prev.IsStmt {
				best = prev
				break
			}
		}
	}
	if best.Line == 0 {
		return LineRow{}, false
	}
	return cu.row(best), true
}

// locate builds the inline chain at addr, innermost first.
func (cu *cuInfo) locate(addr uint64, gdbStyle bool) []Location {
	fn := cu.funcAt(addr)
	if fn == nil {
		return nil
	}
	chain := []*scope{fn}
	for cur := fn; ; {
		var next *scope
		for _, c := range cur.children {
			if c.contains(addr) {
				next = c
				break
			}
		}
		if next == nil {
			break
		}
		chain = append(chain, next)
		cur = next
	}
	out := make([]Location, len(chain))
	row, hasRow := cu.lineAt(addr, gdbStyle)
	for k := len(chain) - 1; k >= 0; k-- {
		s := chain[k]
		loc := Location{Inline: s.inline, Low: s.low, Scope: s.die, CU: cu.off}
		loc.Function, loc.Linkage = cu.name(s.die)
		loc.Demangled = loc.Function
		if loc.Linkage != "" {
			loc.Demangled = Demangle(loc.Linkage)
			if strings.Contains(loc.Function, "(lambda at ") {
				// clang names a lambda in DWARF by where it is written
				// ("wait<(lambda at co.cc:141:26)>"); gdb names the
				// function by its demangled linkage name (its physname:
				// "wait<co::Processer::Process()::$_0>"), as the
				// symbol table and every other tool do.
				loc.Function = demangleNoParams(loc.Linkage)
			}
		}
		if k == len(chain)-1 {
			if hasRow {
				loc.File, loc.Line = row.File, row.Line
			}
		} else {
			inner := chain[k+1]
			loc.File, loc.Line, loc.Column = inner.callFile, inner.callLine, inner.callCol
		}
		out[len(chain)-1-k] = loc
	}
	return out
}

// die returns a DIE's naming facts, reading it from another unit when a
// reference leaves this one.
func (cu *cuInfo) die(off dwarf.Offset) *dieInfo {
	if d := cu.cachedDIE(off); d != nil {
		return d
	}
	if cu.expandSkipped(off) {
		if d := cu.cachedDIE(off); d != nil {
			return d
		}
	}
	r := cu.t.dwarf.Reader()
	r.Seek(off)
	e, err := r.Next()
	if err != nil || e == nil {
		return nil
	}
	di := newDieInfo(e, ^dwarf.Offset(0)) // parent unknown: another unit
	cu.mu.Lock()
	cu.dies[off] = di
	cu.mu.Unlock()
	return di
}

// newDieInfo reads the naming facts of an entry.
func newDieInfo(e *die.Entry, parent dwarf.Offset) *dieInfo {
	di := &dieInfo{tag: e.Tag, parent: parent}
	di.name, _ = e.Str(dwarf.AttrName)
	if l, ok := e.Str(dwarf.AttrLinkageName); ok {
		di.linkage = l
	} else if l, ok := e.Str(attrMIPSLinkageName); ok {
		di.linkage = l
	}
	di.spec, _ = e.Ref(dwarf.AttrSpecification)
	di.origin, _ = e.Ref(dwarf.AttrAbstractOrigin)
	return di
}

// cachedDIE is a DIE already read, nil otherwise. A unit is shared by the
// goroutines of a batch: its caches are guarded.
func (cu *cuInfo) cachedDIE(off dwarf.Offset) *dieInfo {
	cu.mu.Lock()
	defer cu.mu.Unlock()
	d := cu.dies[off]
	if d == nil && cu.skelTable != nil {
		if di, ok := cu.skelTable.find(off); ok {
			cu.dies[off] = di
			d = di
		}
	}
	return d
}

// name is the qualified name gdb gives the function of a DIE: its DWARF
// name, through abstract_origin and specification, prefixed by the
// namespaces and classes around its declaration.
func (cu *cuInfo) name(off dwarf.Offset) (name, linkage string) {
	cu.mu.Lock()
	n, ok := cu.byName[off]
	cu.mu.Unlock()
	if ok {
		return n, cu.linkage(off)
	}
	d := cu.die(off)
	for hops := 0; d != nil && hops < 16; hops++ {
		if linkage == "" {
			linkage = d.linkage
		}
		if name == "" {
			name = d.name
		}
		nd := cu.referenced(d)
		if nd == nil {
			break
		}
		d = nd
	}
	if d == nil {
		return "??", linkage
	}
	if d.name != "" {
		name = d.name
	}
	if cu.isC && linkage != "" {
		// glibc's hidden aliases (asm labels): gdb shows "__GI___futex_…".
		name = linkage
	} else if d.parent == ^dwarf.Offset(0) {
		// Declared in another unit: its scopes are unknown here.
		if linkage != "" {
			name = demangleNoParams(linkage)
		}
	} else if cu.inAnonymousClass(d) && linkage != "" {
		// A lambda's operator() (a member of an unnamed closure type):
		// gdb names it from the linkage name, "main::{lambda(long)#1}::operator()".
		name = demangleNoParams(linkage)
	} else {
		for p := d.parent; p != 0; {
			pd := cu.cachedDIE(p)
			if pd == nil {
				break
			}
			switch pd.tag {
			case dwarf.TagNamespace:
				if pd.name == "" {
					name = "(anonymous namespace)::" + name
				} else {
					name = pd.name + "::" + name
				}
			case dwarf.TagClassType, dwarf.TagStructType, dwarf.TagUnionType, dwarf.TagEnumerationType:
				if pd.name != "" {
					name = pd.name + "::" + name
				}
			}
			p = pd.parent
		}
	}
	if name == "" {
		name = "??"
		if linkage != "" {
			name = demangleNoParams(linkage)
		}
	}
	cu.mu.Lock()
	cu.byName[off] = name
	cu.mu.Unlock()
	return name, linkage
}

func (cu *cuInfo) linkage(off dwarf.Offset) string {
	d := cu.die(off)
	for hops := 0; d != nil && hops < 16; hops, d = hops+1, cu.referenced(d) {
		if d.linkage != "" {
			return d.linkage
		}
	}
	return ""
}

// referenced is the DIE a DIE borrows its name from: its
// DW_AT_abstract_origin, else its DW_AT_specification; nil when none.
func (cu *cuInfo) referenced(d *dieInfo) *dieInfo {
	switch {
	case d.origin != 0:
		return cu.die(d.origin)
	case d.spec != 0:
		return cu.die(d.spec)
	}
	return nil
}

// attrMIPSLinkageName is DW_AT_MIPS_linkage_name, older GCC's linkage name.
const attrMIPSLinkageName = dwarf.Attr(0x2007)

// inAnonymousClass reports whether a declaration sits in an unnamed class
// or inside a function (local classes, lambda closures).
func (cu *cuInfo) inAnonymousClass(d *dieInfo) bool {
	for p, hops := d.parent, 0; p != 0 && hops < 64; hops++ {
		pd := cu.cachedDIE(p)
		if pd == nil {
			return false
		}
		switch pd.tag {
		case dwarf.TagClassType, dwarf.TagStructType, dwarf.TagUnionType:
			if pd.name == "" {
				return true
			}
		case dwarf.TagSubprogram, dwarf.TagLexDwarfBlock:
			return true
		}
		p = pd.parent
	}
	return false
}
