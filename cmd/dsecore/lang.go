package main

import (
	"fmt"
	"strings"

	"github.com/dsecore/dsecore/internal/l10n"
)

// langPrinter renders the text and HTML output's words in the language
// asked for: --lang ($DSECORE_LANG, lang:), else the POSIX locale's
// (LC_ALL, LC_MESSAGES, LANG), else English.
func langPrinter() (*l10n.Printer, error) {
	v := config.GetString("lang")
	if v == "" {
		return l10n.New(l10n.FromEnv()), nil
	}
	lang := l10n.Match(v)
	if lang == l10n.English && !strings.HasPrefix(strings.ToLower(v), "en") && v != "C" && v != "POSIX" {
		return nil, fmt.Errorf("--lang %s: dsecore speaks %s", v, strings.Join(l10n.Langs, " and "))
	}
	return l10n.New(lang), nil
}
