package coreparse

import (
	"testing"

	"github.com/dsecore/dsecore/internal/l10n"
	"github.com/dsecore/dsecore/internal/l10n/l10ntest"
)

// TestExceptionSaid: an exception's words from the catalog are String's
// in English, and in Simplified Chinese every part comes from zh-CN.toml
// (no fallback) with no English word left: page faults of each kind, each
// trap the kernel turns into a signal, the core's own record, none.
func TestExceptionSaid(t *testing.T) {
	var cases []*Exception
	for trapno, name := range trapNames {
		cases = append(cases, &Exception{Trapno: trapno, Err: 0x4, CR2: 0x10, Name: name})
	}
	cases = append(cases,
		&Exception{Trapno: 14, Err: 0x6, CR2: 0x8, Name: trapNames[14], Access: "write", User: true},
		&Exception{Trapno: 14, Err: 0x15, CR2: 0x1000, Name: trapNames[14], Access: "instruction fetch", User: true, Protection: true},
		&Exception{Trapno: 14, Err: 0x25, CR2: 0x1000, Name: trapNames[14], Access: "read", PKey: true},
		&Exception{Trapno: 14, CR2: 0x0, Name: trapNames[14], User: true, FromCore: true},
		&Exception{Trapno: 9, Name: "exception 9"},
		nil)
	zh := l10n.New(l10n.Chinese)
	for _, e := range cases {
		m := e.Said()
		if got, want := m.String(), e.String(); got != want {
			t.Errorf("English %q, String says %q", got, want)
		}
		s := zh.S(m)
		if !l10ntest.HasHan(s) {
			t.Errorf("not Chinese: %q", s)
		}
		if w := l10ntest.EnglishIn(s); len(w) > 0 {
			t.Errorf("English %q in %q", w, s)
		}
	}
	if f := zh.Fallbacks(); len(f) > 0 {
		t.Errorf("fell back to English: %q", f)
	}
}
