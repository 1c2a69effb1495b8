package report

import (
	"github.com/dsecore/dsecore/analysis/fault"
	"github.com/dsecore/dsecore/internal/l10n"
	"github.com/dsecore/dsecore/session"
)

// AnalysisMemory is the `analysis.memory` section: glibc malloc's state for
// the analysis' addresses of interest and who else holds them. Field names
// are a public contract: add, never rename.
type AnalysisMemory struct {
	// Verdict is the memory facts' part alone; the analysis' verdict
	// states it with the rest (text renders only that one).
	Verdict     string           `json:"verdict"`
	Rules       []string         `json:"rules"`
	HeapKnown   bool             `json:"heap_known"`
	HeapReason  string           `json:"heap_reason,omitempty"`
	MallocError string           `json:"malloc_error,omitempty"`
	Heap        []AnalysisChunk  `json:"heap"`
	Holders     []AnalysisHolder `json:"holders"` // strongest first: each thread's or task's strongest hit
	Bounds      []string         `json:"bounds,omitempty"`
	Stats       AnalysisHoldStat `json:"holder_search"`
	Warnings    []string         `json:"warnings,omitempty"`
}

// AnalysisChunk is the heap's answer for one address of interest.
type AnalysisChunk struct {
	Role    string   `json:"role"`
	Address string   `json:"address"`
	State   string   `json:"state"`           // in-use, free, top, mmapped, not-heap, corrupt, unknown
	Chunk   string   `json:"chunk,omitempty"` // the malloc_chunk
	Size    string   `json:"size,omitempty"`
	Offset  int64    `json:"offset"` // from what malloc returned
	Arena   string   `json:"arena,omitempty"`
	Bins    []string `json:"bins,omitempty"` // where a free chunk is listed
	Rule    string   `json:"rule,omitempty"` // use-after-free, heap-corruption, …; unknown: cannot tell
	Text    string   `json:"text"`
	Said    l10n.Msg `json:"-"` // Text in the catalog's words
	// RoleSaid is Role in the catalog's words.
	RoleSaid l10n.Msg `json:"-"`
}

// AnalysisHolder is a thread or task holding an address of interest.
type AnalysisHolder struct {
	Who      string   `json:"who"`
	Said     l10n.Msg `json:"-"` // Who in the catalog's words
	LWP      int      `json:"lwp,omitempty"`
	Task     int64    `json:"task"`
	Frame    int      `json:"frame"`
	Function string   `json:"function"`
	Variable string   `json:"variable,omitempty"`
	Type     string   `json:"var_type,omitempty"`
	Expr     string   `json:"expr"` // a C++ expression in the frame's scope (dsecore and gdb evaluate it)
	Text     string   `json:"text"`
	Relation string   `json:"relation"` // points-to, is, points-into, contains, integer
	Role     string   `json:"role"`     // the target's
	Value    string   `json:"value"`
	How      string   `json:"how"`
	Fallback bool     `json:"fallback,omitempty"` // a raw register or stack word: no DWARF variable explains it
	Hits     int      `json:"hits"`
}

// AnalysisHoldStat measures the holder search (no time: a document is the
// same on every run).
type AnalysisHoldStat struct {
	Stacks    int `json:"stacks"`
	Frames    int `json:"frames"`
	Variables int `json:"variables"`
	Objects   int `json:"objects"`
}

// MemoryDoc converts the analysis' Memory (nil stays nil).
func MemoryDoc(m *fault.Memory) *AnalysisMemory {
	if m == nil {
		return nil
	}
	d := &AnalysisMemory{Verdict: m.Verdict, Rules: m.Rules, HeapKnown: m.HeapKnown, HeapReason: m.HeapReason,
		MallocError: m.MallocError, Heap: []AnalysisChunk{}, Holders: []AnalysisHolder{}}
	for i, hf := range m.Heap {
		f := hf.Finding
		c := AnalysisChunk{Role: hf.Role, Address: Hex(f.Address), State: string(f.State), Offset: f.Offset,
			Arena: f.ArenaName, Rule: hf.Verdict.Rule, Text: f.Describe(), Said: f.Said(), RoleSaid: m.RoleSaid(i)}
		if f.Chunk != nil {
			c.Chunk, c.Size = Hex(f.Chunk.Address), Hex(f.Chunk.Size)
		}
		for _, b := range f.Bins {
			c.Bins = append(c.Bins, b.String())
		}
		d.Heap = append(d.Heap, c)
	}
	if r := m.Holders; r != nil {
		for _, h := range r.Holders {
			b := h.Best
			d.Holders = append(d.Holders, AnalysisHolder{Who: h.Who, Said: h.Said, LWP: h.LWP, Task: h.TaskID, Frame: b.Frame, Function: b.Function,
				Variable: b.Variable, Type: b.VarType, Expr: b.Expr, Text: b.Text, Relation: string(b.Relation), Role: b.Role,
				Value: Hex(b.Value), How: b.How, Fallback: b.Fallback, Hits: len(h.Hits)})
		}
		for _, b := range r.Bounds {
			d.Bounds = append(d.Bounds, b.Text)
		}
		d.Stats = AnalysisHoldStat{Stacks: r.Stats.Stacks, Frames: r.Stats.Frames, Variables: r.Stats.Variables,
			Objects: r.Stats.Objects}
		d.Warnings = r.Warnings
	}
	return d
}

// SessionAnalysis is the analysis document of a session (computed on
// first need, once per session).
func SessionAnalysis(s *session.Session) *Analysis {
	return AnalysisDoc(s.Analysis())
}
