package fault

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/dsecore/dsecore/analysis/dmesg"
	"github.com/dsecore/dsecore/analysis/holders"
	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/unwind"
	"github.com/dsecore/dsecore/internal/l10n"
)

// Hit is one place outside the fault where an address of interest was found.
type Hit struct {
	Who      string // "thread LWP 4668 (Processer_6)" or "task 15 (Processer 6)"
	Said     l10n.Msg
	LWP      int
	TaskID   int64 // -1 for a thread
	Frame    int
	Function string
	Path     string // the frame's function and its application callers: "release_wait ← lsm_release_all_csdobj ← lsm_destroy"
	Where    string // "register %rbx", "stack slot 0x…"
	Address  uint64
	What     string // "the owner dm_hash_node_t", "the list header", "a list node"
	Role     string // the role of what it holds: an Object's ("owner", "list header"), or "element"
	// WhereSaid and WhatSaid are Where and What in the catalog's words.
	WhereSaid, WhatSaid l10n.Msg
	bare                l10n.Msg // What for the verdict (interest.bare)
}

// SameCode is a thread or task inside the same operations as the crash.
type SameCode struct {
	Who       string
	Said      l10n.Msg
	LWP       int
	TaskID    int64
	Functions []string
}

type interest struct {
	addr uint64
	what string
	role string
	// said is what in the catalog's words; bare is it without its
	// article, and without "owner" for the owner (the verdict's "holding
	// the same dm_hash_node_t 0x…").
	said, bare l10n.Msg
}

func (a *Analysis) interests() []interest {
	var out []interest
	for _, o := range a.Objects {
		if o.Address != 0 {
			said := l10n.T("what.the-typed", "What", ObjectRole(o.Role), "Type", o.Type)
			bare := l10n.Verbatim(o.Type)
			if o.Role != "owner" {
				bare = l10n.T("what.typed", "What", ObjectRole(o.Role), "Type", o.Type)
			}
			out = append(out, interest{o.Address, said.String(), o.Role, said, bare})
		}
	}
	if w := a.ListWalk; w != nil {
		for _, n := range w.Nodes {
			said := l10n.T("what.list-element", "Type", w.Element)
			out = append(out, interest{n.Element, said.String(), "element", said, said})
		}
	}
	return out
}

// stackOf is one stack to search: a thread, or a task's saved context.
type stackOf struct {
	who    string
	said   l10n.Msg // who, in the catalog's words
	lwp    int
	task   int64
	frames []coreparse.Frame
}

func (a *Analysis) stacks() []stackOf {
	var out []stackOf
	crash := a.Fault.Context.Thread
	for _, t := range a.p.Threads {
		if t == crash {
			continue
		}
		fs, _ := a.p.Backtrace(t)
		who := holders.ThreadWho(t.LWP, t.Name)
		out = append(out, stackOf{who: who.String(), said: who, lwp: t.LWP, task: -1, frames: fs})
	}
	if a.rt != nil {
		for _, t := range a.rt.Tasks {
			if t.Running {
				continue // its thread was searched
			}
			fs, err := a.rt.Stack(t)
			if err != nil || len(fs) == 0 {
				continue
			}
			who := holders.TaskWho(t.ID, t.Processer, t.State)
			out = append(out, stackOf{who: who.String(), said: who, task: t.ID, frames: fs})
		}
	}
	return out
}

// findOthers searches every other thread's and task's frames (registers as
// unwound, and the raw words of each frame's stack) for the addresses of
// interest, and flags those inside the same operations.
func (a *Analysis) findOthers() {
	ints := a.interests()
	crashFns := map[string]bool{}
	if fs, err := a.p.Backtrace(a.Fault.Context.Thread); err == nil || len(fs) > 0 {
		for _, f := range fs {
			crashFns[f.Function] = true
		}
	}
	if a.rt != nil {
		for _, t := range a.rt.Tasks {
			if t.Running && t.Thread == a.Fault.Context.Thread {
				if fs, _ := a.rt.Stack(t); len(fs) > 0 {
					for _, f := range fs {
						crashFns[f.Function] = true
					}
				}
			}
		}
	}
	ops := map[string]bool{}
	for _, op := range a.o.Profile.Operations {
		ops[op] = true
	}
	for _, s := range a.stacks() {
		// Same operations.
		var same []string
		for _, f := range s.frames {
			if ops[f.Function] && crashFns[f.Function] {
				same = append(same, f.Function)
			}
		}
		if len(same) > 0 {
			a.SameCode = append(a.SameCode, SameCode{Who: s.who, Said: s.said, LWP: s.lwp, TaskID: s.task, Functions: same})
		}
		if len(ints) == 0 {
			continue
		}
		a.searchStack(s, ints)
	}
}

func (a *Analysis) searchStack(s stackOf, ints []interest) {
	seen := map[string]bool{}
	add := func(h Hit) {
		h.Path = callPath(s.frames, h.Frame)
		k := fmt.Sprintf("%s|%d|%s", h.Who, h.Address, h.Where)
		if !seen[k] {
			seen[k] = true
			a.Others = append(a.Others, h)
		}
	}
	// Registers per physical frame: report the outermost frame of the
	// application that still holds the value (the owner of the register).
	var prevRaw *unwind.Frame
	for fi, f := range s.frames {
		if f.Raw == nil || f.Raw == prevRaw || f.Boundary {
			continue
		}
		prevRaw = f.Raw
		fn := outerName(s.frames, fi)
		for n := 0; n <= unwind.R15; n++ {
			v, ok := f.Raw.Regs.Get(n)
			if !ok {
				continue
			}
			for _, in := range ints {
				if v == in.addr {
					where := l10n.T("where.register", "Reg", unwind.RegName(n))
					add(Hit{Who: s.who, Said: s.said, LWP: s.lwp, TaskID: s.task, Frame: fi, Function: fn, Where: where.String(), WhereSaid: where, Address: v,
						What: in.what, WhatSaid: in.said, bare: in.bare, Role: in.role})
				}
			}
		}
	}
	// Raw stack words of each physical frame: [its rsp, its CFA).
	for fi, f := range s.frames {
		if f.Raw == nil || f.Inline || f.Boundary {
			continue
		}
		lo, words := a.p.StackWords(f)
		for i, v := range words {
			for _, in := range ints {
				if v == in.addr {
					where := l10n.T("where.stack-slot", "Addr", fmt.Sprintf("%#x", lo+uint64(8*i)))
					add(Hit{Who: s.who, Said: s.said, LWP: s.lwp, TaskID: s.task, Frame: fi, Function: outerName(s.frames, fi),
						Where: where.String(), WhereSaid: where, Address: v, What: in.what, WhatSaid: in.said, bare: in.bare, Role: in.role})
				}
			}
		}
	}
}

// callPath names a frame's function and up to two application callers.
func callPath(fs []coreparse.Frame, i int) string {
	var parts []string
	for j := i; j < len(fs) && len(parts) < 3; j++ {
		f := fs[j]
		if f.Inline || f.Boundary || f.Mod == nil || f.Mod.IsSystem() || (len(parts) > 0 && parts[len(parts)-1] == f.Function) {
			continue
		}
		parts = append(parts, f.Function)
	}
	return strings.Join(parts, " ← ")
}

// outerName is the concrete function of the physical frame at index i
// (the last inline level sharing its pc).
func outerName(fs []coreparse.Frame, i int) string {
	for j := i; j < len(fs); j++ {
		if !fs[j].Inline {
			return fs[j].Function
		}
	}
	return fs[i].Function
}

// Assertion is an assertion message found in memory (abort).
type Assertion struct {
	Text     string
	Function string
	File     string
	Line     int
	Address  uint64
}

var assertRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile("([^\\s'\"]+\\.(?:cc|cpp|c|h|hpp)): ?(\\d+): (?:In function '[^']*' )?(?:FAILED ceph_assert|Assertion `)[^\\n\\x00]*")
})

// findAssertion reads Ceph's assertion globals (g_assert_condition,
// g_assert_file, g_assert_line) when the program has them, and otherwise
// looks for an assertion message ("FAILED ceph_assert(…)", glibc's
// "Assertion `…' failed") in writable memory.
func (a *Analysis) findAssertion() {
	p := a.p
	if m, s, ok := p.LookupSymbol("g_assert_condition"); ok {
		cond, _ := p.Core.ReadUint64(s.Value + m.Bias)
		if _, fs, ok := p.LookupSymbol("g_assert_file"); ok && cond != 0 {
			file, _ := p.Core.ReadUint64(fs.Value + m.Bias)
			line := 0
			if _, ls, ok := p.LookupSymbol("g_assert_line"); ok {
				v, _ := p.Core.ReadUint32(ls.Value + m.Bias)
				line = int(int32(v))
			}
			c, _ := p.Core.ReadCString(cond, 1024)
			f, _ := p.Core.ReadCString(file, 1024)
			fn := ""
			if _, fs, ok := p.LookupSymbol("g_assert_func"); ok {
				if v, err := p.Core.ReadUint64(fs.Value + m.Bias); err == nil {
					fn, _ = p.Core.ReadCString(v, 256)
				}
			}
			a.Assertion = &Assertion{Text: "FAILED ceph_assert(" + c + ")", Function: fn, File: f, Line: line, Address: s.Value + m.Bias}
			return
		}
	}
	buf := make([]byte, 1<<20)
	for i := range p.Core.Segments {
		s := &p.Core.Segments[i]
		if s.Filesz == 0 || s.Flags&2 == 0 {
			continue
		}
		for off := uint64(0); off < s.Filesz; off += uint64(len(buf)) - 512 {
			n := min(uint64(len(buf)), s.Filesz-off)
			k, _ := p.Core.ReadAt(buf[:n], s.Vaddr+off)
			chunk := buf[:k]
			if !bytes.Contains(chunk, []byte("FAILED ceph_assert")) && !bytes.Contains(chunk, []byte("Assertion `")) {
				continue
			}
			if m := assertRE().FindSubmatchIndex(chunk); m != nil {
				text := string(chunk[m[0]:m[1]])
				var line int
				fmt.Sscanf(string(chunk[m[4]:m[5]]), "%d", &line)
				a.Assertion = &Assertion{Text: text, File: string(chunk[m[2]:m[3]]), Line: line, Address: s.Vaddr + off + uint64(m[0])}
				return
			}
		}
	}
}

// DmesgCheck compares a kernel fault line with the core.
type DmesgCheck struct {
	Line       string
	IPMatches  bool
	BaseOK     bool
	SameThread bool
	Notes      []string
}

func (a *Analysis) checkDmesg(arg string) *DmesgCheck {
	var f *dmesg.Fault
	for _, l := range readLines(arg) {
		if x, err := dmesg.Parse(l); err == nil {
			f = x
			if x.IP == a.Fault.Context.PC {
				break
			}
		}
	}
	if f == nil {
		a.warnf("--dmesg: no kernel segfault line in %q", trunc(arg, 80))
		return nil
	}
	fc := a.Fault.Context
	d := &DmesgCheck{Line: f.Raw, IPMatches: f.IP == fc.PC, SameThread: f.TID == fc.Thread.LWP}
	if m := a.p.ModuleAt(f.IP); m != nil && f.Object != "" {
		if fm, ok := a.p.Core.FileAt(f.IP); ok {
			d.BaseOK = fm.Start == f.VMAStart
			if !d.BaseOK {
				d.Notes = append(d.Notes, fmt.Sprintf("the kernel's %s mapping starts at %#x, the core's at %#x", f.Object, f.VMAStart, fm.Start))
			}
		}
	}
	if !d.IPMatches {
		d.Notes = append(d.Notes, fmt.Sprintf("the kernel's ip %#x is not the core's fault pc %#x: another crash, or another thread", f.IP, fc.PC))
	}
	if !d.SameThread {
		who := "no thread of the core"
		if t := a.p.ThreadByLWP(f.TID); t != nil {
			who = fmt.Sprintf("thread LWP %d %s of the core", t.LWP, t.Name)
		}
		d.Notes = append(d.Notes, fmt.Sprintf("the kernel blamed %s[%d] (%s); the core's crashed thread is LWP %d %s", f.Comm, f.TID, who, fc.Thread.LWP, fc.Thread.Name))
	}
	d.Notes = append(d.Notes, dmesg.ExplainError(f.ErrorCode))
	return d
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// sortHits orders hits: tasks and threads by who, then frame.
func sortHits(h []Hit) {
	sort.SliceStable(h, func(i, j int) bool {
		if h[i].Who != h[j].Who {
			return h[i].Who < h[j].Who
		}
		return h[i].Frame < h[j].Frame
	})
}
