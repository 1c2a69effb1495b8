package hexjson

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Unmarshal reads what Marshal writes into v (a pointer to a struct): the
// hex-tagged uint64 fields from "0x…" strings (or numbers), the others as
// encoding/json does.
func Unmarshal(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return json.Unmarshal(data, v)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return err
	}
	sv := rv.Elem()
	st := sv.Type()
	for i := 0; i < st.NumField(); i++ {
		f := st.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		raw, ok := fields[name]
		if !ok {
			continue
		}
		fv := sv.Field(i)
		if _, hex := f.Tag.Lookup("hex"); hex && fv.Kind() == reflect.Uint64 {
			var s string
			if json.Unmarshal(raw, &s) == nil {
				n, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64)
				if err != nil {
					return fmt.Errorf("%s: %q is not an address", name, s)
				}
				fv.SetUint(n)
				continue
			}
		}
		if err := json.Unmarshal(raw, fv.Addr().Interface()); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}
