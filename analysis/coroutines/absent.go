package coroutines

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/dsecore/dsecore/coreparse"
)

// Absent says, cheaply, whether the core certainly has no task of the
// profile's runtime, and why. A stackful coroutine runs only after a
// context switch routine switched to it; a core none of whose modules
// defines or calls one has none. It looks at symbol names only, by exact
// name or suffix (no demangling, no DWARF): the profile's switch
// functions and entry trampoline, and what resolution would adapt them to
// (any *jump_fcontext, *make_fcontext). The C library's own definitions of
// swapcontext and makecontext do not count (every program maps them);
// a call to them from another module (its PLT entry, or an undefined
// dynamic symbol) does.
//
// A core it calls absent would get no task from Discover either: no
// switch routine means no saved context for the scan and nothing the walk
// can be checked against.
func Absent(p *coreparse.Process, prof *Profile) (why string, absent bool) {
	anchor := func(name []byte) bool {
		if len(name) == 0 {
			return false
		}
		if string(name) == prof.EntryTrampoline || bytes.HasSuffix(name, jumpFcontext) || bytes.HasSuffix(name, makeFcontext) {
			return true
		}
		for _, s := range prof.SwitchFunctions {
			if string(name) == s {
				return true
			}
		}
		return false
	}
	mods := append([]*coreparse.Module{}, p.Modules...)
	if p.Exe != nil {
		mods = append(mods, p.Exe)
	}
	seen := map[*coreparse.Module]bool{}
	var unread []string
	for _, m := range mods {
		if m == nil || seen[m] {
			continue
		}
		seen[m] = true
		if m.Syms == nil {
			// Without its symbols a module could hold the runtime: no
			// certainty.
			unread = append(unread, m.BaseName())
			continue
		}
		libc := isCLibrary(m)
		// Every symbol's name is looked at, none copied (Symbols would
		// make each of a C++ daemon's hundreds of thousands).
		if m.Syms.AnySymbol(func(name []byte, typ elf.SymType) bool {
			name, plt := bytes.CutSuffix(name, atPLT)
			if plt {
				return anchor(name) // a call through the PLT
			}
			return !libc && (typ == elf.STT_FUNC || typ == elf.STT_GNU_IFUNC || typ == elf.STT_NOTYPE) && anchor(name)
		}) {
			return "", false
		}
	}
	if len(unread) > 0 {
		return "", false
	}
	// Calls without a PLT entry (-fno-plt): an imported name is in the
	// module's dynamic string table (so is a defined one, found above).
	var names [][]byte
	for _, n := range append([]string{prof.EntryTrampoline}, prof.SwitchFunctions...) {
		if n != "" {
			names = append(names, []byte("\x00"+n+"\x00"))
		}
	}
	suffixes := [][]byte{[]byte("jump_fcontext\x00"), []byte("make_fcontext\x00")}
	for m := range seen {
		if isCLibrary(m) || m.Path == "" {
			continue
		}
		f, err := elf.Open(m.Path)
		if err != nil {
			return "", false
		}
		found := false
		if sec := f.Section(".dynstr"); sec != nil {
			found, err = readerContains(sec.Open(), append(names, suffixes...))
		}
		f.Close()
		if err != nil || found {
			return "", false
		}
	}
	return fmt.Sprintf("no module defines or calls a context switch routine (%s, *jump_fcontext, %s): no coroutine runtime",
		strings.Join(prof.SwitchFunctions, ", "), prof.EntryTrampoline), true
}

// readerChunk is what readerContains reads at a time.
var readerChunk = 64 << 10

var (
	atPLT        = []byte("@plt")
	jumpFcontext = []byte("jump_fcontext")
	makeFcontext = []byte("make_fcontext")
)

// readerContains says whether any of needles is in r's bytes (a section's),
// read through one small buffer (a C++ library's .dynstr is megabytes):
// each chunk keeps the previous one's last bytes, so that a needle across
// two reads is found.
func readerContains(r io.Reader, needles [][]byte) (bool, error) {
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

// isCLibrary: glibc's libc.so.6 (or a musl libc.so), whose swapcontext
// and makecontext every process maps.
func isCLibrary(m *coreparse.Module) bool {
	base := filepath.Base(m.Name)
	return !m.IsExe && (strings.HasPrefix(base, "libc.so") || strings.HasPrefix(base, "libc-") || strings.HasPrefix(base, "ld-musl"))
}

// NoRuntime is the runtime of a core Absent found without one: no
// Processer, no task, no warning beyond why.
func NoRuntime(p *coreparse.Process, prof *Profile, why string) *Runtime {
	eff := prof.clone()
	return &Runtime{Profile: prof.Name, ProfileSource: prof.Source, TaskCount: -1, p: p, prof: &eff, byAddr: map[uint64]*Task{},
		threadP: map[*coreparse.Thread]*Processer{}, Absent: why}
}
