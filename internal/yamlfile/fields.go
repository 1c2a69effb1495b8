package yamlfile

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Fields is a settings file read key by key (the coroutine and the
// fault-analysis profiles): its top-level keys as written (case kept),
// each with its value and its line, so that every complaint names the
// file, the line and the key. Complaints are collected (Errorf, Decode)
// and returned together by Err.
//
//	f, err := yamlfile.ParseFields("analysis profile", path, data, yamlfile.Keys(Profile{}))
//	if err != nil {
//		return nil, err
//	}
//	f.DecodeStruct(&p)
//	return &p, f.Err()
type Fields struct {
	what, file string
	nodes      map[string]ast.Node
	lines      map[string]int
	errs       []string
}

// ParseFields parses data (the file file, a what: "profile") as one YAML
// mapping whose keys are among known: a key not known (with the known key
// it is nearest to, when one is), or given twice, is an error here. An
// empty file has no keys (Len 0).
func ParseFields(what, file string, data []byte, known []string) (*Fields, error) {
	// The file's syntax, as every YAML file a user writes is checked.
	if err := DecodeMapping(file, data, nil); err != nil {
		return nil, fmt.Errorf("%s %w", what, err)
	}
	doc, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %s", what, file, firstLine(err))
	}
	var entries []*ast.MappingValueNode
	if len(doc.Docs) > 0 {
		switch body := doc.Docs[0].Body.(type) {
		case *ast.MappingNode:
			entries = body.Values
		case *ast.MappingValueNode:
			entries = []*ast.MappingValueNode{body}
		}
	}
	f := &Fields{what: what, file: file, nodes: map[string]ast.Node{}, lines: map[string]int{}}
	isKnown := map[string]bool{}
	for _, k := range known {
		isKnown[k] = true
	}
	for _, e := range entries {
		k, line := e.Key.GetToken().Value, e.Key.GetToken().Position.Line
		switch {
		case !isKnown[k]:
			if near := nearest(k, known); near != "" {
				f.add(line, "", "unknown key %q (did you mean %s?)", k, near)
			} else {
				f.add(line, "", "unknown key %q (keys: %s)", k, strings.Join(known, ", "))
			}
		case f.nodes[k] != nil:
			f.add(line, k, "given twice (first on line %d)", f.lines[k])
		default:
			f.nodes[k], f.lines[k] = e.Value, line
		}
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	return f, nil
}

// Keys are the yaml keys of a struct's fields, in their order (a field
// tagged "-" has none).
func Keys(v any) []string {
	t := reflect.TypeOf(v)
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		if k := Key(t.Field(i)); k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

// Key is a struct field's yaml key ("" for none).
func Key(f reflect.StructField) string {
	k, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if k == "-" {
		return ""
	}
	return k
}

// Len is how many keys the file gives.
func (f *Fields) Len() int { return len(f.nodes) }

// Has says whether the file gives key.
func (f *Fields) Has(key string) bool { return f.nodes[key] != nil }

// File is the file's name as given.
func (f *Fields) File() string { return f.file }

// Line is the line of a key ("queues"), or of a key of a mapping the file
// gives as its value ("queues.waitQueue_"); a sub-key it does not have is
// its mapping's line, a key it does not have 0.
func (f *Fields) Line(key string) int {
	top, sub, _ := strings.Cut(key, ".")
	if m, ok := f.nodes[top].(*ast.MappingNode); ok && sub != "" {
		for _, e := range m.Values {
			if e.Key.GetToken().Value == sub {
				return e.Key.GetToken().Position.Line
			}
		}
	}
	return f.lines[top]
}

// Decode decodes key's value into v (a pointer), as written; a value of
// the wrong shape is a complaint at the key's line. False when the file
// does not give the key or its value does not decode.
func (f *Fields) Decode(key string, v any) bool {
	n := f.nodes[key]
	if n == nil {
		return false
	}
	if err := yaml.NodeToValue(n, v); err != nil {
		f.add(f.lines[key], key, "%s", typeError(err))
		return false
	}
	return true
}

// DecodeStruct decodes every key the file gives into the field of the
// struct v points to that has that yaml key, field by field: a key the
// file leaves out leaves its field as it was (a base's value).
func (f *Fields) DecodeStruct(v any) {
	pv := reflect.ValueOf(v).Elem()
	pt := pv.Type()
	for i := 0; i < pt.NumField(); i++ {
		if k := Key(pt.Field(i)); k != "" {
			f.Decode(k, pv.Field(i).Addr().Interface())
		}
	}
}

// Errorf records a complaint about key, at its line (Line).
func (f *Fields) Errorf(key, format string, args ...any) {
	f.add(f.Line(key), key, format, args...)
}

// ErrorAt records a complaint about key at the line of another (a sub-key:
// "queues.waitQueue_").
func (f *Fields) ErrorAt(at, key, format string, args ...any) {
	f.add(f.Line(at), key, format, args...)
}

func (f *Fields) add(line int, key, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if key != "" {
		msg = key + ": " + msg
	}
	if line > 0 {
		msg = fmt.Sprintf("line %d: %s", line, msg)
	}
	f.errs = append(f.errs, msg)
}

// Err is every complaint so far, in one error: "WHAT FILE: line N: KEY:
// MSG; line M: …"; nil when there is none.
func (f *Fields) Err() error {
	if len(f.errs) == 0 {
		return nil
	}
	return fmt.Errorf("%s %s: %s", f.what, f.file, strings.Join(f.errs, "; "))
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(yaml.FormatError(err, false, false), "\n")
	return strings.TrimSpace(s)
}

// typeError is the decoder's complaint without its position (the key's
// line is given).
func typeError(err error) string {
	s := firstLine(err)
	if strings.HasPrefix(s, "[") {
		if i := strings.Index(s, "] "); i > 0 {
			s = s[i+2:]
		}
	}
	return s
}

// nearest is the key within two edits of s, "" when there is none or
// several.
func nearest(s string, keys []string) string {
	best, n := "", 0
	for _, k := range keys {
		if editDistance(s, k) <= 2 {
			best, n = k, n+1
		}
	}
	if n == 1 {
		return best
	}
	return ""
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
