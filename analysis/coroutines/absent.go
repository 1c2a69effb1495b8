package coroutines

import (
	"bytes"
	"debug/elf"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/symbols"
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
	// What a name the anchor takes ends with, as a string table holds it:
	// a module none of whose string tables holds one cannot name such a
	// symbol, and its symbol table is not loaded (symbols.Table.MayName).
	var ends [][]byte
	for _, n := range append([]string{prof.EntryTrampoline}, prof.SwitchFunctions...) {
		if n != "" {
			ends = append(ends, []byte(n+"\x00"))
		}
	}
	ends = append(ends, []byte("jump_fcontext\x00"), []byte("make_fcontext\x00"))
	seen := map[*coreparse.Module]bool{}
	cleared := map[*coreparse.Module]bool{}
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
		if !m.Syms.MayName(ends) {
			if m.Syms.Path == m.Path {
				cleared[m] = true // its .dynstr too: no import either
			}
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
		if isCLibrary(m) || m.Path == "" || cleared[m] {
			continue
		}
		f, err := elf.Open(m.Path)
		if err != nil {
			return "", false
		}
		found := false
		if sec := f.Section(".dynstr"); sec != nil {
			found, err = symbols.ReaderContains(sec.Open(), append(names, suffixes...))
		}
		f.Close()
		if err != nil || found {
			return "", false
		}
	}
	return fmt.Sprintf("no module defines or calls a context switch routine (%s, *jump_fcontext, %s): no coroutine runtime",
		strings.Join(prof.SwitchFunctions, ", "), prof.EntryTrampoline), true
}

var (
	atPLT        = []byte("@plt")
	jumpFcontext = []byte("jump_fcontext")
	makeFcontext = []byte("make_fcontext")
)

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
