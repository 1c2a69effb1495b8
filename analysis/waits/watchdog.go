package waits

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/dsecore/dsecore/coreparse/values"
	"github.com/dsecore/dsecore/internal/l10n"
)

// Watchdog is what Ceph's heartbeat watchdog (src/common/HeartbeatMap.cc)
// says and did: its log lines ("heartbeat_map is_healthy 'NAME' had timed
// out after GRACE", "… had suicide timed out after SUICIDE_GRACE") and,
// from memory, the thread inside HeartbeatMap::_check with the handle it
// checks. On a suicide timeout Ceph sends SIGABRT to the handle's thread
// (pthread_kill), sleeps a second and aborts itself (ceph_abort_msg("hit
// suicide timeout")): whichever thread took the signal, the watchdog is
// the messenger and the stuck thread the one to explain.
type Watchdog struct {
	// Messenger is the watchdog's thread (node id), from its frames or the
	// log lines' pthread id; MessengerFrame its HeartbeatMap::_check frame.
	Messenger      string `json:"messenger,omitempty"`
	MessengerFrame int    `json:"messenger_frame"`
	// Handle is the heartbeat handle's name ("OSD::osd_op_tp thread
	// 0x7f…"); Pthread the stuck thread's pthread id (the handle's
	// thread_id, or the name's), Stuck its node.
	Handle  string `json:"handle"`
	Pthread uint64 `json:"pthread" hex:""`
	Stuck   string `json:"stuck,omitempty"`
	// Grace and SuicideGrace as logged.
	Grace        string `json:"grace,omitempty"`
	SuicideGrace string `json:"suicide_grace,omitempty"`
	// Suicide: the suicide timeout was hit (logged, or _check is past it).
	Suicide bool           `json:"suicide"`
	Lines   []WatchdogLine `json:"lines,omitempty"`
	// FromMemory: the handle was read from the watchdog's frame.
	FromMemory bool     `json:"from_memory"`
	Text       string   `json:"text"`
	Said       l10n.Msg `json:"-"` // Text in the catalog's words
}

// WatchdogLine is one of the watchdog's log lines.
type WatchdogLine struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Time    string `json:"time,omitempty"`
	Pthread uint64 `json:"pthread" hex:""`
	Text    string `json:"text"`
}

var (
	heartbeatRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`heartbeat_map (\w+) '(.*)' had (suicide )?timed out after (\S+)`)
	})
	handleThreadRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`thread (0x[0-9a-f]+)\s*$`) })
)

// watchdog reads the heartbeat watchdog's lines and frames.
func (a *analysis) watchdog() {
	var w *Watchdog
	get := func() *Watchdog {
		if w == nil {
			w = &Watchdog{MessengerFrame: -1}
		}
		return w
	}
	for _, l := range a.o.Logs {
		m := heartbeatRE().FindStringSubmatch(l.Message)
		if m == nil {
			continue
		}
		w := get()
		wl := WatchdogLine{File: l.File, Line: l.Line, Pthread: l.Pthread, Text: l.Message}
		if !l.Time.IsZero() {
			wl.Time = l.Time.Format("2006-01-02 15:04:05.000")
		}
		w.Lines = append(w.Lines, wl)
		if w.Handle == "" || m[3] != "" {
			w.Handle = m[2]
		}
		if m[3] != "" {
			w.Suicide, w.SuicideGrace = true, m[4]
		} else {
			w.Grace = m[4]
		}
		if w.Messenger == "" {
			for _, t := range a.p.Threads {
				if t.Pthread == l.Pthread && l.Pthread != 0 {
					w.Messenger = fmt.Sprintf("lwp:%d", t.LWP)
				}
			}
		}
	}
	// From memory: a thread inside HeartbeatMap::_check.
	for i := range a.res.Nodes {
		n := &a.res.Nodes[i]
		for fi, f := range n.frames {
			if !strings.HasSuffix(f.Function, "HeartbeatMap::_check") {
				continue
			}
			w := get()
			w.Messenger, w.MessengerFrame = n.ID, fi
			a.handleFromFrame(w, n, fi)
			break
		}
	}
	if w == nil {
		return
	}
	if w.Pthread == 0 {
		if m := handleThreadRE().FindStringSubmatch(w.Handle); m != nil {
			w.Pthread, _ = strconv.ParseUint(m[1][2:], 16, 64)
		}
	}
	for _, t := range a.p.Threads {
		if t.Pthread == w.Pthread && w.Pthread != 0 {
			w.Stuck = fmt.Sprintf("lwp:%d", t.LWP)
		}
	}
	a.res.Watchdog = w
	a.watchdogText(w)
}

// handleFromFrame reads _check's handle (h: name, thread_id, graces).
func (a *analysis) handleFromFrame(w *Watchdog, n *Node, fi int) {
	fr := values.FrameOf(a.p, n.frames, fi)
	if fr == nil {
		return
	}
	params, locals, _ := a.vr.FrameVars(fr)
	sc := &values.Scope{Frame: fr, Vars: append(params, locals...)}
	if v, err := a.vr.Eval(sc, "h->thread_id"); err == nil {
		if u, err := a.vr.Uint(v); err == nil && u != 0 {
			w.Pthread, w.FromMemory = u, true
		}
	}
	if v, err := a.vr.Eval(sc, "h->name"); err == nil {
		if s := a.vr.Summary(v, false); strings.HasPrefix(s, "\"") {
			if name, err := strconv.Unquote(s); err == nil {
				w.Handle = name
			} else {
				w.Handle = strings.Trim(s, "\"")
			}
		}
	}
	if w.SuicideGrace == "" {
		if v, err := a.vr.Eval(sc, "h->suicide_grace"); err == nil {
			w.SuicideGrace = a.vr.Summary(v, false)
		}
	}
	if w.Grace == "" {
		if v, err := a.vr.Eval(sc, "h->grace"); err == nil {
			w.Grace = a.vr.Summary(v, false)
		}
	}
	// Inside _check past its log line, in sleep() or ceph_abort: the
	// suicide branch (the only one that calls out but to the log).
	for j := n.top; j < fi; j++ {
		if fn := normalize(n.frames[j].Function); strings.Contains(fn, "sleep") || strings.Contains(fn, "ceph_abort") || strings.Contains(fn, "pthread_kill") {
			w.Suicide = true
		}
	}
}

func (a *analysis) watchdogText(w *Watchdog) {
	by := l10n.Verbatim("")
	if w.Messenger != "" {
		by = l10n.T("watchdog.by", "Who", a.whoMsg(w.Messenger))
		if w.MessengerFrame >= 0 {
			by = l10n.T("watchdog.by-frame", "Who", a.whoMsg(w.Messenger), "N", w.MessengerFrame)
		}
	}
	var t l10n.Msg
	if w.Suicide {
		t = l10n.T("watchdog.suicide", "By", by, "Handle", w.Handle, "Grace", orUnknown(w.SuicideGrace))
	} else {
		t = l10n.T("watchdog.timed-out", "By", by, "Handle", w.Handle, "Grace", orUnknown(w.Grace))
	}
	say := func(m l10n.Msg) { w.Said, w.Text = m, m.String() }
	if w.Stuck == "" {
		say(l10n.T("watchdog.no-thread", "Watchdog", t, "Pthread", fmt.Sprintf("%#x", w.Pthread)))
		return
	}
	n := a.node(w.Stuck)
	if n == nil {
		say(l10n.T("watchdog.stuck-lwp", "Watchdog", t, "LWP", strings.TrimPrefix(w.Stuck, "lwp:")))
		return
	}
	who := n.Said
	if n.Task >= 0 {
		if tn := a.taskName(n.Task); !tn.IsZero() {
			who = l10n.T("watchdog.who-task", "Who", who, "Task", tn)
		}
	}
	if n.Frame >= 0 {
		who = l10n.T("watchdog.who-frame", "Who", who, "N", n.Frame, "Function", n.Function)
	}
	var state l10n.Msg
	if n.State == Waiting && n.WaitsFor >= 0 {
		o := a.res.Objects[n.WaitsFor]
		state = l10n.T("watchdog.waiting", "Obj", a.objMsg(n.WaitsFor))
		if o.Owner != "" {
			held := l10n.T("watchdog.held-by", "Who", a.whoMsg(o.Owner))
			if on := a.node(o.Owner); on != nil {
				if o.HoldFrame >= 0 {
					held = l10n.T("watchdog.held-by-frame", "Who", a.whoMsg(o.Owner), "N", o.HoldFrame, "Function", o.HoldFunction)
				}
				if on.State != Waiting {
					held = l10n.T("watchdog.which", "Held", held, "End", a.endMsg(on))
				}
			}
			state = l10n.T("watchdog.waiting-held", "Obj", a.objMsg(n.WaitsFor), "Held", held)
		}
	} else {
		state = a.endMsg(n)
	}
	say(l10n.T("watchdog.stuck", "Watchdog", t, "Who", who, "State", state))
}

func (a *analysis) taskName(id int64) l10n.Msg {
	if a.rt == nil {
		return l10n.Msg{}
	}
	for _, t := range a.rt.Tasks {
		if t.ID == id && t.Func != "" {
			return l10n.T("watchdog.task-name", "ID", id, "Function", t.Func)
		}
	}
	return l10n.Msg{}
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
