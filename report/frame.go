package report

// A stack frame as every document shows it: its JSON form (Frame, built
// from the model by FrameOf) and its one text rendering (Frame.Text, in
// three styles), used by every face and by batch's summaries.

import (
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/dsecore/dsecore/coreparse"
)

// Frame is one frame of a backtrace document.
type Frame struct {
	PC       string `json:"pc"`
	Function string `json:"function"`
	Inline   bool   `json:"inline"`
	Sigtramp bool   `json:"sigtramp"`
	Tailcall bool   `json:"tailcall,omitempty"` // tail-called the frame above: no stack frame of its own
	Boundary bool   `json:"boundary,omitempty"` // the seam between a running coroutine's frames and its scheduler's
	// Recovered: the caller of a wild pc, found from the return address at
	// rsp after checking that it follows a call instruction.
	Recovered bool   `json:"recovered,omitempty"`
	File      string `json:"file,omitempty"`
	Line      int    `json:"line,omitempty"`
	Module    string `json:"module,omitempty"`
	// Offset is the pc in the module's file ("0x…", pc − bias) for a frame
	// without a function name: all there is to name it by.
	Offset string `json:"offset,omitempty"`
	// FoundBy is how the unwinder found the frame: "saved context" (the
	// registers a stack starts from: a thread's, or a task's saved
	// context), "cfi", "signal frame" (the kernel's, for the interrupted
	// code), "frame pointer" (the rbp chain, where there is no CFI) or
	// "scan" (a return address taken from the stack); inline frames share
	// their function's. "frame pointer" and "scan" frames may be wrong on
	// a sound stack (Weak).
	FoundBy string `json:"found_by,omitempty"`
}

// Weak reports whether the frame was found without CFI or the kernel's
// records: through the frame-pointer chain or a return address on the stack.
func (f Frame) Weak() bool { return f.FoundBy == "frame pointer" || f.FoundBy == "scan" }

// FrameOf converts a model frame.
func FrameOf(f coreparse.Frame) Frame {
	d := Frame{PC: Hex(f.PC), Function: f.Function, Inline: f.Inline, Sigtramp: f.Sigtramp, Tailcall: f.Tailcall,
		Boundary: f.Boundary, Recovered: f.Recovered, File: f.File, Line: f.Line, Module: f.Module}
	if (f.Function == "" || f.Function == "??") && f.Mod != nil && f.PC >= f.Mod.Bias {
		d.Offset = Hex(f.PC - f.Mod.Bias)
	}
	if f.Raw != nil && !f.Boundary {
		d.FoundBy = f.Raw.Kind.String()
	}
	return d
}

// Frames converts a stack.
func Frames(fs []coreparse.Frame) []Frame {
	out := make([]Frame, 0, len(fs))
	for _, f := range fs {
		out = append(out, FrameOf(f))
	}
	return out
}

// FrameStyle is how much of a frame its text says.
type FrameStyle int

const (
	// FrameLine is a backtrace's line, as gdb prints it: the pc column (blank
	// for an inline frame), the function, [inlined], and
	// "at FILE:LINE" (the full path) or "from MODULE"; then, for a
	// function's frame found without CFI, "[found by frame pointer]" or
	// "[found by scan]" (not repeated on its inline frames).
	FrameLine FrameStyle = iota
	// FrameWhere says where a thread or task stands, for a list: "function at
	// file.cc:LINE" (base name), "function from module".
	FrameWhere
	// FrameReport is a crash report's frame: "function (file.cc:LINE)",
	// "module+0xOFFSET" without a name, "function [module]" without a
	// line; "[inlined]" last.
	FrameReport
)

// Text is the frame as text in a style: the one rendering every face
// (bt, inspect, tasks, the DAP console, the gdb bridge, summaries) uses.
func (f Frame) Text(s FrameStyle) string {
	switch {
	case f.Boundary:
		if s == FrameLine {
			return fmt.Sprintf("%18s --- %s ---", "", f.Function)
		}
		return "--- " + f.Function + " ---"
	case f.Sigtramp:
		if s == FrameLine {
			return fmt.Sprintf("%18s <signal handler called>", f.PC)
		}
		return "<signal handler called>"
	}
	name := f.Function
	if name == "" {
		name = "??"
	}
	switch s {
	case FrameReport:
		if name == "??" && f.Offset != "" {
			name = f.Module + "+" + f.Offset
		}
		switch {
		case f.File != "":
			name += " (" + filepath.Base(f.File) + ":" + strconv.Itoa(f.Line) + ")"
		case f.Module != "" && f.Offset == "":
			name += " [" + f.Module + "]"
		}
		if f.Inline {
			name += " [inlined]"
		}
		return name
	case FrameWhere:
		switch {
		case f.File != "":
			return name + " at " + filepath.Base(f.File) + ":" + strconv.Itoa(f.Line)
		case f.Module != "":
			return name + " from " + f.Module
		}
		return name
	}
	out := fmt.Sprintf("%18s in %s", f.PC, name)
	if f.Inline {
		out = fmt.Sprintf("%18s in %s [inlined]", "", name)
	}
	switch {
	case f.File != "":
		out += " at " + f.File + ":" + strconv.Itoa(f.Line)
	case f.Module != "":
		out += " from " + f.Module
	}
	if f.Weak() && !f.Inline && !f.Tailcall {
		out += " [found by " + f.FoundBy + "]"
	}
	return out
}
