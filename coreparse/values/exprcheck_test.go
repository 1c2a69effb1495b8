package values

import (
	"fmt"
	"strings"
	"testing"
)

// dwarfOperands is the DWARF 5 standard's Table 7.9 (section 7.7.1), typed
// from the standard: each operation's operands, in order ("1", "2", "4",
// "8": fixed sizes on x86-64 with 32-bit DWARF; "uleb", "sleb"; "block":
// a ULEB128 length and that many bytes; "u8block": a 1-byte length and
// that many bytes), plus GNU's pre-standard entry value and TLS
// operations. The operations left out (implicit_pointer, xderef_type,
// GNU_implicit_pointer, …) are ones checkExpr does not know: it stops
// there and leaves them to the stack machine.
var dwarfOperands = func() map[byte][]string {
	m := map[byte][]string{
		0x03: {"8"}, 0x06: nil, 0x08: {"1"}, 0x09: {"1"}, 0x0a: {"2"}, 0x0b: {"2"}, 0x0c: {"4"}, 0x0d: {"4"},
		0x0e: {"8"}, 0x0f: {"8"}, 0x10: {"uleb"}, 0x11: {"sleb"}, 0x15: {"1"}, 0x23: {"uleb"}, 0x28: {"2"}, 0x2f: {"2"},
		0x90: {"uleb"}, 0x91: {"sleb"}, 0x92: {"uleb", "sleb"}, 0x93: {"uleb"}, 0x94: {"1"}, 0x95: {"1"},
		0x96: nil, 0x97: nil, 0x98: {"2"}, 0x99: {"4"}, 0x9a: {"4"}, 0x9b: nil, 0x9c: nil, 0x9d: {"uleb", "uleb"},
		0x9e: {"block"}, 0x9f: nil, 0xa1: {"uleb"}, 0xa2: {"uleb"}, 0xa3: {"block"}, 0xa4: {"uleb", "u8block"},
		0xa5: {"uleb", "uleb"}, 0xa6: {"1", "uleb"}, 0xa8: {"uleb"}, 0xa9: {"uleb"},
		0xe0: nil, 0xf3: {"block"}, // DW_OP_GNU_push_tls_address, DW_OP_GNU_entry_value
	}
	for op := 0x12; op <= 0x2e; op++ { // dup … ne: no operand but pick, plus_uconst, bra
		if _, ok := m[byte(op)]; !ok {
			m[byte(op)] = nil
		}
	}
	for op := 0x30; op <= 0x6f; op++ { // lit0–31, reg0–31
		m[byte(op)] = nil
	}
	for op := 0x70; op <= 0x8f; op++ { // breg0–31
		m[byte(op)] = []string{"sleb"}
	}
	return m
}()

// encodeOperands spells operands with multi-byte LEB128s (continuation
// bits exercised) and non-empty blocks.
func encodeOperands(kinds []string) []byte {
	var b []byte
	for _, k := range kinds {
		switch k {
		case "1", "2", "4", "8":
			n := int(k[0] - '0')
			for i := 0; i < n; i++ {
				b = append(b, byte(0x11*(i+1)))
			}
		case "uleb":
			b = append(b, 0x81, 0x80, 0x01) // 16385
		case "sleb":
			b = append(b, 0xff, 0x7e) // -129
		case "block":
			b = append(b, 0x83, 0x00, 1, 2, 3) // length 3 in a two-byte ULEB128
		case "u8block":
			b = append(b, 2, 0xaa, 0xbb)
		}
	}
	return b
}

// TestCheckExprOperands: every operation of the standard's table, its
// operands encoded as the standard says, is walked over exactly: the
// whole passes, each cut inside its operands is refused, the walk goes on
// to the next operation right after them (a truncated const8u there is
// refused, a nop accepted); a block longer than what is left is refused;
// an operation checkExpr does not know ends the walk.
func TestCheckExprOperands(t *testing.T) {
	for op := 0; op < 256; op++ {
		kinds, known := dwarfOperands[byte(op)]
		name := fmt.Sprintf("op %#x %v", op, kinds)
		if !known {
			// Unknown: the walk stops, whatever follows.
			if err := checkExpr([]byte{byte(op), 0x0e}); err != nil {
				t.Errorf("%s (not walked): %v", name, err)
			}
			continue
		}
		expr := append([]byte{byte(op)}, encodeOperands(kinds)...)
		if err := checkExpr(expr); err != nil {
			t.Errorf("%s: % x refused: %v", name, expr, err)
		}
		for k := 1; k < len(expr); k++ {
			if err := checkExpr(expr[:k]); err == nil {
				t.Errorf("%s: % x (cut at %d of %d) accepted", name, expr[:k], k, len(expr))
			}
		}
		if err := checkExpr(append(append([]byte{}, expr...), 0x0e, 1, 2)); err == nil {
			t.Errorf("%s: the walk did not go on after its operands (a truncated const8u accepted)", name)
		}
		if err := checkExpr(append(append([]byte{}, expr...), 0x96)); err != nil {
			t.Errorf("%s then nop: %v", name, err)
		}
	}
	// Blocks claiming more than is left; and exactly what is left.
	for _, op := range []byte{0x9e, 0xa3, 0xf3} {
		if err := checkExpr([]byte{op, 4, 1, 2, 3}); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("operation %#x claims a 4-byte block with 3 bytes left", op)) {
			t.Errorf("op %#x: a 4-byte block with 3 bytes left: %v", op, err)
		}
		if err := checkExpr([]byte{op, 0xff, 0xff, 0xff, 0xff, 0x0f}); err == nil {
			t.Errorf("op %#x: a 4 GiB block accepted", op)
		}
		if err := checkExpr([]byte{op, 3, 1, 2, 3}); err != nil {
			t.Errorf("op %#x: a 3-byte block with 3 bytes left: %v", op, err)
		}
	}
	if err := checkExpr([]byte{0xa4, 1, 5, 1, 2, 3, 4}); err == nil {
		t.Error("const_type: a 5-byte constant with 4 bytes left accepted")
	}
	if err := checkExpr([]byte{0xa4, 1}); err == nil {
		t.Error("const_type without its size byte accepted")
	}
	// A ULEB128 whose continuation runs off the end; one past 64 bits.
	if err := checkExpr([]byte{0x10, 0x80, 0x80}); err == nil {
		t.Error("constu with an unterminated ULEB128 accepted")
	}
	long := append([]byte{0x9e}, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00) // 1, in 12 bytes
	if err := checkExpr(append(long, 7)); err != nil {
		t.Errorf("a ULEB128 of 12 bytes (value 1) with its byte: %v", err)
	}
	if err := checkExpr(nil); err != nil {
		t.Errorf("the empty expression: %v", err)
	}
}
