package disasm_test

// objdump (binutils) is the oracle: every instruction of whole functions
// and of whole .text sections of real binaries must have the same address
// and, after the documented normalizations of att.go, the same text.

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/coreparse/disasm"
	"github.com/dsecore/dsecore/internal/testsupport/testcore"
)

// fileMem is an ELF file's loadable image at its file addresses.
type fileMem struct{ f *elf.File }

func (m fileMem) ReadAt(p []byte, addr uint64) (int, error) {
	for _, pr := range m.f.Progs {
		if pr.Type != elf.PT_LOAD || addr < pr.Vaddr || addr >= pr.Vaddr+pr.Filesz {
			continue
		}
		n := min(uint64(len(p)), pr.Vaddr+pr.Filesz-addr)
		k, err := pr.ReadAt(p[:n], int64(addr-pr.Vaddr))
		if err == nil && k < len(p) {
			err = fmt.Errorf("%#x: end of segment", addr+uint64(k))
		}
		return k, err
	}
	return 0, fmt.Errorf("%#x: not mapped", addr)
}

// symTab is a test symbolizer that names addresses as objdump annotates
// them: the nearest preceding function or object symbol of the same
// section (objdump does not care about sizes).
type symTab struct {
	syms []elf.Symbol // sorted by address, one per address
	all  []elf.Symbol
	secs []*elf.Section
}

func loadSyms(t testing.TB, f *elf.File) *symTab {
	st := &symTab{secs: f.Sections}
	seen := map[uint64]bool{}
	for _, get := range []func() ([]elf.Symbol, error){f.Symbols, f.DynamicSymbols} {
		syms, _ := get()
		for _, s := range syms {
			typ := elf.ST_TYPE(s.Info)
			if typ != elf.STT_FUNC && typ != elf.STT_OBJECT && typ != elf.STT_GNU_IFUNC || s.Value == 0 {
				continue
			}
			st.all = append(st.all, s)
			if seen[s.Value] {
				continue
			}
			seen[s.Value] = true
			st.syms = append(st.syms, s)
		}
	}
	sort.Slice(st.syms, func(i, j int) bool { return st.syms[i].Value < st.syms[j].Value })
	return st
}

func (st *symTab) section(addr uint64) int {
	for i, s := range st.secs {
		if s.Flags&elf.SHF_ALLOC != 0 && addr >= s.Addr && addr < s.Addr+s.Size {
			return i
		}
	}
	return -1
}

// lookup is a disasm.Symbolizer.
func (st *symTab) lookup(addr uint64) (string, uint64, bool) {
	i := sort.Search(len(st.syms), func(i int) bool { return st.syms[i].Value > addr }) - 1
	if i < 0 {
		return "", 0, false
	}
	s := st.syms[i]
	if int(s.Section) != st.section(addr) {
		return "", 0, false
	}
	return s.Name, addr - s.Value, true
}

func (st *symTab) byName(name string) (elf.Symbol, bool) {
	for _, s := range st.all {
		if s.Name == name && elf.ST_TYPE(s.Info) == elf.STT_FUNC {
			return s, true
		}
	}
	return elf.Symbol{}, false
}

var objLine = regexp.MustCompile(`^\s*([0-9a-f]+):\t(.*)$`)
var annotation = regexp.MustCompile(`\b([0-9a-f]+) <[^>]*>`)

type objInst struct {
	addr uint64
	text string
}

// objdump runs objdump -d on [lo, hi) (the whole .text when hi is 0).
func objdump(t testing.TB, path string, lo, hi uint64) []objInst {
	t.Helper()
	args := []string{"-d", "--no-show-raw-insn", "-w"}
	if hi != 0 {
		args = append(args, fmt.Sprintf("--start-address=%#x", lo), fmt.Sprintf("--stop-address=%#x", hi))
	} else {
		args = append(args, "-j", ".text")
	}
	out, err := exec.Command("objdump", append(args, path)...).Output()
	if err != nil {
		t.Fatalf("objdump %v %s: %v", args, path, err)
	}
	var insts []objInst
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		m := objLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		a, _ := strconv.ParseUint(m[1], 16, 64)
		insts = append(insts, objInst{a, strings.TrimRight(m[2], " ")})
	}
	return insts
}

// comparable drops the symbol annotations objdump derives from symbols a
// test symbolizer does not reproduce (versioned dynamic names "x@@GLIBC",
// synthetic "x@plt", its choice among aliases): "401136 <main+0x6>"
// becomes "0x401136", as an address without a symbol is shown.
func comparable(s string, keepAnnotations bool) string {
	if keepAnnotations {
		return s
	}
	return annotation.ReplaceAllString(s, "0x$1")
}

func fullText(in disasm.Inst) string {
	if in.Comment != "" {
		return in.ATT + "        " + in.Comment
	}
	return in.ATT
}

// compareInsts checks ours against objdump's, instruction by instruction.
func compareInsts(t *testing.T, what string, ours []disasm.Inst, want []objInst, annotations bool) int {
	t.Helper()
	n := 0
	for i := 0; i < max(len(ours), len(want)); i++ {
		if i >= len(ours) || i >= len(want) {
			t.Errorf("%s: %d instructions, objdump %d", what, len(ours), len(want))
			return n
		}
		o, w := ours[i], want[i]
		if o.Addr != w.addr {
			t.Errorf("%s: instruction %d at %#x, objdump %#x (%q / %q)", what, i, o.Addr, w.addr, o.ATT, w.text)
			return n
		}
		keep := annotations && !strings.Contains(w.text, "@")
		if got, exp := comparable(fullText(o), keep), comparable(w.text, keep); got != exp {
			t.Errorf("%s: %#x: %q, objdump %q (bytes % x)", what, o.Addr, got, exp, o.Bytes)
		}
		n++
	}
	return n
}

var wholeFunctions = []struct {
	path  func(t *testing.T) string
	names []string
}{
	{func(t *testing.T) string { return testcore.Make(t, testcore.NullDeref).Exe }, []string{"main", "sum_list", "worker", "_start"}},
	{func(t *testing.T) string { return testcore.Make(t, testcore.Reraise).Exe }, []string{"main", "handle_fatal_signal", "follow", "crash_here"}},
	{func(t *testing.T) string { return "/lib/x86_64-linux-gnu/libc.so.6" },
		[]string{"abort", "raise", "pthread_kill", "__libc_start_main", "malloc", "free", "printf", "qsort", "clone", "sigaction", "pthread_join"}},
	{func(t *testing.T) string { return "/usr/lib/x86_64-linux-gnu/libstdc++.so.6" },
		[]string{"_ZNSt6thread4joinEv", "__cxa_throw", "_ZSt9terminatev", "_ZNSo5flushEv"}},
	{func(t *testing.T) string { return "/usr/lib/x86_64-linux-gnu/libboost_context.so.1.74.0" },
		[]string{"jump_fcontext", "make_fcontext", "ontop_fcontext"}},
}

// TestWholeFunctionsMatchObjdump disassembles whole functions with Range
// and compares every instruction with objdump, annotations included where
// the test symbolizer names things as objdump does.
func TestWholeFunctionsMatchObjdump(t *testing.T) {
	total, funcs, windows := 0, 0, 0
	for _, bin := range wholeFunctions {
		path := bin.path(t)
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		f, err := elf.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		st := loadSyms(t, f)
		for _, name := range bin.names {
			s, ok := st.byName(name)
			if !ok {
				t.Errorf("%s: no symbol %s", path, name)
				continue
			}
			hi := s.Value + s.Size
			if s.Size == 0 { // hand-written assembly without .size: up to the next symbol
				i := sort.Search(len(st.syms), func(i int) bool { return st.syms[i].Value > s.Value })
				hi = st.syms[i].Value
			}
			insts, err := disasm.Range(fileMem{f}, s.Value, hi, st.lookup, nil)
			if err != nil {
				t.Errorf("%s %s: %v", path, name, err)
				continue
			}
			want := objdump(t, path, s.Value, hi)
			total += compareInsts(t, path+" "+name, insts, want, true)
			funcs++
			// A window at every instruction: same instructions, pc marked.
			for i, w := range want {
				l, err := disasm.Window(fileMem{f}, w.addr, disasm.Options{Before: 3, After: 3, Symbolize: st.lookup, End: hi})
				if err != nil {
					t.Fatalf("%s %s: window at %#x: %v", path, name, w.addr, err)
				}
				lo, up := max(i-3, 0), min(i+4, len(want))
				what := fmt.Sprintf("%s %s window at %#x", path, name, w.addr)
				compareInsts(t, what, l.Insts, want[lo:up], true)
				if l.PCIndex != i-lo || !l.Insts[l.PCIndex].IsPC || l.Guessed {
					t.Errorf("%s: PCIndex %d (want %d), guessed %v", what, l.PCIndex, i-lo, l.Guessed)
				}
				windows++
			}
		}
		f.Close()
	}
	t.Logf("%d instructions of %d whole functions match objdump, and so do the %d windows centred on each of them", total, funcs, windows)
}

// TestTextSectionsMatchObjdump: every instruction of whole .text sections.
func TestTextSectionsMatchObjdump(t *testing.T) {
	paths := []string{
		testcore.Make(t, testcore.NullDeref).Exe,
		"/lib/x86_64-linux-gnu/libc.so.6",
		"/lib64/ld-linux-x86-64.so.2",
		"/lib/x86_64-linux-gnu/libgcc_s.so.1",
		"/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
		"/usr/lib/x86_64-linux-gnu/libboost_context.so.1.74.0",
	}
	total := 0
	for _, path := range paths {
		f, err := elf.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		text := f.Section(".text")
		data, err := text.Data()
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		ours := disasm.DecodeAll(data, text.Addr, nil)
		want := objdump(t, path, 0, 0)
		errs := 0
		for i := 0; i < len(ours) && i < len(want); i++ {
			o, w := ours[i], want[i]
			if o.Addr != w.addr || comparable(fullText(o), false) != comparable(w.text, false) {
				if errs++; errs <= 10 {
					t.Errorf("%s: %#x %q, objdump %#x %q (bytes % x)", path, o.Addr, fullText(o), w.addr, w.text, o.Bytes)
				}
				if o.Addr != w.addr {
					break
				}
			}
		}
		if len(ours) != len(want) {
			t.Errorf("%s: %d instructions, objdump %d", path, len(ours), len(want))
		}
		total += len(want)
	}
	t.Logf("%d instructions of %d .text sections compared with objdump", total, len(paths))
}
