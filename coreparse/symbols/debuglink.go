package symbols

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
)

// BuildID returns the NT_GNU_BUILD_ID of an ELF file, nil when none.
func BuildID(f *elf.File) []byte {
	if s := f.Section(".note.gnu.build-id"); s != nil {
		if b, err := s.Data(); err == nil {
			if id := parseBuildID(b); id != nil {
				return id
			}
		}
	}
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE || p.Filesz > 1<<20 {
			continue
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil {
			continue
		}
		if id := parseBuildID(b); id != nil {
			return id
		}
	}
	return nil
}

func parseBuildID(b []byte) []byte {
	le := binary.LittleEndian
	for len(b) >= 12 {
		namesz, descsz, typ := uint64(le.Uint32(b)), uint64(le.Uint32(b[4:])), le.Uint32(b[8:])
		nameEnd := 12 + (namesz+3)&^3
		end := nameEnd + (descsz+3)&^3
		if nameEnd+descsz > uint64(len(b)) {
			return nil
		}
		if typ == 3 && namesz == 4 && bytes.Equal(b[12:15], []byte("GNU")) {
			return append([]byte(nil), b[nameEnd:nameEnd+descsz]...)
		}
		if end > uint64(len(b)) {
			return nil
		}
		b = b[end:]
	}
	return nil
}

// DebugLink returns the .gnu_debuglink file name and CRC.
func DebugLink(f *elf.File) (name string, crc uint32, ok bool) {
	s := f.Section(".gnu_debuglink")
	if s == nil {
		return "", 0, false
	}
	b, err := s.Data()
	if err != nil {
		return "", 0, false
	}
	i := bytes.IndexByte(b, 0)
	if i <= 0 {
		return "", 0, false
	}
	off := (i + 4) &^ 3
	if off+4 > len(b) {
		return "", 0, false
	}
	return string(b[:i]), binary.LittleEndian.Uint32(b[off:]), true
}

// FindDebugFile finds the separate debug file of binPath the way gdb does:
// <dir>/.build-id/xx/rest.debug for each debug directory, then the
// .gnu_debuglink name next to the binary, in its .debug/ directory, and
// under each debug directory followed by the binary's directory. A
// build-id candidate must carry the same build-id, a debuglink candidate
// the same CRC32. "" when there is none.
func FindDebugFile(binPath string, buildID []byte, debugDirs []string) string {
	p, _ := FindDebugFileReport(binPath, buildID, debugDirs)
	return p
}

// FindDebugFileReport is FindDebugFile that also says which files it
// found and rejected, one line each as gdb warns of them: "the debug
// information found in "F" does not match "B" (CRC mismatch)".
func FindDebugFileReport(binPath string, buildID []byte, debugDirs []string) (path string, rejected []string) {
	return FindDebugFileOpened(binPath, buildID, debugDirs, func(p string) (*elf.File, func(), error) {
		f, err := elf.Open(p)
		if err != nil {
			return nil, nil, err
		}
		return f, func() { f.Close() }, nil
	})
}

// FindDebugFileOpened is FindDebugFileReport with the function that opens
// the ELF files it reads (the binary, the build-id candidates) and gives
// the function that lets go of each: a caller that keeps its files open
// (coreparse's modules, each file opened once) passes its own.
func FindDebugFileOpened(binPath string, buildID []byte, debugDirs []string, open func(string) (*elf.File, func(), error)) (path string, rejected []string) {
	if len(buildID) >= 2 {
		hex := hexString(buildID)
		for _, d := range debugDirs {
			p := filepath.Join(d, ".build-id", hex[:2], hex[2:]+".debug")
			if f, done, err := open(p); err == nil {
				id := BuildID(f)
				done()
				if bytes.Equal(id, buildID) {
					return p, rejected
				}
				rejected = append(rejected, fmt.Sprintf("the debug information found in %q does not match %q (build-id mismatch)", p, binPath))
			}
		}
	}
	f, done, err := open(binPath)
	if err != nil {
		return "", rejected
	}
	name, crc, ok := DebugLink(f)
	done()
	if !ok {
		return "", rejected
	}
	abs, err := filepath.Abs(binPath)
	if err != nil {
		abs = binPath
	}
	dir := filepath.Dir(abs)
	cands := []string{filepath.Join(dir, name), filepath.Join(dir, ".debug", name)}
	for _, d := range debugDirs {
		cands = append(cands, filepath.Join(d, dir, name))
	}
	for _, c := range cands {
		if c == abs {
			continue
		}
		b, err := os.ReadFile(c)
		if err != nil {
			continue
		}
		if crc32.ChecksumIEEE(b) == crc {
			return c, rejected
		}
		rejected = append(rejected, fmt.Sprintf("the debug information found in %q does not match %q (CRC mismatch)", c, binPath))
	}
	return "", rejected
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}
