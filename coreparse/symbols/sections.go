package symbols

import (
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// SectionCacheDir holds the decompressed DWARF sections of files whose
// sections are compressed (SHF_COMPRESSED, as Debian's libc6-dbg ships
// them), one directory per build-id, and each file's compile-unit index,
// so that a second run maps them instead of inflating and indexing again.
// "" turns the cache off. Set by the command line from its cache directory.
var SectionCacheDir = defaultSectionCacheDir()

func defaultSectionCacheDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "dsecore", "dwarf")
	}
	return ""
}

// mapped is a read-only mapping that lives as long as its table.
type mapped []byte

func mapFile(path string) (mapped, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() || st.Size() == 0 || st.Size() != int64(int(st.Size())) {
		return nil, fmt.Errorf("%s: not a mappable file", path)
	}
	return syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
}

// dwarfSections are the sections debug/dwarf reads, by the name it knows
// them by in AddSection (New takes the first four).
var dwarfSections = []string{".debug_abbrev", ".debug_info", ".debug_line", ".debug_ranges", ".debug_str",
	".debug_addr", ".debug_line_str", ".debug_str_offsets", ".debug_rnglists"}

// openDWARF is elf.File.DWARF without the copies: a plainly stored section
// is a slice of the file's mapping; a compressed one is inflated once into
// SectionCacheDir (keyed by build-id) and mapped from there. Files it cannot
// serve this way (relocatable objects, .debug_types, no build-id for a
// compressed section) go through debug/elf.
func (t *Table) openDWARF(src *elf.File, path string) (*dwarf.Data, error) {
	if src.Type == elf.ET_REL || src.Section(".debug_types") != nil {
		return src.DWARF()
	}
	var whole mapped
	var id string
	data := map[string][]byte{}
	for _, name := range dwarfSections {
		s := src.Section(name)
		if s == nil || s.Type == elf.SHT_NOBITS {
			continue
		}
		if s.Flags&elf.SHF_COMPRESSED == 0 {
			if whole == nil {
				m, err := mapFile(path)
				if err != nil {
					return src.DWARF()
				}
				whole = m
				t.maps = append(t.maps, m)
			}
			if s.Offset > uint64(len(whole)) || s.Size > uint64(len(whole))-s.Offset {
				return nil, fmt.Errorf("section %s lies past the end of the file", name)
			}
			data[name] = whole[s.Offset : s.Offset+s.Size]
			continue
		}
		if id == "" {
			if b := BuildID(src); len(b) > 0 {
				id = hex.EncodeToString(b)
			}
		}
		b, err := t.inflated(s, id)
		if err != nil {
			return nil, fmt.Errorf("section %s: %w", name, err)
		}
		data[name] = b
	}
	d, err := dwarf.New(data[".debug_abbrev"], nil, nil, data[".debug_info"], data[".debug_line"], nil,
		data[".debug_ranges"], data[".debug_str"])
	if err != nil {
		return nil, err
	}
	for _, name := range dwarfSections[5:] {
		if b, ok := data[name]; ok {
			if err := d.AddSection(name, b); err != nil {
				return nil, err
			}
		}
	}
	return d, nil
}

// inflated returns a compressed section's contents: from the cache when a
// previous run left them there, else decompressed (and, with a build-id,
// written to the cache for the next run).
func (t *Table) inflated(s *elf.Section, id string) ([]byte, error) {
	var path string
	if SectionCacheDir != "" && id != "" {
		path = filepath.Join(SectionCacheDir, id, strings.TrimPrefix(s.Name, "."))
		if st, err := os.Stat(path); err == nil && uint64(st.Size()) == s.Size {
			if m, err := mapFile(path); err == nil {
				t.maps = append(t.maps, m)
				return m, nil
			}
		}
	}
	b, err := s.Data()
	if err != nil {
		return nil, err
	}
	if path != "" {
		writeCacheFile(path, b) // best effort: a read-only cache only costs the next run time
	}
	return b, nil
}

// writeCacheFile writes b to path through a temporary file and a rename, so
// a reader never maps a half-written file.
func writeCacheFile(path string, b []byte) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return
	}
	if os.Rename(tmp.Name(), path) != nil {
		os.Remove(tmp.Name())
	}
}

// The compile-unit index (address ranges → unit offset) of a file with a
// build-id is cached beside its sections: building it reads every unit's
// first entry and ranges, tens of milliseconds for libc.
const cuIndexMagic = "dsecore-cu-index-v1\n"

func cuIndexPath(id string) string {
	if SectionCacheDir == "" || id == "" {
		return ""
	}
	return filepath.Join(SectionCacheDir, id, "cu-index")
}

func loadCUIndex(path string, infoSize int) ([]cuRange, bool) {
	b, err := os.ReadFile(path)
	if err != nil || len(b) < len(cuIndexMagic)+8 || string(b[:len(cuIndexMagic)]) != cuIndexMagic {
		return nil, false
	}
	b = b[len(cuIndexMagic):]
	if int(binary.LittleEndian.Uint64(b)) != infoSize {
		return nil, false
	}
	b = b[8:]
	if len(b)%24 != 0 {
		return nil, false
	}
	cus := make([]cuRange, 0, len(b)/24)
	for ; len(b) > 0; b = b[24:] {
		r := cuRange{binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:]), dwarf.Offset(binary.LittleEndian.Uint64(b[16:]))}
		if r.hi <= r.lo || int(r.off) >= infoSize {
			return nil, false
		}
		cus = append(cus, r)
	}
	return cus, true
}

func saveCUIndex(path string, infoSize int, cus []cuRange) {
	b := make([]byte, 0, len(cuIndexMagic)+8+24*len(cus))
	b = append(b, cuIndexMagic...)
	b = binary.LittleEndian.AppendUint64(b, uint64(infoSize))
	for _, r := range cus {
		b = binary.LittleEndian.AppendUint64(b, r.lo)
		b = binary.LittleEndian.AppendUint64(b, r.hi)
		b = binary.LittleEndian.AppendUint64(b, uint64(r.off))
	}
	writeCacheFile(path, b)
}
