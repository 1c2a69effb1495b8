package symbols

import (
	"bytes"
	"debug/elf"
	"io"
	"slices"
)

// MayName says whether a symbol of the table could have a name that ends
// in one of needles, each a name's last bytes and the NUL that ends it
// in an ELF string table ("swapcontext\x00": that name, or one ending
// so). false is certain: no string table the symbols are read from (the
// file's .symtab and .dynsym, the debug file's, and each file's .dynstr)
// holds a needle, so no symbol has such a name, nor its name@plt entry,
// and the file imports no such name. It reads the string
// tables only, where Symbols or AnySymbol lay out (and cache) the whole
// table: a question about every module of a daemon (is a context switch
// routine defined?) then loads the tables of the few that may hold one.
// A table it cannot read so may: MiniDebugInfo's compressed symbols, a
// string table that does not end in NUL, one that cannot be read.
func (t *Table) MayName(needles [][]byte) bool {
	for _, f := range []*elf.File{t.file, t.debug} {
		if f == nil {
			continue
		}
		if f.Section(".gnu_debugdata") != nil {
			return true
		}
		var strs []*elf.Section
		for _, typ := range []elf.SectionType{elf.SHT_SYMTAB, elf.SHT_DYNSYM} {
			if sec := f.SectionByType(typ); sec != nil {
				if int(sec.Link) >= len(f.Sections) {
					return true
				}
				strs = append(strs, f.Sections[sec.Link])
			}
		}
		// .dynstr by its name too, linked or not: what false says of it,
		// a caller need not look for again (no imported name either).
		if d := f.Section(".dynstr"); d != nil && !slices.Contains(strs, d) {
			strs = append(strs, d)
		}
		for _, str := range strs {
			// Read through a buffer (pread), not mapped: a fault costs
			// here ~3× the read of its page, and the strings are read
			// once.
			last := []byte{0}
			if str.Type == elf.SHT_NOBITS || str.Flags&elf.SHF_COMPRESSED != 0 || str.Size == 0 {
				return true
			}
			if _, err := str.ReadAt(last, int64(str.Size-1)); err != nil || last[0] != 0 {
				return true
			}
			if found, err := ReaderContains(str.Open(), needles); err != nil || found {
				return true
			}
		}
	}
	return false
}

// readerChunk is what ReaderContains reads at a time.
var readerChunk = 64 << 10

// ReaderContains says whether any of needles is in r's bytes (a section's),
// read through one small buffer (a C++ library's .dynstr is megabytes):
// each chunk keeps the previous one's last bytes, so that a needle across
// two reads is found.
func ReaderContains(r io.Reader, needles [][]byte) (bool, error) {
	keep := 0
	for _, n := range needles {
		keep = max(keep, len(n)-1)
	}
	buf := make([]byte, keep+readerChunk)
	have := 0
	for {
		n, err := io.ReadFull(r, buf[have:])
		chunk := buf[:have+n]
		for _, nd := range needles {
			if bytes.Contains(chunk, nd) {
				return true, nil
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		have = min(keep, len(chunk))
		copy(buf, chunk[len(chunk)-have:])
	}
}
