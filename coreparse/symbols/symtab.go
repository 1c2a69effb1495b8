package symbols

import (
	"bytes"
	"cmp"
	"debug/elf"
	"encoding/binary"
	"hash/crc32"
	"slices"
	"sort"
)

// symtab is a table's ELF symbols in one immutable layout, the same in
// memory and in the cache file, which is mapped and used in place: a run
// decodes only the symbols it looks at. Fixed-size records, the orders the
// lookups need as arrays of symbol indexes, the names end to end:
//
//	header  magic (24 bytes with padding), CRC-32 of everything after the
//	        header (4), padding (4), then n, len(funcs), len(any),
//	        len(funcName), len(names) (8 each)
//	recs    n × 32 bytes: value 8, size 8, name offset 4, name length 4,
//	        type 1, bind 1, synthetic 1, 0, section 2, 0 0
//	funcs   function symbols by address (loadSymbols' order), 4 bytes each
//	any     addressable symbols by address, likewise
//	byName  every symbol by (hash of its name, index)
//	funcName the non-synthetic function symbols by (hash of the name,
//	        binding, position in funcs): of a name, lookupFunc's choice
//	        first
//
// The name orders sort by a hash (CRC-32C of the name, nameHash), not by
// the names: tens of thousands of long C++ names sort in milliseconds, and
// a lookup scans the few names of its hash.
//
//	names   every name followed by '\n', in symbol order
//
// A file whose CRC, sizes or indexes do not check out is rebuilt, never
// used.
type symtab struct {
	n                       int
	recs, funcs, any        []byte
	byName, funcName        []byte
	names                   []byte
	nFuncs, nAny, nFuncName int
}

const (
	symtabMagic  = "dsecore-symtab-v3\n\x00\x00\x00\x00\x00\x00" // 24 bytes
	symtabHeader = 24 + 4 + 4 + 5*8
	symRec       = 32
)

func u32at(b []byte, i int) uint32 { return binary.LittleEndian.Uint32(b[4*i:]) }

func (s *symtab) rec(i uint32) []byte { return s.recs[int(i)*symRec : int(i)*symRec+symRec] }

func (s *symtab) value(i uint32) uint64 { return binary.LittleEndian.Uint64(s.rec(i)) }

func (s *symtab) size(i uint32) uint64 { return binary.LittleEndian.Uint64(s.rec(i)[8:]) }

func (s *symtab) bind(i uint32) elf.SymBind { return elf.SymBind(s.rec(i)[25]) }

func (s *symtab) synthetic(i uint32) bool { return s.rec(i)[26] == 1 }

// nameAt is where a symbol's name starts in names, and its length.
func (s *symtab) nameAt(i uint32) (off, n int) {
	r := s.rec(i)
	return int(binary.LittleEndian.Uint32(r[16:])), int(binary.LittleEndian.Uint32(r[20:]))
}

// nameBytes is a symbol's name, in place (not to be kept).
func (s *symtab) nameBytes(i uint32) []byte {
	off, n := s.nameAt(i)
	return s.names[off : off+n]
}

// sym decodes one symbol (its name copied: names outlive the mapping).
func (s *symtab) sym(i uint32) Symbol {
	r := s.rec(i)
	le := binary.LittleEndian
	return Symbol{Name: string(s.nameBytes(i)), Value: le.Uint64(r), Size: le.Uint64(r[8:]), Type: elf.SymType(r[24]),
		Bind: elf.SymBind(r[25]), Synthetic: r[26] == 1, Section: elf.SectionIndex(le.Uint16(r[28:]))}
}

// funcAt and anyAt are the symbol indexes at a position of the address
// orders.
func (s *symtab) funcAt(k int) uint32 { return u32at(s.funcs, k) }
func (s *symtab) anyAt(k int) uint32  { return u32at(s.any, k) }

// lookup is the first symbol (in table order) named name.
func (s *symtab) lookup(name string) (uint32, bool) {
	return s.firstNamed(s.byName, s.n, name)
}

// lookupFunc is the function symbol lookupFunc answers for name.
func (s *symtab) lookupFunc(name string) (uint32, bool) {
	return s.firstNamed(s.funcName, s.nFuncName, name)
}

func (s *symtab) firstNamed(order []byte, n int, name string) (uint32, bool) {
	h := nameHash([]byte(name))
	k := sort.Search(n, func(k int) bool { return nameHash(s.nameBytes(u32at(order, k))) >= h })
	for ; k < n; k++ {
		i := u32at(order, k)
		b := s.nameBytes(i)
		if nameHash(b) != h {
			break
		}
		if string(b) == name {
			return i, true
		}
	}
	return 0, false
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// nameHash orders the name indexes.
func nameHash(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// symbolAtName is the symbol whose name holds names[pos].
func (s *symtab) symbolAtName(pos int) uint32 {
	k := sort.Search(s.n, func(k int) bool {
		off, _ := s.nameAt(uint32(k))
		return off > pos
	})
	return uint32(k - 1)
}

// encodeSymtab lays out symbols whose address orders loadSymbols made.
func encodeSymtab(all []Symbol, funcs, any []int) []byte {
	le := binary.LittleEndian
	namesLen := 0
	for _, s := range all {
		namesLen += len(s.Name) + 1
	}
	byName := make([]int, len(all))
	for i := range byName {
		byName[i] = i
	}
	hs := make([]uint32, len(all))
	var buf []byte
	for i := range all {
		buf = append(buf[:0], all[i].Name...)
		hs[i] = nameHash(buf)
	}
	// Ties by index: of a name, the first symbol comes first (what lookup
	// answers).
	slices.SortFunc(byName, func(a, b int) int { return cmp.Or(cmp.Compare(hs[a], hs[b]), a-b) })
	var funcName []int // positions in funcs
	for p, i := range funcs {
		if !all[i].Synthetic {
			funcName = append(funcName, p)
		}
	}
	slices.SortFunc(funcName, func(a, b int) int {
		x, y := funcs[a], funcs[b]
		return cmp.Or(cmp.Compare(hs[x], hs[y]), int(all[x].Bind)-int(all[y].Bind), a-b)
	})
	b := make([]byte, 0, symtabHeader+symRec*len(all)+4*(len(funcs)+len(any)+len(all)+len(funcName))+namesLen)
	b = append(b, symtabMagic...)
	b = le.AppendUint32(b, 0) // the CRC, below
	b = le.AppendUint32(b, 0)
	for _, n := range []int{len(all), len(funcs), len(any), len(funcName), namesLen} {
		b = le.AppendUint64(b, uint64(n))
	}
	off := 0
	for _, s := range all {
		b = le.AppendUint64(b, s.Value)
		b = le.AppendUint64(b, s.Size)
		b = le.AppendUint32(b, uint32(off))
		b = le.AppendUint32(b, uint32(len(s.Name)))
		syn := byte(0)
		if s.Synthetic {
			syn = 1
		}
		b = append(b, byte(s.Type), byte(s.Bind), syn, 0)
		b = le.AppendUint16(b, uint16(s.Section))
		b = append(b, 0, 0)
		off += len(s.Name) + 1
	}
	for _, l := range [][]int{funcs, any, byName} {
		for _, i := range l {
			b = le.AppendUint32(b, uint32(i))
		}
	}
	for _, p := range funcName {
		b = le.AppendUint32(b, uint32(funcs[p]))
	}
	for _, s := range all {
		b = append(append(b, s.Name...), '\n')
	}
	le.PutUint32(b[24:], crc32.ChecksumIEEE(b[symtabHeader-5*8:]))
	return b
}

// parseSymtab checks a layout and returns its views; false when anything
// does not check out. trusted (a marker vouches for the file's bytes:
// mapChecked) skips the checksum; the bounds of every index are checked
// all the same, so that no reader of the views can go out of range.
func parseSymtab(b []byte, trusted bool) (*symtab, bool) {
	if len(b) < symtabHeader || string(b[:24]) != symtabMagic {
		return nil, false
	}
	le := binary.LittleEndian
	if !trusted && crc32.ChecksumIEEE(b[symtabHeader-5*8:]) != le.Uint32(b[24:]) {
		return nil, false
	}
	var c [5]uint64
	for i := range c {
		c[i] = le.Uint64(b[symtabHeader-5*8+8*i:])
	}
	n, nf, na, nfn, nl := c[0], c[1], c[2], c[3], c[4]
	rest := uint64(len(b) - symtabHeader)
	if n > rest/symRec || nf > n || na > n || nfn > nf || symRec*n+4*(nf+na+n+nfn)+nl != rest {
		return nil, false
	}
	s := &symtab{n: int(n), nFuncs: int(nf), nAny: int(na), nFuncName: int(nfn)}
	p := b[symtabHeader:]
	take := func(k uint64) []byte { v := p[:k]; p = p[k:]; return v }
	s.recs, s.funcs, s.any, s.byName, s.funcName, s.names = take(symRec*n), take(4*nf), take(4*na), take(4*n), take(4*nfn), take(nl)
	for _, l := range []struct {
		b []byte
		n uint64
	}{{s.funcs, nf}, {s.any, na}, {s.byName, n}, {s.funcName, nfn}} {
		for k := 0; k < int(l.n); k++ {
			if uint64(u32at(l.b, k)) >= n {
				return nil, false
			}
		}
	}
	for i := uint32(0); i < uint32(n); i++ {
		off, l := s.nameAt(i)
		if uint64(off)+uint64(l) >= nl || s.names[off+l] != '\n' {
			return nil, false
		}
	}
	return s, true
}

// searchNames finds the next occurrence of ident at or after pos in the
// names laid end to end; -1 when none.
func (s *symtab) searchNames(ident string, pos int) int {
	if pos >= len(s.names) {
		return -1
	}
	i := bytes.Index(s.names[pos:], []byte(ident))
	if i < 0 {
		return -1
	}
	return pos + i
}

// isCxx reports whether a symbol's name is a mangled C++ name.
func (s *symtab) isCxx(i uint32) bool { return bytes.HasPrefix(s.nameBytes(i), []byte("_Z")) }
