// Package yamlfile reads the YAML files a user writes for dsecore (its
// configuration, coroutine profiles): keys keep their case, and a
// malformed file is one line naming the file, the line and the column.
package yamlfile

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"

	"github.com/goccy/go-yaml"
)

// Error is a file that is not the YAML mapping it should be.
type Error struct {
	Path         string
	Line, Column int // 0 when the parser gave none
	Msg          string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s: line %d, column %d: %s", e.Path, e.Line, e.Column, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Path, e.Msg)
}

// ReadMapping reads path, checks that it is one YAML mapping (or empty)
// and decodes it into v (a pointer to a struct with yaml tags or to a
// map), keys as written. It returns the file's bytes.
func ReadMapping(path string, v any) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return data, DecodeMapping(path, data, v)
}

var position = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\[(\d+):(\d+)\] (.*)`) })

// DecodeMapping is ReadMapping of data already read; path names it in
// errors.
func DecodeMapping(path string, data []byte, v any) error {
	if strings.ContainsRune(string(data), 0) {
		return &Error{Path: path, Msg: "not a text file (it holds NUL bytes)"}
	}
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return parseError(path, err)
	}
	switch doc.(type) {
	case nil, map[string]any:
	default:
		return &Error{Path: path, Line: 1, Column: 1, Msg: fmt.Sprintf("want a mapping of settings (key: value), found %s", kind(doc))}
	}
	if v == nil {
		return nil
	}
	if err := yaml.UnmarshalWithOptions(data, v, yaml.Strict()); err != nil {
		return parseError(path, err)
	}
	return nil
}

func parseError(path string, err error) error {
	first, _, _ := strings.Cut(yaml.FormatError(err, false, false), "\n")
	if m := position().FindStringSubmatch(first); m != nil {
		var line, col int
		fmt.Sscan(m[1], &line)
		fmt.Sscan(m[2], &col)
		return &Error{Path: path, Line: line, Column: col, Msg: strings.TrimSpace(m[3])}
	}
	return &Error{Path: path, Msg: strings.Join(strings.Fields(first), " ")}
}

func kind(doc any) string {
	switch doc.(type) {
	case []any:
		return "a list"
	case map[any]any:
		return "a mapping with non-string keys"
	}
	return "a single value"
}
