package fault

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dsecore/dsecore/analysis/holders"
	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/internal/l10n"
)

// TimelineStep is one thing a path did (or where it stood when the core was
// written), with the evidence it rests on. Nothing is stated that the
// evidence does not show: a log line says what its thread logged and when;
// a frame says where a thread or task stands at the dump and what it
// holds; the list walk and the heap say what state they were left in.
type TimelineStep struct {
	// Time is the log line's (µs); zero for a step known only from the
	// core (the fault, and the state at the dump).
	Time time.Time
	// AtDump: the state at the moment the core was written, not an event.
	AtDump bool
	// Who is the path: "thread LWP 1983 (Processer_5)", "task 15 (Processer 6, block)".
	Who    string
	LWP    int
	TaskID int64 // -1 for a thread
	Text   string
	// Said and WhoSaid are Text and Who in the catalog's words.
	Said, WhoSaid l10n.Msg
	// Evidence is the kind: "log", "fault", "frame", "list", "heap"; Ref
	// points into the analysis ("logs", "fault", "memory.holders[0]",
	// "same_code[0]", "list_walk", "memory.heap[0]").
	Evidence string
	Ref      string
	// Source quotes the evidence: the log line, "frame #3 release_wait",
	// the walker's finding, the chunk's state.
	Source string
	// File and Line: the log file and line number (log steps).
	File string
	Line int
	// Frame and Function: the frame (frame steps; the fault's innermost).
	Frame    int
	Function string
}

// timeline orders the evidence into what each path did: the involved
// threads' log lines by time, the fault just before the handler's first
// line, then the state at the dump (each holder's current frame, each
// other path inside the same operations, the list's state and size field,
// the heap's chunks).
func (a *Analysis) timeline() []TimelineStep {
	var out []TimelineStep
	f := a.Fault
	if f == nil || f.Context == nil {
		return nil
	}
	crash := f.Context.Thread
	whoOf := func(t *coreparse.Thread) l10n.Msg {
		if t == nil {
			return l10n.Verbatim("")
		}
		return holders.ThreadWho(t.LWP, t.Name)
	}
	// Log lines of the involved threads.
	var logs []LogLine
	if l := a.Logs; l != nil {
		for _, ls := range l.PerThread {
			logs = append(logs, ls...)
		}
		for _, h := range l.Handler {
			dup := false
			for _, x := range logs {
				dup = dup || x.File == h.File && x.Line == h.Line
			}
			if !dup {
				logs = append(logs, h)
			}
		}
	}
	sort.SliceStable(logs, func(i, j int) bool {
		if !logs[i].Time.Equal(logs[j].Time) {
			return logs[i].Time.Before(logs[j].Time)
		}
		if logs[i].File != logs[j].File {
			return logs[i].File < logs[j].File
		}
		return logs[i].Line < logs[j].Line
	})
	faultSteps := a.faultSteps(whoOf(crash))
	placed := false
	for _, l := range logs {
		handler := a.Logs != nil && isHandlerLine(a.Logs, l)
		if handler && !placed && len(faultSteps) > 0 {
			last := &faultSteps[len(faultSteps)-1]
			last.say(l10n.T("timeline.before-handler", "Step", last.Said, "Time", l.Time.Format("15:04:05.000000")))
			out = append(out, faultSteps...)
			placed = true
		}
		who, lwp := l10n.T("timeline.pthread", "Pthread", fmt.Sprintf("%x", l.Pthread)), l.LWP
		if l.Thread != nil {
			who, lwp = whoOf(l.Thread), l.Thread.LWP
		}
		id := "timeline.logged"
		if handler {
			id = "timeline.handler-logged"
		}
		out = append(out, step(TimelineStep{Time: l.Time, LWP: lwp, TaskID: -1,
			Evidence: "log", Ref: "logs", Source: l.Raw, File: l.File, Line: l.Line}, who,
			l10n.T(id, "Who", who, "Message", strconv.Quote(strings.TrimSpace(l.Message)))))
	}
	if !placed {
		out = append(out, faultSteps...)
	}
	// The state at the dump (AtDump: the faces say "at dump" before the
	// text, which does not say it again): each holder's frame.
	held := map[string]bool{}
	if m := a.Memory; m != nil && m.Holders != nil {
		for i, hd := range m.Holders.Holders {
			if i >= 4 {
				break
			}
			b := hd.Best
			held[hd.Who] = true
			text := m.holderText(i)
			if hd.TaskID >= 0 {
				if t := a.taskThread(hd.TaskID); t != nil {
					text = l10n.T("timeline.processer-thread", "Holder", text, "Thread", whoOf(t))
				}
			}
			out = append(out, step(TimelineStep{AtDump: true, LWP: hd.LWP, TaskID: hd.TaskID,
				Evidence: "frame", Ref: fmt.Sprintf("memory.holders[%d]", i),
				Source: fmt.Sprintf("frame #%d %s: %s = %#x", b.Frame, b.Function, b.Expr, b.Value), Frame: b.Frame, Function: b.Function}, hd.Said, text))
		}
	}
	for i, s := range a.SameCode {
		if held[s.Who] {
			continue
		}
		out = append(out, step(TimelineStep{AtDump: true, LWP: s.LWP, TaskID: s.TaskID,
			Evidence: "frame", Ref: fmt.Sprintf("same_code[%d]", i), Source: strings.Join(s.Functions, ", "), Function: s.Functions[0]}, s.Said,
			l10n.T("timeline.same-code", "Who", s.Said, "Functions", strings.Join(s.Functions, " ← "))))
	}
	// The list's state and size field.
	if w := a.ListWalk; w != nil {
		size := l10n.Verbatim("")
		if w.HasSize {
			size = l10n.T("timeline.list-size", "Size", w.SizeSigned)
			if w.SizeUnderflow {
				size = l10n.T("timeline.list-size-underflow", "Size", w.SizeSigned)
			}
		}
		out = append(out, step(TimelineStep{AtDump: true, LWP: crash.LWP, TaskID: -1,
			Evidence: "list", Ref: "list_walk", Source: fmt.Sprintf("size_ = %d, %d node(s) walked", w.SizeSigned, len(w.Nodes))}, whoOf(crash),
			l10n.T("timeline.list", "Header", fmt.Sprintf("%#x", w.Header), "Type", shortTemplate(w.ListType), "Element", w.Element, "N", len(w.Nodes), "Size", size)))
		for _, fnd := range w.Found {
			out = append(out, step(TimelineStep{AtDump: true, LWP: crash.LWP, TaskID: -1, Evidence: "list", Ref: "list_walk", Source: fnd.Text}, whoOf(crash),
				l10n.T("timeline.list-finds", "Finding", fnd.Said)))
		}
	}
	// The heap's chunks.
	if m := a.Memory; m != nil {
		for i, hf := range m.Heap {
			fd := hf.Finding
			if fd == nil || !fd.Known || hf.Verdict.Rule == "" && fd.State != "free" {
				continue
			}
			text := l10n.T("timeline.heap", "Role", m.roleMsg(i), "Describe", fd.Said())
			for _, b := range fd.Bins {
				if b.Kind == "tcache" && b.Thread != 0 {
					// free() puts a chunk in the calling thread's tcache.
					text = l10n.T("timeline.heap-own-tcache", "Step", text, "LWP", b.Thread)
					break
				}
			}
			out = append(out, step(TimelineStep{AtDump: true, LWP: crash.LWP, TaskID: -1,
				Evidence: "heap", Ref: fmt.Sprintf("memory.heap[%d]", i), Source: hf.Verdict.Text}, whoOf(crash), text))
		}
	}
	return out
}

// faultSteps are the crashed thread's last acts: the instructions that
// wrote the bad register (oldest first), then the fault (or the signal it
// raised, with glibc's message when malloc aborted), at its instruction.
func (a *Analysis) faultSteps(who l10n.Msg) []TimelineStep {
	f := a.Fault
	fc := f.Context
	var out []TimelineStep
	for i := len(f.Origin) - 1; i >= 0; i-- {
		o := f.Origin[i]
		where := shortTemplate(o.Function)
		if o.File != "" {
			where += fmt.Sprintf(" (%s:%d)", filepath.Base(o.File), o.Line)
		}
		out = append(out, step(TimelineStep{LWP: fc.Thread.LWP, TaskID: -1, Evidence: "instruction", Ref: fmt.Sprintf("fault.origin[%d]", i),
			Source: fmt.Sprintf("%#x: %s", o.PC, o.ATT), Function: o.Function}, who,
			l10n.T("timeline.origin", "Who", who, "Where", where, "Text", o.Said)))
	}
	st := TimelineStep{Who: who.String(), WhoSaid: who, LWP: fc.Thread.LWP, TaskID: -1, Evidence: "fault", Ref: "fault"}
	where := fmt.Sprintf("%#x", fc.PC)
	if len(f.Frames) > 0 {
		inner := f.Frames[0]
		st.Function = inner.Function
		where = shortTemplate(f.Frames[len(f.Frames)-1].Function)
		if inner.File != "" {
			where += fmt.Sprintf(" (%s:%d)", filepath.Base(inner.File), inner.Line)
		}
	}
	switch {
	case f.Instruction != nil && f.Description != "":
		st.say(l10n.T("timeline.faulted", "Who", who, "Where", where, "Desc", f.Said))
		st.Source = fmt.Sprintf("%#x: %s", f.Instruction.PC, f.Instruction.ATT)
	case f.Description != "":
		desc := f.Said
		if desc.IsZero() {
			desc = l10n.Untranslated(f.Description)
		}
		st.say(l10n.T("timeline.desc", "Who", who, "Desc", desc))
		st.Source = f.Description
	case fc.Real != nil:
		st.say(l10n.T("timeline.got", "Who", who, "Signal", SignalMsg(fc.Real), "Where", where))
		st.Source = fc.Real.String()
	default:
		return out
	}
	if m := a.Memory; m != nil && m.MallocError != "" {
		out = append(out, step(TimelineStep{LWP: fc.Thread.LWP, TaskID: -1, Evidence: "heap", Ref: "memory.malloc_error", Source: m.MallocError}, who,
			l10n.T("timeline.malloc-aborted", "Who", who, "Error", strconv.Quote(m.MallocError))))
	}
	return append(out, st)
}

// step is st said by text, done by who.
func step(st TimelineStep, who, text l10n.Msg) TimelineStep {
	st.WhoSaid, st.Who = who, who.String()
	st.say(text)
	return st
}

// say sets the step's text.
func (st *TimelineStep) say(m l10n.Msg) { st.Said, st.Text = m, m.String() }

func isHandlerLine(r *LogReport, l LogLine) bool {
	for _, h := range r.Handler {
		if h.File == l.File && h.Line == l.Line {
			return true
		}
	}
	return false
}
