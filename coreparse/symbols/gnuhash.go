package symbols

import (
	"debug/elf"
	"encoding/binary"
)

// exports is what ExportsFunction reads: the file's dynamic symbols and
// their GNU hash table, in place.
type exports struct {
	hash, dynsym, dynstr []byte
}

// ExportsFunction reports whether the object's dynamic symbol table
// defines a function named name, through its GNU hash table (DT_GNU_HASH):
// no symbol table is read for it. known is false when the object has no
// such table (then only a full lookup can tell).
func (t *Table) ExportsFunction(name string) (exported, known bool) {
	t.exportsOnce.Do(func() { t.exports = t.readExports() })
	x := t.exports
	if x == nil {
		return false, false
	}
	i, ok := x.lookup(name)
	if !ok {
		return false, true
	}
	sym := x.dynsym[24*i:]
	typ := elf.ST_TYPE(sym[4])
	shndx := elf.SectionIndex(binary.LittleEndian.Uint16(sym[6:]))
	return shndx != elf.SHN_UNDEF && (typ == elf.STT_FUNC || typ == elf.STT_GNU_IFUNC), true
}

// readExports maps the sections ExportsFunction reads; nil when the file
// has no GNU hash table or it is not whole.
func (t *Table) readExports() *exports {
	h, ds, dn := t.file.Section(".gnu.hash"), t.file.Section(".dynsym"), t.file.Section(".dynstr")
	if h == nil || ds == nil || dn == nil || t.file.Class != elf.ELFCLASS64 {
		return nil
	}
	m, err := t.wholeFile(t.Path)
	if err != nil {
		return nil
	}
	part := func(s *elf.Section) []byte {
		b, _ := inFile(m, s)
		return b
	}
	x := &exports{hash: part(h), dynsym: part(ds), dynstr: part(dn)}
	if len(x.hash) < 16 || x.dynsym == nil || x.dynstr == nil {
		return nil
	}
	return x
}

// lookup finds a name's index in .dynsym through the GNU hash table.
func (x *exports) lookup(name string) (uint32, bool) {
	le := binary.LittleEndian
	h := uint32(5381)
	for i := 0; i < len(name); i++ {
		h = h*33 + uint32(name[i])
	}
	nbuckets, symoffset, bloomSize, shift := le.Uint32(x.hash), le.Uint32(x.hash[4:]), le.Uint32(x.hash[8:]), le.Uint32(x.hash[12:])
	if nbuckets == 0 || bloomSize == 0 {
		return 0, false
	}
	bloom := x.hash[16:]
	if uint64(len(bloom)) < 8*uint64(bloomSize)+4*uint64(nbuckets) {
		return 0, false
	}
	word := le.Uint64(bloom[8*((h/64)%bloomSize):])
	mask := uint64(1)<<(h%64) | uint64(1)<<((h>>(shift%32))%64)
	if word&mask != mask {
		return 0, false
	}
	buckets := bloom[8*bloomSize:]
	chains := buckets[4*nbuckets:]
	i := le.Uint32(buckets[4*(h%nbuckets):])
	if i < symoffset {
		return 0, false
	}
	nsyms := uint32(len(x.dynsym) / 24)
	for ; i < nsyms; i++ {
		k := uint64(i-symoffset) * 4
		if k+4 > uint64(len(chains)) {
			return 0, false
		}
		h2 := le.Uint32(chains[k:])
		if h|1 == h2|1 && x.name(i) == name {
			return i, true
		}
		if h2&1 != 0 {
			break
		}
	}
	return 0, false
}

// name is a dynamic symbol's name ("" when it lies outside .dynstr).
func (x *exports) name(i uint32) string {
	off := uint64(binary.LittleEndian.Uint32(x.dynsym[24*uint64(i):]))
	if off >= uint64(len(x.dynstr)) {
		return ""
	}
	s := x.dynstr[off:]
	for j, c := range s {
		if c == 0 {
			return string(s[:j])
		}
	}
	return ""
}
