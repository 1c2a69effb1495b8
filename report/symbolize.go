package report

import (
	"fmt"

	"github.com/dsecore/dsecore/analysis/dmesg"
	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/disasm"
)

// Symbolize is the document of `dsecore symbolize --json`: one address of a
// library explained without a core.
type Symbolize struct {
	Library   string        `json:"library"`
	BuildID   string        `json:"build_id"`
	DebugFile string        `json:"debug_file,omitempty"`
	Dmesg     *DmesgFault   `json:"dmesg,omitempty"`
	Address   string        `json:"address"`         // file address (what objdump and addr2line take)
	Naive     string        `json:"naive,omitempty"` // ip − VMA start, the hand computation of the field report
	Bias      string        `json:"bias,omitempty"`  // the library's load bias in the process, when known
	Symbol    string        `json:"symbol"`          // "dm_hash_node_t::clear()+0x4f"
	Frames    []Location    `json:"frames"`          // inline chain, innermost first (addr2line -i order)
	Window    []Instruction `json:"window"`
	Listing   string        `json:"listing"` // the window as text, objdump -dl style
	Warnings  []string      `json:"warnings,omitempty"`
}

// DmesgFault is a parsed kernel fault line.
type DmesgFault struct {
	Comm        string `json:"comm"`
	TID         int    `json:"tid"`
	Kind        string `json:"kind"`
	Addr        string `json:"addr,omitempty"`
	IP          string `json:"ip"`
	SP          string `json:"sp"`
	Error       uint64 `json:"error"`
	Explanation string `json:"explanation"`
	Object      string `json:"object,omitempty"`
	VMAStart    string `json:"vma_start,omitempty"`
	VMASize     string `json:"vma_size,omitempty"`
	FileOffset  string `json:"file_offset,omitempty"`
}

// Location is one level of an inline chain.
type Location struct {
	Function string `json:"function"`
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
	Inline   bool   `json:"inline"`
}

// Instruction is one decoded instruction of a window.
type Instruction struct {
	Addr    string   `json:"addr"`
	Bytes   string   `json:"bytes"`
	ATT     string   `json:"att"`
	Intel   string   `json:"intel"`
	Comment string   `json:"comment,omitempty"`
	PC      bool     `json:"pc,omitempty"`
	Source  []string `json:"source,omitempty"` // "function file:line", outermost first, where the position changes
}

// DmesgDoc converts a parsed kernel line.
func DmesgDoc(f *dmesg.Fault) *DmesgFault {
	d := &DmesgFault{Comm: f.Comm, TID: f.TID, Kind: f.Kind, IP: Hex(f.IP), SP: Hex(f.SP), Error: f.ErrorCode,
		Explanation: dmesg.ExplainError(f.ErrorCode), Object: f.Object}
	if f.HasAddr {
		d.Addr = Hex(f.Addr)
	}
	if f.Object != "" {
		d.VMAStart, d.VMASize = Hex(f.VMAStart), Hex(f.VMASize)
	}
	if f.HasFileOffset {
		d.FileOffset = Hex(f.FileOffset)
	}
	return d
}

// BuildSymbolize explains one file address of a library, with a window of
// before/after bytes of disassembly around it.
func BuildSymbolize(l *coreparse.Library, addr uint64, before, after uint64) *Symbolize {
	doc := &Symbolize{Library: l.Path, BuildID: l.BuildID, DebugFile: l.DebugPath, Address: Hex(addr)}
	if name, off, ok := l.Symbolizer()(addr); ok {
		doc.Symbol = fmt.Sprintf("%s+%#x", name, off)
	}
	for _, loc := range l.Syms.LocateAddr2line(addr) {
		doc.Frames = append(doc.Frames, Location{Function: loc.Function, File: loc.File, Line: loc.Line, Inline: loc.Inline})
	}
	if !l.Syms.HasDWARF() {
		doc.Warnings = append(doc.Warnings, l.Path+": no DWARF (no -g, or stripped and no debug file found): no source lines or inline chain")
	}
	lst, err := disasm.Window(l, addr, disasm.Options{BeforeBytes: before, AfterBytes: after,
		Symbolize: l.Symbolizer(), Source: l.Source(), Guess: true})
	if err != nil {
		doc.Warnings = append(doc.Warnings, err.Error())
		return doc
	}
	if lst.Guessed {
		doc.Warnings = append(doc.Warnings, "no function start known: the window's first instructions were found by trial decoding")
	}
	doc.Window = Instructions(lst.Insts)
	doc.Listing = lst.Format(disasm.FormatOptions{RawBytes: true})
	return doc
}

// Instructions converts decoded instructions.
func Instructions(insts []disasm.Inst) []Instruction {
	out := make([]Instruction, 0, len(insts))
	for _, in := range insts {
		i := Instruction{Addr: Hex(in.Addr), Bytes: fmt.Sprintf("% x", in.Bytes), ATT: in.ATT, Intel: in.Intel,
			Comment: in.Comment, PC: in.IsPC}
		for _, m := range in.Marks {
			i.Source = append(i.Source, fmt.Sprintf("%s %s:%d", m.Function, m.File, m.Line))
		}
		out = append(out, i)
	}
	return out
}
