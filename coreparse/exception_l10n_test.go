package coreparse

import (
	"testing"

	"github.com/dsecore/dsecore/coreparse/corefile"
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

// TestSignalWordsSaid: strsignal's text of every signal and where a
// signal record was read, in the catalog's words: the English is the
// documents' (corefile.SignalDescription, Signal.Source), the Chinese
// glibc's own zh_CN translation, with no fallback.
func TestSignalWordsSaid(t *testing.T) {
	zh := l10n.New(l10n.Chinese)
	for signo := 0; signo <= 65; signo++ {
		m := DescriptionSaid(signo)
		if got, want := m.String(), corefile.SignalDescription(signo); got != want {
			t.Errorf("signal %d in English: %q, strsignal's %q", signo, got, want)
		}
		if s := zh.S(m); s == m.String() || !l10ntest.HasHan(s) {
			t.Errorf("signal %d in Chinese: %q", signo, s)
		}
	}
	for signo, want := range map[int]string{11: "段错误", 6: "已放弃", 7: "总线错误", 8: "浮点数例外", 4: "非法指令", 40: "实时信号 6", 32: "未知信号 32"} {
		if got := zh.S(DescriptionSaid(signo)); got != want {
			t.Errorf("signal %d in Chinese: %q, glibc's libc.mo says %q", signo, got, want)
		}
	}
	frame := l10n.T("coreparse.src-frame", "Addr", "0x7f00")
	for _, c := range []struct {
		m       l10n.Msg
		en, zhs string
	}{
		{l10n.T("coreparse.src-nt-siginfo"), "core (NT_SIGINFO)", "core 文件（NT_SIGINFO）"},
		{l10n.T("coreparse.src-pr-cursig"), "core (pr_cursig)", "core 文件（pr_cursig）"},
		{l10n.T("coreparse.src-frame-siginfo", "Frame", frame), "signal frame at 0x7f00 (siginfo)", "位于 0x7f00 的信号帧（siginfo）"},
		{l10n.T("coreparse.src-frame-sigcontext", "Frame", frame, "Trapno", 14, "Err", "0x4", "CR2", "0x0"),
			"signal frame at 0x7f00 (sigcontext: trapno 14, err 0x4, cr2 0x0)", "位于 0x7f00 的信号帧（sigcontext：trapno 14，err 0x4，cr2 0x0）"},
	} {
		if got := c.m.String(); got != c.en {
			t.Errorf("English %q, want %q", got, c.en)
		}
		if got := zh.S(c.m); got != c.zhs {
			t.Errorf("Chinese %q, want %q", got, c.zhs)
		}
	}
	if f := zh.Fallbacks(); len(f) > 0 {
		t.Errorf("fell back to English: %q", f)
	}
}
