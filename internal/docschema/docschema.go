// Package docschema writes the JSON Schema of a document dsecore sends to
// a client that reads it by field (the DAP server's dsecore/ bodies, which
// the VS Code extension's views read), from the Go type that is marshalled,
// so that the schema is what the Go writes and a client can be checked
// against it (docs/schema/, vscode-ext's generated view types).
//
// invopop/jsonschema reflects the type; this package adds what it cannot
// know from the type alone, so that the schema says what encoding/json and
// internal/hexjson actually write:
//   - a uint64 field tagged `hex:""` is a "0x…" string (hexjson);
//   - a slice, map or pointer field without omitempty may be null (a nil
//     one is written as null, not as [] or {});
//   - a type of another package than the document's gets its package's
//     name in front (waits.Object → WaitsObject, report.Analysis →
//     ReportAnalysis), so that two of one name (waits.Stats, holders.Stats)
//     never share a definition and no name is a JavaScript global's
//     (Object) in the client's generated types.
//
// Every field not tagged omitempty is required, and no other property is
// allowed: a field renamed or added on the Go side changes the schema.
package docschema

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"unicode"

	"github.com/invopop/jsonschema"
)

// HexPattern is the pattern of a hex-tagged field's "0x…" string.
const HexPattern = "^0x[0-9a-f]+$"

// Generate is the schema of documents of type t (a struct or a pointer to
// one), indented, with a title and a description.
func Generate(t reflect.Type, title, description string) (_ []byte, err error) {
	defer func() {
		// invopop/jsonschema panics on a type JSON cannot carry (func, chan).
		if r := recover(); r != nil {
			err = fmt.Errorf("docschema: %s: %v", t, r)
		}
	}()
	t = deref(t)
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("docschema: %s is not a struct", t)
	}
	structs := map[reflect.Type]bool{}
	collect(t, structs)
	namer := func(st reflect.Type) string {
		if st.Kind() != reflect.Struct || st.Name() == "" || st.PkgPath() == "" || st.PkgPath() == t.PkgPath() {
			return st.Name()
		}
		pkg := st.PkgPath()
		pkg = pkg[strings.LastIndex(pkg, "/")+1:]
		r := []rune(pkg)
		r[0] = unicode.ToUpper(r[0])
		return string(r) + st.Name()
	}
	r := &jsonschema.Reflector{Anonymous: true, ExpandedStruct: true, Namer: namer}
	s := r.ReflectFromType(t)
	s.Title, s.Description = title, description
	for st := range structs {
		def := s
		if st != t {
			name := namer(st)
			if name == "" {
				continue // an anonymous struct: inlined, mended where it is met
			}
			def = s.Definitions[name]
			if def == nil {
				return nil, fmt.Errorf("docschema: no definition of %s (%s)", st, name)
			}
		}
		if err := mend(def, st, s.Definitions, namer); err != nil {
			return nil, err
		}
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// collect adds the struct types reachable from t through exported fields
// that have a definition of their own (not those embedded, whose fields
// are promoted: mend meets them in the struct that embeds them).
func collect(t reflect.Type, seen map[reflect.Type]bool) {
	switch t = deref(t); t.Kind() {
	case reflect.Slice, reflect.Array, reflect.Map:
		collect(t.Elem(), seen)
	case reflect.Struct:
		if seen[t] {
			return
		}
		seen[t] = true
		fieldsOf(t, seen)
	}
}

func fieldsOf(t reflect.Type, seen map[reflect.Type]bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-":
		case f.Anonymous && name == "" && deref(f.Type).Kind() == reflect.Struct:
			fieldsOf(deref(f.Type), seen)
		case f.IsExported():
			collect(f.Type, seen)
		}
	}
}

// mend fixes the properties of struct st's schema def that reflection
// gets wrong: hex strings, nullable fields, and the anonymous structs
// inlined in them.
func mend(def *jsonschema.Schema, st reflect.Type, defs jsonschema.Definitions, namer func(reflect.Type) string) error {
	for i := 0; i < st.NumField(); i++ {
		f := st.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() && !f.Anonymous {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && deref(f.Type).Kind() == reflect.Struct {
			if err := mend(def, deref(f.Type), defs, namer); err != nil {
				return err
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		prop, ok := def.Properties.Get(name)
		if !ok {
			return fmt.Errorf("docschema: %s.%s: no property %q", st, f.Name, name)
		}
		if ft := deref(f.Type); ft.Kind() == reflect.Struct && ft.Name() == "" {
			if err := mend(prop, ft, defs, namer); err != nil {
				return err
			}
		}
		if _, hex := f.Tag.Lookup("hex"); hex && f.Type.Kind() == reflect.Uint64 {
			prop.Type, prop.Pattern = "string", HexPattern
		}
		omit := strings.Contains(","+opts+",", ",omitempty,")
		switch f.Type.Kind() {
		case reflect.Slice, reflect.Map, reflect.Pointer:
			if !omit {
				def.Properties.Set(name, &jsonschema.Schema{AnyOf: []*jsonschema.Schema{prop, {Type: "null"}}})
			}
		}
	}
	return nil
}
