package values

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/dsecore/dsecore/coreparse/unwind"
	"github.com/go-delve/delve/pkg/dwarf/leb128"
	"github.com/go-delve/delve/pkg/dwarf/op"
)

// TestSimpleLocationIsTheStackMachine: the locations execute answers
// without delve's stack machine (DW_OP_fbreg, DW_OP_bregN, a lone
// DW_OP_call_frame_cfa) are the addresses the stack machine computes, for
// offsets across the LEB128 lengths; everything else (a register the frame
// lacks, a CFA of 0, an operation after one of those, a truncated number)
// is left to the stack machine.
func TestSimpleLocationIsTheStackMachine(t *testing.T) {
	var regs unwind.Regs
	regs.Set(unwind.RSP, 0x7ffd1000)
	regs.Set(unwind.RBP, 0x7ffd1040)
	regs.Set(unwind.RBX, 0xffffffffffff0000)
	f := &Frame{Regs: regs, CFA: 0x7ffd1050}
	m := *frameRegisters(f)
	m.FrameBase = 0x7ffd1050

	enc := func(opc byte, n int64) []byte {
		var b bytes.Buffer
		b.WriteByte(opc)
		leb128.EncodeSigned(&b, n)
		return b.Bytes()
	}
	type tc struct {
		expr   []byte
		simple bool
	}
	var cases []tc
	for _, n := range []int64{0, 1, -1, 63, 64, -64, -65, 8191, -8192, 1 << 20, -(1 << 40), 1<<62 + 5, -1 << 63} {
		cases = append(cases,
			tc{enc(opFbreg, n), true},
			tc{enc(opBreg0+unwind.RSP, n), true},
			tc{enc(opBreg0+unwind.RBP, n), true},
			tc{enc(opBreg0+unwind.RBX, n), true},
			tc{enc(opBreg0+unwind.R12, n), false},               // not recovered: "register 12 not available"
			tc{append(enc(opFbreg, n), 0x23, 0x08), false},      // DW_OP_plus_uconst after it
			tc{append(enc(opBreg0+unwind.RSP, n), 0x06), false}, // DW_OP_deref after it
			tc{enc(opFbreg, n)[:len(enc(opFbreg, n))-1], false}, // cut inside the number (or before it)
		)
	}
	cases = append(cases, tc{[]byte{opCallFrameCFA}, true}, tc{[]byte{opCallFrameCFA, 0x06}, false}, tc{[]byte{0x50}, false}, tc{nil, false})
	for _, c := range cases {
		name := fmt.Sprintf("% x", c.expr)
		got, ok := simpleLocation(&m, c.expr)
		if ok != c.simple {
			t.Errorf("%s: simple %v, want %v", name, ok, c.simple)
			continue
		}
		if !ok {
			continue
		}
		want, pieces, err := op.ExecuteStackProgram(m, c.expr, 8, nil)
		if err != nil || pieces != nil || got != want {
			t.Errorf("%s: %#x, the stack machine %#x (pieces %v, %v)", name, got, want, pieces, err)
		}
	}
	noCFA := m
	noCFA.CFA = 0
	if _, ok := simpleLocation(&noCFA, []byte{opCallFrameCFA}); ok {
		t.Errorf("DW_OP_call_frame_cfa without a CFA answered: the stack machine says it could not retrieve it")
	}
}
