// Package hexjson marshals a struct as encoding/json does, but writes the
// uint64 fields tagged `hex:""` as "0x…" strings, the way every dsecore
// document writes addresses (and without the precision a JSON number loses
// above 2^53 in a JavaScript reader).
//
//	type Chunk struct {
//		Address uint64 `json:"address" hex:""`
//	}
//	func (c Chunk) MarshalJSON() ([]byte, error) { type plain Chunk; return hexjson.Marshal(plain(c)) }
package hexjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// Marshal writes v (a struct) as a JSON object: fields in order, named and
// omitted as their json tags say, hex-tagged uint64 fields as "0x…".
func Marshal(v any) ([]byte, error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Struct {
		return json.Marshal(v)
	}
	rt := rv.Type()
	var b bytes.Buffer
	b.WriteByte('{')
	n := 0
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		fv := rv.Field(i)
		if strings.Contains(","+opts+",", ",omitempty,") && fv.IsZero() {
			continue
		}
		var val []byte
		var err error
		if _, hex := f.Tag.Lookup("hex"); hex && fv.Kind() == reflect.Uint64 {
			val = []byte(fmt.Sprintf(`"%#x"`, fv.Uint()))
		} else if val, err = json.Marshal(fv.Interface()); err != nil {
			return nil, err
		}
		if n > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(name)
		b.Write(k)
		b.WriteByte(':')
		b.Write(val)
		n++
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
