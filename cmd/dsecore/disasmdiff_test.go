package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/session"
	"github.com/google/go-dap"
)

// objdumpInst is one instruction of objdump -d's linear sweep.
type objdumpInst struct {
	bytes string // "48 8b 45 f8"
	text  string // "mov    -0x8(%rbp),%rax"
}

var objdumpSweepLine = regexp.MustCompile(`^\s*([0-9a-f]+):\t((?:[0-9a-f]{2} )*[0-9a-f]{2})\s*(?:\t(.*))?$`)

// objdumpRanges runs objdump -d over the whole of a file (its linear sweep
// of every code section: the decoding nobody chose a start for) and keeps
// the instructions starting in the ranges (file addresses, sorted).
func objdumpRanges(t *testing.T, path string, ranges [][2]uint64) map[uint64]objdumpInst {
	t.Helper()
	cmd := exec.Command("objdump", "-d", "-z", "--insn-width=16", path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("objdump: %v", err)
	}
	keep := map[uint64]objdumpInst{}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		// The address first (cheap): most lines are outside every range.
		l := sc.Bytes()
		h := bytes.TrimLeft(l, " ")
		colon := bytes.IndexByte(h, ':')
		if colon <= 0 || colon+1 >= len(h) || h[colon+1] != '\t' {
			continue
		}
		a, err := strconv.ParseUint(string(h[:colon]), 16, 64)
		if err != nil {
			continue
		}
		i := sort.Search(len(ranges), func(i int) bool { return ranges[i][1] > a })
		if i == len(ranges) || a < ranges[i][0] {
			continue
		}
		if m := objdumpSweepLine.FindStringSubmatch(string(l)); m != nil {
			keep[a] = objdumpInst{bytes: m[2], text: strings.TrimSpace(m[3])}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("objdump -d %s: %v", path, err)
	}
	return keep
}

// firstWord is an instruction's mnemonic, its prefixes included
// ("lock add", "rep stos", "bnd jmp").
func firstWord(s string) string {
	f := strings.Fields(s)
	w := ""
	for _, x := range f {
		w += x
		switch x {
		case "lock", "rep", "repz", "repnz", "bnd", "notrack", "data16", "cs", "ds", "es", "ss", "fs", "gs", "addr32", "rex", "rex.W", "rex.WB", "rex.B", "rex.X", "rex.R":
			w += " "
			continue
		}
		break
	}
	return w
}

type disasmCounts struct {
	frames, insts, calls int
	diffs                []string
}

// compareDisasmWithObjdump decodes the window around every frame's pc of
// every thread (12 instructions each side) as the model does for the DAP
// and the console, and holds each instruction to objdump's linear sweep
// of the module's file: the same start, the same bytes, the same
// mnemonic. A caller frame's current instruction is the call that ends
// at its return address, as objdump decodes it; frame 0's is its pc.
func compareDisasmWithObjdump(t *testing.T, exe, core string) disasmCounts {
	t.Helper()
	s, err := session.Open(session.Options{Core: core, Exe: exe})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := s.Process()
	type window struct {
		who   string
		f     coreparse.Frame
		insts []instAt
		pcIdx int
	}
	var wins []window
	ranges := map[*coreparse.Module][][2]uint64{}
	var c disasmCounts
	for _, th := range p.Threads {
		fs, _ := p.Backtrace(th)
		for i, f := range fs {
			if f.PC == 0 || f.Sigtramp || f.Boundary || f.Mod == nil || f.Mod.Path == "" || (i > 0 && fs[i-1].Raw == f.Raw) {
				continue
			}
			l, err := p.DisassembleFrame(&fs[i], 12, 12)
			who := fmt.Sprintf("LWP %d #%d %s %#x", th.LWP, i, f.Function, f.PC)
			if err != nil || l.PCIndex < 0 {
				c.diffs = append(c.diffs, fmt.Sprintf("%s: no window (%v)", who, err))
				continue
			}
			w := window{who: who, f: f, pcIdx: l.PCIndex}
			for _, in := range l.Insts {
				if f.Mod.Contains(in.Addr) {
					w.insts = append(w.insts, instAt{in.Addr - f.Mod.Bias, hexBytes(in.Bytes), in.ATT, in.IsPC})
				}
			}
			wins = append(wins, w)
			if n := len(w.insts); n > 0 {
				ranges[f.Mod] = append(ranges[f.Mod], [2]uint64{w.insts[0].addr, w.insts[n-1].addr + 16})
			}
		}
	}
	objdump := map[*coreparse.Module]map[uint64]objdumpInst{}
	for m, rs := range ranges {
		sort.Slice(rs, func(i, j int) bool { return rs[i][0] < rs[j][0] })
		objdump[m] = objdumpRanges(t, m.Path, rs)
	}
	for _, w := range wins {
		c.frames++
		od := objdump[w.f.Mod]
		for k, in := range w.insts {
			c.insts++
			o, ok := od[in.addr]
			switch {
			case !ok:
				c.diffs = append(c.diffs, fmt.Sprintf("%s: ours %#x %s (%s) starts no instruction of objdump's", w.who, in.addr, in.att, in.bytes))
			case o.bytes != in.bytes:
				c.diffs = append(c.diffs, fmt.Sprintf("%s: at %#x ours %s (%s), objdump %s (%s)", w.who, in.addr, in.att, in.bytes, o.text, o.bytes))
			case firstWord(o.text) != firstWord(in.att):
				c.diffs = append(c.diffs, fmt.Sprintf("%s: at %#x ours %q, objdump %q", w.who, in.addr, in.att, o.text))
			}
			if !in.isPC {
				continue
			}
			// The current instruction.
			if w.f.LookupPC == w.f.PC {
				if in.addr != w.f.PC-w.f.Mod.Bias {
					c.diffs = append(c.diffs, fmt.Sprintf("%s: current instruction at %#x, not the pc", w.who, in.addr))
				}
				continue
			}
			c.calls++
			n := uint64(len(in.bytes)+1) / 3
			if in.addr+n != w.f.PC-w.f.Mod.Bias || !strings.HasPrefix(firstWord(o.text), "call") && !strings.Contains(firstWord(o.text), "call") {
				c.diffs = append(c.diffs, fmt.Sprintf("%s: current instruction %#x %q (objdump %q) is not the call before the return address", w.who, in.addr, in.att, o.text))
			}
			_ = k
		}
	}
	t.Logf("%s: %d frames, %d instructions equal to objdump's linear sweep (%d calls before return addresses); %d differences",
		filepath.Base(filepath.Dir(core)), c.frames, c.insts-len(c.diffs), c.calls, len(c.diffs))
	for i, d := range c.diffs {
		if i == 30 {
			t.Errorf("… and %d more", len(c.diffs)-i)
			break
		}
		t.Error(d)
	}
	if c.frames == 0 {
		t.Error("no frame disassembled")
	}
	return c
}

type instAt struct {
	addr  uint64
	bytes string
	att   string
	isPC  bool
}

func hexBytes(b []byte) string {
	s := hex.EncodeToString(b)
	var out strings.Builder
	for i := 0; i < len(s); i += 2 {
		if i > 0 {
			out.WriteByte(' ')
		}
		out.WriteString(s[i : i+2])
	}
	return out.String()
}

// checkDisassemblySources: in the DAP, every frame of the crashing thread
// whose source is its disassembly stands at the line of its own
// instruction (the call for a caller), not at line 0 or 1.
func checkDisassemblySources(t *testing.T, exe, core string) {
	t.Helper()
	c := startDAP(t)
	c.ok("initialize", map[string]any{"adapterID": "dsecore"})
	args := map[string]any{"coreFile": core}
	if exe != "" {
		args["program"] = exe
	}
	c.ok("launch", args)
	c.waitEvent("initialized")
	c.ok("configurationDone", nil)
	stopped := c.waitEvent("stopped").(*dap.StoppedEvent)
	st := c.ok("stackTrace", map[string]any{"threadId": stopped.Body.ThreadId, "levels": 100}).(*dap.StackTraceResponse)
	n := 0
	for _, f := range st.Body.StackFrames {
		if f.Source == nil || f.Source.SourceReference == 0 {
			continue
		}
		n++
		src := c.ok("source", map[string]any{"sourceReference": f.Source.SourceReference}).(*dap.SourceResponse)
		lines := strings.Split(src.Body.Content, "\n")
		ip := strings.TrimPrefix(f.InstructionPointerReference, "0x") + ":"
		if f.Line < 2 || f.Line > len(lines) || !strings.Contains(lines[f.Line-1], " "+ip) {
			got := ""
			if f.Line >= 1 && f.Line <= len(lines) {
				got = lines[f.Line-1]
			}
			t.Errorf("frame %s at %s: line %d of its disassembly is %q", f.Name, f.InstructionPointerReference, f.Line, got)
		}
	}
	if n == 0 {
		t.Errorf("no frame of the crashing thread has a disassembly source")
	}
	t.Logf("%d frames of the crashing thread at their instruction's line in their disassembly", n)
}

// TestCephCorpusDisassembly: on every real-daemon core, every frame's
// window decodes as objdump does, and the DAP's disassembly sources put
// each frame at its line.
func TestCephCorpusDisassembly(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the real-daemon corpus starts Ceph daemons")
	}
	corpus := cephCorpus(t)
	for _, name := range cephScenarios {
		t.Run(name, func(t *testing.T) {
			core := filepath.Join(corpus, name, "core")
			compareDisasmWithObjdump(t, "/usr/bin/ceph-mon", core)
			checkDisassemblySources(t, "/usr/bin/ceph-mon", core)
		})
	}
}
