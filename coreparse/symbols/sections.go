package symbols

import (
	"bufio"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/dsecore/dsecore/coreparse/symbols/die"
	"github.com/dsecore/dsecore/internal/cachefile"
	"github.com/dsecore/dsecore/internal/mmap"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
)

// cacheDir holds the decompressed DWARF sections of files whose sections
// are compressed (SHF_COMPRESSED, as Debian's libc6-dbg ships them), one
// directory per build-id, and each file's symbol layout and indexes, so
// that a second run maps them instead of inflating and indexing again:
// the "dwarf" directory of the cache the resolver was given, "" (nothing
// kept) without one.
func (t *Table) cacheDir() string { return t.cache().Dir("dwarf") }

// cache is the cache the table was given (nil: none).
func (t *Table) cache() *cachefile.Cache {
	if t.resolver == nil {
		return nil
	}
	return t.resolver.Cache
}

// mapped is a read-only mapping that lives as long as its table.
type mapped []byte

func mapFile(path string) (mapped, error) { return mmap.File(path) }

// dwarfSections are the sections the entry reader reads.
var dwarfSections = []string{".debug_abbrev", ".debug_info", ".debug_line", ".debug_ranges", ".debug_str",
	".debug_addr", ".debug_line_str", ".debug_str_offsets", ".debug_rnglists", ".debug_types"}

// openDWARF returns the file's DWARF sections without copies: a plainly
// stored section is a slice of the file's mapping; a compressed one is
// inflated once into the cache directory (keyed by build-id) and mapped from
// there. A relocatable object's sections are read through debug/elf and
// relocated (see relocateDWARF). Nothing is decoded: the entry reader
// (symbols/die) enters a unit when it is first read, where debug/dwarf.New
// would parse every unit's abbreviations first.
func (t *Table) openDWARF(src *elf.File, path string) (die.Sections, error) {
	if src.Type == elf.ET_REL {
		return relocatedSections(src)
	}
	var whole mapped
	var id string
	data := map[string][]byte{}
	// Compressed sections are inflated side by side (libc's debug file:
	// tens of megabytes on a first run).
	var wg sync.WaitGroup
	defer wg.Wait() // on every return: no inflation outlives the call
	var mu sync.Mutex
	var errs []error
	for _, name := range dwarfSections {
		s := src.Section(name)
		if s == nil || s.Type == elf.SHT_NOBITS {
			continue
		}
		if s.Flags&elf.SHF_COMPRESSED == 0 {
			if whole == nil {
				m, err := t.wholeFile(path)
				if err != nil {
					return die.Sections{}, err
				}
				whole = m
			}
			if s.Offset > uint64(len(whole)) || s.Size > uint64(len(whole))-s.Offset {
				return die.Sections{}, fmt.Errorf("section %s lies past the end of the file", name)
			}
			mu.Lock()
			data[name] = whole[s.Offset : s.Offset+s.Size]
			mu.Unlock()
			continue
		}
		if id == "" {
			if b := BuildID(src); len(b) > 0 {
				id = hex.EncodeToString(b)
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			mmap.Guard() // the cache file is mapped and checked here
			var b []byte
			var err error
			func() {
				defer mmap.Catch(&err)
				b, err = t.inflated(s, id, path)
			}()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("section %s: %w", name, err))
				return
			}
			data[name] = b
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return die.Sections{}, errs[0]
	}
	return sectionsOf(data), nil
}

func sectionsOf(data map[string][]byte) die.Sections {
	return die.Sections{Info: data[".debug_info"], Abbrev: data[".debug_abbrev"], Str: data[".debug_str"],
		LineStr: data[".debug_line_str"], StrOffsets: data[".debug_str_offsets"], Addr: data[".debug_addr"],
		Ranges: data[".debug_ranges"], RngLists: data[".debug_rnglists"], Line: data[".debug_line"], Types: data[".debug_types"]}
}

// relocatedSections reads a relocatable object's DWARF sections with their
// x86-64 RELA relocations applied (R_X86_64_64 and R_X86_64_32 against
// symbols, as debug/elf applies them for its own DWARF reader): offsets into
// .debug_str, .debug_abbrev, .debug_line and addresses are relocations there.
func relocatedSections(f *elf.File) (die.Sections, error) {
	data := map[string][]byte{}
	for _, name := range dwarfSections {
		s := f.Section(name)
		if s == nil || s.Type == elf.SHT_NOBITS {
			continue
		}
		b, err := s.Data()
		if err != nil {
			return die.Sections{}, fmt.Errorf("section %s: %w", name, err)
		}
		data[name] = b
	}
	var syms []elf.Symbol
	for i, s := range f.Sections {
		if s.Type != elf.SHT_RELA || int(s.Info) >= len(f.Sections) || f.Machine != elf.EM_X86_64 {
			continue
		}
		target := data[f.Sections[s.Info].Name]
		if target == nil {
			continue
		}
		if syms == nil {
			var err error
			if syms, err = f.Symbols(); err != nil {
				return die.Sections{}, err
			}
		}
		rela, err := f.Sections[i].Data()
		if err != nil {
			return die.Sections{}, err
		}
		le := binary.LittleEndian
		for ; len(rela) >= 24; rela = rela[24:] {
			off, info, add := le.Uint64(rela), le.Uint64(rela[8:]), int64(le.Uint64(rela[16:]))
			sym, typ := info>>32, elf.R_X86_64(info&0xffffffff)
			if sym == 0 || sym > uint64(len(syms)) || syms[sym-1].Section == elf.SHN_UNDEF || syms[sym-1].Section >= elf.SHN_LORESERVE {
				continue
			}
			v := syms[sym-1].Value + uint64(add)
			switch typ {
			case elf.R_X86_64_64:
				if off+8 <= uint64(len(target)) {
					le.PutUint64(target[off:], v)
				}
			case elf.R_X86_64_32:
				if off+4 <= uint64(len(target)) {
					le.PutUint32(target[off:], uint32(v))
				}
			}
		}
	}
	return sectionsOf(data), nil
}

// locSection is a DWARF section debug/dwarf does not keep (.debug_loclists,
// .debug_loc, .debug_addr for location lists), read once: a slice of the
// file's mapping, or inflated once (through the cache) when compressed.
// nil when the file has no such section.
func (t *Table) locSection(name string) ([]byte, error) {
	t.locOnce.Do(func() { t.locData = map[string]locSectionData{} })
	t.mu.Lock()
	defer t.mu.Unlock()
	if d, ok := t.locData[name]; ok {
		return d.b, d.err
	}
	src, path := t.dwarfFile(), t.Path
	if src == t.debug {
		path = t.DebugPath
	}
	var d locSectionData
	if sec := src.Section(name); sec != nil && sec.Type != elf.SHT_NOBITS {
		switch {
		case sec.Flags&elf.SHF_COMPRESSED != 0:
			id := ""
			if b := BuildID(src); len(b) > 0 {
				id = hex.EncodeToString(b)
			}
			d.b, d.err = t.inflated(sec, id, path)
		default:
			m, err := t.wholeFile(path)
			if err != nil || sec.Offset > uint64(len(m)) || sec.Size > uint64(len(m))-sec.Offset {
				d.b, d.err = sec.Data()
				break
			}
			d.b = m[sec.Offset : sec.Offset+sec.Size]
		}
	}
	t.locData[name] = d
	return d.b, d.err
}

type locSectionData struct {
	b   []byte
	err error
}

// inflated returns a compressed section's contents: from the cache when a
// previous run left them there, else decompressed (and, with a build-id,
// written to the cache for the next run). The cache file is sealed
// (internal/cachefile: a CRC-32C per 1 MiB block, all checked when it is
// mapped); one that does not check out is inflated again, with a warning.
func (t *Table) inflated(s *elf.Section, id, file string) ([]byte, error) {
	var path string
	if dir := t.cacheDir(); dir != "" && id != "" {
		path = filepath.Join(dir, id, sectionsVersion, strings.TrimPrefix(s.Name, "."))
		if data, ok := t.mapSealed(path, s.Size); ok {
			return data, nil
		}
	}
	if path != "" {
		if m, err := inflateToFile(t.cache(), s, file, path); err == nil {
			t.addMap(m)
			return m[:s.Size], nil
		}
		// A cache that cannot be written costs the next run time only.
	}
	return inflate(s, file)
}

// sectionsVersion is the directory of the inflated sections in their
// build-id's: sealed files (contents, then their blocks' checksums).
// Unsealed ones of earlier versions, beside it, are left alone.
const sectionsVersion = "sections-v2"

// mapSealed maps an inflated section's sealed cache file for as long as
// the table lives, once every block checks out and its contents are size
// bytes, and returns the contents; false (and a warning when the file is
// there but damaged) otherwise. The blocks are checked by reading the file
// (cachefile.VerifyOpen), not the mapping: the mapping's pages are touched
// only by the lookups that need them (a warm first answer reads a few
// units of libc's 9 MiB), not all faulted in and let go of again; and only
// when no marker vouches for the file as it is (cachefile.VerifyOpenOnce:
// checked whole by an earlier run, not written to since).
func (t *Table) mapSealed(path string, size uint64) ([]byte, bool) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	cachefile.CleanTemps(filepath.Dir(path)) // a killed run's temporary files
	n, err := cachefile.VerifyOpenOnce(path, f)
	if err == nil && uint64(n) != size {
		err = fmt.Errorf("%w: %d bytes, the section has %d", cachefile.ErrDamaged, n, size)
	}
	if err != nil {
		cachefile.Warnf(path, err)
		return nil, false
	}
	b, err := mmap.Fd(f)
	if err != nil {
		return nil, false
	}
	if uint64(len(b)) < size {
		mmap.Unmap(b)
		return nil, false
	}
	t.addMap(b)
	return b[:size], true
}

// writeLater writes a cache file beside the work that goes on (the first
// run writes megabytes of inflated sections); Close waits for it. b must
// not change afterwards.
func (t *Table) writeLater(path string, b []byte) {
	t.writes.Add(1)
	go func() {
		defer t.writes.Done()
		var err error
		defer mmap.Catch(&err) // b may be in a mapping: a fault loses the write
		mmap.Guard()
		t.writeCacheFile(path, b)
	}()
}

// wholeFile maps one of the table's ELF files (its file or its debug file)
// whole, once, for as long as the table lives.
func (t *Table) wholeFile(path string) (mapped, error) {
	t.mapMu.Lock()
	defer t.mapMu.Unlock()
	if m, ok := t.whole[path]; ok {
		return m, nil
	}
	m, err := mapFile(path)
	if err != nil {
		return nil, err
	}
	if t.whole == nil {
		t.whole = map[string]mapped{}
	}
	t.whole[path] = m
	t.maps = append(t.maps, m)
	return m, nil
}

// inFile is a section's bytes in its file's mapping; false when the
// section is compressed, has no bytes in the file or lies past its end.
func inFile(m mapped, s *elf.Section) ([]byte, bool) {
	if m == nil || s.Type == elf.SHT_NOBITS || s.Flags&elf.SHF_COMPRESSED != 0 || s.Offset > uint64(len(m)) || s.Size > uint64(len(m))-s.Offset {
		return nil, false
	}
	return m[s.Offset : s.Offset+s.Size], true
}

func (t *Table) addMap(m mapped) {
	t.mapMu.Lock()
	t.maps = append(t.maps, m)
	t.mapMu.Unlock()
}

// inflate decompresses an SHF_COMPRESSED section of an ELF64 file read
// from the file's bytes (its Elf64_Chdr, then zlib or zstd), with
// klauspost/compress: about twice as fast as debug/elf's compress/zlib.
// Anything else goes through debug/elf.
func inflate(s *elf.Section, file string) ([]byte, error) {
	r, done, ok := openCompressed(s, file)
	if !ok {
		return s.Data()
	}
	defer done()
	b := make([]byte, s.Size)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("decompressing: %w", err)
	}
	return b, nil
}

// inflateToFile decompresses a section straight into the cache file at
// path (sealed, written through a temporary file renamed when whole) and
// maps it: the inflated bytes go through the page cache once, not through
// a fresh heap buffer and a write (megabytes for libc's debug file, on
// every first run). The mapping holds the trailer after the contents.
func inflateToFile(c *cachefile.Cache, s *elf.Section, file, path string) (mapped, error) {
	r, done, ok := openCompressed(s, file)
	if !ok {
		return nil, errors.New("not a section this reads")
	}
	defer done()
	w, err := c.Create("section", path, true, int64(s.Size))
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 1<<20)
	n, err := io.CopyBuffer(w, io.LimitReader(r, int64(s.Size)), buf)
	if err == nil && uint64(n) != s.Size {
		err = fmt.Errorf("decompressing: %d of %d bytes", n, s.Size)
	}
	if err != nil {
		w.Abort()
		return nil, err
	}
	if err := w.Commit(); err != nil {
		return nil, err
	}
	return mapFile(path)
}

// openCompressed reads an SHF_COMPRESSED section of an ELF64 file (zlib or
// zstd) as a stream; ok is false for anything else.
func openCompressed(s *elf.Section, file string) (r io.Reader, done func(), ok bool) {
	const chdrSize = 24
	f, err := os.Open(file)
	if err != nil || s.FileSize < chdrSize {
		if f != nil {
			f.Close()
		}
		return nil, nil, false
	}
	hdr := make([]byte, chdrSize)
	if _, err := f.ReadAt(hdr, int64(s.Offset)); err != nil {
		f.Close()
		return nil, nil, false
	}
	typ, size := elf.CompressionType(binary.LittleEndian.Uint32(hdr)), binary.LittleEndian.Uint64(hdr[8:])
	if size != s.Size || size > 1<<34 {
		f.Close()
		return nil, nil, false
	}
	raw := bufio.NewReaderSize(io.NewSectionReader(f, int64(s.Offset)+chdrSize, int64(s.FileSize)-chdrSize), 1<<16)
	switch typ {
	case elf.COMPRESS_ZLIB:
		if zr, err := zlib.NewReader(raw); err == nil {
			return zr, func() { zr.Close(); f.Close() }, true
		}
	case elf.COMPRESS_ZSTD:
		if zr, err := zstd.NewReader(raw, zstd.WithDecoderConcurrency(1)); err == nil {
			return zr, func() { zr.Close(); f.Close() }, true
		}
	}
	f.Close()
	return nil, nil, false
}

// writeCacheFile writes the parts, one after the other, to path through a
// temporary file and a rename (internal/cachefile), so a reader never maps
// a half-written file. (These files carry their own CRC-32: written plain.)
func (t *Table) writeCacheFile(path string, parts ...[]byte) {
	kind := "index"
	switch base := filepath.Base(path); {
	case strings.HasPrefix(base, "symtab"):
		kind = "symtab"
	case strings.HasPrefix(base, "unit-"):
		kind = "unit"
	}
	t.cache().Write(kind, path, false, parts...)
}

// The ELF symbol table of a file with a build-id, as loadSymbols lays it
// out (symtab.go), is cached beside its sections and mapped in place by the
// next run: reading and sorting tens of thousands of symbols costs a first
// backtrace about 100 ms, decoding them all from a cache several ms. The
// layout's version is in the name: runs of another version sharing the
// cache keep their own file instead of rewriting each other's.
//
// One build-id names files with different symbol tables: the build as
// linked, the same stripped (.dynsym only, or Fedora's MiniDebugInfo),
// with or without its debug file. The name says which tables the symbols
// were read from (their sizes): a stripped binary's table is never
// answered for the unstripped one's (its objects and thread-locals gone).
func (t *Table) symtabCachePath() string {
	id := BuildID(t.file)
	dir := t.cacheDir()
	if dir == "" || len(id) == 0 {
		return ""
	}
	name := "symtab-v3"
	if t.debug != nil {
		name = "symtab-v3-with-debug-file"
	}
	var sizes []byte
	for _, f := range []*elf.File{t.file, t.debug} {
		for _, sec := range []string{".symtab", ".dynsym", ".gnu_debugdata"} {
			var n uint64
			if f != nil {
				if s := f.Section(sec); s != nil && s.Type != elf.SHT_NOBITS {
					n = s.Size
				}
			}
			sizes = binary.LittleEndian.AppendUint64(sizes, n)
		}
	}
	return filepath.Join(dir, hex.EncodeToString(id), fmt.Sprintf("%s-%08x", name, crc32.ChecksumIEEE(sizes)))
}

// loadSymtabCache maps the table's symbols from a cache file (cached);
// false (and nothing set) when the file is missing or does not check out.
func (t *Table) loadSymtabCache(path string) bool {
	var st *symtab
	_, ok := t.mapChecked(path, func(b []byte, trusted bool) (ok bool) {
		if st, ok = parseSymtab(b, trusted); !ok {
			cachefile.Warnf(path, errDamaged)
		}
		return ok
	})
	if ok {
		t.cached = st
	}
	return ok
}

// mapChecked maps a cache file read-only for as long as the table lives
// when check accepts its bytes; false (and nothing kept) otherwise. check
// is told when a marker vouches for the file's every byte
// (cachefile.Checked): it then skips its checksum and checks only what
// keeps its reader in bounds. A check that passes with the checksum
// leaves such a marker for the next run.
func (t *Table) mapChecked(path string, check func(b []byte, trusted bool) bool) ([]byte, bool) {
	if path == "" {
		return nil, false
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	b, err := mmap.Fd(f)
	if err != nil {
		return nil, false
	}
	cachefile.CleanTemps(filepath.Dir(path)) // a killed run's temporary files
	ok := true
	trusted, _ := cachefile.Checked(path, f, func() error {
		if ok = check(b, false); !ok {
			return errDamaged
		}
		return nil
	})
	if trusted {
		ok = check(b, true)
	}
	if !ok {
		mmap.Unmap(b)
		return nil, false
	}
	t.addMap(b)
	return b, true
}
