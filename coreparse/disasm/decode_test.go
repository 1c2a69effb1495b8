package disasm_test

import (
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/coreparse/disasm"
)

// Encodings that exercise each normalization of att.go (and the x86asm
// gaps of fallback.go), checked against objdump on a raw blob.
var crafted = []string{
	"4889e5",                 // mov %rsp,%rbp
	"c3",                     // ret (x86asm: retq)
	"f3c3",                   // repz ret
	"e800000000",             // call (x86asm: callq 0x…)
	"ff25d60f0000",           // jmp *0xfd6(%rip) with comment
	"3effe0",                 // notrack jmp *%rax
	"ffd0",                   // call *%rax
	"488b4424f8",             // mov -0x8(%rsp),%rax
	"498b442408",             // mov 0x8(%r12),%rax (x86asm: %riz)
	"8b0420",                 // mov (%rax,%riz,1),%eax: redundant SIB
	"8b0460",                 // mov (%rax,%riz,2),%eax
	"8b442500",               // mov 0x0(%rbp,%riz,1),%eax
	"8b4500",                 // mov 0x0(%rbp),%eax
	"418b4500",               // mov 0x0(%r13),%eax
	"488b84c810000000",       // mov 0x10(%rax,%rcx,8),%rax (disp32)
	"8b0c8d00000000",         // mov 0x0(,%rcx,4),%ecx
	"8b042500000000",         // mov 0x0,%eax (absolute)
	"64488b042528000000",     // mov %fs:0x28,%rax
	"64488b0425f8ffffff",     // mov %fs:0xfffffffffffffff8,%rax
	"48a1efcdab8967452301",   // movabs 0x123456789abcdef,%rax
	"48b8ffffffffffffffff",   // movabs $0xffffffffffffffff,%rax
	"4883f8ff",               // cmp $0xffffffffffffffff,%rax
	"83f8ff",                 // cmp $0xffffffff,%eax
	"6683f8ff",               // cmp $0xffff,%ax
	"80f8ff",                 // cmp $0xff,%al
	"48c7442408ffffffff",     // movq $0xffffffffffffffff,0x8(%rsp)
	"6aff",                   // push $0xffffffffffffffff
	"0f1f440000",             // nopl 0x0(%rax,%rax,1)
	"660f1f440000",           // nopw 0x0(%rax,%rax,1)
	"662e0f1f840000000000",   // cs nopw 0x0(%rax,%rax,1)
	"66662e0f1f840000000000", // data16 cs nopw 0x0(%rax,%rax,1)
	"6690",                   // xchg %ax,%ax
	"4898",                   // cltq
	"4899",                   // cqto
	"99",                     // cltd
	"4863c8",                 // movslq %eax,%rcx
	"f0480fb111",             // lock cmpxchg %rdx,(%rcx)
	"f348ab",                 // rep stos %rax,%es:(%rdi)
	"f3a6",                   // repz cmpsb %es:(%rdi),%ds:(%rsi)
	"d7",                     // xlat %ds:(%rbx)
	"ddd8",                   // fstp %st(0)
	"d8c0",                   // fadd %st(0),%st
	"dcc1",                   // fadd %st,%st(1)
	"9bd97c2402",             // fstcw 0x2(%rsp)
	"9bdfe0",                 // fstsw %ax
	"f30f1efa",               // endbr64
	"f3480faee8",             // incsspq %rax
	"f3480f1ec8",             // rdsspq %rax
	"0f01ee",                 // rdpkru
	"c5f877",                 // vzeroupper (x86asm: length 5)
	"c5fd6f0529d40400",       // vmovdqa 0x4d429(%rip),%ymm0 (x86asm's AVX decoder: no %rip)
	"62e17f297f00",           // vmovdqu8 %ymm16,(%rax){%k1}
	"c4e37944cb00",           // vpclmullqlqdq %xmm3,%xmm0,%xmm1
	"48f7f1",                 // div %rcx
	"c3",
}

func TestCraftedEncodingsMatchObjdump(t *testing.T) {
	var blob []byte
	for _, h := range crafted {
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(h, err)
		}
		blob = append(blob, b...)
	}
	path := filepath.Join(t.TempDir(), "blob.bin")
	if err := os.WriteFile(path, blob, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("objdump", "-D", "-b", "binary", "-m", "i386:x86-64", "--no-show-raw-insn", "-w", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	var want []objInst
	for _, l := range strings.Split(string(out), "\n") {
		if m := objLine.FindStringSubmatch(l); m != nil {
			var a uint64
			for _, c := range m[1] {
				a = a*16 + uint64(strings.IndexRune("0123456789abcdef", c))
			}
			want = append(want, objInst{a, strings.TrimRight(m[2], " ")})
		}
	}
	ours := disasm.DecodeAll(blob, 0, nil)
	n := compareInsts(t, "crafted", ours, want, true)
	if n != len(crafted) {
		t.Errorf("%d instructions compared, %d crafted", n, len(crafted))
	}
}

func TestMemOperand(t *testing.T) {
	regs := map[string]uint64{"rax": 0x1000, "rcx": 3, "rsp": 0x7ff0, "r12": 0x2000, "fs_base": 0x7f0000, "rdi": 0}
	get := func(n string) (uint64, bool) { v, ok := regs[n]; return v, ok }
	cases := []struct {
		hex  string
		mem  disasm.MemOperand
		addr uint64
	}{
		{"488b84c810000000", disasm.MemOperand{Base: "rax", Index: "rcx", Scale: 8, Disp: 0x10, Size: 8, AddrSize: 64, Operand: 1}, 0x1000 + 3*8 + 0x10},
		{"488b4424f8", disasm.MemOperand{Base: "rsp", Scale: 1, Disp: -8, Size: 8, AddrSize: 64, Operand: 1}, 0x7fe8},
		{"498b442408", disasm.MemOperand{Base: "r12", Scale: 1, Disp: 8, Size: 8, AddrSize: 64, Operand: 1}, 0x2008},
		{"64488b0425f8ffffff", disasm.MemOperand{Segment: "fs", Scale: 1, Disp: -8, Size: 8, AddrSize: 64, Operand: 1}, 0x7f0000 - 8},
		{"48897708", disasm.MemOperand{Base: "rdi", Scale: 1, Disp: 8, Size: 8, AddrSize: 64, Operand: 0}, 8}, // mov %rsi,0x8(%rdi): destination
		{"678b00", disasm.MemOperand{Base: "eax", Scale: 1, Size: 4, AddrSize: 32, Operand: 1}, 0x1000},
	}
	for _, c := range cases {
		b, _ := hex.DecodeString(c.hex)
		in, err := disasm.Decode(b, 0x401000, nil)
		if err != nil || in.Mem == nil {
			t.Errorf("%s: %v %+v", c.hex, err, in)
			continue
		}
		if *in.Mem != c.mem {
			t.Errorf("%s (%s): %+v, want %+v", c.hex, in.ATT, *in.Mem, c.mem)
		}
		if a, ok := in.Mem.EffectiveAddress(get); !ok || a != c.addr {
			t.Errorf("%s (%s): address %#x %v, want %#x", c.hex, in.ATT, a, ok, c.addr)
		}
	}
	// RIP-relative, legacy and VEX: the operand's address is known without registers.
	for _, h := range []string{"488b05f90f0000", "c5fd6f05f90f0000"} {
		b, _ := hex.DecodeString(h)
		in, _ := disasm.Decode(b, 0x401000, func(a uint64) (string, uint64, bool) { return "data", a - 0x402000, true })
		want := uint64(0x401000) + uint64(len(b)) + 0xff9
		if in.Mem == nil || !in.Mem.RIPRelative || in.Mem.Addr != want || !strings.HasPrefix(in.Comment, fmt.Sprintf("# %x <data", want)) {
			t.Errorf("%s: %+v %q", h, in.Mem, in.Comment)
		}
		if a, ok := in.Mem.EffectiveAddress(get); !ok || a != want {
			t.Errorf("%s: %#x", h, a)
		}
	}
}

func TestBranchTargets(t *testing.T) {
	sym := func(a uint64) (string, uint64, bool) {
		if a >= 0x401000 && a < 0x402000 {
			return "f", a - 0x401000, true
		}
		return "", 0, false
	}
	b, _ := hex.DecodeString("e8fb0f0000") // call 0x402000
	in, _ := disasm.Decode(b, 0x401000, sym)
	if !in.HasTarget || in.Target != 0x402000 || in.TargetSym != "" || in.ATT != "call   0x402000" {
		t.Errorf("%+v", in)
	}
	b, _ = hex.DecodeString("ebfe") // jmp .
	in, _ = disasm.Decode(b, 0x401010, sym)
	if in.Target != 0x401010 || in.TargetSym != "f+0x10" || in.ATT != "jmp    401010 <f+0x10>" || !strings.Contains(in.Intel, "jmp") {
		t.Errorf("%+v", in)
	}
}

// TestDecodeNeverPanics: random bytes decode to something, lengths 1-15.
func TestDecodeNeverPanics(t *testing.T) {
	seed := uint64(88172645463325252)
	buf := make([]byte, 1<<16)
	for i := range buf {
		seed ^= seed << 13
		seed ^= seed >> 7
		seed ^= seed << 17
		buf[i] = byte(seed)
	}
	insts := disasm.DecodeAll(buf, 0x1000, func(uint64) (string, uint64, bool) { return "x", 0, true })
	total := 0
	for _, in := range insts {
		if in.Len < 1 || in.Len > 15 {
			t.Fatalf("%#x: length %d", in.Addr, in.Len)
		}
		total += in.Len
	}
	if total != len(buf) {
		t.Fatalf("decoded %d of %d bytes", total, len(buf))
	}
	// Windows anywhere in it, with and without boundaries, stay in bounds.
	mem := disasm.Bytes{Addr: 0x1000, Data: buf}
	for pc := uint64(0x1000); pc < 0x1000+uint64(len(buf)); pc += 997 {
		l, err := disasm.Window(mem, pc, disasm.Options{Before: 8, After: 8})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Insts) > 17 {
			t.Fatalf("%d instructions", len(l.Insts))
		}
	}
	// Unreadable pc.
	if _, err := disasm.Window(mem, 0x10, disasm.Options{}); err == nil {
		t.Errorf("window on unreadable memory: no error")
	}
}
