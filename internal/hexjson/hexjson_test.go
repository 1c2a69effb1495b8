package hexjson_test

import (
	"encoding/json"
	"testing"

	"github.com/dsecore/dsecore/internal/hexjson"
)

type inner struct {
	At uint64 `json:"at" hex:""`
}

func (i inner) MarshalJSON() ([]byte, error) { type plain inner; return hexjson.Marshal(plain(i)) }

type outer struct {
	Address uint64  `json:"address" hex:""`
	Count   uint64  `json:"count"`
	Name    string  `json:"name,omitempty"`
	Zero    uint64  `json:"zero,omitempty" hex:""`
	Inner   *inner  `json:"inner,omitempty"`
	List    []inner `json:"list"`
	Skip    int     `json:"-"`
	hidden  int
}

func (o outer) MarshalJSON() ([]byte, error) { type plain outer; return hexjson.Marshal(plain(o)) }

func TestMarshal(t *testing.T) {
	b, err := json.Marshal(outer{Address: 0x7fd23b6e020f, Count: 3, Inner: &inner{0xffffffffffffffff}, List: []inner{{1}}, Skip: 4, hidden: 5})
	want := `{"address":"0x7fd23b6e020f","count":3,"inner":{"at":"0xffffffffffffffff"},"list":[{"at":"0x1"}]}`
	if err != nil || string(b) != want {
		t.Fatalf("%s %v\nwant %s", b, err, want)
	}
}

func TestUnmarshal(t *testing.T) {
	type chunk struct {
		Address uint64 `json:"address" hex:""`
		Size    uint64 `json:"size"`
		Name    string `json:"name,omitempty"`
	}
	b, err := hexjson.Marshal(chunk{Address: 0x7fe012345678, Size: 48, Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	var c chunk
	if err := hexjson.Unmarshal(b, &c); err != nil || c != (chunk{0x7fe012345678, 48, "x"}) {
		t.Fatalf("%s → %+v, %v", b, c, err)
	}
	if err := hexjson.Unmarshal([]byte(`{"address":"nope"}`), &c); err == nil {
		t.Fatal("a bad address read")
	}
}
