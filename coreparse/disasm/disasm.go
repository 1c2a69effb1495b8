// Package disasm decodes x86-64 instructions for post-mortem listings:
// a window of instructions around a pc, in objdump's AT&T text and in
// Intel syntax, with branch targets and RIP-relative operands named by a
// symbolizer, source lines and inline-function boundaries interleaved like
// `objdump -dl`, and the memory operand of an instruction as data (to
// compute fault addresses). Decoding is golang.org/x/arch/x86/x86asm's.
//
// Decoding backwards is ambiguous on x86: a window starts at a known
// instruction boundary (the function start, from the symbolizer, or
// Options.Start) and walks forward. Without one it starts at the pc, unless
// Options.Guess lets it try start offsets before the pc and keep the
// earliest that decodes cleanly onto the pc (Listing.Guessed).
//
// Addresses are runtime addresses; the callbacks translate as needed.
package disasm

import (
	"errors"
	"fmt"
	"strings"

	"github.com/dsecore/dsecore/internal/mmap"
	"golang.org/x/arch/x86/x86asm"
)

// Memory is a source of bytes at runtime addresses (a core, a file image).
type Memory interface {
	ReadAt(p []byte, addr uint64) (int, error)
}

// Bytes is a Memory holding Data at Addr.
type Bytes struct {
	Addr uint64
	Data []byte
}

// ReadAt implements Memory.
func (b Bytes) ReadAt(p []byte, addr uint64) (int, error) {
	if addr < b.Addr || addr-b.Addr >= uint64(len(b.Data)) {
		return 0, fmt.Errorf("address %#x outside %#x-%#x", addr, b.Addr, b.Addr+uint64(len(b.Data)))
	}
	n := copy(p, b.Data[addr-b.Addr:])
	if n < len(p) {
		return n, fmt.Errorf("address %#x outside %#x-%#x", addr+uint64(n), b.Addr, b.Addr+uint64(len(b.Data)))
	}
	return n, nil
}

// Symbolizer names an address: the symbol containing it and the offset
// into it.
type Symbolizer func(addr uint64) (name string, off uint64, ok bool)

// SourceMark is one level of the source position of an address, as
// `objdump -dl` prints it before the instructions of a new line: the
// concrete function first (Depth 0), then each inlined function within
// it, innermost last.
type SourceMark struct {
	Function      string // function (or inlined function) name
	File          string
	Line          int
	Discriminator int  // DWARF line discriminator (objdump shows it), 0 when none
	Inline        bool // an inlined instance
	Depth         int  // 0: the concrete function; n: n levels of inlining
}

// SourceFunc returns the source position of an address, outermost first;
// nil when unknown.
type SourceFunc func(addr uint64) []SourceMark

// MemOperand is an instruction's memory operand as data.
type MemOperand struct {
	Segment     string // "fs" or "gs" when it changes the address; "" otherwise
	Base        string // register name ("rax", "r12d" with addr32, "rip"), "" when none
	Index       string // "" when none
	Scale       int    // 1, 2, 4 or 8 (1 when there is no index)
	Disp        int64  // sign-extended displacement
	Size        int    // bytes accessed, 0 when x86asm does not say
	AddrSize    int    // 64, or 32 with an addr32 prefix
	RIPRelative bool
	Addr        uint64 // RIP-relative: the absolute address
	Operand     int    // index of the operand in Intel order (0 is the destination of most instructions)
}

// EffectiveAddress computes the address the operand refers to, given the
// registers (64-bit names "rax"…"r15"; "fs_base"/"gs_base" for a segment).
func (m *MemOperand) EffectiveAddress(reg func(name string) (uint64, bool)) (uint64, bool) {
	if m.RIPRelative {
		return m.Addr, true
	}
	a := uint64(m.Disp)
	get := func(name string) (uint64, bool) {
		if name == "" {
			return 0, true
		}
		return reg(reg64(name))
	}
	b, ok := get(m.Base)
	if !ok {
		return 0, false
	}
	x, ok := get(m.Index)
	if !ok {
		return 0, false
	}
	a += b + x*uint64(max(m.Scale, 1))
	if m.AddrSize == 32 {
		a &= 0xffffffff
	}
	if m.Segment != "" {
		s, ok := reg(m.Segment + "_base")
		if !ok {
			return 0, false
		}
		a += s
	}
	return a, true
}

// reg64 names the 64-bit register containing a 32- or 16-bit one.
func reg64(n string) string {
	switch {
	case len(n) == 3 && n[0] == 'e': // eax → rax
		return "r" + n[1:]
	case strings.HasPrefix(n, "r") && (strings.HasSuffix(n, "d") || strings.HasSuffix(n, "w")) && len(n) >= 3 && n[1] >= '0' && n[1] <= '9':
		return n[:len(n)-1]
	}
	return n
}

// Inst is one decoded instruction.
type Inst struct {
	Addr  uint64
	Len   int
	Bytes []byte
	Op    string // mnemonic (x86asm's, lower case: "mov", "call")
	ATT   string // AT&T text as objdump -d prints it (see att.go), branch targets annotated "<sym+0xoff>"
	// Comment is objdump's comment for a RIP-relative operand:
	// "# 4010 <stdout@GLIBC_2.2.5>".
	Comment string
	Intel   string // Intel syntax (x86asm.IntelSyntax with the symbolizer)

	// Target is the destination of a direct call or jump.
	Target    uint64
	HasTarget bool
	TargetSym string // "name+0xoff" from the symbolizer, "" when unknown

	Mem   *MemOperand  // the memory operand, nil when none (the first, for string instructions)
	Marks []SourceMark // source position, set where it changes (and on the first instruction)
	IsPC  bool         // the instruction at the window's pc
	Bad   bool         // the byte could not be decoded: ATT is "(bad)", Len 1

	Raw x86asm.Inst // x86asm's decoding (zero when Bad)
}

// Decode decodes the one instruction at the start of code, which is at
// runtime address addr.
func Decode(code []byte, addr uint64, sym Symbolizer) (in Inst, err error) {
	defer func() {
		if p := recover(); p != nil { // x86asm or a formatting rule met bytes it did not expect
			mmap.Repanic(p) // a file that changed under the reader is the command's error, not this decoder's
			in = Inst{Addr: addr, Len: 1, Op: "(bad)", ATT: "(bad)", Intel: "(bad)", Bad: true}
			if len(code) > 0 {
				in.Bytes = []byte{code[0]}
			}
			err = fmt.Errorf("disasm: decoding %x: %v", code[:min(len(code), maxInstLen)], p)
		}
	}()
	if len(code) == 0 {
		return Inst{Addr: addr, Len: 1, Op: "(bad)", ATT: "(bad)", Intel: "(bad)", Bad: true}, errors.New("disasm: no bytes")
	}
	if att, intel, op, n, ok := decodeFixed(code); ok {
		return Inst{Addr: addr, Len: n, Bytes: append([]byte(nil), code[:n]...), Op: op, ATT: att, Intel: intel}, nil
	}
	raw, err := x86asm.Decode(code, 64)
	if err == nil && raw.Op == 0 {
		err = errors.New("unknown instruction") // x86asm returns a lone prefix for some (endbr64)
	}
	if err != nil || raw.Len == 0 {
		if err == nil {
			err = errors.New("empty instruction")
		}
		in := Inst{Addr: addr, Len: 1, Op: "(bad)", ATT: "(bad)", Intel: "(bad)", Bad: true}
		if n, ok := vexMap3Length(code); ok {
			in.Len = n
		}
		if len(code) > 0 {
			in.Bytes = append([]byte(nil), code[:in.Len]...)
		}
		return in, err
	}
	fixLength(&raw, code)
	if raw.Op == x86asm.FWAIT && len(code) > 1 {
		if in, ok := waitForm(code, addr, sym); ok {
			return in, nil
		}
	}
	code = code[:raw.Len]
	in = Inst{Addr: addr, Len: raw.Len, Bytes: append([]byte(nil), code...), Op: strings.ToLower(raw.Op.String()), Raw: raw}
	att := attSyntax(raw, code, addr, sym)
	in.ATT, in.Comment = att.text, att.comment
	var symname x86asm.SymLookup
	if sym != nil {
		symname = func(a uint64) (string, uint64) {
			n, off, ok := sym(a)
			if !ok {
				return "", 0
			}
			return n, a - off
		}
	}
	in.Intel = x86asm.IntelSyntax(raw, addr, symname)
	for i, a := range raw.Args {
		switch a := a.(type) {
		case x86asm.Rel:
			in.Target = addr + uint64(raw.Len) + uint64(int64(a))
			in.HasTarget = true
			if sym != nil {
				if n, off, ok := sym(in.Target); ok {
					in.TargetSym = n
					if off != 0 {
						in.TargetSym += fmt.Sprintf("+%#x", off)
					}
				}
			}
		case x86asm.Mem:
			if in.Mem == nil {
				in.Mem = memOperand(&raw, code, addr, a, i)
			}
		}
	}
	return in, nil
}

// waitForm merges fwait with a following no-wait x87 control instruction
// into the mnemonic the assembler accepts and objdump prints (9b d9 /7 is
// "fstcw", not "fwait; fnstcw").
func waitForm(code []byte, addr uint64, sym Symbolizer) (Inst, bool) {
	next, err := Decode(code[1:], addr+1, sym)
	if err != nil || next.Bad {
		return Inst{}, false
	}
	switch next.Raw.Op {
	case x86asm.FNSTCW, x86asm.FNSTSW, x86asm.FNSTENV, x86asm.FNSAVE, x86asm.FNCLEX, x86asm.FNINIT:
	default:
		return Inst{}, false
	}
	merged := next
	merged.Addr, merged.Len = addr, next.Len+1
	merged.Bytes = append([]byte{code[0]}, next.Bytes...)
	merged.Op = "f" + strings.TrimPrefix(next.Op, "fn")
	re := func(s string) string {
		f := strings.Fields(s)
		if len(f) == 0 || !strings.HasPrefix(strings.ToLower(f[0]), "fn") {
			return s
		}
		name := "f" + f[0][2:]
		if len(f) == 1 {
			return name
		}
		return fmt.Sprintf("%-6s %s", name, strings.Join(f[1:], " "))
	}
	merged.ATT = re(next.ATT)
	merged.Intel = strings.Replace(next.Intel, strings.Fields(next.Intel)[0], "f"+strings.Fields(next.Intel)[0][2:], 1)
	return merged, true
}

func memOperand(raw *x86asm.Inst, code []byte, addr uint64, m x86asm.Mem, arg int) *MemOperand {
	mo := &MemOperand{Scale: max(int(m.Scale), 1), Disp: m.Disp, Size: raw.MemBytes, AddrSize: raw.AddrSize, Operand: arg}
	if mo.AddrSize == 0 {
		mo.AddrSize = 64
	}
	// x86asm keeps legacy disp32 unsigned; the CPU sign-extends.
	if mi, ok := locateModRM(code, raw, m); ok && mi.dispLen == 4 || !ok && m.Disp > 0x7fffffff && m.Disp <= 0xffffffff {
		mo.Disp = int64(int32(m.Disp))
	}
	if m.Base != 0 {
		mo.Base = strings.TrimPrefix(regName(m.Base), "%")
	}
	if m.Index != 0 {
		mo.Index = strings.TrimPrefix(regName(m.Index), "%")
	}
	switch m.Segment {
	case x86asm.FS:
		mo.Segment = "fs"
	case x86asm.GS:
		mo.Segment = "gs"
	}
	mi, located := locateModRM(code, raw, m)
	if m.Base == x86asm.RIP || m.Base == x86asm.EIP || located && isRIPRelative(mi, m) {
		mo.RIPRelative = true
		mo.Base = "rip"
		mo.Disp = int64(int32(m.Disp))
		mo.Addr = addr + uint64(raw.Len) + uint64(mo.Disp)
		if m.Base == x86asm.EIP {
			mo.Addr &= 0xffffffff
		}
	}
	return mo
}

// DecodeAll decodes code (at runtime address addr) from its first byte to
// its end, one instruction after the other (undecodable bytes become
// one-byte "(bad)" instructions, as objdump shows them).
func DecodeAll(code []byte, addr uint64, sym Symbolizer) []Inst {
	// An Inst is ~350 bytes: grown by append, a 2,800-instruction
	// function copied 4 MiB of them into fresh memory (its growth was 20%
	// of a DAP stackTrace's time). x86-64 code averages ~4 bytes an
	// instruction.
	out := make([]Inst, 0, len(code)/avgInstLen+1)
	for off := 0; off < len(code); {
		in, _ := Decode(code[off:], addr+uint64(off), sym)
		out = append(out, in)
		off += in.Len
	}
	return out
}

// readUpTo reads as much of [addr, addr+n) as is readable from its start.
func readUpTo(m Memory, addr, n uint64) []byte {
	buf := make([]byte, n)
	if k, err := m.ReadAt(buf, addr); err == nil && uint64(k) == n {
		return buf
	} else if k > 0 {
		return buf[:k]
	}
	// Page by page: the range may end in unmapped memory.
	done := uint64(0)
	for done < n {
		chunk := min(n-done, 4096-(addr+done)%4096)
		k, err := m.ReadAt(buf[done:done+chunk], addr+done)
		done += uint64(max(k, 0))
		if err != nil || uint64(k) < chunk {
			break
		}
	}
	return buf[:done]
}

// Options of a window.
type Options struct {
	// Before and After are the number of instructions shown before and
	// after the pc (defaults 10 and 10; a negative value means none).
	Before, After int
	// BeforeBytes and AfterBytes, when not zero, bound the window in bytes
	// instead: instructions starting in [pc-BeforeBytes, pc+AfterBytes).
	BeforeBytes, AfterBytes uint64

	// Start is a known instruction boundary at or before the pc (the
	// function's entry). 0: ask Symbolize (start = pc - offset).
	Start uint64
	// End, when not zero, is where decoding stops (the function's end).
	End uint64

	Symbolize Symbolizer
	Source    SourceFunc

	// MaxBack bounds the forward decode from the boundary to the pc
	// (default 1 MiB); farther boundaries are treated as unknown.
	MaxBack uint64

	// Within says pc may lie inside an instruction (a caller frame's
	// return address minus one): when decoding from Start does not land on
	// pc, the instruction that contains it (the call) is the window's
	// current one. Only with Start: a boundary from Symbolize is not
	// trusted that far.
	Within bool
	// Prev, when set, is a known instruction boundary before addr (the
	// start of the function that ends there): the window reaches back
	// across function starts when they are proven boundaries (decoding
	// from the earlier one lands exactly on the later one).
	Prev func(addr uint64) (uint64, bool)
	// Guess allows a start found by trial decoding (Listing.Guessed) when
	// no boundary is known. Without it such a window starts at pc: x86
	// decoding backwards is ambiguous, and a guess can show instructions
	// that never were.
	Guess bool
}

// Listing is a window of instructions.
type Listing struct {
	Insts   []Inst
	PC      uint64
	PCIndex int    // index of the instruction at PC, -1 when PC is not an instruction boundary of the decode
	Start   uint64 // the instruction boundary decoding started from
	Guessed bool   // no known boundary: Start was found by trial decoding
}

const maxInstLen = 15

// avgInstLen is about the average length of an x86-64 instruction in
// compiled code: how many instructions a decoder makes room for.
const avgInstLen = 4

// Window decodes the instructions around pc.
func Window(mem Memory, pc uint64, o Options) (*Listing, error) {
	if mem == nil {
		return nil, errors.New("disasm: no memory")
	}
	before, after := o.Before, o.After
	if before == 0 && o.BeforeBytes == 0 {
		before = 10
	}
	if after == 0 && o.AfterBytes == 0 {
		after = 10
	}
	before, after = max(before, 0), max(after, 0)
	maxBack := o.MaxBack
	if maxBack == 0 {
		maxBack = 1 << 20
	}
	start, known := o.Start, o.Start != 0 && o.Start <= pc && pc-o.Start <= maxBack
	trusted := known
	if !known && o.Symbolize != nil {
		if _, off, ok := o.Symbolize(pc); ok && off <= pc && off <= maxBack {
			start, known = pc-off, true
		}
	}
	l := &Listing{PC: pc, PCIndex: -1}
	var pre []Inst // instructions before pc
	cur := pc      // the current instruction's address
	if known {
		pre, cur, known = decodeTo(mem, start, pc, o.Within && trusted, o.Symbolize)
		if known {
			l.Start = start
			// Reach back across proven function starts while the window
			// wants more instructions than this function has before pc.
			for i := 0; i < 8 && o.Prev != nil && o.BeforeBytes == 0 && len(pre) < before; i++ {
				s2, ok := o.Prev(l.Start)
				if !ok || s2 >= l.Start || l.Start-s2 > maxBack {
					break
				}
				more, _, ok := decodeTo(mem, s2, l.Start, false, o.Symbolize)
				if !ok {
					break
				}
				pre, l.Start = append(more, pre...), s2
			}
		}
	}
	if !known {
		if o.Guess {
			back := uint64(before)*maxInstLen + maxInstLen
			if o.BeforeBytes > 0 {
				back = o.BeforeBytes + maxInstLen
			}
			back = min(back, pc)
			pre, l.Start = guessBefore(mem, pc, back, o.Symbolize)
			l.Guessed = true
		} else {
			// No boundary before pc is known: the window starts at pc
			// (an instruction boundary), never at pc - N.
			pre, l.Start = nil, pc
		}
	}
	// Trim the part before pc to the window.
	if o.BeforeBytes > 0 {
		i := 0
		for i < len(pre) && pre[i].Addr+o.BeforeBytes < pc {
			i++
		}
		pre = pre[i:]
	} else if len(pre) > before {
		pre = pre[len(pre)-before:]
	}
	// From pc on.
	span := uint64(after+1) * maxInstLen
	if o.AfterBytes > 0 {
		span = o.AfterBytes + maxInstLen
	}
	if o.End > cur {
		span = min(span, o.End-cur)
	}
	code := readUpTo(mem, cur, span)
	if len(code) == 0 {
		if len(pre) == 0 {
			return nil, fmt.Errorf("disasm: cannot read memory at %#x", pc)
		}
	}
	var post []Inst
	for off := 0; off < len(code); {
		in, err := Decode(code[off:], cur+uint64(off), o.Symbolize)
		if err != nil && off+maxInstLen > len(code) && uint64(len(code)) == span {
			break // truncated by the read window, not bad code
		}
		if o.AfterBytes > 0 {
			if in.Addr >= pc+o.AfterBytes && off > 0 {
				break
			}
		} else if len(post) == after+1 {
			break
		}
		if o.End != 0 && in.Addr >= o.End {
			break
		}
		post = append(post, in)
		off += in.Len
	}
	l.Insts = append(pre, post...)
	if len(post) > 0 {
		l.PCIndex = len(pre)
		l.Insts[l.PCIndex].IsPC = true
	}
	attachMarks(l.Insts, o.Source)
	return l, nil
}

// decodeTo decodes from start (a known boundary) up to pc. ok is false
// when pc is not on the boundary grid of start, unless within is set and
// an instruction decoded from start contains pc: then that instruction is
// the current one (cur), left out of the instructions before it.
func decodeTo(mem Memory, start, pc uint64, within bool, sym Symbolizer) (pre []Inst, cur uint64, ok bool) {
	n := pc - start
	code := readUpTo(mem, start, n+maxInstLen)
	if uint64(len(code)) < n {
		return nil, pc, false
	}
	pre = make([]Inst, 0, n/avgInstLen+1) // as DecodeAll's
	for off := uint64(0); off < n; {
		in, _ := Decode(code[off:], start+off, sym)
		if off+uint64(in.Len) > n {
			// The instruction straddles pc.
			if within && !in.Bad {
				return pre, in.Addr, true
			}
			return nil, pc, false
		}
		pre = append(pre, in)
		off += uint64(in.Len)
	}
	return pre, pc, true
}

// guessBefore finds instructions ending exactly at pc by decoding from
// each start offset in [pc-back, pc) and keeping the earliest start that
// reaches pc without undecodable bytes.
func guessBefore(mem Memory, pc, back uint64, sym Symbolizer) ([]Inst, uint64) {
	lo := pc - back
	code := readUpTo(mem, lo, back)
	if uint64(len(code)) < back { // the start is not readable: shrink from below
		for lo < pc {
			lo++
			code = readUpTo(mem, lo, pc-lo)
			if uint64(len(code)) == pc-lo {
				break
			}
		}
	}
	for s := lo; s < pc; s++ {
		c := code[s-lo:]
		ok, off := true, 0
		for off < len(c) {
			raw, err := x86asm.Decode(c[off:], 64)
			if err != nil || raw.Len == 0 {
				ok = false
				break
			}
			off += raw.Len
		}
		if ok && off == len(c) {
			return DecodeAll(c, s, sym), s
		}
	}
	return nil, pc
}

// attachMarks sets Marks where the source position changes.
func attachMarks(insts []Inst, src SourceFunc) {
	if src == nil {
		return
	}
	var prev []SourceMark
	for i := range insts {
		if insts[i].Bad {
			continue
		}
		cur := src(insts[i].Addr)
		if i == 0 || !sameMarks(prev, cur) {
			insts[i].Marks = cur
		}
		prev = cur
	}
}

func sameMarks(a, b []SourceMark) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Range decodes [lo, hi) linearly from lo (a known instruction boundary)
// with source marks: a whole function, for example.
func Range(mem Memory, lo, hi uint64, sym Symbolizer, src SourceFunc) ([]Inst, error) {
	if hi <= lo {
		return nil, nil
	}
	code := readUpTo(mem, lo, hi-lo)
	if len(code) == 0 {
		return nil, fmt.Errorf("disasm: cannot read memory at %#x", lo)
	}
	insts := DecodeAll(code, lo, sym)
	attachMarks(insts, src)
	if uint64(len(code)) < hi-lo {
		return insts, fmt.Errorf("disasm: memory unreadable from %#x", lo+uint64(len(code)))
	}
	return insts, nil
}

// FormatOptions control Listing.Format.
type FormatOptions struct {
	Intel    bool // Intel syntax instead of AT&T
	RawBytes bool // show the instruction bytes, as objdump does without --no-show-raw-insn
	NoMarks  bool // leave out source lines
}

// Format renders the listing like `objdump -dl`, the pc's line marked
// with "=>" as gdb does:
//
//	sum_list():
//	/src/nullderef.c:5
//	=> 5555555551cc:	mov    0x8(%rdi),%rax
func (l *Listing) Format(o FormatOptions) string {
	return FormatInsts(l.Insts, o)
}

// FormatInsts renders instructions like Listing.Format.
func FormatInsts(insts []Inst, o FormatOptions) string {
	var b strings.Builder
	b.Grow(len(insts) * 64) // an instruction's line is 40-80 bytes
	var prev []SourceMark
	for _, in := range insts {
		if !o.NoMarks && len(in.Marks) > 0 {
			// Print the levels from the first one that changed.
			d := 0
			for d < len(prev) && d < len(in.Marks) && prev[d] == in.Marks[d] {
				d++
			}
			if d == len(in.Marks) && d > 0 { // only deeper levels ended: show where we are
				d--
			}
			for ; d < len(in.Marks); d++ {
				m := in.Marks[d]
				indent := strings.Repeat("  ", m.Depth)
				if d >= len(prev) || prev[d].Function != m.Function {
					switch {
					case m.Inline:
						fmt.Fprintf(&b, "%s%s() [inlined]:\n", indent, m.Function)
					case m.Function != "":
						fmt.Fprintf(&b, "%s%s():\n", indent, m.Function)
					}
				}
				if m.File != "" {
					fmt.Fprintf(&b, "%s%s:%d", indent, m.File, m.Line)
					if m.Discriminator != 0 {
						fmt.Fprintf(&b, " (discriminator %d)", m.Discriminator)
					}
					b.WriteByte('\n')
				}
			}
			prev = in.Marks
		}
		mark := "  "
		if in.IsPC {
			mark = "=>"
		}
		text := in.ATT
		if o.Intel {
			text = in.Intel
		} else if in.Comment != "" {
			text += "        " + in.Comment
		}
		if o.RawBytes {
			fmt.Fprintf(&b, "%s %x:\t%-21s\t%s\n", mark, in.Addr, hexBytes(in.Bytes), text)
		} else {
			fmt.Fprintf(&b, "%s %x:\t%s\n", mark, in.Addr, text)
		}
	}
	return b.String()
}

func hexBytes(b []byte) string {
	var s strings.Builder
	for i, c := range b {
		if i > 0 {
			s.WriteByte(' ')
		}
		fmt.Fprintf(&s, "%02x", c)
	}
	return s.String()
}
