package coreparse

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/dsecore/dsecore/coreparse/symbols"
	"github.com/dsecore/dsecore/internal/l10n"
)

// Symbol status levels: how much of a module's debug information was found.
const (
	SymbolsFull      = "full"       // DWARF, with every file it refers to
	SymbolsPartial   = "partial"    // DWARF, but a file it refers to is missing (a supplementary file, .dwo)
	SymbolsNamesOnly = "names only" // no DWARF: function names from a symbol table
	SymbolsNone      = "none"       // no local file, or nothing in it
)

// SymbolStatus says exactly what of a module's debug information was
// found and what is missing.
type SymbolStatus struct {
	Level string // SymbolsFull, SymbolsPartial, SymbolsNamesOnly, SymbolsNone
	// Text is the status in one line: "full", "partial: supplementary
	// file … not found (looked in …)", "partial: 1 of 2 .dwo missing",
	// "names only (MiniDebugInfo)", "names only (.dynsym)", "debug file
	// rejected: CRC mismatch; names only (.dynsym)", "none: file not found".
	Text string
	// Said is Text in the catalog's words; Head is it with a partial
	// status's problem cut to what is missing (the problems, each on its
	// own line, name where it was looked for).
	Said, Head l10n.Msg
	// Problems are one line each, naming the file looked for and where.
	Problems []string
}

// Partial reports whether answers from the module may lack what its
// debug information would give (names, inline frames, types, variables).
func (s SymbolStatus) Partial() bool { return s.Level != SymbolsFull }

// SymbolStatus is the module's status (it reads the module's DWARF
// index if nothing has yet).
func (m *Module) SymbolStatus() SymbolStatus {
	st := m.symbolStatus()
	st.Text = st.Said.String()
	if st.Head.IsZero() {
		st.Head = st.Said
	}
	return st
}

func (m *Module) symbolStatus() SymbolStatus {
	var st SymbolStatus
	st.Problems = append(st.Problems, m.DebugRejected...)
	switch {
	case m.Path == "":
		st.Level, st.Said = SymbolsNone, l10n.T("symstatus.none-not-found")
		return st
	case m.Syms == nil:
		st.Level, st.Said = SymbolsNone, l10n.T("symstatus.none-unreadable")
		return st
	}
	if m.Syms.HasDWARF() {
		st.Problems = append(st.Problems, m.Syms.Problems()...)
		if len(st.Problems) == 0 {
			st.Level, st.Said = SymbolsFull, l10n.T("symstatus.full")
			return st
		}
		st.Level = SymbolsPartial
		problem := l10n.Untranslated(st.Problems[0])
		st.Said = l10n.T("symstatus.partial", "Problem", problem)
		if n := len(st.Problems) - 1; n > 0 {
			st.Said = l10n.T("symstatus.partial-more", "Problem", problem, "N", n)
		}
		st.Head = l10n.T("symstatus.partial", "Problem", l10n.Untranslated(problemHead(st.Problems[0])))
		return st
	}
	src := m.Syms.SymbolSource()
	st.Level = SymbolsNamesOnly
	st.Said = l10n.T("symstatus.names-only", "Source", src)
	if src == symbols.SymbolsNone {
		st.Level, st.Said = SymbolsNone, l10n.T("symstatus.none-no-table")
	}
	if len(m.DebugRejected) > 0 {
		st.Said = l10n.T("symstatus.rejected", "Reason", l10n.Untranslated(rejectReason(m.DebugRejected[0])), "Status", st.Said)
	}
	return st
}

// problemHead is a partial status's problem without where it was looked
// for: "1 of 2 .dwo missing", "supplementary file … not found".
func problemHead(p string) string {
	if j := strings.Index(p, " (looked in "); j >= 0 {
		p = p[:j]
	}
	if j := strings.Index(p, ": "); j >= 0 && strings.Contains(p[:j], "missing") {
		p = p[:j]
	}
	return p
}

// rejectReason is the reason of a rejection line ("CRC mismatch").
func rejectReason(line string) string {
	if i := strings.LastIndex(line, "("); i >= 0 && strings.HasSuffix(line, ")") {
		return line[i+1 : len(line)-1]
	}
	return line
}

// SymbolWarnings are the problems of every module's debug information,
// one line each naming the module, the file looked for and where. A
// module whose files can lack nothing (symbols.Table.MayLackFiles) is
// passed over without loading its DWARF: the first answer reads only
// the modules its stack is in.
func (p *Process) SymbolWarnings() []string {
	var out []string
	for _, m := range p.Modules {
		if m.Path == "" || m.Syms == nil {
			continue // warned of when the module was loaded
		}
		if len(m.DebugRejected) == 0 && !m.Syms.MayLackFiles() {
			// No problem to tell: the module's DWARF is left unread
			// (and, compressed, uninflated) until an answer needs it.
			continue
		}
		for _, pr := range m.SymbolStatus().Problems {
			out = append(out, fmt.Sprintf("%s: debug info incomplete: %s", filepath.Base(m.Name), pr))
		}
	}
	return out
}
