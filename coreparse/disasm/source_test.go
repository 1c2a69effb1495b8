package disasm_test

// A test-only source-line callback from the executable's DWARF: the line
// table for the innermost position and the inlined_subroutine tree for the
// function chain (what coreparse/symbols provides in the product).

import (
	"debug/dwarf"
	"debug/elf"
	"path/filepath"
	"sort"
	"testing"

	"github.com/dsecore/dsecore/coreparse/disasm"
)

type lineRow struct {
	addr  uint64
	file  string
	line  int
	discr int
	end   bool
}

type scope struct {
	lo, hi         uint64
	name           string
	inline         bool
	depth          int
	callFile       string
	callLine       int
	parentFunction int // index of the enclosing scope, -1 for a concrete function
}

type dwarfSource struct {
	rows   []lineRow
	scopes []scope
}

func loadDwarfSource(t testing.TB, f *elf.File) *dwarfSource {
	t.Helper()
	d, err := f.DWARF()
	if err != nil {
		t.Fatalf("DWARF: %v", err)
	}
	ds := &dwarfSource{}
	r := d.Reader()
	names := map[dwarf.Offset]string{}
	type pending struct {
		e     *dwarf.Entry
		depth int
		files []*dwarf.LineFile
	}
	var entries []pending
	var files []*dwarf.LineFile
	depth := 0
	for {
		e, err := r.Next()
		if err != nil || e == nil {
			break
		}
		if e.Tag == 0 {
			depth--
			continue
		}
		if e.Tag == dwarf.TagCompileUnit {
			lr, err := d.LineReader(e)
			if err == nil && lr != nil {
				files = lr.Files()
				var le dwarf.LineEntry
				for lr.Next(&le) == nil {
					name := ""
					if le.File != nil {
						name = le.File.Name
					}
					ds.rows = append(ds.rows, lineRow{le.Address, name, le.Line, le.Discriminator, le.EndSequence})
				}
			}
		}
		if n, ok := e.Val(dwarf.AttrName).(string); ok {
			names[e.Offset] = n
		}
		if e.Tag == dwarf.TagSubprogram || e.Tag == dwarf.TagInlinedSubroutine {
			entries = append(entries, pending{e, depth, files})
		}
		if e.Children {
			depth++
		}
	}
	nameOf := func(e *dwarf.Entry) string {
		for _, a := range []dwarf.Attr{dwarf.AttrName, dwarf.AttrAbstractOrigin, dwarf.AttrSpecification} {
			switch v := e.Val(a).(type) {
			case string:
				return v
			case dwarf.Offset:
				if n, ok := names[v]; ok {
					return n
				}
				// one more level: the origin's specification
				rr := d.Reader()
				rr.Seek(v)
				if oe, err := rr.Next(); err == nil && oe != nil {
					if s, ok := oe.Val(dwarf.AttrSpecification).(dwarf.Offset); ok {
						return names[s]
					}
				}
			}
		}
		return ""
	}
	for _, p := range entries {
		ranges, err := d.Ranges(p.e)
		if err != nil {
			continue
		}
		for _, rg := range ranges {
			sc := scope{lo: rg[0], hi: rg[1], name: nameOf(p.e), inline: p.e.Tag == dwarf.TagInlinedSubroutine, depth: p.depth}
			if sc.inline {
				if fi, ok := p.e.Val(dwarf.AttrCallFile).(int64); ok && int(fi) < len(p.files) && p.files[fi] != nil {
					sc.callFile = p.files[fi].Name
				}
				if l, ok := p.e.Val(dwarf.AttrCallLine).(int64); ok {
					sc.callLine = int(l)
				}
			}
			ds.scopes = append(ds.scopes, sc)
		}
	}
	sort.SliceStable(ds.rows, func(i, j int) bool { return ds.rows[i].addr < ds.rows[j].addr })
	return ds
}

// line is the last line-table row at or before addr (as bfd finds it).
func (ds *dwarfSource) line(addr uint64) (string, int, int, bool) {
	i := sort.Search(len(ds.rows), func(i int) bool { return ds.rows[i].addr > addr }) - 1
	if i < 0 || ds.rows[i].end {
		return "", 0, 0, false
	}
	return ds.rows[i].file, ds.rows[i].line, ds.rows[i].discr, true
}

// marks is a disasm.SourceFunc: the chain of scopes containing addr,
// outermost first; each level's line is the call site of the next one,
// the innermost's the line table's.
func (ds *dwarfSource) marks(addr uint64) []disasm.SourceMark {
	var chain []scope
	for _, s := range ds.scopes {
		if addr >= s.lo && addr < s.hi {
			chain = append(chain, s)
		}
	}
	sort.SliceStable(chain, func(i, j int) bool { return chain[i].depth < chain[j].depth })
	// Keep the concrete function and the inlined scopes within it.
	for len(chain) > 0 && chain[0].inline {
		chain = chain[1:]
	}
	if len(chain) == 0 {
		return nil
	}
	file, line, discr, _ := ds.line(addr)
	out := make([]disasm.SourceMark, len(chain))
	for i, s := range chain {
		out[i] = disasm.SourceMark{Function: s.name, Inline: s.inline, Depth: i}
		if i+1 < len(chain) {
			out[i].File, out[i].Line = chain[i+1].callFile, chain[i+1].callLine
		} else {
			out[i].File, out[i].Line, out[i].Discriminator = file, line, discr
		}
	}
	return out
}

func innermost(m []disasm.SourceMark) (fn, file string, line, discr int) {
	if len(m) == 0 {
		return "", "", 0, 0
	}
	l := m[len(m)-1]
	return l.Function, filepath.Base(l.File), l.Line, l.Discriminator
}
