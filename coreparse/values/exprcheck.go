package values

import "fmt"

// checkExpr walks a DWARF expression's operations and refuses one whose
// length-prefixed blocks (DW_OP_implicit_value, DW_OP_entry_value,
// DW_OP_const_type) claim more bytes than the expression has: delve's stack
// machine allocates such a block before reading it, and a corrupt length
// would have it allocate gigabytes. Operations it does not know end the
// walk: the stack machine judges those.
func checkExpr(expr []byte) error {
	i := 0
	uleb := func() (uint64, bool) {
		var v uint64
		for shift := uint(0); i < len(expr); shift += 7 {
			c := expr[i]
			i++
			if shift < 64 {
				v |= uint64(c&0x7f) << shift
			}
			if c&0x80 == 0 {
				return v, true
			}
		}
		return 0, false
	}
	skip := func(n int) bool {
		i += n
		return i <= len(expr)
	}
	block := func(op byte) error {
		n, ok := uleb()
		if !ok || n > uint64(len(expr)-i) {
			return fmt.Errorf("DWARF expression: operation %#x claims a %d-byte block with %d bytes left", op, n, len(expr)-i)
		}
		i += int(n)
		return nil
	}
	for i < len(expr) {
		op := expr[i]
		i++
		ok := true
		switch {
		case op == 0x03 || op == 0x0e || op == 0x0f: // addr, const8u, const8s
			ok = skip(8)
		case op == 0x08 || op == 0x09 || op == 0x15 || op == 0x94 || op == 0x95: // const1, pick, deref_size
			ok = skip(1)
		case op == 0x0a || op == 0x0b || op == 0x28 || op == 0x2f || op == 0x98: // const2, bra, skip, call2
			ok = skip(2)
		case op == 0x0c || op == 0x0d || op == 0x99 || op == 0x9a: // const4, call4, call_ref
			ok = skip(4)
		case op == 0x10 || op == 0x11 || op == 0x23 || op == 0x90 || op == 0x91 || op == 0x93 ||
			(op >= 0x70 && op <= 0x8f) || op == 0xa1 || op == 0xa2 || op == 0xa8 || op == 0xa9: // one LEB128
			_, ok = uleb()
		case op == 0x92 || op == 0x9d || op == 0xa5: // bregx, bit_piece, regval_type: two LEB128
			_, ok = uleb()
			if ok {
				_, ok = uleb()
			}
		case op == 0xa6: // deref_type: a byte, then a LEB128
			if ok = skip(1); ok {
				_, ok = uleb()
			}
		case op == 0x9e || op == 0xa3 || op == 0xf3: // implicit_value, entry_value, GNU_entry_value
			if err := block(op); err != nil {
				return err
			}
		case op == 0xa4: // const_type: type, then a 1-byte size and that many bytes
			if _, ok = uleb(); ok {
				if ok = i < len(expr); ok {
					n := int(expr[i])
					i++
					ok = skip(n)
				}
			}
		case op == 0x06 || (op >= 0x12 && op <= 0x2e) || (op >= 0x30 && op <= 0x6f) || (op >= 0x96 && op <= 0x97) ||
			op == 0x9b || op == 0x9c || op == 0x9f || op == 0xe0: // deref, dup … ne, lit, reg, nop, push_object_address, …
			// no operand
		default:
			return nil
		}
		if !ok {
			return fmt.Errorf("DWARF expression: operation %#x runs past the end", op)
		}
	}
	return nil
}
