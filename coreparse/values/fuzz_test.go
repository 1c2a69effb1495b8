package values

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// wordsMem is target memory made of a fuzzer's bytes at base.
type wordsMem struct {
	base uint64
	b    []byte
}

func (m wordsMem) ReadUint64(addr uint64) (uint64, error) {
	if addr < m.base || addr-m.base+8 > uint64(len(m.b)) || addr-m.base+8 < addr-m.base {
		return 0, errors.New("unmapped")
	}
	return binary.LittleEndian.Uint64(m.b[addr-m.base:]), nil
}

// FuzzListWalk: the intrusive-list walker on random memory ends within its
// limit, never returns more nodes than the limit or a node twice, and says
// why it stopped whenever it did not come back to the header.
func FuzzListWalk(f *testing.F) {
	words := func(ws ...uint64) []byte {
		var b []byte
		for _, w := range ws {
			b = binary.LittleEndian.AppendUint64(b, w)
		}
		return b
	}
	const base = 0x1000
	f.Add(words(base+16, base, base+32, base, base, base+16), uint16(0), uint16(100)) // a proper ring
	f.Add(words(base+16, 0, base+16, 0), uint16(0), uint16(100))                      // a loop missing the header
	f.Add(words(base+16, 0, 0, 0), uint16(0), uint16(100))                            // NULL next_
	f.Add(words(0xdead0000), uint16(0), uint16(100))                                  // into unmapped memory
	f.Fuzz(func(t *testing.T, mem []byte, hdr uint16, limit uint16) {
		if len(mem) > 1<<20 {
			return
		}
		lim := int(limit%2000) + 1
		header := base + uint64(hdr)
		hooks, problem := walkLinks(wordsMem{base, mem}, header, lim)
		if len(hooks) > lim {
			t.Fatalf("%d nodes past the limit %d", len(hooks), lim)
		}
		seen := map[uint64]bool{}
		for _, h := range hooks {
			if seen[h] || h == header {
				t.Fatalf("node %#x twice (or the header) in %v", h, hooks)
			}
			seen[h] = true
		}
		back := false
		if len(hooks) > 0 {
			next, err := wordsMem{base, mem}.ReadUint64(hooks[len(hooks)-1])
			back = err == nil && next == header
		} else {
			next, err := wordsMem{base, mem}.ReadUint64(header)
			back = err == nil && next == header
		}
		if !back && problem == "" {
			t.Fatalf("stopped at %v without saying why", hooks)
		}
		if back && problem != "" && !strings.Contains(problem, "limit") {
			t.Fatalf("came back to the header but says %q", problem)
		}
	})
}
