package symbols

import (
	"bytes"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/dsecore/dsecore/coreparse/symbols/die"
	"github.com/dsecore/dsecore/internal/cachefile"
)

// Resolver says where a table looks for the files its DWARF refers to
// (dwz's supplementary file, split DWARF's .dwo and .dwp) as gdb and
// elfutils look: the debug-file directories, the sysroot, and a finder
// by build-id (debuginfod) as the last resort.
//
// Cache is where the table keeps what it derives from the files (the
// inflated sections, the symbol layout, the indexes, by build-id, under
// its "dwarf" directory): nil keeps nothing.
type Resolver struct {
	DebugDirs []string
	Sysroot   string
	Cache     *cachefile.Cache
	// FindByID, when set, returns a local copy of the debug file of a
	// build-id ("" when it has none): a debuginfod client.
	FindByID func(name string, buildID []byte) string
	// AnswerFirst: a table whose symbol layout is not in Cache yet
	// answers the function at a pc and a function by name from the files'
	// symbol tables in place (rawSyms) and lays nothing out for them
	// (Deferred): the first answer's cold run, whose caches a background
	// run fills.
	AnswerFirst bool
}

// AltLink is what a file says of its supplementary file: the name and
// the build-id (.gnu_debugaltlink), or the name and checksum (DWARF 5
// .debug_sup).
type AltLink struct {
	Name    string
	ID      []byte
	DWARF5  bool // .debug_sup
	Section string
}

// ReadAltLink reads a file's .gnu_debugaltlink or .debug_sup; false when
// it has neither.
func ReadAltLink(f *elf.File) (AltLink, bool) {
	if s := f.Section(".debug_sup"); s != nil {
		b, err := s.Data()
		// version (2), is_supplementary (1), filename, checksum (uleb length, bytes)
		if err == nil && len(b) > 3 && b[2] == 0 {
			rest := b[3:]
			if i := bytes.IndexByte(rest, 0); i > 0 {
				l := AltLink{Name: string(rest[:i]), DWARF5: true, Section: ".debug_sup"}
				rest = rest[i+1:]
				n, sh := uint64(0), 0
				for len(rest) > 0 && sh < 64 {
					c := rest[0]
					rest = rest[1:]
					n |= uint64(c&0x7f) << sh
					sh += 7
					if c&0x80 == 0 {
						break
					}
				}
				if n <= uint64(len(rest)) {
					l.ID = append([]byte(nil), rest[:n]...)
				}
				return l, true
			}
		}
	}
	s := f.Section(".gnu_debugaltlink")
	if s == nil {
		return AltLink{}, false
	}
	b, err := s.Data()
	if err != nil {
		return AltLink{}, false
	}
	i := bytes.IndexByte(b, 0)
	if i <= 0 {
		return AltLink{}, false
	}
	return AltLink{Name: string(b[:i]), ID: append([]byte(nil), b[i+1:]...), Section: ".gnu_debugaltlink"}, true
}

// supplementaryID is the identity a supplementary file must have for a
// link: its build-id (.gnu_debugaltlink), or for .debug_sup the checksum
// its own .debug_sup carries, else its build-id (dwz writes the build-id
// there).
func supplementaryID(f *elf.File, dwarf5 bool) []byte {
	if dwarf5 {
		if l, ok := ReadAltLink(f); ok && l.DWARF5 && len(l.ID) > 0 {
			return l.ID
		}
		if s := f.Section(".debug_sup"); s != nil {
			if b, err := s.Data(); err == nil && len(b) > 3 && b[2] == 1 {
				rest := b[3:]
				if i := bytes.IndexByte(rest, 0); i >= 0 && i+2 <= len(rest) {
					rest = rest[i+1:]
					if n := int(rest[0]); n < 0x80 && 1+n <= len(rest) {
						return rest[1 : 1+n]
					}
				}
			}
		}
	}
	return BuildID(f)
}

// FindSupplementary finds a file's supplementary file the way gdb does
// (dwarf2/dwz.c): the link's name (relative: to the directory of the file
// that names it, symlinks resolved), the build-id under each debug
// directory (.build-id/xx/rest.debug), the link's name from its "/.dwz/"
// on under each debug directory, the sysroot, then debuginfod. Every
// candidate must carry the link's build-id. looked lists where it looked.
func FindSupplementary(debugFile string, l AltLink, r *Resolver) (path string, looked []string) {
	name := l.Name
	if !filepath.IsAbs(name) {
		dir := filepath.Dir(debugFile)
		if real, err := filepath.EvalSymlinks(debugFile); err == nil {
			dir = filepath.Dir(real)
		}
		if abs, err := filepath.Abs(dir); err == nil {
			dir = abs
		}
		name = filepath.Join(dir, name)
	}
	var dirs []string
	var sysroot string
	if r != nil {
		dirs, sysroot = r.DebugDirs, r.Sysroot
	}
	try := func(p string) bool {
		looked = append(looked, p)
		f, err := elf.Open(p)
		if err != nil {
			return false
		}
		defer f.Close()
		return len(l.ID) == 0 || bytes.Equal(supplementaryID(f, l.DWARF5), l.ID)
	}
	if try(name) {
		return name, looked
	}
	if len(l.ID) >= 2 && !l.DWARF5 {
		h := hex.EncodeToString(l.ID)
		for _, d := range dirs {
			if p := filepath.Join(d, ".build-id", h[:2], h[2:]+".debug"); try(p) {
				return p, looked
			}
		}
	}
	if i := strings.Index(name, "/.dwz/"); i >= 0 {
		for _, d := range dirs {
			d = strings.TrimSuffix(d, "/") + "/"
			if strings.HasPrefix(name, d) {
				continue // the name itself, tried above
			}
			if p := d + name[i+1:]; try(p) {
				return p, looked
			}
		}
	}
	if sysroot != "" && filepath.IsAbs(l.Name) {
		if p := filepath.Join(sysroot, l.Name); try(p) {
			return p, looked
		}
	}
	if r != nil && r.FindByID != nil && len(l.ID) > 0 && !l.DWARF5 {
		looked = append(looked, "debuginfod")
		if p := r.FindByID(filepath.Base(l.Name), l.ID); p != "" && try(p) {
			return p, looked
		}
	}
	return "", looked
}

// attachSupplementary finds and attaches the supplementary file of the
// DWARF's file (src at path), if it names one. It returns the suffix the
// persistent index's directory takes (the supplementary file's identity),
// "" without one.
func (t *Table) attachSupplementary(d *die.Data, src *elf.File, path string) string {
	l, ok := ReadAltLink(src)
	if !ok {
		return ""
	}
	p, looked := FindSupplementary(path, l, t.resolver)
	if p == "" {
		t.problemf("supplementary file %s not found (looked in %s)", l.Name, strings.Join(looked, ", "))
		return ""
	}
	f, err := elf.Open(p)
	if err != nil {
		t.problemf("supplementary file %s: %v", p, err)
		return ""
	}
	t.supFile = f
	t.SupPath = p
	secs, err := t.openDWARF(f, p)
	if err == nil {
		err = d.AttachSupplementary(secs)
	}
	if err != nil {
		t.problemf("supplementary file %s: %v", p, err)
		return ""
	}
	return "sup-" + hex.EncodeToString(l.ID)
}

// problemf records what is missing from the table's debug information:
// a warning, and the table's status becomes partial.
func (t *Table) problemf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	t.mu.Lock()
	t.problems = append(t.problems, msg)
	t.mu.Unlock()
	t.warnf("%s: %s", filepath.Base(t.Path), msg)
}

// exists reports whether path names a regular file.
func exists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// Problems are what is missing from the table's debug information (a
// supplementary file, .dwo files), one line each naming the file looked
// for and where; nil when nothing is. They are known once the DWARF is
// loaded (HasDWARF).
func (t *Table) Problems() []string {
	t.loadDWARF()
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.problems...)
}

// MayLackFiles says whether the table's DWARF may refer to files that
// could be missing (a supplementary file, split units), read from the
// section headers alone, without loading the DWARF: false means Problems
// is empty, so a caller that wants only the problems (the warnings every
// face prints) need not load a module's DWARF — and inflate it, when its
// sections are compressed — for a module no answer reads. True when the
// DWARF is already loaded and has problems, or when it is not loaded
// and its file names a supplementary file (.gnu_debugaltlink,
// .debug_sup) or has an address table (.debug_addr): a split unit's
// skeleton gives its code's and data's addresses through it (gcc's and
// clang's -gsplit-dwarf, DWARF 4 and 5); a file without one holds no
// skeleton with an address.
func (t *Table) MayLackFiles() bool {
	if t.dwarfLoaded.Load() {
		t.mu.Lock()
		defer t.mu.Unlock()
		return len(t.problems) > 0
	}
	src := t.dwarfFile()
	if src.Section(".debug_info") == nil {
		return false
	}
	if _, ok := ReadAltLink(src); ok {
		return true
	}
	s := src.Section(".debug_addr")
	return s != nil && s.Type != elf.SHT_NOBITS && s.Size > 0
}

// DWARFLoaded says whether the table's DWARF has been opened (its
// sections mapped or inflated, its unit index read): a module no stack,
// name or type has needed stays unread.
func (t *Table) DWARFLoaded() bool { return t.dwarfLoaded.Load() }
