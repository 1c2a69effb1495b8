package disasm

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/arch/x86/x86asm"
)

// AT&T text as objdump -d (binutils 2.40) prints it.
//
// x86asm.GNUSyntax follows an older libopcodes; its text is normalized here
// to what current objdump prints. Each rule and why:
//
//  1. Layout: objdump pads "prefixes mnemonic" to 6 columns and adds one
//     space before the operands ("mov    %rsp,%rbp"); trailing blanks are
//     dropped (objdump leaves some after operand-less instructions).
//  2. Mnemonic suffixes binutils dropped since 2.36 when a register or the
//     instruction implies the size: callq/jmpq/retq/pushq/popq/leaveq →
//     call/jmp/ret/push/pop/leave; BMI's sarxl/shlxl/bzhil/… → sarx/… .
//  3. AT&T names for Intel mnemonics x86asm keeps: cdqe→cltq, cqo→cqto,
//     cdq→cltd, cwde→cwtl, cbw→cbtw, cwd→cwtd, movsxd→movslq; mov of a
//     64-bit immediate or a 64-bit absolute address → movabs.
//  4. Memory operands are re-rendered from x86asm's decoded operand plus
//     the ModRM layout (see locateModRM): a displacement is shown exactly
//     when one is encoded, even 0 ("0x0(%rax,%rax,1)", "0x0(%rbp)");
//     displacements are signed ("-0x88(%rbp)", x86asm shows disp32 as an
//     unsigned 32-bit number); the scale is always shown with an index
//     (",1"); %riz appears only for a SIB byte without index whose base is
//     not rsp/r12 or whose scale is not 1, as libopcodes does (x86asm adds it
//     for r12); absolute addresses are unsigned 64-bit ("%fs:0x28",
//     "0x0", which x86asm prints as nothing).
//  5. In 64-bit mode libopcodes treats cs/ds/es/ss overrides as inactive
//     and prints them as prefix words ("cs nopw 0x0(%rax,%rax,1)"; x86asm:
//     "nopw %cs:(%rax,%rax)"); ds on an indirect branch is "notrack"; fs/gs
//     stay in the operand. Prefix words are rebuilt from the prefix bytes
//     in encoding order with libopcodes' names: data16 (x86asm sometimes
//     says data32), addr32, lock, rep/repz/repnz, bnd.
//  6. "66 90" is "xchg %ax,%ax" (x86asm: "data16 nop").
//  7. Negative immediates are shown as the unsigned value of the operand
//     size ("$0xffffffff" for a 32-bit -1), as libopcodes does.
//  8. Branch targets are "addr <sym+0xoff>" (x86asm: "0xaddr"), or
//     "0xaddr" when the symbolizer does not know the address, as objdump
//     does; a RIP-relative operand gets objdump's comment "# addr <sym>"
//     (Inst.Comment; the listing puts it 8 spaces after the operands).
//  9. AVX-512 masks are glued to their operand ("%zmm1{%k1}"), and the
//     compare-with-predicate forms get libopcodes' names (vpcmpeqb for
//     vpcmpb $0x0, …).
// 10. A lone "%st" operand of an x87 instruction is "%st(0)".

var mnemonicFix = map[string]string{
	"callq": "call", "jmpq": "jmp", "retq": "ret", "pushq": "push", "popq": "pop",
	"leaveq": "leave", "lretq": "lret", "pushfq": "pushf", "popfq": "popf",
	"cdqe": "cltq", "cqo": "cqto", "cdq": "cltd", "cwde": "cwtl", "cbw": "cbtw", "cwd": "cwtd",
	"icebp": "int1", "enterq": "enter",
	"sarxl": "sarx", "sarxq": "sarx", "shlxl": "shlx", "shlxq": "shlx", "shrxl": "shrx", "shrxq": "shrx",
	"rorxl": "rorx", "rorxq": "rorx", "bzhil": "bzhi", "bzhiq": "bzhi", "blsmskl": "blsmsk", "blsmskq": "blsmsk",
	"blsrl": "blsr", "blsrq": "blsr", "blsil": "blsi", "blsiq": "blsi", "andnl": "andn", "andnq": "andn",
	"pdepl": "pdep", "pdepq": "pdep", "pextl": "pext", "pextq": "pext", "mulxl": "mulx", "mulxq": "mulx",
	"bextrl": "bextr", "bextrq": "bextr",
	"xbeginq": "xbegin",
}

// pclmulqdq immediate forms: libopcodes' pseudo-op names.
var clmulPred = map[int64]string{0x00: "lqlqdq", 0x01: "hqlqdq", 0x10: "lqhqdq", 0x11: "hqhqdq"}

// vpcmp predicates (AVX-512 integer compares).
var vpcmpPred = []string{"eq", "lt", "le", "false", "neq", "nlt", "nle", "true"}

type attResult struct {
	text    string // objdump-style AT&T text
	comment string // "# addr <sym>" for RIP-relative operands, "" otherwise
}

func isStringOp(op x86asm.Op) bool {
	switch op {
	case x86asm.MOVSB, x86asm.MOVSW, x86asm.MOVSD, x86asm.MOVSQ,
		x86asm.STOSB, x86asm.STOSW, x86asm.STOSD, x86asm.STOSQ,
		x86asm.LODSB, x86asm.LODSW, x86asm.LODSD, x86asm.LODSQ,
		x86asm.SCASB, x86asm.SCASW, x86asm.SCASD, x86asm.SCASQ,
		x86asm.CMPSB, x86asm.CMPSW, x86asm.CMPSD, x86asm.CMPSQ,
		x86asm.INSB, x86asm.INSW, x86asm.INSD, x86asm.OUTSB, x86asm.OUTSW, x86asm.OUTSD:
		return true
	}
	return false
}

func isCompareString(op x86asm.Op) bool {
	switch op {
	case x86asm.SCASB, x86asm.SCASW, x86asm.SCASD, x86asm.SCASQ,
		x86asm.CMPSB, x86asm.CMPSW, x86asm.CMPSD, x86asm.CMPSQ:
		return true
	}
	return false
}

func isBranch(op x86asm.Op) bool {
	switch op {
	case x86asm.CALL, x86asm.JMP, x86asm.RET, x86asm.LCALL, x86asm.LJMP, x86asm.LRET,
		x86asm.JA, x86asm.JAE, x86asm.JB, x86asm.JBE, x86asm.JCXZ, x86asm.JE, x86asm.JECXZ,
		x86asm.JG, x86asm.JGE, x86asm.JL, x86asm.JLE, x86asm.JNE, x86asm.JNO, x86asm.JNP,
		x86asm.JNS, x86asm.JO, x86asm.JP, x86asm.JRCXZ, x86asm.JS,
		x86asm.LOOP, x86asm.LOOPE, x86asm.LOOPNE:
		return true
	}
	return false
}

// splitOperands splits GNU operand text at top-level commas.
func splitOperands(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(', '{':
			depth++
		case ')', '}':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

var gnuPrefixWords = map[string]bool{
	"lock": true, "rep": true, "repn": true, "repz": true, "repnz": true, "data16": true, "data32": true,
	"addr16": true, "addr32": true, "cs": true, "ds": true, "es": true, "ss": true, "fs": true, "gs": true,
	"xacquire": true, "xrelease": true, "bnd": true, "rex": true,
}

func isPrefixWord(w string) bool {
	return gnuPrefixWords[w] || strings.HasPrefix(w, "rex.")
}

// attSyntax renders inst (decoded from code at pc) like objdump.
func attSyntax(inst x86asm.Inst, code []byte, pc uint64, sym Symbolizer) attResult {
	g := x86asm.GNUSyntax(inst, pc, nil)
	words := strings.Split(g, " ")
	i := 0
	var rexWords []string
	for i < len(words)-1 && isPrefixWord(words[i]) {
		if strings.HasPrefix(words[i], "rex") {
			rexWords = append(rexWords, words[i])
		}
		i++
	}
	mnem := words[i]
	rest := strings.Join(words[i+1:], " ")
	rest = strings.ReplaceAll(rest, " {", "{")
	var ops []string
	if rest != "" {
		ops = splitOperands(rest)
	}

	// Mnemonic.
	if m, ok := mnemonicFix[mnem]; ok {
		mnem = m
	}
	if inst.Op == x86asm.NOP && len(ops) == 0 && hasPrefixByte(&inst, 0x66) && inst.Len == 2 {
		// 66 90
		return attResult{text: layout(nil, "xchg", []string{"%ax", "%ax"})}
	}
	if inst.Op == x86asm.MOVSXD && inst.DataSize == 64 {
		mnem = "movslq" // without REX.W objdump keeps "movsxd"
	}
	if inst.Op == x86asm.XLATB {
		return attResult{text: layout(nil, "xlat", []string{"%ds:(%rbx)"})}
	}
	if (inst.Op == x86asm.PCLMULQDQ || inst.Op.String() == "VPCLMULQDQ") && len(ops) >= 3 && strings.HasPrefix(ops[0], "$") {
		if v, err := strconv.ParseInt(ops[0][1:], 0, 64); err == nil {
			if name, ok := clmulPred[v&0x11]; ok {
				mnem = strings.TrimSuffix(mnem, "qdq") + name
				ops = ops[1:]
			}
		}
	}
	if inst.Op == x86asm.MOV {
		if op := opcodeByte(code); (op >= 0xb8 && op <= 0xbf && inst.DataSize == 64 && inst.Len >= 10) || (op >= 0xa0 && op <= 0xa3) {
			mnem = "movabs"
		}
	}
	if strings.HasPrefix(mnem, "vpcmp") && len(ops) == 4 && strings.HasPrefix(ops[0], "$") {
		if v, err := strconv.ParseInt(ops[0][1:], 0, 64); err == nil && v >= 0 && v < 8 {
			suffix := strings.TrimPrefix(mnem, "vpcmp")
			mnem = "vpcmp" + vpcmpPred[v] + suffix
			ops = ops[1:]
		}
	}

	// Operands.
	var mem *x86asm.Mem
	nmem := 0
	var rel *x86asm.Rel
	for _, a := range inst.Args {
		switch a := a.(type) {
		case x86asm.Mem:
			if nmem == 0 {
				m := a
				mem = &m
			}
			nmem++
		case x86asm.Rel:
			r := a
			rel = &r
		}
	}
	if len(ops) == 2 && ops[0] == "%st" && ops[1] == "%st" {
		// x87 register forms: the st(i) operand is spelled "%st(0)";
		// it comes first in the d8/d9/da/db/df forms, last in dc/dd/de.
		switch opcodeByte(code) {
		case 0xdc, 0xdd, 0xde:
			ops[1] = "%st(0)"
		default:
			ops[0] = "%st(0)"
		}
	}
	width := operandWidth(&inst)
	if inst.Op == x86asm.PUSH {
		width = 8 // push imm8/imm32 is sign-extended to 64 bits
	}
	var comment string
	memIdx := -1
	for k, op := range ops {
		star := strings.HasPrefix(op, "*")
		op = strings.TrimPrefix(op, "*")
		switch {
		case strings.HasPrefix(op, "$"):
			op = fixImmediate(op, width)
		case strings.HasPrefix(op, "%") && !strings.Contains(op, ":") && !strings.Contains(op, "("):
			if op == "%st" && len(ops) == 1 {
				op = "%st(0)"
			}
		case rel != nil && nmem == 0:
			target := pc + uint64(inst.Len) + uint64(int64(*rel))
			op = address(sym, target)
		default:
			memIdx = k
		}
		if star {
			op = "*" + op
		}
		ops[k] = op
	}
	if mem != nil && nmem == 1 && memIdx >= 0 && !isStringOp(inst.Op) {
		star := strings.HasPrefix(ops[memIdx], "*")
		suffix := "" // AVX-512 mask or broadcast: "{%k1}", "{1to8}"
		if i := strings.Index(ops[memIdx], "{"); i >= 0 {
			suffix = ops[memIdx][i:]
		}
		text, riprel := renderMem(&inst, code, *mem)
		if star {
			text = "*" + text
		}
		ops[memIdx] = text + suffix
		if riprel {
			target := pc + uint64(inst.Len) + uint64(int64(int32(mem.Disp)))
			comment = "# " + address(sym, target)
		}
	}

	// Prefix words, in encoding order.
	var pw []string
	rexDone := false
	for _, p := range inst.Prefix {
		if p == 0 || p.IsVEX() || p.IsEVEX() {
			break
		}
		if p.IsREX() {
			if !rexDone {
				if len(rexWords) == 0 && rel != nil && byte(p) != 0x40 {
					// REX.W on a relative call (the TLS general-dynamic
					// sequence "data16 data16 rex.W call"): unused, shown.
					rexWords = []string{"rex." + p.String()[4:]}
				}
				pw = append(pw, rexWords...)
				rexDone = true
			}
			continue
		}
		if p&x86asm.PrefixImplicit != 0 {
			continue
		}
		b := byte(p)
		switch b {
		case 0x66:
			pw = append(pw, "data16")
		case 0x67:
			pw = append(pw, "addr32")
		case 0xf0:
			pw = append(pw, "lock")
		case 0xf3:
			switch {
			case isStringOp(inst.Op) && !isCompareString(inst.Op):
				pw = append(pw, "rep")
			default:
				pw = append(pw, "repz")
			}
		case 0xf2:
			switch {
			case p&0xff00 == x86asm.PrefixBND&0xff00 && p != 0xf2, isBranch(inst.Op):
				pw = append(pw, "bnd")
			case p&0xff00 == x86asm.PrefixXACQUIRE&0xff00 && p != 0xf2:
				pw = append(pw, "xacquire")
			default:
				pw = append(pw, "repnz")
			}
		case 0x2e, 0x36, 0x26, 0x3e:
			if isStringOp(inst.Op) {
				continue
			}
			if b == 0x3e && (inst.Op == x86asm.CALL || inst.Op == x86asm.JMP) && rel == nil {
				pw = append(pw, "notrack")
				continue
			}
			pw = append(pw, map[byte]string{0x2e: "cs", 0x36: "ss", 0x26: "es", 0x3e: "ds"}[b])
		case 0x64, 0x65:
			if mem == nil {
				pw = append(pw, map[byte]string{0x64: "fs", 0x65: "gs"}[b])
			}
		}
	}
	if !rexDone {
		pw = append(pw, rexWords...)
	}
	return attResult{text: layout(pw, mnem, ops), comment: comment}
}

func layout(prefixes []string, mnem string, ops []string) string {
	head := strings.Join(append(append([]string{}, prefixes...), mnem), " ")
	if len(ops) == 0 {
		return head
	}
	return fmt.Sprintf("%-6s %s", head, strings.Join(ops, ","))
}

func hasPrefixByte(inst *x86asm.Inst, b byte) bool {
	for _, p := range inst.Prefix {
		if p == 0 {
			break
		}
		if byte(p) == b {
			return true
		}
	}
	return false
}

// opcodeByte is the first byte after legacy and REX prefixes.
func opcodeByte(code []byte) byte {
	i := 0
	for i < len(code) && isLegacyPrefix(code[i]) {
		i++
	}
	if i < len(code) && code[i] >= 0x40 && code[i] <= 0x4f {
		i++
	}
	if i < len(code) {
		return code[i]
	}
	return 0
}

// operandWidth is the size in bytes that a negative immediate is shown
// in: that of the general register or memory operand, else the operand
// size.
func operandWidth(inst *x86asm.Inst) int {
	for _, a := range inst.Args {
		switch a := a.(type) {
		case x86asm.Reg:
			if n := regBytes(a); n > 0 {
				return n
			}
			return 1 // vector/x87 register with an imm8 (pshufd, …)
		case x86asm.Mem:
			if inst.MemBytes > 0 && inst.MemBytes <= 8 {
				return inst.MemBytes
			}
			return 1
		}
	}
	if inst.DataSize > 0 {
		return inst.DataSize / 8
	}
	return 8
}

func fixImmediate(op string, width int) string {
	v, err := strconv.ParseInt(op[1:], 0, 64)
	if err != nil || v >= 0 {
		return op
	}
	u := uint64(v)
	if width < 8 {
		u &= 1<<(8*uint(width)) - 1
	}
	return fmt.Sprintf("$%#x", u)
}

// renderMem renders a memory operand as libopcodes does.
func renderMem(inst *x86asm.Inst, code []byte, m x86asm.Mem) (text string, riprel bool) {
	var b strings.Builder
	switch m.Segment {
	case x86asm.FS:
		b.WriteString("%fs:")
	case x86asm.GS:
		b.WriteString("%gs:")
	}
	mi, ok := locateModRM(code, inst, m)
	if !ok {
		// Fall back to what the operand implies.
		mi = modrmInfo{}
		if m.Disp != 0 || m.Base == 0 || m.Base == x86asm.RIP || m.Base == x86asm.RBP || m.Base == x86asm.R13 ||
			m.Base == x86asm.EBP || m.Base == x86asm.R13L {
			mi.dispLen = 4
		}
		if m.Index != 0 || m.Base == x86asm.RSP || m.Base == x86asm.R12 {
			mi.hasSIB, mi.sibIndex, mi.sibBase = true, 4, 4
			if n, ok := regNum(m.Index); ok {
				mi.sibIndex = byte(n & 7)
			}
			switch m.Scale {
			case 2:
				mi.sibScale = 1
			case 4:
				mi.sibScale = 2
			case 8:
				mi.sibScale = 3
			}
		}
	}
	disp := m.Disp
	if op := opcodeByte(code); op >= 0xa0 && op <= 0xa3 {
		mi.dispLen = 8 // mov moffs64: a full 64-bit address
	} else if mi.dispLen == 4 {
		disp = int64(int32(m.Disp))
	}
	haveBase := m.Base != 0
	haveIndex := m.Index != 0
	riprel = m.Base == x86asm.RIP || m.Base == x86asm.EIP || ok && isRIPRelative(mi, m)
	baseNum := byte(4)
	if n, ok := regNum(m.Base); ok {
		baseNum = byte(n & 7)
	}
	needIndex := mi.hasSIB && !haveIndex && (mi.sibScale != 0 || (haveBase && baseNum != 4))
	signed := haveBase || haveIndex || needIndex
	if mi.dispLen > 0 || (!haveBase && !haveIndex) {
		switch {
		case riprel || signed:
			if disp < 0 {
				fmt.Fprintf(&b, "-%#x", uint64(-disp))
			} else {
				fmt.Fprintf(&b, "%#x", disp)
			}
		default:
			if inst.AddrSize == 32 {
				fmt.Fprintf(&b, "%#x", uint32(disp))
			} else {
				fmt.Fprintf(&b, "%#x", uint64(disp))
			}
		}
	}
	if riprel {
		if m.Base == x86asm.EIP || inst.AddrSize == 32 {
			b.WriteString("(%eip)")
		} else {
			b.WriteString("(%rip)")
		}
		return b.String(), true
	}
	if haveBase || haveIndex || needIndex {
		b.WriteByte('(')
		if haveBase {
			b.WriteString(regName(m.Base))
		}
		if haveIndex || needIndex {
			b.WriteByte(',')
			if haveIndex {
				b.WriteString(regName(m.Index))
			} else if inst.AddrSize == 32 {
				b.WriteString("%eiz")
			} else {
				b.WriteString("%riz")
			}
			scale := int(m.Scale)
			if scale == 0 {
				scale = 1 << mi.sibScale
			}
			fmt.Fprintf(&b, ",%d", scale)
		}
		b.WriteByte(')')
	}
	return b.String(), false
}

// regName is the AT&T name of an address register.
func regName(r x86asm.Reg) string {
	n := strings.ToLower(r.String())
	if r >= x86asm.R8L && r <= x86asm.R15L {
		n = strings.TrimSuffix(n, "l") + "d" // r8d
	}
	return "%" + n
}

// address is how objdump shows a code or data address: "401136 <main+0x6>"
// when a symbol names it, "0x401136" when none does.
func address(sym Symbolizer, addr uint64) string {
	if sym != nil {
		if name, off, ok := sym(addr); ok && name != "" {
			if off == 0 {
				return fmt.Sprintf("%x <%s>", addr, name)
			}
			return fmt.Sprintf("%x <%s+%#x>", addr, name, off)
		}
	}
	return fmt.Sprintf("%#x", addr)
}
