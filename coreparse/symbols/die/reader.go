package die

import (
	"debug/dwarf"
	"errors"
)

// Reader reads entries in the order they are stored, as dwarf.Reader does:
// a pre-order walk of each unit's tree, children ended by a null entry
// (Tag 0), unit after unit. A Reader is used by one goroutine.
type Reader struct {
	d    *Data
	ui   int // current unit, -1 before the first
	off  uint64
	end  uint64
	err  error
	done bool

	lastChildren bool
	lastSibling  dwarf.Offset
	lastUnit     bool

	entries []Entry // storage handed out by Next, in chunks
	fields  []Field
	// The chunks start small and double: most readers are made to decode
	// one entry (a function's frame base, a type), and a first chunk of 64
	// entries and 512 fields (~25 KB) for each was most of the garbage
	// of an analysis that reads 10,000 tasks' frames.
	entriesNext, fieldsNext int

	// With reuse, Next decodes every entry into one Entry and one field
	// buffer: an entry is valid only until the next call (a walk that
	// keeps nothing of it allocates nothing per entry).
	reuse bool
	one   Entry
	buf   []Field
}

// Reuse makes every later Next return the same Entry, overwritten: an
// entry is valid only until the next call to Next.
func (r *Reader) Reuse() {
	r.reuse = true
	if r.buf == nil {
		r.buf = make([]Field, 0, 512)
	}
}

// Reader returns a reader at the first entry.
func (d *Data) Reader() *Reader {
	r := &Reader{d: d}
	r.Seek(0)
	return r
}

// Seek positions the reader at the entry at off; 0 is the first entry of
// the first unit.
func (r *Reader) Seek(off dwarf.Offset) {
	r.err, r.done, r.lastChildren = nil, false, false
	d := r.d
	if off == 0 {
		if len(d.units) == 0 {
			r.done = true
			return
		}
		r.setUnit(0, d.units[0].First)
		return
	}
	i := d.unitOf(uint64(off))
	if i < 0 {
		r.err = errors.New("offset out of range")
		return
	}
	r.setUnit(i, uint64(off))
}

func (r *Reader) setUnit(i int, off uint64) {
	u := r.d.units[i]
	r.ui, r.off, r.end = i, off, u.End
	if err := r.d.enter(u); err != nil {
		r.err = err
	}
}

// Next returns the next entry; nil, nil past the last unit.
func (r *Reader) Next() (*Entry, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.done {
		return nil, nil
	}
	for r.off >= r.end {
		if r.ui+1 >= len(r.d.units) {
			r.done = true
			return nil, nil
		}
		r.setUnit(r.ui+1, r.d.units[r.ui+1].First)
		if r.err != nil {
			return nil, r.err
		}
	}
	var e *Entry
	slab := &r.fields
	if r.reuse {
		e = &r.one
		buf := r.buf[:0]
		slab = &buf
	} else {
		if len(r.entries) == 0 {
			r.entriesNext = min(64, max(2, 2*r.entriesNext))
			r.entries = make([]Entry, r.entriesNext)
		}
		if cap(r.fields) < 32 { // decode allocates its own when an entry needs more
			r.fieldsNext = min(512, max(32, 2*r.fieldsNext))
			r.fields = make([]Field, 0, r.fieldsNext)
		}
		e = &r.entries[0]
		r.entries = r.entries[1:]
	}
	next, err := r.d.decode(r.d.units[r.ui], r.off, e, slab)
	if err != nil {
		r.err = err
		return nil, err
	}
	r.off = next
	r.lastUnit = false
	r.lastChildren = e.Children
	if e.Children {
		r.lastSibling, _ = e.Ref(dwarf.AttrSibling)
	}
	if e.Tag == dwarf.TagCompileUnit || e.Tag == dwarf.TagPartialUnit || e.Tag == dwarf.TagTypeUnit {
		r.lastUnit = true
	}
	return e, nil
}

// SkipChildren skips the children of the entry Next returned last (through
// its DW_AT_sibling when it has one); a no-op when it has none.
func (r *Reader) SkipChildren() {
	if r.err != nil || !r.lastChildren {
		return
	}
	if uint64(r.lastSibling) >= r.off {
		r.Seek(r.lastSibling)
		return
	}
	if r.lastUnit && r.ui+1 < len(r.d.units) {
		r.lastChildren = false
		r.setUnit(r.ui+1, r.d.units[r.ui+1].First)
		return
	}
	for {
		e, err := r.Next()
		if err != nil || e == nil || e.Tag == 0 {
			break
		}
		if e.Children {
			r.SkipChildren()
		}
	}
}

// Offset is where the next entry starts.
func (r *Reader) Offset() dwarf.Offset { return dwarf.Offset(r.off) }

// EntryAt decodes the single entry at off.
func (d *Data) EntryAt(off dwarf.Offset) (*Entry, error) {
	i := d.unitOf(uint64(off))
	if i < 0 {
		return nil, errors.New("offset out of range")
	}
	u := d.units[i]
	if err := d.enter(u); err != nil {
		return nil, err
	}
	e := &Entry{}
	if _, err := d.decode(u, uint64(off), e, nil); err != nil {
		return nil, err
	}
	return e, nil
}
