// Package report turns dsecore's model into the stable JSON documents that
// the CLI prints and other tools (the gdb bridge, batch summaries, scripts)
// consume. Field names here are a public contract: add, never rename.
package report

import (
	"strconv"
	"sync/atomic"

	"github.com/dsecore/dsecore/coreparse"
)

// Hex formats an address the way every document does: "0x…" (fmt's
// %#x). Ten thousand task stacks return through a few dozen addresses:
// the text of each recent one is kept (a direct-mapped table of 4,096),
// not made again for every frame.
func Hex(v uint64) string {
	slot := &hexMemo[(v*0x9e3779b97f4a7c15)>>52]
	if e := slot.Load(); e != nil && e.v == v {
		return e.s
	}
	s := "0x" + strconv.FormatUint(v, 16)
	slot.Store(&hexText{v, s})
	return s
}

type hexText struct {
	v uint64
	s string
}

var hexMemo [4096]atomic.Pointer[hexText]

// Thread is one thread of a backtrace document.
type Thread struct {
	LWP     int     `json:"lwp"`
	Pthread string  `json:"pthread"`
	Name    string  `json:"name"`
	Crashed bool    `json:"crashed"`
	Frames  []Frame `json:"frames"`
	Error   string  `json:"error,omitempty"` // why the unwind stopped early, if it did
}

// Backtrace is the document of `dsecore bt --json`.
type Backtrace struct {
	Threads    []Thread    `json:"threads"`
	Tasks      []Task      `json:"tasks,omitempty"`
	Coroutines *Coroutines `json:"coroutines,omitempty"`
	Warnings   []string    `json:"warnings,omitempty"`
}

// ThreadBacktrace unwinds one thread into its document form. An unwind that
// stopped on an error keeps the frames it found and says why.
func ThreadBacktrace(p *coreparse.Process, t *coreparse.Thread) Thread {
	fs, err := p.Backtrace(t)
	th := Thread{LWP: t.LWP, Pthread: Hex(t.Pthread), Name: t.Name, Crashed: t.Crashed, Frames: Frames(fs)}
	if err != nil {
		th.Error = err.Error()
	}
	return th
}
