package l10n

import (
	"encoding/json"
	"fmt"
)

// A Msg is stored as JSON where a result is cached (summarize's per-core
// results): {"id": "verdict.null", "args": [{"name": "Where", "msg": …},
// {"name": "Size", "int": 8}, {"name": "Insn", "text": "mov …"}]};
// {"verbatim": "…"}, {"untranslated": "…"}, {"join": "sep.semicolon",
// "list": […]}.
type msgJSON struct {
	ID           string    `json:"id,omitempty"`
	Args         []argJSON `json:"args,omitempty"`
	Verbatim     *string   `json:"verbatim,omitempty"`
	Untranslated *string   `json:"untranslated,omitempty"`
	Join         string    `json:"join,omitempty"`
	List         []Msg     `json:"list,omitempty"`
}

type argJSON struct {
	Name string  `json:"name"`
	Text *string `json:"text,omitempty"`
	Int  *int64  `json:"int,omitempty"`
	Msg  *Msg    `json:"msg,omitempty"`
	List []Msg   `json:"list,omitempty"`
}

// MarshalJSON stores m (its arguments as text, whole numbers and Msgs).
func (m Msg) MarshalJSON() ([]byte, error) {
	var j msgJSON
	switch m.kind {
	case kindVerbatim:
		j.Verbatim = &m.text
	case kindUntranslated:
		j.Untranslated = &m.text
	case kindJoin:
		j.Join, j.List = m.ID, m.list
		if j.List == nil {
			j.List = []Msg{}
		}
	default:
		j.ID = m.ID
		for i := 0; i+1 < len(m.Args); i += 2 {
			name, _ := m.Args[i].(string)
			a := argJSON{Name: name}
			switch v := m.Args[i+1].(type) {
			case Msg:
				a.Msg = &v
			case []Msg:
				a.List = v
			case string:
				a.Text = &v
			case int:
				n := int64(v)
				a.Int = &n
			case int64:
				a.Int = &v
			case int32:
				n := int64(v)
				a.Int = &n
			case uint64:
				if v > 1<<63-1 {
					return nil, fmt.Errorf("l10n: %s: argument %s = %d does not fit", m.ID, name, v)
				}
				n := int64(v)
				a.Int = &n
			case fmt.Stringer:
				s := v.String()
				a.Text = &s
			default:
				s := fmt.Sprint(v)
				a.Text = &s
			}
			j.Args = append(j.Args, a)
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads back what MarshalJSON stored.
func (m *Msg) UnmarshalJSON(b []byte) error {
	var j msgJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	switch {
	case j.Verbatim != nil:
		*m = Verbatim(*j.Verbatim)
	case j.Untranslated != nil:
		*m = Untranslated(*j.Untranslated)
	case j.Join != "":
		*m = Join(j.Join, j.List...)
	default:
		kv := make([]any, 0, 2*len(j.Args))
		for _, a := range j.Args {
			var v any
			switch {
			case a.Msg != nil:
				v = *a.Msg
			case a.List != nil:
				v = a.List
			case a.Int != nil:
				v = *a.Int
			case a.Text != nil:
				v = *a.Text
			default:
				return fmt.Errorf("l10n: %s: argument %s has no value", j.ID, a.Name)
			}
			kv = append(kv, a.Name, v)
		}
		*m = Msg{ID: j.ID, Args: kv}
	}
	return nil
}
