package docschema

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/dsecore/dsecore/internal/hexjson"
)

type Inner struct {
	At uint64 `json:"at" hex:""`
}

func (i Inner) MarshalJSON() ([]byte, error) { type plain Inner; return hexjson.Marshal(plain(i)) }

type Base struct {
	Kind string `json:"kind"`
}

type doc struct {
	Base
	Count   uint64            `json:"count"`
	List    []Inner           `json:"list"`
	Opt     []string          `json:"opt,omitempty"`
	Ptr     *Inner            `json:"ptr"`
	Map     map[string]int    `json:"map"`
	Anon    struct{ N int }   `json:"anon"`
	Stats   reflect.ChanDir   `json:"stats"`
	Skip    int               `json:"-"`
	Strings map[string]string `json:"strings,omitempty"`
	hidden  int
}

// TestGenerate: the schema says what encoding/json and hexjson write:
// embedded fields promoted, hex fields as strings, nil lists, maps and
// pointers without omitempty as null too, omitempty fields optional, a
// type of another package named with its package's name (reflect.ChanDir
// is no struct: a plain integer).
func TestGenerate(t *testing.T) {
	b, err := Generate(reflect.TypeFor[doc](), "Doc", "a test document")
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Title      string                     `json:"title"`
		Required   []string                   `json:"required"`
		Properties map[string]json.RawMessage `json:"properties"`
		Defs       map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"$defs"`
		Additional *bool `json:"additionalProperties"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"kind":    `{"type":"string"}`,
		"count":   `{"type":"integer"}`,
		"list":    `{"anyOf":[{"items":{"$ref":"#/$defs/Inner"},"type":"array"},{"type":"null"}]}`,
		"opt":     `{"items":{"type":"string"},"type":"array"}`,
		"ptr":     `{"anyOf":[{"$ref":"#/$defs/Inner"},{"type":"null"}]}`,
		"map":     `{"anyOf":[{"additionalProperties":{"type":"integer"},"type":"object"},{"type":"null"}]}`,
		"anon":    `{"properties":{"N":{"type":"integer"}},"additionalProperties":false,"type":"object","required":["N"]}`,
		"stats":   `{"type":"integer"}`,
		"strings": `{"additionalProperties":{"type":"string"},"type":"object"}`,
	}
	for k, w := range want {
		var got any
		json.Unmarshal(s.Properties[k], &got)
		g, _ := json.Marshal(got)
		var wv any
		json.Unmarshal([]byte(w), &wv)
		ww, _ := json.Marshal(wv)
		if string(g) != string(ww) {
			t.Errorf("%s: %s\nwant %s", k, g, ww)
		}
	}
	if len(s.Properties) != len(want) {
		t.Errorf("properties %v", s.Properties)
	}
	var at bytes.Buffer
	json.Compact(&at, s.Defs["Inner"].Properties["at"])
	if at.String() != `{"type":"string","pattern":"^0x[0-9a-f]+$"}` {
		t.Errorf("a hex field: %s", at.String())
	}
	if s.Title != "Doc" || s.Additional == nil || *s.Additional || len(s.Required) != 7 {
		t.Errorf("title %q, additionalProperties %v, required %v", s.Title, s.Additional, s.Required)
	}
}

type outside struct {
	E json.SyntaxError `json:"e"`
}

// TestOtherPackage: a struct of another package is named with its
// package's name in front.
func TestOtherPackage(t *testing.T) {
	b, err := Generate(reflect.TypeFor[outside](), "", "")
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Defs map[string]any `json:"$defs"`
	}
	json.Unmarshal(b, &s)
	if _, ok := s.Defs["JsonSyntaxError"]; !ok {
		t.Errorf("definitions %v", s.Defs)
	}
	// A type JSON cannot carry is an error, not a panic.
	if _, err := Generate(reflect.TypeFor[struct {
		F func() `json:"f"`
	}](), "", ""); err == nil {
		t.Error("a func field: no error")
	}
}
