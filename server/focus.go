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
func (s *state) aboveFocus(f coreparse.Frame) string {
	switch {
	case signature.Raising(f.Function):
		return originRaise
	case !s.hasCode(f):
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
func (s *state) crashFocus(fs []coreparse.Frame) int {
	at := faultFrameIndex(fs)
	if fc := s.p.Fault(); fc != nil && fc.Real != nil && fc.Real.Sent {
		if i := signature.FirstFrame(fs); i > at {
			at = i
		}
	}
	for i := at; i < len(fs); i++ {
		if s.hasCode(fs[i]) {
			return i
		}
	}
	return at
}

// hasCode says whether a frame has something to show in an editor: its
// source file on disk, or the core's memory at its pc.
func (s *state) hasCode(f coreparse.Frame) bool {
	if f.Boundary || f.Sigtramp || f.PC == 0 {
		return false
	}
	if f.File != "" && fileExists(s.mapPath(f.File)) {
		return true
	}
	return s.p.Core.Readable(f.LookupPC)
}

// focusSource is the focus frame's source: its file, or its own
// disassembly source, not deemphasized (a source shared with other
// frames takes in VS Code the hint of the last frame that named it).
func (s *state) focusSource(f coreparse.Frame) *dap.Source {
	src := s.sourceOf(f)
	if src == nil || src.SourceReference == 0 {
		return src
	}
	key := fmt.Sprintf("crash frame %#x", f.LookupPC)
	s.mu.Lock()
	ref, ok := s.srcByFn[key]
	if !ok {
		s.sources = append(s.sources, &sourceRef{name: key, frame: f})
		ref = len(s.sources)
		s.srcByFn[key] = ref
	}
	s.mu.Unlock()
	out := *src
	out.SourceReference, out.PresentationHint, out.Origin = ref, "", "the crashing frame: disassembly from the core"
	return &out
}

// deemphasized is a copy of a source, deemphasized with an origin.
func deemphasized(src *dap.Source, origin string) *dap.Source {
	if src == nil {
		return nil
	}
	out := *src
	out.PresentationHint, out.Origin = "deemphasize", origin
	return &out
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
