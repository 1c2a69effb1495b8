package waits_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/analysis/waits"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/dsecore/dsecore/session"
)

// truth is the hang scenarios' expected.json "waits".
type truth struct {
	Nodes []struct {
		ID, Name, State string
		LWP             int   `json:"lwp"`
		Task            int64 `json:"task"`
		WaitsFor        any   `json:"waits_for"`
		Write           bool  `json:"write"`
	}
	Objects []struct {
		Address, Kind, Type, Expr string
		Owner                     any
		Inferred, Leaked          bool
		Waiters                   []string
	}
	Cycles    [][]string
	Behind    []string
	ChainEnd  any    `json:"chain_end"`
	SignalNew string `json:"signal_from"`
}

func openScenario(t *testing.T, name string) (*fixture.Scenario, *session.Session) {
	t.Helper()
	sc := fixture.Get(t).Scenario(t, name)
	s, err := session.Open(session.Options{Core: sc.Core, Exe: sc.Exe, Logs: []string{sc.Dir}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return sc, s
}

func readTruth(t *testing.T, sc *fixture.Scenario) truth {
	t.Helper()
	var tr truth
	decode(t, sc.Expected["waits"], &tr)
	return tr
}

// decode reads a part of expected.json into a struct.
func decode(t *testing.T, v any, out any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err == nil {
		err = json.Unmarshal(b, out)
	}
	if err != nil {
		t.Fatalf("expected.json: %v", err)
	}
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// TestHangs: for each hang scenario the graph equals the truth the program
// wrote: every node's state and object, every object's kind, type,
// expression, owner (and whether it was inferred or leaked) and waiters,
// the cycles, the waiters behind them, the holder a chain ends in.
func TestHangs(t *testing.T) {
	for _, name := range fixture.Hangs {
		t.Run(name, func(t *testing.T) {
			sc, s := openScenario(t, name)
			checkGraph(t, sc, s)
		})
	}
}

// checkGraph compares the session's wait graph with the scenario's truth.
func checkGraph(t *testing.T, sc *fixture.Scenario, s *session.Session) {
	t.Helper()
	tr := readTruth(t, sc)
	res := s.Waits()
	if !res.Hang {
		t.Errorf("not a hang: %s", res.Summary)
	}
	// The count every face prints (text, JSON, the DAP's and VS Code's
	// Waits views) is the nodes' final states: leaked-lock's session
	// thread, idle on a condition variable nobody else reaches, was
	// counted waiting (3 where its graph has 2).
	waiting := 0
	for _, n := range res.Nodes {
		if n.State == waits.Waiting {
			waiting++
		}
	}
	if res.Stats.Waiting != waiting {
		t.Errorf("stats: %d waiting, but %d nodes are", res.Stats.Waiting, waiting)
	}
	for _, tn := range tr.Nodes {
		n := res.NodeByID(tn.ID)
		if n == nil {
			t.Errorf("node %s (%s): missing", tn.ID, tn.Name)
			continue
		}
		if n.State != tn.State {
			t.Errorf("node %s (%s): state %s (%s), want %s", tn.ID, tn.Name, n.State, n.Detail, tn.State)
		}
		if tn.Task >= 0 && n.Task != tn.Task {
			t.Errorf("node %s: task %d, want %d", tn.ID, n.Task, tn.Task)
		}
		if n.Write != tn.Write {
			t.Errorf("node %s: write %v, want %v", tn.ID, n.Write, tn.Write)
		}
		if w := str(tn.WaitsFor); w != "" && tn.State == waits.Waiting {
			if n.WaitsFor < 0 {
				t.Errorf("node %s: waits for nothing, want %s", tn.ID, w)
			} else if got := fmt.Sprintf("%#x", res.Objects[n.WaitsFor].Address); got != w {
				t.Errorf("node %s: waits for %s (%s), want %s", tn.ID, got, res.Objects[n.WaitsFor].Expr, w)
			}
		}
	}
	for _, to := range tr.Objects {
		var o *waits.Object
		for i := range res.Objects {
			if fmt.Sprintf("%#x", res.Objects[i].Address) == to.Address {
				o = &res.Objects[i]
			}
		}
		if o == nil {
			t.Errorf("object %s %s: missing", to.Address, to.Expr)
			continue
		}
		if o.Kind != to.Kind || o.Type != to.Type || o.Expr != to.Expr {
			t.Errorf("object %s: %s %s %q, want %s %s %q", to.Address, o.Kind, o.Type, o.Expr, to.Kind, to.Type, to.Expr)
		}
		if o.Owner != str(to.Owner) || o.Inferred != to.Inferred || o.Leaked != to.Leaked {
			t.Errorf("object %s: owner %q inferred %v leaked %v (%s), want %q %v %v", to.Expr, o.Owner, o.Inferred, o.Leaked, o.Text, str(to.Owner), to.Inferred, to.Leaked)
		}
		got := append([]string(nil), o.Waiters...)
		sort.Strings(got)
		want := append([]string(nil), to.Waiters...)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Errorf("object %s: waiters %v, want %v", to.Expr, got, want)
		}
	}
	var cycles [][]string
	var behind []string
	for _, c := range res.Cycles {
		var ids []string
		for _, m := range c.Members {
			ids = append(ids, m.Node)
			if m.HoldFrame < 0 || m.WaitFrame < 0 {
				t.Errorf("cycle member %s: holding frame %d, waiting frame %d", m.Node, m.HoldFrame, m.WaitFrame)
			}
		}
		sort.Strings(ids)
		cycles = append(cycles, ids)
		behind = append(behind, c.Behind...)
	}
	for i := range tr.Cycles {
		sort.Strings(tr.Cycles[i])
	}
	if fmt.Sprint(cycles) != fmt.Sprint(tr.Cycles) {
		t.Errorf("cycles %v, want %v", cycles, tr.Cycles)
	}
	sort.Strings(behind)
	sort.Strings(tr.Behind)
	if fmt.Sprint(behind) != fmt.Sprint(tr.Behind) {
		t.Errorf("behind %v, want %v", behind, tr.Behind)
	}
	if end := str(tr.ChainEnd); end != "" {
		found := false
		for _, c := range res.Chains {
			found = found || c.End == end
		}
		if !found {
			t.Errorf("no chain ends in %s: %s", end, res.Summary)
		}
	} else if len(res.Chains) > 0 {
		t.Errorf("chains %v, want none", res.Chains)
	}
	if res.Shape == "" || strings.Contains(res.Shape, "0x") {
		t.Errorf("shape %q: empty, or with an address", res.Shape)
	}
	// The verdict is the hang's: the signal was sent, the graph explains it.
	a := s.Analysis()
	if !a.Hang() || !strings.Contains(a.Verdict, res.Summary) {
		t.Errorf("verdict without the hang: %s", a.Verdict)
	}
	rule := map[bool]string{true: "hang-deadlock", false: "hang-chain"}[len(tr.Cycles) > 0]
	if !slices.Contains(a.Rules, rule) || strings.Contains(a.Verdict, "no assertion message") {
		t.Errorf("rules %v (want %s), verdict %s", a.Rules, rule, a.Verdict)
	}
	t.Logf("%s\nshape: %s", res.Summary, res.Shape)
}

// TestForkHangs: the fork's routine_sync renames the Rutex class template,
// the waiter's pointer to its Rutex, the Rutex's list of waiters and the
// rwlock's type. The default profile adapts each of its sync keys (a loud
// warning in the waits' own, with the profile line that makes it explicit)
// and the graph equals the program's truth; with those lines in a profile
// nothing is adapted and the graph is the same.
func TestForkHangs(t *testing.T) {
	for _, name := range []string{fixture.ForkCoRWLock, fixture.ForkCoChan} {
		t.Run(name, func(t *testing.T) {
			sc, s := openScenario(t, name)
			checkGraph(t, sc, s)
			ws := s.Waits().Warnings
			rwmutex := `"libgo::RWMutexImpl": co_rwmutex}`
			for key, line := range map[string]string{"waiter_rutex": "waiter_rutex: waitingOn_", "rutex_waiters": "rutex_waiters: sleepers_.head_",
				"sync_types.libgo::SharedMutex": "sync_types: {"} {
				found := false
				for _, w := range ws {
					found = found || strings.Contains(w, "PROFILE ADAPTED") && strings.Contains(w, key+":") && strings.Contains(w, "to say so in the profile: "+line) &&
						(!strings.HasPrefix(key, "sync_types") || strings.HasSuffix(w, rwmutex))
				}
				if !found {
					t.Errorf("no loud adaptation of %s (%s) in %q", key, line, ws)
				}
			}
			// The fork's profile: its lines said.
			path := filepath.Join(t.TempDir(), "fork.yaml")
			prof := `base: ceph-dse
running: curTask_
task_count: nTasks_
hook_type: co::LinkedQueueHook
queues: {runnableQueue_: runnable, blockQueue_: block, newQueue_: new, gcQueue_: done}
waiter_rutex: waitingOn_
rutex_waiters: sleepers_.head_
sync_types: {"libgo::Mutex": co_mutex, "libgo::RWMutexImpl": co_rwmutex, "libgo::ConditionVariable": co_condvar, "libgo::ChannelImplWithSignal": co_chan}
`
			if err := os.WriteFile(path, []byte(prof), 0o644); err != nil {
				t.Fatal(err)
			}
			s2, err := session.Open(session.Options{Core: sc.Core, Exe: sc.Exe, Logs: []string{sc.Dir}, CoroutineProfile: path})
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			checkGraph(t, sc, s2)
			for _, w := range append(s2.Waits().Warnings, s2.Runtime().Warnings...) {
				if strings.Contains(w, "PROFILE") || strings.Contains(w, "profile") {
					t.Errorf("with the fork's profile: %s", w)
				}
			}
		})
	}
}

// TestRWLockWithoutLibcDebugInfo: the rwlock scenario read without
// libc6-dbg (an empty debug-file directory): pthread_rwlock_rdlock's rwlock
// parameter is unknown, the readers sleep on a futex word inside the lock
// (__wrphase_futex), and the lock is found from glibc's layout of
// pthread_rwlock_t; its writer (__cur_writer) is read as with DWARF.
func TestRWLockWithoutLibcDebugInfo(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.RWLock)
	s, err := session.Open(session.Options{Core: sc.Core, Exe: sc.Exe, Logs: []string{sc.Dir}, DebugFileDirs: []string{t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, m := range s.Process().Modules {
		if strings.HasPrefix(m.BaseName(), "libc.so") && m.Syms != nil && m.Syms.HasDWARF() {
			t.Fatalf("%s has debug information: the test reads the C library without it", m.Path)
		}
	}
	checkGraph(t, sc, s)
	for _, o := range s.Waits().Objects {
		if o.Kind == waits.RWLock && (o.OwnerHow == "" || !strings.HasPrefix(o.OwnerHow, "__cur_writer")) {
			t.Errorf("%s: owner %q by %q", o.Expr, o.Owner, o.OwnerHow)
		}
	}
}

// TestWatchdog: the heartbeat scenario's watchdog, from its log lines and
// its frame: the service thread is the messenger, the handle's thread the
// stuck one, with its running task.
func TestWatchdog(t *testing.T) {
	sc, s := openScenario(t, fixture.Heartbeat)
	var wd struct {
		LWP          int    `json:"lwp"`
		Handle       string `json:"handle"`
		Grace        int    `json:"grace"`
		SuicideGrace int    `json:"suicide_grace"`
		StuckLWP     int    `json:"stuck_lwp"`
		StuckTask    int64  `json:"stuck_task"`
		StuckPthread string `json:"stuck_pthread"`
	}
	decode(t, sc.Expected["watchdog"], &wd)
	w := s.Waits().Watchdog
	if w == nil {
		t.Fatal("no watchdog")
	}
	if w.Messenger != fmt.Sprintf("lwp:%d", wd.LWP) || w.Stuck != fmt.Sprintf("lwp:%d", wd.StuckLWP) || w.Handle != wd.Handle ||
		!w.Suicide || !w.FromMemory || fmt.Sprintf("%#x", w.Pthread) != wd.StuckPthread {
		t.Errorf("watchdog %+v, want messenger LWP %d, stuck LWP %d (%s), handle %q, suicide, from memory", w, wd.LWP, wd.StuckLWP, wd.StuckPthread, wd.Handle)
	}
	if w.Grace != fmt.Sprint(wd.Grace) || w.SuicideGrace != fmt.Sprint(wd.SuicideGrace) {
		t.Errorf("graces %q %q, want %d %d", w.Grace, w.SuicideGrace, wd.Grace, wd.SuicideGrace)
	}
	suicide := 0
	for _, l := range w.Lines {
		if strings.Contains(l.Text, "had suicide timed out after") {
			suicide++
		}
		if l.Pthread == 0 || !strings.Contains(l.Text, wd.Handle) {
			t.Errorf("line %s:%d %q: no pthread, or not the handle", l.File, l.Line, l.Text)
		}
	}
	if suicide != 1 || len(w.Lines) < 2 {
		t.Errorf("%d lines, %d suicide lines", len(w.Lines), suicide)
	}
	n := s.Waits().NodeByID(w.Stuck)
	if n == nil || n.Task != wd.StuckTask || n.State != waits.Waiting {
		t.Fatalf("stuck node %+v, want task %d waiting", n, wd.StuckTask)
	}
	for _, want := range []string{"heartbeat watchdog", "messenger, not the culprit", wd.Handle, "hangs::pg_1.lock", "op_commit", "pg_flush", "read(2)"} {
		if !strings.Contains(w.Text, want) {
			t.Errorf("watchdog text lacks %q: %s", want, w.Text)
		}
	}
}

// TestNoHangOnCrashes: the crash fixtures are no hangs, and their verdict
// says nothing of one.
func TestNoHangOnCrashes(t *testing.T) {
	for _, name := range []string{fixture.FieldCrash, fixture.Abort, fixture.DoubleFree, fixture.SecondFault, fixture.PointerChain, fixture.NoHandler} {
		t.Run(name, func(t *testing.T) {
			_, s := openScenario(t, name)
			res := s.Waits()
			if res.Hang || len(res.Cycles) > 0 || len(res.Chains) > 0 {
				t.Errorf("a hang: %s", res.Summary)
			}
			if v := s.Analysis().Verdict; strings.Contains(v, "Hang") || strings.Contains(v, "Deadlock") {
				t.Errorf("verdict: %s", v)
			}
			if res.Stats.Threads == 0 || res.Stats.Tasks == 0 {
				t.Errorf("stats %+v", res.Stats)
			}
		})
	}
}

// TestLarge: the 10,000-task core is read whole (no bound hit, no hang),
// and a smaller bound says it cut the graph.
func TestLarge(t *testing.T) {
	_, s := openScenario(t, fixture.Large)
	res := s.Waits()
	if res.Stats.Tasks < 10000 || res.Hang || len(res.Bounds) > 0 {
		t.Errorf("stats %+v, hang %v, bounds %v", res.Stats, res.Hang, res.Bounds)
	}
	cut := waits.Analyze(s.Process(), s.Runtime(), s.Stacks(), waits.Options{Values: s.Values(), MaxNodes: 5000})
	if len(cut.Bounds) != 1 || cut.Bounds[0].Bound != "nodes" || cut.Bounds[0].Count != len(s.Stacks())-5000 || len(cut.Nodes) != 5000 {
		t.Errorf("bounds %+v, %d nodes", cut.Bounds, len(cut.Nodes))
	}
}
