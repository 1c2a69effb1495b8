package waits

import "github.com/dsecore/dsecore/internal/hexjson"

// JSON: addresses as "0x…" strings, as every dsecore document writes them.

func (o Object) MarshalJSON() ([]byte, error) { type plain Object; return hexjson.Marshal(plain(o)) }
func (w Watchdog) MarshalJSON() ([]byte, error) {
	type plain Watchdog
	return hexjson.Marshal(plain(w))
}
func (l WatchdogLine) MarshalJSON() ([]byte, error) {
	type plain WatchdogLine
	return hexjson.Marshal(plain(l))
}

func (o *Object) UnmarshalJSON(b []byte) error {
	type plain Object
	return hexjson.Unmarshal(b, (*plain)(o))
}

func (w *Watchdog) UnmarshalJSON(b []byte) error {
	type plain Watchdog
	return hexjson.Unmarshal(b, (*plain)(w))
}

func (l *WatchdogLine) UnmarshalJSON(b []byte) error {
	type plain WatchdogLine
	return hexjson.Unmarshal(b, (*plain)(l))
}
