package fault

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/dsecore/dsecore/coreparse"
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
	whoOf := func(t *coreparse.Thread) string {
		if t == nil {
			return ""
		}
		if t.Name != "" {
			return fmt.Sprintf("thread LWP %d (%s)", t.LWP, t.Name)
		}
		return fmt.Sprintf("thread LWP %d", t.LWP)
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
			last.Text += fmt.Sprintf(" (before its handler's first log line at %s)", l.Time.Format("15:04:05.000000"))
			out = append(out, faultSteps...)
			placed = true
		}
		who, lwp := fmt.Sprintf("pthread %x", l.Pthread), l.LWP
		if l.Thread != nil {
			who, lwp = whoOf(l.Thread), l.Thread.LWP
		}
		what := " logged"
		if handler {
			what = "'s fatal-signal handler logged"
		}
		out = append(out, TimelineStep{Time: l.Time, Who: who, LWP: lwp, TaskID: -1,
			Text:     fmt.Sprintf("%s%s %q", who, what, strings.TrimSpace(l.Message)),
			Evidence: "log", Ref: "logs", Source: l.Raw, File: l.File, Line: l.Line})
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
			on := ""
			if hd.TaskID >= 0 {
				if t := a.taskThread(hd.TaskID); t != nil {
					on = fmt.Sprintf("; its Processer's thread is %s", whoOf(t))
				}
			}
			out = append(out, TimelineStep{AtDump: true, Who: hd.Who, LWP: hd.LWP, TaskID: hd.TaskID,
				Text:     m.holderText(i).String() + on,
				Evidence: "frame", Ref: fmt.Sprintf("memory.holders[%d]", i),
				Source: fmt.Sprintf("frame #%d %s: %s = %#x", b.Frame, b.Function, b.Expr, b.Value), Frame: b.Frame, Function: b.Function})
		}
	}
	for i, s := range a.SameCode {
		if held[s.Who] {
			continue
		}
		out = append(out, TimelineStep{AtDump: true, Who: s.Who, LWP: s.LWP, TaskID: s.TaskID,
			Text:     fmt.Sprintf("%s is inside %s, as the crashed thread was (it holds none of the objects through any variable found)", s.Who, strings.Join(s.Functions, " ← ")),
			Evidence: "frame", Ref: fmt.Sprintf("same_code[%d]", i), Source: strings.Join(s.Functions, ", "), Function: s.Functions[0]})
	}
	// The list's state and size field.
	if w := a.ListWalk; w != nil {
		size := ""
		if w.HasSize {
			size = fmt.Sprintf("; its size_ field reads %d", w.SizeSigned)
			if w.SizeUnderflow {
				size += " (underflowed: more erases than elements)"
			}
		}
		out = append(out, TimelineStep{AtDump: true, Who: whoOf(crash), LWP: crash.LWP, TaskID: -1,
			Text:     fmt.Sprintf("the list at %#x (%s of %s) holds %d node(s) the walk could reach%s", w.Header, shortTemplate(w.ListType), w.Element, len(w.Nodes), size),
			Evidence: "list", Ref: "list_walk", Source: fmt.Sprintf("size_ = %d, %d node(s) walked", w.SizeSigned, len(w.Nodes))})
		for _, fnd := range w.Found {
			out = append(out, TimelineStep{AtDump: true, Who: whoOf(crash), LWP: crash.LWP, TaskID: -1,
				Text: "the list walk finds: " + fnd.Text, Evidence: "list", Ref: "list_walk", Source: fnd.Text})
		}
	}
	// The heap's chunks.
	if m := a.Memory; m != nil {
		for i, hf := range m.Heap {
			fd := hf.Finding
			if fd == nil || !fd.Known || hf.Verdict.Rule == "" && fd.State != "free" {
				continue
			}
			text := fmt.Sprintf("the %s: %s", hf.Role, fd.Describe())
			for _, b := range fd.Bins {
				if b.Kind == "tcache" && b.Thread != 0 {
					// free() puts a chunk in the calling thread's tcache.
					text += fmt.Sprintf("; free() puts a chunk in the calling thread's own tcache: thread LWP %d freed it", b.Thread)
					break
				}
			}
			who, lwp := whoOf(crash), crash.LWP
			out = append(out, TimelineStep{AtDump: true, Who: who, LWP: lwp, TaskID: -1, Text: text,
				Evidence: "heap", Ref: fmt.Sprintf("memory.heap[%d]", i), Source: hf.Verdict.Text})
		}
	}
	return out
}

// faultSteps are the crashed thread's last acts: the instructions that
// wrote the bad register (oldest first), then the fault (or the signal it
// raised, with glibc's message when malloc aborted), at its instruction.
func (a *Analysis) faultSteps(who string) []TimelineStep {
	f := a.Fault
	fc := f.Context
	var out []TimelineStep
	for i := len(f.Origin) - 1; i >= 0; i-- {
		o := f.Origin[i]
		where := shortTemplate(o.Function)
		if o.File != "" {
			where += fmt.Sprintf(" (%s:%d)", filepath.Base(o.File), o.Line)
		}
		out = append(out, TimelineStep{Who: who, LWP: fc.Thread.LWP, TaskID: -1, Evidence: "instruction", Ref: fmt.Sprintf("fault.origin[%d]", i),
			Text:   fmt.Sprintf("%s, in %s: %s", who, where, o.Text),
			Source: fmt.Sprintf("%#x: %s", o.PC, o.ATT), Function: o.Function})
	}
	st := TimelineStep{Who: who, LWP: fc.Thread.LWP, TaskID: -1, Evidence: "fault", Ref: "fault"}
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
		st.Text = fmt.Sprintf("%s faulted in %s: %s", who, where, f.Description)
		st.Source = fmt.Sprintf("%#x: %s", f.Instruction.PC, f.Instruction.ATT)
	case f.Description != "":
		st.Text = fmt.Sprintf("%s: %s", who, f.Description)
		st.Source = f.Description
	case fc.Real != nil:
		st.Text = fmt.Sprintf("%s got %s in %s", who, fc.Real.String(), where)
		st.Source = fc.Real.String()
	default:
		return out
	}
	if m := a.Memory; m != nil && m.MallocError != "" {
		out = append(out, TimelineStep{Who: who, LWP: fc.Thread.LWP, TaskID: -1, Evidence: "heap", Ref: "memory.malloc_error",
			Text: fmt.Sprintf("%s: glibc's malloc aborted: %q", who, m.MallocError), Source: m.MallocError})
	}
	return append(out, st)
}

func isHandlerLine(r *LogReport, l LogLine) bool {
	for _, h := range r.Handler {
		if h.File == l.File && h.Line == l.Line {
			return true
		}
	}
	return false
}
