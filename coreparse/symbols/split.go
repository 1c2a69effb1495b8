package symbols

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"path/filepath"
	"strings"

	"github.com/dsecore/dsecore/coreparse/symbols/die"
)

// Split DWARF (-gsplit-dwarf): the file has a skeleton unit per compile
// unit, naming the .dwo file that holds its entries (DW_AT_dwo_name,
// DW_AT_GNU_dwo_name) and the unit's id; a .dwp package (dwp, llvm-dwp)
// holds the .dwo files of one binary with an index of their parts
// (.debug_cu_index). gdb (dwarf2/read.c) looks for FILE.dwp first, then
// each .dwo by the skeleton's DW_AT_comp_dir and name, in the
// debug-file directories; elfutils also beside the file. So does this.

// dwoSections are the sections of a .dwo file (or of a .dwp package),
// by the names the unit's sections take there.
var dwoSections = map[string]string{
	".debug_info.dwo": "info", ".debug_abbrev.dwo": "abbrev", ".debug_str.dwo": "str",
	".debug_str_offsets.dwo": "stroff", ".debug_line.dwo": "line", ".debug_loc.dwo": "loc",
	".debug_loclists.dwo": "loclists", ".debug_rnglists.dwo": "rnglists",
	".debug_cu_index": "cu_index",
}

// dwoFile is an opened .dwo or .dwp: its sections, slices of its mapping.
type dwoFile struct {
	path string
	sec  map[string][]byte
}

func (t *Table) openDWO(path string) (*dwoFile, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m, err := t.wholeFile(path)
	if err != nil {
		return nil, err
	}
	d := &dwoFile{path: path, sec: map[string][]byte{}}
	for _, s := range f.Sections {
		key, ok := dwoSections[s.Name]
		if !ok {
			continue
		}
		b, ok := inFile(m, s)
		if !ok {
			if b, err = s.Data(); err != nil {
				return nil, fmt.Errorf("%s: %v", s.Name, err)
			}
		}
		d.sec[key] = b
	}
	if d.sec["info"] == nil || d.sec["abbrev"] == nil {
		return nil, errors.New("no .debug_info.dwo")
	}
	return d, nil
}

// sections are a .dwo's sections as the entry reader takes them.
func (d *dwoFile) sections() die.Sections {
	return die.Sections{Info: d.sec["info"], Abbrev: d.sec["abbrev"], Str: d.sec["str"], StrOffsets: d.sec["stroff"],
		Loc: d.sec["loc"], LocLists: d.sec["loclists"], RngLists: d.sec["rnglists"]}
}

// DW_SECT_* of a package's index: version 2 (GNU, DWARF 4) and 5.
var sectIDs = map[uint32]map[uint32]string{
	2: {1: "info", 3: "abbrev", 4: "line", 5: "loc", 6: "stroff"},
	5: {1: "info", 3: "abbrev", 4: "line", 5: "loclists", 6: "stroff", 8: "rnglists"},
}

// unitSections returns the sections of the unit with id in a package:
// each column's contribution (offset, size) from .debug_cu_index, the
// string section whole.
func (d *dwoFile) unitSections(id uint64) (die.Sections, bool, error) {
	b := d.sec["cu_index"]
	le := binary.LittleEndian
	if len(b) < 16 {
		return die.Sections{}, false, errors.New(".debug_cu_index: truncated")
	}
	version := le.Uint32(b)
	if version != 2 {
		version = uint32(le.Uint16(b)) // DWARF 5: a 2-byte version and padding
	}
	names, ok := sectIDs[version]
	if !ok {
		return die.Sections{}, false, fmt.Errorf(".debug_cu_index: version %d", version)
	}
	ncol, nunit, nslot := uint64(le.Uint32(b[4:])), uint64(le.Uint32(b[8:])), uint64(le.Uint32(b[12:]))
	hashes := uint64(16)
	idx := hashes + 8*nslot
	cols := idx + 4*nslot
	offs := cols + 4*ncol
	sizes := offs + 4*ncol*nunit
	if ncol > 16 || nunit > 1<<24 || nslot > 1<<26 || sizes+4*ncol*nunit > uint64(len(b)) {
		return die.Sections{}, false, errors.New(".debug_cu_index: counts past the section")
	}
	row := uint64(0)
	for i := uint64(0); i < nslot; i++ {
		if le.Uint64(b[hashes+8*i:]) == id {
			row = uint64(le.Uint32(b[idx+4*i:]))
			break
		}
	}
	if row == 0 {
		return die.Sections{}, false, nil
	}
	if row > nunit {
		return die.Sections{}, false, errors.New(".debug_cu_index: row past the table")
	}
	part := map[string][]byte{}
	for c := uint64(0); c < ncol; c++ {
		name := names[le.Uint32(b[cols+4*c:])]
		if name == "" {
			continue
		}
		off := uint64(le.Uint32(b[offs+4*(ncol*(row-1)+c):]))
		size := uint64(le.Uint32(b[sizes+4*(ncol*(row-1)+c):]))
		sec := d.sec[name]
		if off > uint64(len(sec)) || size > uint64(len(sec))-off {
			return die.Sections{}, false, fmt.Errorf(".debug_cu_index: %s contribution past the section", name)
		}
		part[name] = sec[off : off+size]
	}
	return die.Sections{Info: part["info"], Abbrev: part["abbrev"], Str: d.sec["str"], StrOffsets: part["stroff"],
		Loc: part["loc"], LocLists: part["loclists"], RngLists: part["rnglists"]}, true, nil
}

// dwoCandidates are the paths a skeleton's .dwo is looked for at, in
// order: the name (absolute, else under the skeleton's compilation
// directory), beside the binary and its debug file, then under each
// debug-file directory (the name, then its base name).
func dwoCandidates(sk die.Skeleton, files []string, r *Resolver) []string {
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		if p != "" && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	name := sk.Name
	if filepath.IsAbs(name) {
		add(name)
	} else if sk.CompDir != "" {
		add(filepath.Join(sk.CompDir, name))
	}
	for _, f := range files {
		if f == "" {
			continue
		}
		dir := filepath.Dir(f)
		if !filepath.IsAbs(name) {
			add(filepath.Join(dir, name))
		}
		add(filepath.Join(dir, filepath.Base(name)))
	}
	if r != nil {
		for _, d := range r.DebugDirs {
			if !filepath.IsAbs(name) {
				add(filepath.Join(d, name))
			}
			add(filepath.Join(d, filepath.Base(name)))
		}
	}
	return out
}

// dwpCandidates are where a binary's package is looked for: FILE.dwp
// beside the binary and beside its debug file, and under each debug-file
// directory by base name.
func dwpCandidates(files []string, r *Resolver) []string {
	var out []string
	for _, f := range files {
		if f != "" {
			out = append(out, f+".dwp")
		}
	}
	if r != nil && len(files) > 0 {
		for _, d := range r.DebugDirs {
			out = append(out, filepath.Join(d, filepath.Base(files[0])+".dwp"))
		}
	}
	return out
}

// attachSplits finds and attaches the split units of the file's skeleton
// units, in their order (the offsets they get are the same on every run
// that finds the same files). It returns the persistent index's
// directory suffix for the set found ("" without skeletons).
func (t *Table) attachSplits(d *die.Data) string {
	sks := d.Skeletons()
	if len(sks) == 0 {
		return ""
	}
	files := []string{t.Path}
	if t.DebugPath != "" {
		files = append(files, t.DebugPath)
	}
	var dwp *dwoFile
	var dwpLooked []string
	for _, p := range dwpCandidates(files, t.resolver) {
		dwpLooked = append(dwpLooked, p)
		if !exists(p) {
			continue
		}
		f, err := t.openDWO(p)
		if err != nil || f.sec["cu_index"] == nil {
			t.problemf("split DWARF package %s: not usable (%v)", p, errOr(err, "no .debug_cu_index"))
			continue
		}
		dwp = f
		t.DWPPath = p
		break
	}
	h := crc32.NewIEEE()
	var missing []string
	for _, sk := range sks {
		var secs die.Sections
		found := ""
		if dwp != nil {
			s, ok, err := dwp.unitSections(sk.ID)
			if err != nil {
				t.problemf("split DWARF package %s: %v", dwp.path, err)
			} else if ok {
				secs, found = s, dwp.path
			}
		}
		var looked []string
		if found == "" {
			for _, p := range dwoCandidates(sk, files, t.resolver) {
				looked = append(looked, p)
				if !exists(p) {
					continue
				}
				f, err := t.openDWO(p)
				if err != nil {
					t.problemf("split unit %s: %s: %v", sk.Name, p, err)
					continue
				}
				secs, found = f.sections(), p
				break
			}
		}
		if found == "" {
			where := looked
			if dwp != nil {
				where = append([]string{dwp.path}, where...)
			} else {
				where = append(dwpLooked, where...)
			}
			missing = append(missing, fmt.Sprintf("%s (looked in %s)", sk.Name, strings.Join(where, ", ")))
			continue
		}
		if _, err := d.AttachSplit(sk, secs); err != nil {
			missing = append(missing, fmt.Sprintf("%s (%s: %v)", sk.Name, found, err))
			continue
		}
		t.splitsFound++
		fmt.Fprintf(h, "%x:%d:%d;", sk.ID, len(secs.Info), len(secs.Abbrev))
	}
	t.splitsTotal = len(sks)
	if len(missing) > 0 {
		t.problemf("%d of %d .dwo missing: %s", len(missing), len(sks), strings.Join(missing, "; "))
	}
	return fmt.Sprintf("split-%08x", h.Sum32())
}

func errOr(err error, s string) string {
	if err != nil {
		return err.Error()
	}
	return s
}
