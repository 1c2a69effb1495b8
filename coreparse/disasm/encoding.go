package disasm

import (
	"encoding/binary"

	"golang.org/x/arch/x86/x86asm"
)

// modrmInfo is where an instruction's ModRM addressing fields are, as far
// as the AT&T rendering needs to know: x86asm decodes the memory operand
// but does not say whether a (zero) displacement or a SIB byte was
// encoded, which objdump shows ("0x0(%rax,%rax,1)", "(%rax,%riz,1)").
//
// This is not a decoder: it only skips the prefixes and opcode bytes to
// find the ModRM byte of an instruction x86asm has already decoded, and
// the result is used only when it agrees with x86asm's memory operand.
type modrmInfo struct {
	mod, rm  byte
	hasSIB   bool
	sibBase  byte // low 3 bits
	sibIndex byte // low 3 bits (4 = none)
	sibScale byte // log2
	dispLen  int  // 0, 1 or 4
	disp     int64
}

func isLegacyPrefix(b byte) bool {
	switch b {
	case 0x66, 0x67, 0xf0, 0xf2, 0xf3, 0x2e, 0x36, 0x3e, 0x26, 0x64, 0x65:
		return true
	}
	return false
}

// locateModRM finds the ModRM fields of a 64-bit-mode instruction that
// has a memory operand. ok is false when the layout is not understood or
// disagrees with x86asm's decoding of the operand.
func locateModRM(code []byte, inst *x86asm.Inst, m x86asm.Mem) (mi modrmInfo, ok bool) {
	i := 0
	for i < len(code) && i < 14 && isLegacyPrefix(code[i]) {
		i++
	}
	if i >= len(code) {
		return mi, false
	}
	switch b := code[i]; {
	case b == 0xc5: // 2-byte VEX: c5 payload opcode
		i += 3
	case b == 0xc4: // 3-byte VEX: c4 p1 p2 opcode (map from p1 does not change the layout)
		i += 4
	case b == 0x62: // EVEX: 62 p0 p1 p2 opcode
		i += 5
	default:
		if b >= 0x40 && b <= 0x4f { // REX
			i++
			if i >= len(code) {
				return mi, false
			}
		}
		if code[i] == 0x0f {
			if i+1 < len(code) && (code[i+1] == 0x38 || code[i+1] == 0x3a) {
				i += 3
			} else {
				i += 2
			}
		} else {
			if code[i] >= 0xa0 && code[i] <= 0xa3 { // mov moffs: no ModRM
				return mi, false
			}
			i++
		}
	}
	if i >= len(code) {
		return mi, false
	}
	modrm := code[i]
	i++
	mi.mod, mi.rm = modrm>>6, modrm&7
	if mi.mod == 3 {
		return mi, false
	}
	base := mi.rm
	if mi.rm == 4 {
		if i >= len(code) {
			return mi, false
		}
		sib := code[i]
		i++
		mi.hasSIB = true
		mi.sibScale, mi.sibIndex, mi.sibBase = sib>>6, (sib>>3)&7, sib&7
		base = mi.sibBase
	}
	switch {
	case mi.mod == 1:
		mi.dispLen = 1
	case mi.mod == 2, mi.mod == 0 && base == 5:
		mi.dispLen = 4
	}
	if i+mi.dispLen > len(code) {
		return mi, false
	}
	switch mi.dispLen {
	case 1:
		mi.disp = int64(int8(code[i]))
	case 4:
		mi.disp = int64(int32(binary.LittleEndian.Uint32(code[i:])))
	}
	// Agree with x86asm, or do not trust the layout.
	if int32(mi.disp) != int32(m.Disp) && !(mi.dispLen == 1 && isEVEX(inst)) {
		return mi, false // EVEX disp8 is scaled (disp8*N): value differs, presence does not
	}
	if num, ok := regNum(m.Base); ok && m.Base != x86asm.RIP && m.Base != x86asm.EIP {
		if byte(num&7) != base || (mi.mod == 0 && base == 5) {
			return mi, false
		}
	} else if m.Base == 0 && !(mi.mod == 0 && base == 5) {
		return mi, false
	}
	if num, ok := regNum(m.Index); ok {
		if !mi.hasSIB || byte(num&7) != mi.sibIndex {
			return mi, false
		}
	}
	return mi, true
}

func isEVEX(inst *x86asm.Inst) bool {
	for _, p := range inst.Prefix {
		if p == 0 {
			break
		}
		if p.IsEVEX() {
			return true
		}
	}
	return false
}

// regNum is the hardware number (0-15) of a general register.
func regNum(r x86asm.Reg) (int, bool) {
	switch {
	case r >= x86asm.RAX && r <= x86asm.R15:
		return int(r - x86asm.RAX), true
	case r >= x86asm.EAX && r <= x86asm.R15L:
		return int(r - x86asm.EAX), true
	case r >= x86asm.AX && r <= x86asm.R15W:
		return int(r - x86asm.AX), true
	}
	return 0, false
}

// regBytes is the width of a register operand, 0 when unknown.
func regBytes(r x86asm.Reg) int {
	switch {
	case r >= x86asm.AL && r <= x86asm.R15B:
		return 1
	case r >= x86asm.AX && r <= x86asm.R15W:
		return 2
	case r >= x86asm.EAX && r <= x86asm.R15L:
		return 4
	case r >= x86asm.RAX && r <= x86asm.R15:
		return 8
	}
	return 0
}

// isRIPRelative: mod 00, r/m 101 without SIB is RIP-relative in 64-bit
// mode; x86asm's AVX decoder leaves the base out.
func isRIPRelative(mi modrmInfo, m x86asm.Mem) bool {
	return m.Base == 0 && m.Index == 0 && mi.mod == 0 && mi.rm == 5 && !mi.hasSIB
}
