package server

import "testing"

// TestHandles: ids from 1 in the order given; a keyed value gets the same
// id each time (its value made once); an id never given finds nothing.
func TestHandles(t *testing.T) {
	var h handles[string, string]
	made := 0
	mk := func(v string) func() string { return func() string { made++; return v } }
	a := h.keyed("a", mk("A"))
	b := h.add("B")
	a2 := h.keyed("a", mk("A again"))
	c := h.keyed("c", mk("C"))
	if a != 1 || b != 2 || a2 != 1 || c != 3 || made != 2 {
		t.Errorf("ids a=%d b=%d a again=%d c=%d, values made %d; want 1 2 1 3, 2", a, b, a2, c, made)
	}
	for id, want := range map[int]string{1: "A", 2: "B", 3: "C"} {
		if v, ok := h.get(id); !ok || v != want {
			t.Errorf("get(%d) = %q, %v; want %q", id, v, ok, want)
		}
	}
	for _, id := range []int{0, -1, 4, 1 << 40} {
		if v, ok := h.get(id); ok || v != "" {
			t.Errorf("get(%d) = %q, %v; want nothing", id, v, ok)
		}
	}
}
