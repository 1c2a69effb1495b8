package values

import (
	"encoding/binary"
	"testing"
)

// nodes builds memory of 16-byte list nodes {next_, prev_} at base: node i
// at base+16*i, its links given as addresses.
func nodes(base uint64, links ...[2]uint64) wordsMem {
	b := make([]byte, 16*len(links))
	for i, l := range links {
		binary.LittleEndian.PutUint64(b[16*i:], l[0])
		binary.LittleEndian.PutUint64(b[16*i+8:], l[1])
	}
	return wordsMem{base, b}
}

// TestWalkList: each structured finding of the one walker, on memory made
// for it; a sound list has none.
func TestWalkList(t *testing.T) {
	const B = 0x10000
	n := func(i int) uint64 { return B + 16*uint64(i) }
	cases := []struct {
		name  string
		mem   wordsMem
		o     WalkOptions
		hooks int
		back  bool
		want  []FindingKind
		check func(*Walk) bool
	}{
		{"sound", nodes(B, [2]uint64{n(1), n(2)}, [2]uint64{n(2), n(0)}, [2]uint64{n(0), n(1)}), WalkOptions{Size: 2, HasSize: true}, 2, true, nil, nil},
		{"empty", nodes(B, [2]uint64{n(0), n(0)}), WalkOptions{}, 0, true, []FindingKind{FindEmpty}, nil},
		{"inconsistent header, size_ -1", nodes(B, [2]uint64{n(0), n(1)}, [2]uint64{0, 0}), WalkOptions{Size: -1, HasSize: true}, 0, true,
			[]FindingKind{FindInconsistentHeader, FindSizeUnderflow}, func(w *Walk) bool { f, _ := w.Find(FindInconsistentHeader); return f.Node == n(1) }},
		{"NULL link", nodes(B, [2]uint64{n(1), n(1)}, [2]uint64{0, n(0)}), WalkOptions{}, 1, false, []FindingKind{FindNullLink},
			func(w *Walk) bool { f, _ := w.Find(FindNullLink); return f.Node == n(1) }},
		{"poisoned link", nodes(B, [2]uint64{n(1), n(1)}, [2]uint64{0x6b6b6b6b6b6b, n(0)}), WalkOptions{}, 1, false, []FindingKind{FindPoisonedLink},
			func(w *Walk) bool {
				f, _ := w.Find(FindPoisonedLink)
				return f.Link == 0x6b6b6b6b6b6b && f.Node == n(1)
			}},
		{"unreadable link", nodes(B, [2]uint64{n(1), n(1)}, [2]uint64{0x7000000, n(0)}), WalkOptions{}, 1, false, []FindingKind{FindUnreadableLink},
			func(w *Walk) bool { f, _ := w.Find(FindUnreadableLink); return f.Link == 0x7000000 }},
		{"cycle", nodes(B, [2]uint64{n(1), n(2)}, [2]uint64{n(2), n(0)}, [2]uint64{n(1), n(1)}), WalkOptions{}, 2, false, []FindingKind{FindCycle},
			func(w *Walk) bool { f, _ := w.Find(FindCycle); return f.Node == n(1) && f.Prev == n(2) }},
		{"bad prev_", nodes(B, [2]uint64{n(1), n(2)}, [2]uint64{n(2), n(0)}, [2]uint64{n(0), n(0)}), WalkOptions{}, 2, true, []FindingKind{FindBadPrev},
			func(w *Walk) bool {
				f, _ := w.Find(FindBadPrev)
				return f.Node == n(2) && f.Prev == n(1) && f.Link == n(0)
			}},
		{"size mismatch", nodes(B, [2]uint64{n(1), n(1)}, [2]uint64{n(0), n(0)}), WalkOptions{Size: 3, HasSize: true}, 1, true, []FindingKind{FindSizeMismatch}, nil},
		{"limit", nodes(B, [2]uint64{n(1), n(2)}, [2]uint64{n(2), n(0)}, [2]uint64{n(0), n(1)}), WalkOptions{Limit: 1}, 1, false, []FindingKind{FindLimit}, nil},
		{"slist", nodes(B, [2]uint64{n(1), 0}, [2]uint64{n(0), 0x6b6b6b6b6b6b}), WalkOptions{Kind: SList}, 1, true, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := WalkList(c.mem, B, c.o)
			var got []FindingKind
			for _, f := range w.Findings {
				got = append(got, f.Kind)
				if f.Text == "" {
					t.Errorf("finding %s without words", f.Kind)
				}
			}
			ok := len(got) == len(c.want)
			for i := 0; ok && i < len(got); i++ {
				ok = got[i] == c.want[i]
			}
			if !ok || len(w.Hooks) != c.hooks || w.Back != c.back || (c.check != nil && !c.check(w)) {
				t.Errorf("findings %v (want %v), %d hooks (want %d), back %v (want %v): %+v", got, c.want, len(w.Hooks), c.hooks, w.Back, c.back, w)
			}
			if (w.Stopped() == "") != w.Back {
				t.Errorf("back %v but stopped %q", w.Back, w.Stopped())
			}
		})
	}
}
