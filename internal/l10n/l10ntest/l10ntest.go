// Package l10ntest finds English left in text meant to be Chinese: the
// tests of every face that renders the catalog's Chinese use it.
package l10ntest

import (
	"regexp"
	"strings"
	"unicode"
)

// englishWords are words of English prose that no name, type or
// instruction in dsecore's output is made of: one of them in a Chinese
// sentence, outside a name, is English that slipped through.
var englishWords = regexp.MustCompile(`(?i)^(the|a|an|of|in|on|at|by|to|as|and|or|was|were|is|are|be|been|which|that|its|it|from|with|into|through|holds|holding|held|pointer|read|write|another|path|object|likely|thread|task|list|node|nodes|no|not|other|same|this|freed|free|after|came|reset|while|still|found|frame|frames|parameter|local|variable|type|hop|hops|verdict|evidence|timeline|crash|fault|faulting|instruction|register|heap|holders|logs|lines|files|threads|tasks|modules|warning|warnings|process|signal)$`)

// quoted are names and quotations: `node`, "free(): double free detected
// in tcache 2" (glibc's words, quoted as they are), 'dse_op_tp thread 0x…'
// (a heartbeat handle's name; a quote opens after a space or punctuation,
// not inside an English "node's").
var quoted = regexp.MustCompile("`[^`]*`|\"[^\"]*\"|(^|[\\s（，：；])'[^']*'")

// codeToken says whether a token is a name, an address, a register, an
// instruction operand or a source location rather than a word.
func codeToken(s string) bool {
	return strings.ContainsAny(s, ":_<>()/.%#-*[]&=,;'\"0123456789…←→{}+@$!?|\\")
}

// EnglishIn lists the English words of s outside quoted names and
// quotations and code tokens.
func EnglishIn(s string) []string {
	s = quoted.ReplaceAllString(s, " ")
	var out []string
	for _, tok := range strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.Is(unicode.Han, r) || strings.ContainsRune("，。；：（）、“”—", r)
	}) {
		if !codeToken(tok) && englishWords.MatchString(tok) {
			out = append(out, tok)
		}
	}
	return out
}

// HasHan says whether s has a Chinese character.
func HasHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}
