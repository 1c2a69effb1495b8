package fault_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/dsecore/dsecore/session"
)

// TestHangVerdicts: the verdict of a hang core, given its wait graph
// (the package's other tests never pass one), against the truth the hang
// program wrote in expected.json before it was killed: a hang, not a
// fault; one hang-deadlock evidence per cycle, a hang-chain evidence when
// a chain ends in a holder, a leaked-lock evidence for each leaked object;
// the watchdog's evidence and its log lines (the file and the handle
// Ceph's HeartbeatMap named) when the signal came from the watchdog, and
// then the watchdog's words make the verdict's hang part, not "Hang: …"
// with the cycle's and the chain's threads and tasks.
func TestHangVerdicts(t *testing.T) {
	set := fixture.Get(t)
	for _, name := range []string{fixture.TaskDeadlock, fixture.LeakedLock, fixture.Heartbeat} {
		t.Run(name, func(t *testing.T) {
			sc := set.Scenario(t, name)
			s := openWithLogs(t, sc)
			a := s.Analysis()
			w := sc.Expected["waits"].(map[string]any)
			// The logs' lines name threads of the core, and Ceph's log
			// format (the watchdog's) names no LWP to disagree with.
			if a.Logs == nil || a.Logs.Unmatched != 0 || len(a.Logs.Notes) != 0 {
				t.Errorf("logs %+v", a.Logs)
			}
			if !a.Hang() {
				t.Fatalf("not a hang (signal from %v): %s", w["signal_from"], a.Verdict)
			}
			refs := map[string][]string{}
			texts := map[string][]string{}
			for _, e := range a.Evidence {
				refs[e.Rule] = append(refs[e.Rule], e.Ref)
				texts[e.Rule] = append(texts[e.Rule], e.Text)
			}
			var want []string
			for i := range w["cycles"].([]any) {
				want = append(want, fmt.Sprintf("waits.cycles[%d]", i))
			}
			same(t, "hang-deadlock", refs["hang-deadlock"], want)
			if chain := w["chain_end"] != nil; chain != (len(refs["hang-chain"]) == 1) {
				t.Errorf("chain to %v: hang-chain evidence %v", w["chain_end"], refs["hang-chain"])
			}
			// The leaked objects by address: the graph lists objects in
			// the order its walk meets them, which follows the kernel's
			// thread order in the core, not the order the program wrote.
			want = nil
			for _, o := range w["objects"].([]any) {
				if o := o.(map[string]any); o["leaked"] == true {
					want = append(want, o["address"].(string))
				}
			}
			var leaked []string
			for _, ref := range refs["leaked-lock"] {
				var i int
				if _, err := fmt.Sscanf(ref, "waits.objects[%d]", &i); err != nil || i >= len(s.Waits().Objects) {
					t.Fatalf("leaked-lock evidence %q names no object of the graph", ref)
				}
				leaked = append(leaked, fmt.Sprintf("%#x", s.Waits().Objects[i].Address))
			}
			same(t, "leaked-lock", leaked, want)

			wd, _ := sc.Expected["watchdog"].(map[string]any)
			if (wd != nil) != (w["signal_from"] == "watchdog") {
				t.Fatalf("expected.json: watchdog %v, signal from %v", wd, w["signal_from"])
			}
			if wd == nil {
				if len(refs["watchdog"])+len(refs["watchdog-log"]) > 0 {
					t.Errorf("no watchdog in %s: evidence %v %v", name, refs["watchdog"], refs["watchdog-log"])
				}
				if !strings.Contains(a.Verdict, " Hang: ") {
					t.Errorf("verdict %q: no hang", a.Verdict)
				}
				// The hang's threads and tasks, named as the truth does.
				var who []any
				for _, c := range w["cycles"].([]any) {
					who = append(who, c.([]any)...)
				}
				if w["chain_end"] != nil {
					who = append(who, w["chain_end"])
				}
				for _, id := range who {
					kind, n, _ := strings.Cut(id.(string), ":")
					if said := map[string]string{"task": "task ", "lwp": "LWP "}[kind] + n; !strings.Contains(a.Verdict, said+" ") {
						t.Errorf("verdict %q: no %s", a.Verdict, said)
					}
				}
				return
			}
			same(t, "watchdog", refs["watchdog"], []string{"waits.watchdog"})
			if len(texts["watchdog-log"]) == 0 {
				t.Errorf("no watchdog-log evidence")
			}
			for i, l := range texts["watchdog-log"] {
				if want := fmt.Sprintf("waits.watchdog.lines[%d]", i); refs["watchdog-log"][i] != want {
					t.Errorf("watchdog-log %d: ref %s, want %s", i, refs["watchdog-log"][i], want)
				}
				if !strings.HasPrefix(l, wd["log"].(string)+":") || !strings.Contains(l, wd["handle"].(string)) {
					t.Errorf("watchdog-log %q: not a line of %s naming %q", l, wd["log"], wd["handle"])
				}
			}
			if strings.Contains(a.Verdict, "Hang: ") || !strings.Contains(a.Verdict, fmt.Sprint(wd["stuck_name"])) {
				t.Errorf("verdict %q: want the watchdog's words, naming the stuck thread %v", a.Verdict, wd["stuck_name"])
			}
		})
	}
}

// openWithLogs opens a scenario's core with its program and its logs (the
// watchdog's lines are in them), closed when the test ends.
func openWithLogs(t *testing.T, sc *fixture.Scenario) *session.Session {
	t.Helper()
	s, err := session.Open(session.Options{Core: sc.Core, Exe: sc.Exe, Logs: []string{sc.Dir}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func same(t *testing.T, rule string, got, want []string) {
	t.Helper()
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("%s evidence %v, want %v", rule, got, want)
	}
}
