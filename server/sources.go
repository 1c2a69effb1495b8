package server

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/disasm"
	"github.com/dsecore/dsecore/internal/par"
	"github.com/google/go-dap"
)

// sourceRef is a disassembly source: its text is made when the client
// asks for it (a stackTrace only names it).
type sourceRef struct {
	name    string
	frame   coreparse.Frame
	once    par.Once
	content string
	lines   map[uint64]int // instruction address → its line in content (1-based)
}

// text is the source's content, made on first use.
func (r *sourceRef) text(s *state) string {
	r.once.Do(func() { r.content, r.lines = s.disassemblyText(r.frame) })
	return r.content
}

// line is the line of the instruction at addr in the source's content, 0
// when the content does not hold it.
func (r *sourceRef) line(s *state, addr uint64) int {
	r.text(s)
	return r.lines[addr]
}

// mapPath applies substitutePath (ordered, first match wins), then
// sourceFileMap (longest prefix).
func (st *state) mapPath(p string) string {
	for _, r := range st.args.SubstitutePath {
		if r.From != "" && strings.HasPrefix(p, r.From) {
			return r.To + strings.TrimPrefix(p, r.From)
		}
	}
	best := ""
	for from := range st.args.SourceFileMap {
		if strings.HasPrefix(p, from) && len(from) > len(best) {
			best = from
		}
	}
	if best != "" {
		return st.args.SourceFileMap[best] + strings.TrimPrefix(p, best)
	}
	return p
}

// sourceOf is a frame's source: the mapped file when it is on disk, else
// a source reference whose content is the function's disassembly.
func (st *state) sourceOf(f coreparse.Frame) *dap.Source {
	if f.File != "" {
		if p := st.mapPath(f.File); fileExists(p) {
			return &dap.Source{Name: filepath.Base(p), Path: p}
		}
	}
	if f.PC == 0 || f.Sigtramp || f.Boundary || !st.p.Core.Readable(f.LookupPC) {
		return nil // nothing to disassemble (a wild pc: no memory there)
	}
	// One source per function (per part of a split function): its whole
	// disassembly, each frame in it at its own line. Without known bounds,
	// a window around the frame's pc, one per pc.
	key := fmt.Sprintf("%#x", f.PC)
	if lo, _, ok := st.p.FunctionBounds(f.LookupPC); ok {
		key = fmt.Sprintf("%s@%#x", f.Function, lo)
	}
	st.mu.Lock()
	ref := st.sources.keyed(key, func() *sourceRef { return &sourceRef{name: key, frame: f} })
	st.mu.Unlock()
	key = f.Function
	if key == "??" || key == "" {
		key = fmt.Sprintf("%#x", f.PC)
	}
	name := key + " (disassembly)"
	if f.File != "" {
		name = filepath.Base(f.File) + " (not on disk: disassembly)"
	}
	return &dap.Source{Name: name, SourceReference: ref, PresentationHint: "deemphasize", Origin: "disassembly from the core"}
}

// sourceLine is the line of the instruction at addr in the disassembly
// source ref (1 when the text does not hold it).
func (st *state) sourceLine(ref int, addr uint64) int {
	st.mu.Lock()
	src, ok := st.sources.get(ref)
	st.mu.Unlock()
	if !ok {
		return 1
	}
	if n := src.line(st, addr); n > 0 {
		return n
	}
	return 1
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// funcListing is one function's disassembly (FunctionDisassembly: the
// same for every address in its bounds) and its text without the head,
// made once however many sources show it.
type funcListing struct {
	mu    sync.Mutex
	done  bool
	insts []disasm.Inst
	err   error
	body  string
}

// listing is the disassembly of the function holding pc (insts nil when
// its bounds are unknown). Made by the first caller; the others wait for
// it. A panic while making it (a file that changed under its mapping)
// leaves it unmade, for the next caller to meet.
func (st *state) listing(pc uint64) ([]disasm.Inst, string, error) {
	lo, hi, ok := st.p.FunctionBounds(pc)
	if !ok {
		return nil, "", nil
	}
	st.mu.Lock()
	if st.listings == nil {
		st.listings = map[[2]uint64]*funcListing{}
	}
	l := st.listings[[2]uint64{lo, hi}]
	if l == nil {
		l = &funcListing{}
		st.listings[[2]uint64{lo, hi}] = l
	}
	st.mu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.done {
		insts, err := st.p.FunctionDisassembly(pc)
		l.insts, l.err, l.body = insts, err, formatInsts(insts)
		l.done = true
	}
	return l.insts, l.body, l.err
}

// disassemblyText is the whole function holding a frame's pc, decoded
// from its start (the symbol, DWARF or FDE bounds), and the line of each
// instruction in it; without known bounds, a window from the frame's
// current instruction on.
func (st *state) disassemblyText(f coreparse.Frame) (string, map[uint64]int) {
	insts, body, err := st.listing(f.LookupPC)
	if len(insts) == 0 {
		l, werr := st.p.DisassembleFrame(&f, 50, 200)
		if werr != nil {
			if err == nil {
				err = werr
			}
			return "; " + err.Error(), nil
		}
		insts, body = l.Insts, formatInsts(l.Insts)
	}
	head := fmt.Sprintf("; %s (disassembly of the core's memory)\n", f.Function)
	text := head + body
	return text, instLines(text, insts)
}

// instLines finds each instruction's line in a listing's text (1-based).
func instLines(text string, insts []disasm.Inst) map[uint64]int {
	at := make(map[uint64]bool, len(insts))
	for _, in := range insts {
		at[in.Addr] = true
	}
	lines := map[uint64]int{}
	for i, ln := range strings.Split(text, "\n") {
		if len(ln) < 4 || (ln[:3] != "   " && ln[:3] != "=> ") {
			continue
		}
		h, _, ok := strings.Cut(ln[3:], ":")
		if !ok {
			continue
		}
		if a, err := strconv.ParseUint(h, 16, 64); err == nil && at[a] {
			lines[a] = i + 1
		}
	}
	return lines
}

func (st *state) loadedSources() []dap.Source {
	seen := map[string]bool{}
	var out []dap.Source
	for _, t := range st.p.Threads {
		fs, err := st.stack(t.LWP)
		if err != nil {
			continue
		}
		for _, f := range fs {
			if f.File == "" {
				continue
			}
			p := st.mapPath(f.File)
			if seen[p] || !fileExists(p) {
				continue
			}
			seen[p] = true
			out = append(out, dap.Source{Name: filepath.Base(p), Path: p})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func (c *conn) disassemble(r *dap.DisassembleRequest) {
	st := c.st
	base, err := strconv.ParseUint(strings.TrimPrefix(r.Arguments.MemoryReference, "0x"), 16, 64)
	if err != nil {
		c.sendError(r.Seq, r.Command, errBadDisasmRef, "bad memoryReference "+r.Arguments.MemoryReference)
		return
	}
	base += uint64(r.Arguments.Offset)
	count := min(max(r.Arguments.InstructionCount, 1), 4096)
	off := r.Arguments.InstructionOffset
	before, after := max(-off, 0), max(count+off, 1)
	// The address may be inside an instruction (a client's guess): the
	// instruction holding it is the reference one.
	l, err := st.p.DisassembleAt(base, before, after)
	out := []dap.DisassembledInstruction{}
	var insts []disasm.Inst
	pad := 0 // instructions asked for before the first one known
	if err == nil && l.PCIndex >= 0 {
		from := l.PCIndex + off
		for i := from; i < from+count; i++ {
			if i < 0 {
				pad++
			} else if i < len(l.Insts) {
				insts = append(insts, l.Insts[i])
			}
		}
	}
	// Before a start no boundary proves: placeholders, so that the
	// reference instruction stays at the index the client asked for.
	for ; pad > 0; pad-- {
		out = append(out, dap.DisassembledInstruction{Address: hexAddr(base), Instruction: "??"})
	}
	var prevFile string
	for _, in := range insts {
		di := dap.DisassembledInstruction{Address: hexAddr(in.Addr), InstructionBytes: fmt.Sprintf("% x", in.Bytes), Instruction: in.ATT}
		if in.Comment != "" {
			di.Instruction += "  " + in.Comment
		}
		if name, o, ok := st.p.Symbol(in.Addr); ok {
			di.Symbol = fmt.Sprintf("%s+%d", name, o)
		}
		if len(in.Marks) > 0 {
			m := in.Marks[len(in.Marks)-1]
			if m.File != prevFile {
				di.Location = &dap.Source{Name: filepath.Base(m.File), Path: st.mapPath(m.File)}
				prevFile = m.File
			}
			di.Line = m.Line
		}
		out = append(out, di)
	}
	// Pad to the count asked for, as the protocol wants.
	for len(out) < count {
		out = append(out, dap.DisassembledInstruction{Address: hexAddr(base), Instruction: "??"})
	}
	c.send(&dap.DisassembleResponse{Response: response(&r.Request), Body: dap.DisassembleResponseBody{Instructions: out}})
}

func formatInsts(insts []disasm.Inst) string {
	return disasm.FormatInsts(insts, disasm.FormatOptions{RawBytes: true})
}

func (c *conn) source(r *dap.SourceRequest) {
	st := c.st
	ref := r.Arguments.SourceReference
	if ref == 0 && r.Arguments.Source != nil {
		ref = r.Arguments.Source.SourceReference
	}
	st.mu.Lock()
	src, ok := st.sources.get(ref)
	st.mu.Unlock()
	if !ok {
		c.sendError(r.Seq, r.Command, errNoSource, fmt.Sprintf("no source reference %d", ref))
		return
	}
	c.send(&dap.SourceResponse{Response: response(&r.Request), Body: dap.SourceResponseBody{Content: src.text(st), MimeType: "text/x-asm"}})
}
