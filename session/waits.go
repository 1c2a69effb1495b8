package session

import (
	"strings"

	"github.com/dsecore/dsecore/analysis/fault"
	"github.com/dsecore/dsecore/analysis/holders"
	"github.com/dsecore/dsecore/analysis/waits"
	"github.com/dsecore/dsecore/internal/par"
)

// waitsState is the session's wait graph and the stacks it was made from.
type waitsState struct {
	stOnce par.Once
	stacks []holders.Stack
	wOnce  par.Once
	waits  *waits.Result
}

// Stacks are every thread's stack and every switched-out task's, unwound
// once for the wait graph and the fault analysis' holder search.
func (s *Session) Stacks() []holders.Stack {
	s.stOnce.Do(func() { s.stacks = holders.Stacks(s.p, s.Runtime()) })
	return s.stacks
}

// Waits is the wait graph (who waits for whom, the deadlocks, the chains,
// the heartbeat watchdog), made on the first call: it unwinds every thread
// and task. The logs given (--log, --log-dir) are read for the watchdog's
// lines.
func (s *Session) Waits() *waits.Result {
	s.wOnce.Do(func() {
		stacks := s.Stacks() // part of the analysis step when the analysis asks (no progress of its own)
		var lines []waits.LogLine
		for _, f := range fault.ExpandLogs(s.o.Logs) {
			ls, err := fault.ParseLog(f)
			if err != nil {
				continue // the fault analysis says what could not be read
			}
			for _, l := range ls {
				if strings.Contains(l.Message, "heartbeat_map") {
					lines = append(lines, waits.LogLine{File: l.File, Line: l.Line, Time: l.Time, Pthread: l.Pthread, Message: l.Message})
				}
			}
		}
		s.waits = waits.Analyze(s.p, s.Runtime(), stacks, waits.Options{Values: s.vr, Logs: lines})
	})
	return s.waits
}
