package disasm_test

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/coreparse/disasm"
	"github.com/dsecore/dsecore/internal/testsupport/testcore"
)

// crashSite asks gdb where the core's crashing thread stopped, as a file
// address of the executable, and returns the registers gdb shows there
// and the core's si_addr.
func crashSite(t *testing.T, r *testcore.Result, st *symTab) (pc uint64, regs map[string]uint64, siAddr uint64) {
	t.Helper()
	cmds := []string{"info symbol $pc", "p/x $_siginfo._sifields._sigfault.si_addr"}
	names := []string{"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "fs_base", "gs_base"}
	for _, n := range names {
		cmds = append(cmds, "p/x $"+n)
	}
	args := []string{"-nx", "-batch"}
	for _, c := range cmds {
		args = append(args, "-ex", c)
	}
	out, err := exec.Command("gdb", append(args, r.Exe, r.Core)...).CombinedOutput()
	if err != nil {
		t.Fatalf("gdb: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`(?m)^(\S+) \+ (\d+) in section \.text`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("gdb info symbol: %s", out)
	}
	s, ok := st.byName(string(m[1]))
	if !ok {
		t.Fatalf("no symbol %s", m[1])
	}
	off, _ := strconv.ParseUint(string(m[2]), 10, 64)
	vals := regexp.MustCompile(`(?m)^\$\d+ = (?:\(void \*\) )?(0x[0-9a-f]+)`).FindAllSubmatch(out, -1)
	if len(vals) != 1+len(names) {
		t.Fatalf("gdb values: %s", out)
	}
	parse := func(b []byte) uint64 { v, _ := strconv.ParseUint(string(b)[2:], 16, 64); return v }
	siAddr = parse(vals[0][1])
	regs = map[string]uint64{}
	for i, n := range names {
		regs[n] = parse(vals[i+1][1])
	}
	return s.Value + off, regs, siAddr
}

// wildPointer faults on a non-NULL address through a register+offset
// operand: the kernel's si_addr is 0x10 + 38*8.
var wildPointer = testcore.Program{
	Name: "wildpointer",
	Lang: "c",
	Source: `struct obj { long pad[38]; struct obj *next; };
__attribute__((noinline)) long follow(struct obj *o) { long n = 0; while (o) { n++; o = o->next; } return n; }
__attribute__((noinline)) long crash_here(struct obj *o) { return follow(o->next) + 1; }
int main(void) { struct obj o = {{0}, (struct obj *)0x10}; return (int)crash_here(&o); }
`,
}

// TestWindowAtCrash: the window around the faulting pc of a real core
// equals objdump's instructions there, marks the pc, carries source
// lines, and its memory operand gives the kernel's fault address.
func TestWindowAtCrash(t *testing.T) {
	for _, p := range []testcore.Program{testcore.NullDeref, wildPointer} {
		t.Run(p.Name, func(t *testing.T) { windowAtCrash(t, p) })
	}
}

func windowAtCrash(t *testing.T, p testcore.Program) {
	r := testcore.Make(t, p)
	f, err := elf.Open(r.Exe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st := loadSyms(t, f)
	src := loadDwarfSource(t, f)
	pc, regs, siAddr := crashSite(t, r, st)
	fn, foff, _ := st.lookup(pc)
	s, _ := st.byName(fn)
	want := objdump(t, r.Exe, s.Value, s.Value+s.Size)
	at := -1
	for i, w := range want {
		if w.addr == pc {
			at = i
		}
	}
	if at < 0 {
		t.Fatalf("pc %#x (%s+%#x) is not an instruction objdump shows", pc, fn, foff)
	}
	const before, after = 4, 4
	l, err := disasm.Window(fileMem{f}, pc, disasm.Options{Before: before, After: after, Symbolize: st.lookup, Source: src.marks})
	if err != nil {
		t.Fatal(err)
	}
	if l.Guessed || l.Start != s.Value {
		t.Errorf("window start %#x guessed %v, want the function start %#x", l.Start, l.Guessed, s.Value)
	}
	lo, hi := max(at-before, 0), min(at+after+1, len(want))
	compareInsts(t, "window", l.Insts, want[lo:hi], true)
	for i, in := range l.Insts {
		if in.IsPC != (in.Addr == pc) || (in.IsPC && l.PCIndex != i) {
			t.Errorf("pc marker on %#x (index %d, PCIndex %d)", in.Addr, i, l.PCIndex)
		}
	}
	if l.Insts[0].Marks == nil {
		t.Errorf("no source marks on the first instruction")
	}
	text := l.Format(disasm.FormatOptions{})
	if !strings.Contains(text, fmt.Sprintf("=> %x:", pc)) || !strings.Contains(text, filepath.Base(r.Exe)+".c:") {
		t.Errorf("listing:\n%s", text)
	}
	t.Logf("window at the crash:\n%s", text)

	// The faulting instruction's memory operand and gdb's registers give
	// the address the kernel reports.
	in := l.Insts[l.PCIndex]
	if in.Mem == nil {
		t.Fatalf("faulting instruction %q has no memory operand", in.ATT)
	}
	ea, ok := in.Mem.EffectiveAddress(func(n string) (uint64, bool) { v, ok := regs[n]; return v, ok })
	if !ok || ea != siAddr {
		t.Errorf("%s: effective address %#x (%v), si_addr %#x", in.ATT, ea, ok, siAddr)
	}
	if p.Name == wildPointer.Name && siAddr != 0x10+38*8 {
		t.Errorf("si_addr %#x", siAddr)
	}

	// Without a symbolizer the start is guessed; x86 code resynchronizes
	// quickly, the window is the same.
	g, err := disasm.Window(fileMem{f}, pc, disasm.Options{Before: before, After: after, Guess: true})
	if err != nil {
		t.Fatal(err)
	}
	if !g.Guessed {
		t.Errorf("start not reported as guessed")
	}
	compareInsts(t, "guessed window", g.Insts, want[lo:hi], false)

	// A window in bytes.
	b, err := disasm.Window(fileMem{f}, pc, disasm.Options{BeforeBytes: 12, AfterBytes: 12, Symbolize: st.lookup})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range b.Insts {
		if in.Addr+12 < pc || in.Addr >= pc+12 {
			t.Errorf("byte window: %#x outside [pc-12, pc+12)", in.Addr)
		}
	}
	var wb []objInst
	for _, w := range want {
		if w.addr+12 >= pc && w.addr < pc+12 {
			wb = append(wb, w)
		}
	}
	compareInsts(t, "byte window", b.Insts, wb, true)
}

var objdumpLineHeader = regexp.MustCompile(`^(/\S+):(\d+)(?: \(discriminator (\d+)\))?$`)
var objdumpFuncHeader = regexp.MustCompile(`^(\S+)\(\):$`)

// TestSourceMarksMatchObjdumpL: where objdump -dl prints a new function
// (the innermost, inlined or not) or file:line, the listing has marks
// saying the same.
func TestSourceMarksMatchObjdumpL(t *testing.T) {
	compared := 0
	for _, p := range []testcore.Program{testcore.NullDeref, testcore.Reraise} {
		r := testcore.Make(t, p)
		f, err := elf.Open(r.Exe)
		if err != nil {
			t.Fatal(err)
		}
		st := loadSyms(t, f)
		src := loadDwarfSource(t, f)
		for _, name := range []string{"main", "sum_list", "worker", "handle_fatal_signal", "follow", "crash_here"} {
			s, ok := st.byName(name)
			if !ok {
				continue
			}
			insts, err := disasm.Range(fileMem{f}, s.Value, s.Value+s.Size, st.lookup, src.marks)
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("objdump", "-dl", "--no-show-raw-insn", fmt.Sprintf("--start-address=%#x", s.Value),
				fmt.Sprintf("--stop-address=%#x", s.Value+s.Size), r.Exe).Output()
			if err != nil {
				t.Fatal(err)
			}
			type hdr struct {
				fn, file    string
				line, discr int
			}
			headers := map[uint64]hdr{}
			var cur hdr
			pending := false
			sc := bufio.NewScanner(bytes.NewReader(out))
			for sc.Scan() {
				line := sc.Text()
				if m := objdumpFuncHeader.FindStringSubmatch(line); m != nil {
					cur.fn, pending = m[1], true
				} else if m := objdumpLineHeader.FindStringSubmatch(line); m != nil {
					cur.file = filepath.Base(m[1])
					cur.line, _ = strconv.Atoi(m[2])
					cur.discr, _ = strconv.Atoi(m[3])
					pending = true
				} else if m := objLine.FindStringSubmatch(line); m != nil && pending {
					a, _ := strconv.ParseUint(m[1], 16, 64)
					headers[a] = cur
					pending = false
				}
			}
			if len(headers) == 0 {
				t.Fatalf("%s: objdump -l printed no source lines", name)
			}
			for _, in := range insts {
				h, ok := headers[in.Addr]
				if !ok {
					continue
				}
				compared++
				if in.Marks == nil {
					t.Errorf("%s %#x: objdump shows %s() %s:%d, no marks here", name, in.Addr, h.fn, h.file, h.line)
					continue
				}
				fn, file, line, discr := innermost(in.Marks)
				if fn != h.fn || file != h.file || line != h.line || discr != h.discr {
					t.Errorf("%s %#x: marks end in %s() %s:%d (discriminator %d), objdump %s() %s:%d (discriminator %d)",
						name, in.Addr, fn, file, line, discr, h.fn, h.file, h.line, h.discr)
				}
			}
		}
		f.Close()
	}
	t.Logf("%d source-line changes compared with objdump -dl", compared)
}
