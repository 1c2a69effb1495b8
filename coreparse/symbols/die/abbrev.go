package die

import (
	"debug/dwarf"
	"fmt"
)

// abbrevDecl reads the one declaration of code in the abbreviation table at
// off, skipping the others undecoded; nil when the table has none.
func (d *Data) abbrevDecl(src *source, off uint64, vers int, code uint64) (*abbrev, error) {
	if off >= uint64(len(src.s.Abbrev)) {
		return nil, fmt.Errorf("abbreviation table at %#x past the end of .debug_abbrev", off)
	}
	c := cursor{b: src.s.Abbrev, i: off}
	for {
		k := c.uleb()
		if k == 0 || c.bad {
			return nil, nil
		}
		tag := dwarf.Tag(c.uleb())
		children := c.u8() != 0
		var a *abbrev
		if k == code {
			a = &abbrev{tag: tag, children: children}
		}
		for {
			at, form := c.uleb(), c.uleb()
			if at == 0 && form == 0 || c.bad {
				break
			}
			var implicit int64
			if form == formImplicitConst {
				implicit = c.sleb()
			}
			if a == nil {
				continue
			}
			if form > 0xffff {
				return nil, fmt.Errorf("abbreviation %d at %#x: form %#x", code, off, form)
			}
			f := afield{attr: dwarf.Attr(at), form: uint16(form), implicit: implicit}
			var ok bool
			if f.class, ok = formClass(f.form, f.attr, vers); !ok {
				return nil, fmt.Errorf("abbreviation %d at %#x: unknown form %#x", code, off, form)
			}
			a.fields = append(a.fields, f)
		}
		if c.bad {
			return nil, fmt.Errorf("abbreviation table at %#x: truncated", off)
		}
		if a != nil {
			return a, nil
		}
	}
}

// abbrev is one abbreviation: an entry's tag, children flag and the forms
// of its attributes.
type abbrev struct {
	tag      dwarf.Tag
	children bool
	fields   []afield
}

type afield struct {
	attr     dwarf.Attr
	form     uint16
	class    dwarf.Class
	implicit int64 // DW_FORM_implicit_const's value
}

// abbrevTable maps abbreviation codes to abbreviations: a slice when the
// codes are small (GCC and clang number them 1, 2, 3 …), else a map.
type abbrevTable struct {
	dense  []*abbrev
	sparse map[uint64]*abbrev
}

func (t *abbrevTable) get(code uint64) *abbrev {
	if code < uint64(len(t.dense)) {
		return t.dense[code]
	}
	return t.sparse[code]
}

// abbrevTable parses (once) the abbreviation table at off.
func (d *Data) abbrevTable(src *source, off uint64, vers int) (*abbrevTable, error) {
	key := abbrevKey{src, off}
	d.abMu.Lock()
	t, ok := d.abbrevs[key]
	d.abMu.Unlock()
	if ok {
		return t, nil
	}
	if off >= uint64(len(src.s.Abbrev)) {
		return nil, fmt.Errorf("abbreviation table at %#x past the end of .debug_abbrev", off)
	}
	c := cursor{b: src.s.Abbrev, i: off}
	t = &abbrevTable{}
	for {
		code := c.uleb()
		if code == 0 || c.bad {
			break
		}
		a := &abbrev{tag: dwarf.Tag(c.uleb()), children: c.u8() != 0}
		for {
			at, form := c.uleb(), c.uleb()
			if at == 0 && form == 0 || c.bad {
				break
			}
			f := afield{attr: dwarf.Attr(at), form: uint16(form)}
			if form == formImplicitConst {
				f.implicit = c.sleb()
			}
			if form > 0xffff {
				return nil, fmt.Errorf("abbreviation %d at %#x: form %#x", code, off, form)
			}
			var ok bool
			if f.class, ok = formClass(f.form, f.attr, vers); !ok {
				return nil, fmt.Errorf("abbreviation %d at %#x: unknown form %#x", code, off, form)
			}
			a.fields = append(a.fields, f)
		}
		if code < 1<<12 {
			for uint64(len(t.dense)) <= code {
				t.dense = append(t.dense, nil)
			}
			if t.dense[code] == nil {
				t.dense[code] = a
			}
		} else {
			if t.sparse == nil {
				t.sparse = map[uint64]*abbrev{}
			}
			if _, dup := t.sparse[code]; !dup {
				t.sparse[code] = a
			}
		}
	}
	if c.bad {
		return nil, fmt.Errorf("abbreviation table at %#x: truncated", off)
	}
	d.abMu.Lock()
	if prev, ok := d.abbrevs[key]; ok {
		t = prev
	} else {
		d.abbrevs[key] = t
	}
	d.abMu.Unlock()
	return t, nil
}
