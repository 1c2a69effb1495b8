package heap

import "github.com/dsecore/dsecore/internal/hexjson"

// JSON: addresses as "0x…" strings, as every dsecore document writes them.

func (a Arena) MarshalJSON() ([]byte, error) { type plain Arena; return hexjson.Marshal(plain(a)) }
func (r Region) MarshalJSON() ([]byte, error) {
	return hexjson.Marshal(regionJSON{r.Start, r.End, r.HeapInfo, r.Kind})
}
func (b BinRef) MarshalJSON() ([]byte, error) { type plain BinRef; return hexjson.Marshal(plain(b)) }
func (t Tcache) MarshalJSON() ([]byte, error) { type plain Tcache; return hexjson.Marshal(plain(t)) }
func (e TcacheEntry) MarshalJSON() ([]byte, error) {
	type plain TcacheEntry
	return hexjson.Marshal(plain(e))
}
func (p Problem) MarshalJSON() ([]byte, error) { type plain Problem; return hexjson.Marshal(plain(p)) }
func (c Chunk) MarshalJSON() ([]byte, error)   { type plain Chunk; return hexjson.Marshal(plain(c)) }
func (f Finding) MarshalJSON() ([]byte, error) { type plain Finding; return hexjson.Marshal(plain(f)) }

// regionJSON is Region without its walk state.
type regionJSON struct {
	Start    uint64 `json:"start" hex:""`
	End      uint64 `json:"end" hex:""`
	HeapInfo uint64 `json:"heap_info,omitempty" hex:""`
	Kind     string `json:"kind"`
}
