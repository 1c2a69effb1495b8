package values

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dsecore/dsecore/internal/testsupport/bound"
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
// why it stopped whenever it did not come back to the header (and, when it
// did, finds nothing wrong with the links themselves).
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
		w := WalkList(wordsMem{base, mem}, header, WalkOptions{Limit: lim})
		hooks, problem := w.Hooks, w.Stopped()
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
		if w.Back && (w.Has(FindNullLink) || w.Has(FindCycle) || w.Has(FindUnreadableLink) || w.Has(FindLimit)) {
			t.Fatalf("came back to the header with findings %+v", w.Findings)
		}
	})
}

// FuzzDWARFExpr: any DWARF expression, on any registers and memory, gives
// an address, pieces or an error through runExpr: never a panic or a hang.
func FuzzDWARFExpr(f *testing.F) {
	for _, e := range [][]byte{
		{0x91, 0x68},       // DW_OP_fbreg -24
		{0x53},             // DW_OP_reg3 (rbx)
		{0x77, 0x08},       // DW_OP_breg7 +8
		{0x9c},             // DW_OP_call_frame_cfa
		{0x53, 0x93, 0x08}, // DW_OP_reg3; DW_OP_piece 8
		{0x03, 0x10, 0x20, 0, 0, 0, 0, 0, 0, 0x06},             // DW_OP_addr; DW_OP_deref
		{0xa3, 0x01, 0x55, 0x9f},                               // DW_OP_entry_value(DW_OP_reg5); DW_OP_stack_value
		{0x70, 0x00, 0x06, 0x23, 0x10, 0x9f},                   // breg0; deref; plus_uconst 16; stack_value
		{0x2f, 0xfd, 0xff},                                     // DW_OP_skip -3 (a loop)
		{0x08, 0x05, 0x08, 0x00, 0x1e, 0x9f, 0x10, 0x80, 0x01}, // const1u 5; const1u 0; mul; ...
	} {
		f.Add(e, uint64(0x1000), uint64(0x2000))
	}
	f.Fuzz(func(t *testing.T, expr []byte, rbx, rsp uint64) {
		if len(expr) > 4096 {
			return
		}
		mem := make([]byte, 256)
		for i := range mem {
			mem[i] = byte(i * 7)
		}
		read := func(p []byte, addr uint64) (int, error) {
			if addr < 0x1000 || addr-0x1000 >= uint64(len(mem)) {
				return 0, errors.New("unmapped")
			}
			return copy(p, mem[addr-0x1000:]), nil
		}
		fr := &Frame{CFA: 0x1100}
		fr.Regs.Set(3, rbx)
		fr.Regs.Set(7, rsp)
		bound.Within(t, 3*time.Second, func() { runExpr(*frameRegisters(fr), expr, read) }, "no answer in 3 s on % x", expr)
	})
}
