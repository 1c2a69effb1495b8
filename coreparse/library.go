package coreparse

import (
	"debug/elf"
	"encoding/hex"
	"fmt"

	"github.com/dsecore/dsecore/coreparse/disasm"
	"github.com/dsecore/dsecore/coreparse/symbols"
	"github.com/dsecore/dsecore/internal/cachefile"
)

// Library is one ELF object opened without a core, in file addresses: what
// `dsecore symbolize` works on when all a user has is a dmesg line and the
// library.
type Library struct {
	Path      string
	DebugPath string
	BuildID   string
	File      *elf.File
	Syms      *symbols.Table
}

// OpenLibrary opens an ELF object and its separate debug file (by build-id
// or .gnu_debuglink under debugDirs); cache is
// where its symbol table keeps what it derives (nil: nothing kept).
func OpenLibrary(path string, debugDirs []string, cache *cachefile.Cache) (*Library, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	if f.Machine != elf.EM_X86_64 {
		f.Close()
		return nil, fmt.Errorf("%s: %v, not x86-64", path, f.Machine)
	}
	id := symbols.BuildID(f)
	l := &Library{Path: path, File: f, BuildID: hex.EncodeToString(id)}
	l.DebugPath = symbols.FindDebugFile(path, id, debugDirs)
	l.Syms, err = symbols.OpenWith(path, l.DebugPath, &symbols.Resolver{DebugDirs: debugDirs, Cache: cache})
	if err != nil {
		f.Close()
		return nil, err
	}
	return l, nil
}

// Close releases the files.
func (l *Library) Close() error {
	l.Syms.Close()
	return l.File.Close()
}

// ReadAt reads the file's loaded image at file addresses (PT_LOAD contents;
// .bss reads as zeros), so the disassembler can work on it.
func (l *Library) ReadAt(p []byte, addr uint64) (int, error) {
	return readELFImageAt(l.File, p, addr)
}

func readELFImageAt(f *elf.File, p []byte, addr uint64) (int, error) {
	n := 0
	for n < len(p) {
		a := addr + uint64(n)
		var seg *elf.Prog
		for _, pr := range f.Progs {
			if pr.Type == elf.PT_LOAD && a >= pr.Vaddr && a < pr.Vaddr+pr.Memsz {
				seg = pr
				break
			}
		}
		if seg == nil {
			return n, fmt.Errorf("file address %#x is in no PT_LOAD segment", a)
		}
		avail := seg.Vaddr + seg.Memsz - a
		chunk := min(uint64(len(p)-n), avail)
		if a < seg.Vaddr+seg.Filesz {
			chunk = min(chunk, seg.Vaddr+seg.Filesz-a)
			k, err := seg.ReadAt(p[n:n+int(chunk)], int64(a-seg.Vaddr))
			n += k
			if err != nil {
				return n, err
			}
		} else {
			clear(p[n : n+int(chunk)])
			n += int(chunk)
		}
	}
	return n, nil
}

// Symbolizer names file addresses for disassembly operands, as objdump
// does: the nearest symbol of any kind.
func (l *Library) Symbolizer() disasm.Symbolizer {
	return func(addr uint64) (string, uint64, bool) {
		name, start, ok := l.Syms.NearestSymbol(addr)
		return name, addr - start, ok
	}
}

// Source gives disassembly listings their source marks (file addresses).
func (l *Library) Source() disasm.SourceFunc {
	return tableSource(l.Syms, 0)
}

func tableSymbolizer(t *symbols.Table, bias uint64) disasm.Symbolizer {
	return func(addr uint64) (string, uint64, bool) {
		if t == nil || addr < bias {
			return "", 0, false
		}
		name, start, ok := t.SymbolAt(addr - bias)
		if !ok {
			return "", 0, false
		}
		return name, addr - bias - start, true
	}
}

// tableSource converts LocateSource's chain (innermost first, each level's own
// position) to the disassembler's marks (outermost first).
func tableSource(t *symbols.Table, bias uint64) disasm.SourceFunc {
	return func(addr uint64) []disasm.SourceMark {
		if t == nil || addr < bias {
			return nil
		}
		locs := t.LocateSource(addr - bias)
		if len(locs) == 0 {
			return nil
		}
		marks := make([]disasm.SourceMark, len(locs))
		for i, l := range locs {
			d := len(locs) - 1 - i
			marks[d] = disasm.SourceMark{Function: l.Function, File: l.File, Line: l.Line, Inline: l.Inline, Depth: d}
		}
		return marks
	}
}
