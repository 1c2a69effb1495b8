package report

import (
	"strconv"

	"github.com/dsecore/dsecore/analysis/fault"
	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/internal/l10n"
)

// The text forms' words come from the message catalog (internal/l10n);
// the documents' fields stay as they are in every language.

// printer is p, or English.
func printer(p *l10n.Printer) *l10n.Printer {
	if p == nil {
		return l10n.En()
	}
	return p
}

// said is a document's text in the catalog's words when the analysis gave
// them (m), else its English as it is (a document read back from JSON).
func said(m l10n.Msg, english string) l10n.Msg {
	if !m.IsZero() {
		return m
	}
	return l10n.Untranslated(english)
}

// signalMsg says a signal document as its Text does, from its fields.
func signalMsg(d *Signal) l10n.Msg {
	if d == nil {
		return fault.SignalMsg(nil)
	}
	s := &coreparse.Signal{Signo: d.Signo, Name: d.Name, Code: d.Code, CodeName: d.CodeName, PID: d.PID, Sent: d.Sent, Derived: d.Derived}
	if d.Addr != "" {
		a, err := strconv.ParseUint(d.Addr, 0, 64)
		if err != nil {
			return l10n.Untranslated(d.Text)
		}
		s.Addr, s.HasAddr = a, true
	}
	return fault.SignalMsg(s)
}

// confidenceMsg is a verdict's confidence (high, medium, low).
func confidenceMsg(c string) l10n.Msg {
	switch c {
	case "high", "medium", "low":
		return l10n.T("confidence." + c)
	}
	return l10n.Verbatim(c)
}

// boolMsg is yes or no ("true", "false" in English).
func boolMsg(b bool) l10n.Msg {
	if b {
		return l10n.T("bool.true")
	}
	return l10n.T("bool.false")
}

// VerdictText is the analysis' verdict in lang's words (nil: English):
// its sentences from the catalog, or, in a document read back from JSON,
// its English as it is.
func VerdictText(a *Analysis, lang *l10n.Printer) string {
	tr := printer(lang)
	if len(a.Sentences) == 0 {
		return tr.S(l10n.Untranslated(a.Verdict))
	}
	return tr.S(l10n.Join("sep.sentence", a.Sentences...))
}

// FaultText is the fault's description in lang's words (nil: English);
// "" when the analysis has no faulting instruction.
func FaultText(f *AnalysisFault, lang *l10n.Printer) string {
	if f == nil || f.Description == "" {
		return ""
	}
	return printer(lang).S(said(f.Said, f.Description))
}

// OriginText is an origin step of the bad register in lang's words.
func OriginText(o AnalysisStep, lang *l10n.Printer) string {
	return printer(lang).S(said(o.Said, o.Text))
}

// OtherText is an other path on the fault's object, in lang's words: who,
// where it holds the object and what it holds.
func OtherText(h AnalysisHit, lang *l10n.Printer) (who, where, what string) {
	tr := printer(lang)
	return tr.S(said(h.Said, h.Who)), tr.S(said(h.WhereSaid, h.Where)), tr.S(said(h.WhatSaid, h.What))
}

// FindingText is a list walk's finding i in lang's words.
func FindingText(w *AnalysisWalk, i int, lang *l10n.Printer) string {
	m := l10n.Msg{}
	if i < len(w.FindingsSaid) {
		m = w.FindingsSaid[i]
	}
	return printer(lang).S(said(m, w.Findings[i]))
}

// StepText is a timeline step in lang's words.
func StepText(st TimelineStep, lang *l10n.Printer) string {
	return printer(lang).S(said(st.Said, st.Text))
}

// ChunkText is the heap's state of an address (memory.heap[].text) in
// lang's words.
func ChunkText(c AnalysisChunk, lang *l10n.Printer) string {
	return printer(lang).S(said(c.Said, c.Text))
}

// chunkRole is a heap fact's role in the catalog's words (a document read
// back from JSON: its role's word, or its English).
func chunkRole(c AnalysisChunk) l10n.Msg {
	if !c.RoleSaid.IsZero() {
		return c.RoleSaid
	}
	return fault.ObjectRole(c.Role)
}

// EvidenceText is a fact of the evidence in lang's words.
func EvidenceText(e AnalysisEvid, lang *l10n.Printer) string {
	return printer(lang).S(said(e.Said, e.Text))
}
