package l10n

import (
	"encoding/json"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"github.com/pelletier/go-toml/v2"
)

// fields are a message's template arguments, sorted and deduplicated.
var fieldRE = regexp.MustCompile(`{{\s*\.(\w+)\s*}}`)

func fields(forms ...string) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range forms {
		for _, m := range fieldRE.FindAllStringSubmatch(f, -1) {
			if !seen[m[1]] {
				seen[m[1]] = true
				out = append(out, m[1])
			}
		}
	}
	sort.Strings(out)
	return out
}

// TestCatalogsAgree: every message is in both languages with the same
// arguments (Count aside: a plural form may leave it out), and the
// Chinese of a sentence is not its English.
func TestCatalogsAgree(t *testing.T) {
	en, zh := messages(English), messages(Chinese)
	if len(en) < 50 {
		t.Fatalf("en.toml has %d messages", len(en))
	}
	for id, e := range en {
		z, ok := zh[id]
		if !ok {
			t.Errorf("%s: in en.toml, not in zh-CN.toml", id)
			continue
		}
		drop := func(fs []string) string {
			var out []string
			for _, f := range fs {
				if f != "Count" {
					out = append(out, f)
				}
			}
			return strings.Join(out, ",")
		}
		if a, b := drop(fields(e.One, e.Other)), drop(fields(z.Other)); a != b {
			t.Errorf("%s: arguments differ: en %s, zh-CN %s", id, a, b)
		}
		if z.Other == "" {
			t.Errorf("%s: zh-CN has no 'other' form (Chinese has only that one)", id)
		}
		if e.Other == z.Other && hasWords(e.Other) {
			t.Errorf("%s: zh-CN is the English %q", id, e.Other)
		}
	}
	for id := range zh {
		if _, ok := en[id]; !ok {
			t.Errorf("%s: in zh-CN.toml, not in en.toml", id)
		}
	}
}

// hasWords says whether s has English words outside its arguments (a
// message of names and punctuation may be the same in both languages).
func hasWords(s string) bool {
	return regexp.MustCompile(`\b[a-z]{3,}\b`).MatchString(fieldRE.ReplaceAllString(s, ""))
}

func TestRender(t *testing.T) {
	zh := New("zh_CN.UTF-8")
	if zh.Lang() != Chinese {
		t.Fatalf("zh_CN.UTF-8 is %s", zh.Lang())
	}
	m := T("verdict.size-underflow", "Size", -1)
	if got, want := m.String(), "The list's size_ underflowed to -1: its nodes were erased more times than they existed."; got != want {
		t.Errorf("en: %q, want %q", got, want)
	}
	if got, want := zh.S(m), "链表的 size_ 下溢为 -1：节点被 erase 的次数多于节点本身的个数。"; got != want {
		t.Errorf("zh-CN: %q, want %q", got, want)
	}
	// Nested messages render in the printer's language; plural forms
	// follow Count.
	hops := func(n int) Msg {
		return T("holder.hops", "How", T("holder.how-pointer-chain"), "Count", n, "From", T("holder.variable", "Kind", T("holder.local"), "Variable", "l", "Type", "lsm_t *"))
	}
	if got, want := hops(1).String(), "a pointer chain of 1 hop from local `l` of type lsm_t *"; got != want {
		t.Errorf("en: %q, want %q", got, want)
	}
	if got, want := hops(2).String(), "a pointer chain of 2 hops from local `l` of type lsm_t *"; got != want {
		t.Errorf("en: %q, want %q", got, want)
	}
	if got, want := zh.S(hops(2)), "从局部变量 `l`（lsm_t *）出发、经 2 跳的指针链"; got != want {
		t.Errorf("zh-CN: %q, want %q", got, want)
	}
	if f := zh.Fallbacks(); len(f) != 0 {
		t.Errorf("fallbacks: %q", f)
	}
	// What is in no catalog is counted, never hidden.
	zh.S(Untranslated("the heap says so"))
	zh.S(T("no.such.message"))
	zh.S(T("verdict.size-underflow")) // its argument missing
	if f := zh.Fallbacks(); len(f) != 3 {
		t.Errorf("fallbacks: %q, want 3", f)
	}
	if s := En().S(T("verdict.size-underflow")); !strings.Contains(s, "verdict.size-underflow") {
		t.Errorf("a message without its argument rendered as %q", s)
	}
}

func TestMatch(t *testing.T) {
	for in, want := range map[string]string{
		"": English, "C": English, "POSIX": English, "C.UTF-8": English, "en_US.UTF-8": English,
		"zh_CN.UTF-8": Chinese, "zh-CN": Chinese, "zh": Chinese, "zh-Hans": Chinese, "zh_SG": Chinese,
		"zh_TW.UTF-8": English, "zh-Hant": English, "de_DE": English, "garbage!": English,
	} {
		if got := Match(in); got != want {
			t.Errorf("Match(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestFromEnv(t *testing.T) {
	t.Setenv("LC_ALL", "")
	t.Setenv("LC_MESSAGES", "")
	t.Setenv("LANG", "zh_CN.UTF-8")
	if got := FromEnv(); got != Chinese {
		t.Errorf("LANG=zh_CN.UTF-8: %s", got)
	}
	t.Setenv("LC_ALL", "C")
	if got := FromEnv(); got != English {
		t.Errorf("LC_ALL=C beside LANG=zh_CN.UTF-8: %s", got)
	}
}

// TestJSON: a Msg stored and read back renders the same in every
// language.
func TestJSON(t *testing.T) {
	m := T("verdict.another-path-object", "Who", Join("sep.semicolon",
		T("holder.holds", "Who", T("who.task", "ID", int64(15), "Processer", 6, "State", "block"), "What", T("what.at", "What", T("what.the-typed", "What", T("role.owner"), "Type", "dm_hash_node_t"), "Addr", "0x10"),
			"Held", T("holder.as", "Text", "`node`"), "From", T("holder.hops", "How", T("holder.how-pointer-chain"), "Count", 2, "From", T("holder.variable", "Kind", T("holder.parameter"), "Variable", "l", "Type", "lsm_t *")),
			"Frame", 3, "Path", Verbatim("a ← b")),
		Untranslated("something else")))
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var back Msg
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	for _, l := range Langs {
		p := New(l)
		if a, b := p.S(m), p.S(back); a != b {
			t.Errorf("%s: %q read back as %q", l, a, b)
		}
	}
	if !strings.Contains(m.String(), "task 15 (Processer 6, block) holds the owner dm_hash_node_t 0x10 as `node` (a pointer chain of 2 hops from parameter `l` of type lsm_t *, frame #3 a ← b); something else") {
		t.Errorf("en: %s", m.String())
	}
}

// TestSectionsAreTheCatalog: the catalog cut at its tables (sections)
// holds every message of the whole file, each in the section named by its
// ID's first segment, and nothing else; so a message rendered from its
// section's bundle is the message the whole catalog has.
func TestSectionsAreTheCatalog(t *testing.T) {
	for _, lang := range Langs {
		whole := messages(lang)
		if len(whole) < 100 {
			t.Fatalf("%s: %d messages", lang, len(whole))
		}
		got := map[string]*i18n.Message{}
		for group, text := range sections(lang) {
			mf, err := i18n.ParseMessageFileBytes(text, lang+".toml", map[string]i18n.UnmarshalFunc{"toml": toml.Unmarshal})
			if err != nil {
				t.Fatalf("%s, section %s: %v", lang, group, err)
			}
			for _, m := range mf.Messages {
				if g, _, _ := strings.Cut(m.ID, "."); g != group {
					t.Errorf("%s: %s in section %s", lang, m.ID, group)
				}
				if _, dup := got[m.ID]; dup {
					t.Errorf("%s: %s in two sections", lang, m.ID)
				}
				got[m.ID] = m
			}
		}
		if !reflect.DeepEqual(got, whole) {
			for id, m := range whole {
				if !reflect.DeepEqual(got[id], m) {
					t.Errorf("%s: %s: sections %+v, whole catalog %+v", lang, id, got[id], m)
				}
			}
			for id := range got {
				if whole[id] == nil {
					t.Errorf("%s: %s only in the sections", lang, id)
				}
			}
		}
	}
	// Rendered: every English message by a printer of sections is its
	// catalog text (those without arguments, whole).
	for id, m := range messages(English) {
		if strings.Contains(m.Other, "{{") || m.One != "" {
			continue
		}
		if got := En().S(T(id)); got != m.Other {
			t.Errorf("%s: %q, the catalog %q", id, got, m.Other)
		}
	}
}

// TestRenderConcurrently: printers of both languages rendering messages
// of several sections at once, from fresh bundles (each section parsed
// into its language's bundle by the first of them while others render),
// say what one printer says alone. Run with -race: a section parsed
// beside a rendering would be a race on the bundle's maps.
func TestRenderConcurrently(t *testing.T) {
	msgs := []Msg{
		T("verdict.size-underflow", "Size", -1),
		T("holder.hops", "How", T("holder.how-pointer-chain"), "Count", 2, "From", T("holder.variable", "Kind", T("holder.local"), "Variable", "l", "Type", "lsm_t *")),
		T("sep.semicolon"),
		T("no.such.message"),
	}
	want := map[string][]string{}
	for _, lang := range Langs {
		p := New(lang)
		for _, m := range msgs {
			want[lang] = append(want[lang], p.S(m))
		}
	}
	books.Clear()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lang := Langs[g%len(Langs)]
			p := New(lang)
			for i := range msgs {
				k := (i + g) % len(msgs) // each goroutine starts at another section
				if got := p.S(msgs[k]); got != want[lang][k] {
					t.Errorf("%s, message %d: %q, alone %q", lang, k, got, want[lang][k])
				}
			}
		}()
	}
	wg.Wait()
}
