package server

import (
	"fmt"

	"github.com/dsecore/dsecore/analysis/signature"
	"github.com/dsecore/dsecore/coreparse"
	"github.com/google/go-dap"
)

// The frame a client opens when the session stops. VS Code focuses the
// first frame of the stopped thread whose source is available and not
// deemphasized, and shows the exception there; a frame without source
// shows nothing. So the crashing thread's frames above the focus frame get
// deemphasized sources (or none), the focus frame a source that is not,
// even when it is only the core's disassembly (an executable without
// DWARF, as Debian ships ceph-mon).

// Origins of the deemphasized frames above the focus frame: VS Code
// collapses each run of them behind "Show N More: <origin>".
const (
	originHandler = "the fatal-signal handler"
	originRaise   = "raising the signal"
	originSystem  = "the platform's libraries"
	originNoCode  = "no code at the pc"
)

// aboveFocus is the origin of a frame between the signal frame and the
// focus frame.
func (st *state) aboveFocus(f coreparse.Frame) string {
	switch {
	case signature.Raising(f.Function):
		return originRaise
	case !st.hasCode(f):
		return originNoCode
	}
	return originSystem
}

// crashFocus is the index, in the crashing thread's stack, of the frame
// the session stops on: the frame that faulted (the one above the signal
// frame, else the innermost); for a sent signal (kill, abort, a failed
// assertion), the first frame of the application's code, past the
// platform's libraries and the raising machinery (the frame a crash
// signature starts with); and in either case the first from there with
// code to show (a wild pc has none: its caller).
func (st *state) crashFocus(fs []coreparse.Frame) int {
	at := faultFrameIndex(fs)
	if fc := st.p.Fault(); fc != nil && fc.Real != nil && fc.Real.Sent {
		if i := signature.FirstFrame(fs); i > at {
			at = i
		}
	}
	for i := at; i < len(fs); i++ {
		if st.hasCode(fs[i]) {
			return i
		}
	}
	return at
}

// hasCode says whether a frame has something to show in an editor: its
// source file on disk, or the core's memory at its pc.
func (st *state) hasCode(f coreparse.Frame) bool {
	if f.Boundary || f.Sigtramp || f.PC == 0 {
		return false
	}
	if f.File != "" && fileExists(st.mapPath(f.File)) {
		return true
	}
	return st.p.Core.Readable(f.LookupPC)
}

// focusSource is the focus frame's source: its file, or a disassembly
// source of its own, not deemphasized.
func (st *state) focusSource(f coreparse.Frame) *dap.Source {
	src := st.sourceOf(f)
	if src == nil || src.SourceReference == 0 {
		return src
	}
	out := *src
	out.SourceReference = st.ownSource("crash frame", f)
	out.PresentationHint, out.Origin = "", "the crashing frame: disassembly from the core"
	return &out
}

// deemphasized is a frame's source deemphasized with an origin. A
// disassembly source gets a reference of its own for that origin: VS Code
// keeps one source per reference, and the origin (and hint) of the last
// frame that named it, so the handler's __pthread_kill_implementation
// would take the origin of the raise's and its run of frames would lose
// its name ("Show 4 More Stack Frames").
func (st *state) deemphasized(f coreparse.Frame, src *dap.Source, origin string) *dap.Source {
	if src == nil {
		return nil
	}
	out := *src
	out.PresentationHint, out.Origin = "deemphasize", origin
	if src.SourceReference > 0 {
		out.SourceReference = st.ownSource(origin, f)
	}
	return &out
}

// ownSource is the reference of a disassembly source of frame f's code
// for one role, made once per role and pc.
func (st *state) ownSource(role string, f coreparse.Frame) int {
	key := fmt.Sprintf("%s %#x", role, f.LookupPC)
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.sources.keyed(key, func() *sourceRef { return &sourceRef{name: key, frame: f} })
}

// appSource is a frame's source as listed: the disassembly of the
// application's own code (an executable or library without DWARF, as
// Debian ships Ceph) is the story of the stack and is not deemphasized;
// the platform's libraries' is (VS Code collapses it behind "Show N More:
// disassembly from the core").
func appSource(src *dap.Source, f coreparse.Frame) *dap.Source {
	if src == nil || src.SourceReference == 0 || f.Mod == nil || f.Mod.IsSystem() {
		return src
	}
	out := *src
	out.PresentationHint = ""
	return &out
}

// sentFrom words where a sent signal stopped the crashing thread, by the
// frame the session stops on: " raised in F()" when the thread raised it
// itself (a frame of the raising machinery above it), " received in F()"
// when it came from outside.
func (st *state) sentFrom() string {
	fs, err := st.stack(st.crashThreadID())
	if err != nil || len(fs) == 0 {
		return ""
	}
	at := st.crashFocus(fs)
	if fs[at].Function == "" || fs[at].Function == "??" {
		return ""
	}
	for i := faultFrameIndex(fs); i < at; i++ {
		if signature.Raising(fs[i].Function) {
			return " raised in " + fs[at].Function + "()"
		}
	}
	return " received in " + fs[at].Function + "()"
}
