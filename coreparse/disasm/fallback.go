package disasm

import (
	"bytes"
	"fmt"

	"golang.org/x/arch/x86/x86asm"
)

// Instructions x86asm does not know (it fails, returns a bare prefix as
// an instruction (endbr64), or mistakes one for another: f3 REX.W 0f ae
// e8 is incsspq %rax, not "rep lfence"). They are matched before x86asm
// decodes. Compilers emit them:
// endbr64 starts every function built with -fcf-protection (Ubuntu's and
// Fedora's default), libgcc's unwinder uses the shadow-stack ones, glibc
// the protection-key ones. Listed here as fixed encodings (with, for a
// few, a register in the low three bits of the last byte), not decoded.

type fixedInst struct {
	bytes []byte
	name  string
	reg   int // 0: no operand; 32 or 64: a register of that size in the low 3 bits of the last byte (plus REX.B)
}

var fixedInsts = []fixedInst{
	{[]byte{0xf3, 0x0f, 0x1e, 0xfa}, "endbr64", 0},
	{[]byte{0xf3, 0x0f, 0x1e, 0xfb}, "endbr32", 0},
	{[]byte{0x0f, 0x01, 0xee}, "rdpkru", 0},
	{[]byte{0x0f, 0x01, 0xef}, "wrpkru", 0},
	{[]byte{0xf3, 0x0f, 0x01, 0xe8}, "setssbsy", 0},
	{[]byte{0xf3, 0x0f, 0x01, 0xea}, "saveprevssp", 0},
	{[]byte{0xf3, 0x0f, 0x1e, 0xc8}, "rdsspd", 32},
	{[]byte{0xf3, 0x0f, 0xae, 0xe8}, "incsspd", 32},
	{[]byte{0x0f, 0xc7, 0xf8}, "rdseed", 32},
}

var reg64Names = []string{"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"}
var reg32Names = []string{"eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d", "r15d"}

// decodeFixed matches code against fixedInsts; it returns the AT&T and
// Intel texts and the length.
func decodeFixed(code []byte) (att, intel, op string, n int, ok bool) {
	for _, f := range fixedInsts {
		if f.reg == 0 {
			if bytes.HasPrefix(code, f.bytes) {
				return f.name, f.name, f.name, len(f.bytes), true
			}
			continue
		}
		// Optional REX between a leading f3 (or at the start) and 0f.
		pre, rest := 0, code
		if f.bytes[0] == 0xf3 {
			if len(code) == 0 || code[0] != 0xf3 {
				continue
			}
			pre, rest = 1, code[1:]
		}
		var rex byte
		if len(rest) > 0 && rest[0]&0xf0 == 0x40 {
			rex, rest = rest[0], rest[1:]
		}
		body := f.bytes[pre:]
		if len(rest) < len(body) || !bytes.Equal(rest[:len(body)-1], body[:len(body)-1]) || rest[len(body)-1]&^7 != body[len(body)-1] {
			continue
		}
		r := int(rest[len(body)-1]&7) | int(rex&1)<<3
		name, reg := f.name, reg32Names[r]
		if rex&8 != 0 {
			reg = reg64Names[r]
			if name[len(name)-1] == 'd' {
				name = name[:len(name)-1] + "q"
			}
		}
		n := pre + len(body)
		if rex != 0 {
			n++
		}
		return fmt.Sprintf("%-6s %%%s", name, reg), name + " " + reg, name, n, true
	}
	return "", "", "", 0, false
}

// fixLength corrects x86asm's length of VEX instructions without a ModRM
// byte: x86asm v0.32 counts two bytes too many for vzeroupper (c5 f8 77)
// and vzeroall, which desynchronizes the decoding of the following code
// (glibc's AVX string functions end with vzeroupper).
func fixLength(raw *x86asm.Inst, code []byte) bool {
	switch raw.Op.String() {
	case "VZEROUPPER", "VZEROALL":
		n := 0
		for n < len(code) && isLegacyPrefix(code[n]) {
			n++
		}
		if n < len(code) {
			switch code[n] {
			case 0xc5:
				n += 3
			case 0xc4:
				n += 4
			default:
				return false
			}
			if n != raw.Len && n <= len(code) {
				raw.Len = n
				return true
			}
		}
	}
	return false
}

// vexMap3Length is the length of a 3-byte-VEX instruction of opcode map
// 0F3A (which always ends in an imm8), for those x86asm cannot decode
// (AMD's FMA4: vfmaddsd & co., in glibc's libm): shown as "(bad)" but
// skipped whole, so that decoding stays on the instruction boundaries.
func vexMap3Length(code []byte) (int, bool) {
	i := 0
	for i < len(code) && isLegacyPrefix(code[i]) {
		i++
	}
	if i+5 > len(code) || code[i] != 0xc4 || code[i+1]&0x1f != 3 {
		return 0, false
	}
	i += 4 // c4, two payload bytes, opcode
	modrm := code[i]
	i++
	mod, rm := modrm>>6, modrm&7
	if mod != 3 && rm == 4 {
		if i >= len(code) {
			return 0, false
		}
		if mod == 0 && code[i]&7 == 5 {
			i += 4
		}
		i++
	}
	switch {
	case mod == 1:
		i++
	case mod == 2, mod == 0 && rm == 5:
		i += 4
	}
	i++ // imm8
	if i > len(code) || i > 15 {
		return 0, false
	}
	return i, true
}
