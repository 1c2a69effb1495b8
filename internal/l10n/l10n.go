// Package l10n is dsecore's one message catalog: the sentences and labels
// of its text and HTML output in English (en.toml) and Simplified Chinese
// (zh-CN.toml), rendered by go-i18n.
//
// The analysis does not write prose: it composes Msg values, a catalog ID
// with its arguments (names, numbers, addresses, other Msgs), and the
// presentation renders them with a Printer of the reader's language. The
// JSON documents keep their English text (String renders a Msg in
// English): machine fields never change with the language.
package l10n

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"github.com/nicksnyder/go-i18n/v2/i18n/template"
	"github.com/pelletier/go-toml/v2"
	"golang.org/x/text/language"
)

// The languages of the catalog.
const (
	English = "en"
	Chinese = "zh-CN"
)

// Langs are the catalog's languages, English (the default) first.
var Langs = []string{English, Chinese}

//go:embed en.toml zh-CN.toml
var files embed.FS

// Msg is a sentence or a phrase not yet in any language: a catalog ID and
// its arguments, or a verbatim text (a name, a path, an instruction), or
// English that is in no catalog (Untranslated: a fallback, counted).
type Msg struct {
	ID   string
	Args []any // name, value, name, value, …
	text string
	kind kind
	list []Msg // a Join's items
}

type kind uint8

const (
	kindID kind = iota
	kindVerbatim
	kindUntranslated
	kindJoin
)

// T is the catalog's message id with its arguments as name/value pairs.
// A value is a string or a number (written as is), or a Msg (rendered in
// the same language). An argument named Count chooses the plural form.
func T(id string, kv ...any) Msg {
	if len(kv)%2 != 0 {
		panic("l10n.T: odd argument list for " + id)
	}
	return Msg{ID: id, Args: kv}
}

// Verbatim is text that is the same in every language: a name, a type,
// an instruction, a path, a log line.
func Verbatim(s string) Msg { return Msg{text: s, kind: kindVerbatim} }

// Untranslated is English prose no catalog message says yet: rendered as
// it is in every language, and reported as a fallback by the Printer.
func Untranslated(s string) Msg { return Msg{text: s, kind: kindUntranslated} }

// Join is items joined by the catalog's separator sep ("sep.semicolon",
// "sep.comma", "sep.space", "sep.arrow"…).
func Join(sep string, items ...Msg) Msg { return Msg{ID: sep, list: items, kind: kindJoin} }

// IsZero says whether m is the zero Msg (no message at all).
func (m Msg) IsZero() bool { return m.kind == kindID && m.ID == "" }

// String is m in English, the language of the JSON documents.
func (m Msg) String() string { return En().S(m) }

// Printer renders Msgs in one language and records what fell back to
// English.
type Printer struct {
	lang string

	mu        sync.Mutex
	fallbacks []string
}

// parsed counts the catalog parts parsed in this process (Parsed).
var parsed atomic.Int64

// Parsed is how many parts of the catalogs (a table of one language's
// catalog: see sections) this process has parsed: work a command that
// prints no message should not do.
func Parsed() int { return int(parsed.Load()) }

// sections cuts lang's catalog at its tables' headers: the text of the
// tables whose name's first segment is g ([fault], [fault.verdict]), by
// g, the first segment of their messages' IDs. A message is rendered from
// a bundle of its own section alone, parsed when the first of its
// messages is: the ~500 messages of a catalog cost ~5 ms to parse, and a
// first answer renders a few from one or two tables. The catalogs hold no
// multi-line string and no key outside a table
// (TestSectionsAreTheCatalog).
func sections(lang string) map[string][]byte {
	data, err := files.ReadFile(lang + ".toml")
	if err != nil {
		panic(fmt.Sprintf("l10n: the embedded catalog %s.toml: %v", lang, err))
	}
	out := map[string][]byte{}
	// A group's lines run from its first table header to the next group's:
	// a run is the catalog's own bytes (embedded, read-only: capped, so
	// that a group met again further on is appended to a copy), not a
	// line-by-line copy of them.
	group, start := "", 0
	flush := func(end int) {
		if group == "" || end == start {
			return
		}
		run := data[start:end:end]
		if prev, ok := out[group]; ok {
			out[group] = append(prev, run...)
		} else {
			out[group] = run
		}
	}
	for pos := 0; pos < len(data); {
		line := data[pos:]
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line = line[:i+1]
		}
		if bytes.HasPrefix(line, []byte("[")) {
			name := strings.TrimSpace(string(line))
			name = strings.Trim(name, "[]")
			if g, _, _ := strings.Cut(name, "."); g != group {
				flush(pos)
				group, start = g, pos
			}
		}
		pos += len(line)
	}
	flush(len(data))
	return out
}

var catalogSections = func() map[string]func() map[string][]byte {
	m := map[string]func() map[string][]byte{}
	for _, l := range Langs {
		m[l] = sync.OnceValue(func() map[string][]byte { return sections(l) })
	}
	return m
}()

// books are the bundles of each language, one per language: English's
// catalog and, for another language, its own, a section at a time.
var books sync.Map // lang → func() *book

// book is one language's bundle and its localizer. A section is parsed
// into the bundle when the first of its messages is rendered (under mu:
// go-i18n's bundle is not safe for a write beside a read). One bundle,
// not one per section: a bundle's making builds go-i18n's plural rules of
// every language (~1 % of a warm first answer each, and a first answer
// renders messages of several sections).
type book struct {
	mu     sync.RWMutex
	lang   string
	b      *i18n.Bundle
	loc    *i18n.Localizer
	groups map[string]bool // the sections parsed into b
}

func bookOf(lang string) *book {
	f, ok := books.Load(lang)
	if !ok {
		f, _ = books.LoadOrStore(lang, sync.OnceValue(func() *book {
			b := i18n.NewBundle(language.English)
			b.RegisterUnmarshalFunc("toml", toml.Unmarshal)
			// Both languages' tags now (an empty message list adds
			// one), so that the localizer made here matches as one made
			// after the sections are parsed.
			for _, l := range bookLangs(lang) {
				if err := b.AddMessages(language.MustParse(l)); err != nil {
					panic(fmt.Sprintf("l10n: %s: %v", l, err))
				}
			}
			return &book{lang: lang, b: b, loc: i18n.NewLocalizer(b, lang), groups: map[string]bool{}}
		}))
	}
	return f.(func() *book)()
}

// bookLangs are the catalogs of lang's bundle: English's, and its own.
func bookLangs(lang string) []string {
	if lang != English {
		return []string{English, lang}
	}
	return []string{English}
}

// localize renders cfg (the message id's) in lang, parsing the message's
// section of each catalog first when no message of it was rendered yet.
func localize(lang, id string, cfg *i18n.LocalizeConfig) (string, error) {
	group, _, _ := strings.Cut(id, ".")
	bk := bookOf(lang)
	bk.mu.RLock()
	if !bk.groups[group] {
		bk.mu.RUnlock()
		bk.addGroup(group)
		bk.mu.RLock()
	}
	defer bk.mu.RUnlock()
	return bk.loc.Localize(cfg)
}

func (bk *book) addGroup(group string) {
	bk.mu.Lock()
	defer bk.mu.Unlock()
	if bk.groups[group] {
		return
	}
	for _, l := range bookLangs(bk.lang) {
		parsed.Add(1)
		name := l + ".toml"
		if _, err := bk.b.ParseMessageFileBytes(catalogSections[l]()[group], name); err != nil {
			panic(fmt.Sprintf("l10n: the embedded catalog %s, table %s: %v", name, group, err))
		}
	}
	bk.groups[group] = true
}

var (
	// parser fails on a missing argument instead of writing "<no value>".
	parser = &template.TextParser{Option: "missingkey=error"}
	en     = sync.OnceValue(func() *Printer { return New(English) })
)

// En is the English printer (shared: its fallbacks are not kept).
func En() *Printer { return en() }

// New is a printer for lang, one of Langs (anything else is English: see
// Match).
func New(lang string) *Printer { return &Printer{lang: Match(lang)} }

// Lang is the printer's language, one of Langs.
func (p *Printer) Lang() string { return p.lang }

// Match picks the catalog's language for a BCP 47 tag or a POSIX locale
// ("zh-CN", "zh_CN.UTF-8", "zh-Hans", "zh_SG"): Simplified Chinese for
// Chinese in the Han simplified script, else English.
func Match(tag string) string {
	tag = strings.TrimSpace(tag)
	if i := strings.IndexAny(tag, ".@"); i >= 0 {
		tag = tag[:i] // zh_CN.UTF-8, zh_CN@…
	}
	tag = strings.ReplaceAll(tag, "_", "-")
	if tag == "" || tag == "C" || tag == "POSIX" {
		return English
	}
	t, err := language.Parse(tag)
	if err != nil {
		return English
	}
	base, _ := t.Base()
	script, _ := t.Script()
	if base.String() == "zh" && script.String() == "Hans" {
		return Chinese
	}
	return English
}

// FromEnv is the language of the POSIX locale: LC_ALL, else LC_MESSAGES,
// else LANG (the first one set), matched by Match.
func FromEnv() string {
	for _, v := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		if s := os.Getenv(v); s != "" {
			return Match(s)
		}
	}
	return English
}

// S renders m.
func (p *Printer) S(m Msg) string {
	switch m.kind {
	case kindVerbatim:
		return m.text
	case kindUntranslated:
		if p.lang != English {
			p.fellBack("untranslated: " + m.text)
		}
		return m.text
	case kindJoin:
		parts := make([]string, len(m.list))
		for i, x := range m.list {
			parts[i] = p.S(x)
		}
		return strings.Join(parts, p.S(T(m.ID)))
	}
	if m.ID == "" {
		return ""
	}
	data := make(map[string]any, len(m.Args)/2)
	var count any
	for i := 0; i+1 < len(m.Args); i += 2 {
		name, _ := m.Args[i].(string)
		v := m.Args[i+1]
		switch x := v.(type) {
		case Msg:
			v = p.S(x)
		case []Msg:
			v = p.S(Join("sep.semicolon", x...))
		case fmt.Stringer:
			v = x.String()
		}
		if name == "Count" {
			count = v
		}
		data[name] = v
	}
	cfg := &i18n.LocalizeConfig{MessageID: m.ID, TemplateData: data, TemplateParser: parser}
	if count != nil {
		cfg.PluralCount = count
	}
	s, err := localize(p.lang, m.ID, cfg)
	var nf *i18n.MessageNotFoundErr
	switch {
	case err == nil:
	case errors.As(err, &nf) && s != "":
		p.fellBack(m.ID)
	default:
		// A message in no catalog, or arguments that do not fit it: a
		// bug of dsecore, said where the text would be rather than
		// hidden.
		p.fellBack(m.ID + ": " + err.Error())
		if s == "" {
			s = "[" + m.ID + ": " + err.Error() + "]"
		}
	}
	return s
}

// Sf renders the catalog message id with its arguments.
func (p *Printer) Sf(id string, kv ...any) string { return p.S(T(id, kv...)) }

func (p *Printer) fellBack(what string) {
	if p == en() {
		return
	}
	p.mu.Lock()
	p.fallbacks = append(p.fallbacks, what)
	p.mu.Unlock()
}

// Fallbacks are the messages this printer rendered in English for want of
// a translation (and any that failed), in order.
func (p *Printer) Fallbacks() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.fallbacks...)
}

// IDs are the message IDs of lang's catalog, sorted.
func IDs(lang string) []string {
	var ids []string
	for id := range messages(lang) {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// messages reads lang's catalog file as go-i18n does: each message's
// plural forms by ID.
func messages(lang string) map[string]*i18n.Message {
	data, err := files.ReadFile(lang + ".toml")
	if err != nil {
		return nil
	}
	mf, err := i18n.ParseMessageFileBytes(data, lang+".toml", map[string]i18n.UnmarshalFunc{"toml": toml.Unmarshal})
	if err != nil {
		return nil
	}
	out := map[string]*i18n.Message{}
	for _, m := range mf.Messages {
		out[m.ID] = m
	}
	return out
}

// Itoa is n in decimal (an argument written as is in every language).
func Itoa(n int) string { return strconv.Itoa(n) }
