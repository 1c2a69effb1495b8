package fault

import (
	"fmt"

	"github.com/dsecore/dsecore/internal/l10n"
)

// hang says whether the wait graph explains the signal: no instruction
// caused it (a SIGABRT by kill, by a watchdog, by abort()) and threads or
// tasks are stuck (a deadlock, a chain ending in a holder, a watchdog that
// found a thread stuck).
func (a *Analysis) hang() bool {
	w := a.o.Waits
	if w == nil || !w.Hang || a.Fault == nil || a.Fault.Kind != "" && a.Fault.Kind != "sent" {
		return false
	}
	fc := a.Fault.Context
	return fc != nil && fc.Real != nil && fc.Real.Sent
}

// Hang says whether the verdict is a hang's: the signal was sent (no
// instruction caused it) and the wait graph shows threads or tasks stuck.
func (a *Analysis) Hang() bool { return a.hang() }

// concludeHang is the verdict's part for a hang, and the weight it adds
// to the confidence.
func (a *Analysis) concludeHang() (para []l10n.Msg, weight int) {
	if !a.hang() {
		return nil, 0
	}
	w := a.o.Waits
	if wd := w.Watchdog; wd != nil {
		a.say("watchdog", "waits.watchdog", wd.Said)
		for i, l := range wd.Lines {
			// The daemon's log line, quoted as it wrote it.
			a.say("watchdog-log", fmt.Sprintf("waits.watchdog.lines[%d]", i), l10n.Verbatim(fmt.Sprintf("%s:%d: %s", l.File, l.Line, l.Text)))
		}
		weight += 2
	}
	for i, c := range w.Cycles {
		a.say("hang-deadlock", fmt.Sprintf("waits.cycles[%d]", i), c.Said)
		weight += 3
	}
	for i, c := range w.Chains {
		a.say("hang-chain", fmt.Sprintf("waits.chains[%d]", i), c.Said)
		weight++
	}
	for i, o := range w.Objects {
		if o.Leaked {
			a.say("leaked-lock", fmt.Sprintf("waits.objects[%d]", i), o.Said)
		}
	}
	summary := w.SummarySaid
	if summary.IsZero() {
		summary = l10n.Untranslated(w.Summary)
	}
	if w.Watchdog != nil {
		return []l10n.Msg{summary}, weight
	}
	return []l10n.Msg{l10n.T("verdict.hang", "Summary", summary)}, weight
}
