package symbols

import (
	"debug/dwarf"
	"sort"
	"strings"

	"github.com/dsecore/dsecore/coreparse/symbols/die"
)

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
	return cu.locateAs(addr, gdbStyle, true)
}

// locateAs is locate; without demangled, each Location's Demangled is left
// empty (a disassembly's marks name functions by Function alone, and
// demangling each level at each instruction was most of a listing's time).
func (cu *cuInfo) locateAs(addr uint64, gdbStyle, demangled bool) []Location {
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
			if demangled {
				loc.Demangled = Demangle(loc.Linkage)
			}
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
	if d := cu.dies[off]; d != nil {
		return d
	}
	if cu.skelTable != nil {
		if di, ok := cu.skelTable.find(off); ok {
			cu.dies[off] = di
			return di
		}
	}
	for _, t := range cu.bodyTables {
		if di, ok := t.find(off); ok {
			cu.dies[off] = di
			return di
		}
	}
	return nil
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
