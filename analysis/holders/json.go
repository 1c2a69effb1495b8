package holders

import "github.com/dsecore/dsecore/internal/hexjson"

// JSON: addresses as "0x…" strings, as every dsecore document writes them.

func (t Target) MarshalJSON() ([]byte, error) { type plain Target; return hexjson.Marshal(plain(t)) }
func (h Hit) MarshalJSON() ([]byte, error)    { type plain Hit; return hexjson.Marshal(plain(h)) }
