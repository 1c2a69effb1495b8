package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dsecore/dsecore/analysis/coroutines"
	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/symbols"
	"github.com/dsecore/dsecore/coreparse/values"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/dsecore/dsecore/internal/testsupport/gdboracle"
	"github.com/dsecore/dsecore/session"
)

// The differential value test: every argument and local of every frame of
// every thread, and of every task with a saved context (gdb unwinds tasks
// through the gdb bridge's task unwinder), read by dsecore's values model
// (what the DAP's Variables and the console show) and by gdb
// (Symbol.value(frame): `info args`, `info locals`), compared scalar by
// scalar, structs member by member to a depth. "optimized out" counts as
// equal only when both say it.

// valueCounts are what one core's comparison counted.
type valueCounts struct {
	stacks, frames, noSyms int // stacks and frames compared, frames gdb has no block for
	tailcalls, noStack     int // task frames gdb does not show (tail calls), tasks without a stack (new, done)
	vars, equal, bothOpt   int // variables (args and locals), equal ones, optimized out on both sides
	scalars, scalarsEqual  int // the scalars inside them
	diffs                  []string
}

func (c valueCounts) String() string {
	return fmt.Sprintf("%d stacks, %d frames (%d without DWARF): %d values compared, %d equal, %d optimized out on both sides; %d/%d scalars equal",
		c.stacks, c.frames, c.noSyms, c.vars, c.equal, c.bothOpt, c.scalarsEqual, c.scalars)
}

const valueDepth, valueElems = 3, 4

// ourVal reads one of our values into gdb's comparable form.
func ourVal(vr *values.Reader, v *values.Value, depth int) gdboracle.Val {
	if v.Absence == values.OptimizedOut {
		return gdboracle.Val{OptimizedOut: true}
	}
	if v.Absent() {
		return gdboracle.Val{Err: v.AbsentText()}
	}
	ty := vr.Resolved(v)
	if ty == nil {
		return gdboracle.Val{Other: "no type"}
	}
	u := func(x uint64, err error) gdboracle.Val {
		if err != nil {
			return gdboracle.Val{Err: err.Error()}
		}
		return gdboracle.Val{Int: &x}
	}
	switch ty.Kind {
	case symbols.KindPointer:
		return u(vr.Uint(v))
	case symbols.KindBase, symbols.KindEnum:
		if ty.Kind == symbols.KindBase && ty.Encoding == 0x4 { // DW_ATE_float
			f, err := vr.Float(v)
			if err != nil {
				return gdboracle.Val{Err: err.Error()}
			}
			return gdboracle.Val{Float: &f}
		}
		x, err := vr.Int(v)
		return u(uint64(x), err)
	case symbols.KindStruct:
		if depth >= valueDepth {
			return gdboracle.Val{Shallow: true}
		}
		if _, err := vr.Read(v, 1); err != nil && vr.Size(v) > 0 {
			return gdboracle.Val{Err: err.Error()}
		}
		var ms []gdboracle.Member
		for _, m := range vr.Members(v) {
			base := strings.HasPrefix(m.Name, "<") && strings.HasSuffix(m.Name, ">") && m.Name != "<anonymous>"
			name := m.Name
			if name == "<anonymous>" {
				name = ""
			}
			ms = append(ms, gdboracle.Member{Name: name, Base: base, Val: ourVal(vr, m, depth+1)})
		}
		return gdboracle.Val{Members: ms}
	case symbols.KindArray:
		var es []gdboracle.Val
		for i := int64(0); i < min(ty.Count, valueElems); i++ {
			e, err := vr.Index(v, i)
			if err != nil {
				es = append(es, gdboracle.Val{Err: err.Error()})
				continue
			}
			es = append(es, ourVal(vr, e, depth+1))
		}
		return gdboracle.Val{Elems: es}
	}
	return gdboracle.Val{Other: fmt.Sprintf("kind %d", ty.Kind)}
}

// sameVal compares our value with gdb's; it counts scalars and returns the
// first difference ("" when equal).
func (c *valueCounts) sameVal(path string, o, g gdboracle.Val) string {
	show := func(v gdboracle.Val) string {
		switch {
		case v.OptimizedOut:
			return "<optimized out>"
		case v.Int != nil:
			return fmt.Sprintf("%#x", *v.Int)
		case v.Float != nil:
			return fmt.Sprint(*v.Float)
		case v.Err != "":
			return "<error: " + v.Err + ">"
		case v.Shallow:
			return "{...}"
		case v.Members != nil:
			return fmt.Sprintf("{%d members}", len(v.Members))
		case v.Elems != nil:
			return fmt.Sprintf("[%d elements]", len(v.Elems))
		}
		return "<" + v.Other + ">"
	}
	diff := func() string { return fmt.Sprintf("%s: ours %s, gdb %s (%s)", path, show(o), show(g), g.Type) }
	switch {
	case g.Other != "":
		return "" // a function, void: not compared
	case g.OptimizedOut || o.OptimizedOut:
		c.scalars++
		if g.OptimizedOut != o.OptimizedOut {
			return diff()
		}
		c.scalarsEqual++
		return ""
	case g.Err != "":
		// gdb could not read it: neither may we show a value.
		c.scalars++
		if o.Err == "" && o.Int != nil {
			return diff()
		}
		c.scalarsEqual++
		return ""
	case g.Int != nil:
		c.scalars++
		if o.Int == nil || *o.Int != *g.Int {
			return diff()
		}
		c.scalarsEqual++
		return ""
	case g.Float != nil:
		c.scalars++
		if o.Float == nil || (*o.Float != *g.Float && !(math.IsNaN(*o.Float) && math.IsNaN(*g.Float))) {
			return diff()
		}
		c.scalarsEqual++
		return ""
	case g.Shallow:
		if !o.Shallow {
			return diff()
		}
		return ""
	case g.Members != nil:
		if o.Members == nil && len(g.Members) > 0 || o.Shallow || o.Int != nil || o.Float != nil || o.Err != "" || o.Other != "" || o.OptimizedOut {
			return diff()
		}
		if len(o.Members) != len(g.Members) {
			return fmt.Sprintf("%s: %d members, gdb %d (%s)", path, len(o.Members), len(g.Members), g.Type)
		}
		first := ""
		for i, gm := range g.Members {
			om := o.Members[i]
			if !gm.Base && om.Name != gm.Name {
				return fmt.Sprintf("%s: member #%d is %q, gdb %q", path, i, om.Name, gm.Name)
			}
			name := gm.Name
			if gm.Base {
				name = "<" + name + ">"
			}
			if d := c.sameVal(path+"."+name, om.Val, gm.Val); d != "" && first == "" {
				first = d
			}
		}
		return first
	case g.Elems != nil:
		if len(o.Elems) != len(g.Elems) {
			return diff()
		}
		first := ""
		for i := range g.Elems {
			if d := c.sameVal(fmt.Sprintf("%s[%d]", path, i), o.Elems[i], g.Elems[i]); d != "" && first == "" {
				first = d
			}
		}
		return first
	}
	if o.Members == nil && o.Elems == nil && !o.Shallow {
		return "" // an empty struct or array on both sides
	}
	return diff()
}

// compareVars matches variables by name (the i-th of a name with the i-th:
// shadowed names repeat) and compares their values.
func (c *valueCounts) compareVars(where, kind string, vr *values.Reader, ours []*values.Value, gdb []gdboracle.Var) {
	byName := map[string][]*values.Value{}
	for _, v := range ours {
		byName[v.Name] = append(byName[v.Name], v)
	}
	seen := map[string]int{}
	for _, g := range gdb {
		k := seen[g.Name]
		seen[g.Name]++
		c.vars++
		if k >= len(byName[g.Name]) {
			c.diffs = append(c.diffs, fmt.Sprintf("%s: %s %s: missing (gdb has it)", where, kind, g.Name))
			continue
		}
		o := ourVal(vr, byName[g.Name][k], 0)
		if d := c.sameVal(kind+" "+g.Name, o, g.Val); d != "" {
			c.diffs = append(c.diffs, where+": "+d)
			continue
		}
		c.equal++
		if g.Val.OptimizedOut {
			c.bothOpt++
		}
	}
	for name, vs := range byName {
		if len(vs) > seen[name] {
			c.diffs = append(c.diffs, fmt.Sprintf("%s: %s %s: %d, gdb lists %d", where, kind, name, len(vs), seen[name]))
		}
	}
}

// compareStack compares one stack's frames (ours and gdb's, innermost
// first) while their pcs agree.
func (c *valueCounts) compareStack(who string, p *coreparse.Process, vr *values.Reader, fs []coreparse.Frame, gs []gdboracle.VarFrame) {
	c.stacks++
	i := 0
	for gi, g := range gs {
		// gdb shows no TAILCALL frames on a task's stack through the
		// bridge's unwinder (it does on threads): ours are left out.
		for i < len(fs) && fs[i].Tailcall && fs[i].PC != g.PC {
			c.tailcalls++
			i++
		}
		if i >= len(fs) {
			break
		}
		f := fs[i]
		i++
		where := fmt.Sprintf("%s #%d %s", who, gi, g.Name)
		if f.Boundary || f.PC != g.PC {
			if !f.Boundary {
				c.diffs = append(c.diffs, fmt.Sprintf("%s: pc %#x, gdb %#x: frames differ, values not compared further", where, f.PC, g.PC))
			}
			break
		}
		c.frames++
		if g.NoSyms {
			c.noSyms++
			continue
		}
		var ps, ls []*values.Value
		if vf := values.FrameOf(p, fs, i-1); vf != nil {
			var err error
			ps, ls, err = vr.FrameVars(vf)
			if err != nil && len(g.Args)+len(g.Locals) > 0 {
				c.diffs = append(c.diffs, fmt.Sprintf("%s: %v", where, err))
			}
		}
		c.compareVars(where, "arg", vr, ps, g.Args)
		c.compareVars(where, "local", vr, ls, g.Locals)
	}
}

// compareValuesWithGdb runs the comparison on one core and fails the test
// on any difference; it returns the counts.
func compareValuesWithGdb(t *testing.T, exe, core string, o gdboracle.ValueOptions) valueCounts {
	t.Helper()
	o.Bridge = filepath.Join(fixture.RepoRoot(), "gdbscript", "dsecore.py")
	o.Dsecore = dsecoreBin
	o.Depth, o.Elems = valueDepth, valueElems
	if o.Timeout == 0 {
		// The scale core's thousand tasks take gdb about three minutes on
		// two busy CPUs: the bound is for a hung gdb, not a slow one.
		o.Timeout = 40 * time.Minute
	}
	gdb, err := gdboracle.FrameVariables(exe, core, o)
	if err != nil {
		t.Fatal(err)
	}
	s, err := session.Open(session.Options{Core: core, Exe: exe, SolibSearchPath: o.SolibSearchPath, Sysroot: o.Sysroot})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p, vr := s.Process(), s.Values()
	var rt *coroutines.Runtime
	tasks := map[int64]*coroutines.Task{}
	var c valueCounts
	for _, g := range gdb {
		if g.Task == nil {
			th := p.ThreadByLWP(g.LWP)
			if th == nil {
				c.diffs = append(c.diffs, fmt.Sprintf("LWP %d: no such thread", g.LWP))
				continue
			}
			fs, _ := p.Backtrace(th)
			c.compareStack(fmt.Sprintf("LWP %d", g.LWP), p, vr, fs, g.Frames)
			continue
		}
		if rt == nil {
			rt = s.Runtime()
			for _, tk := range rt.Tasks {
				tasks[tk.ID] = tk
			}
		}
		who := fmt.Sprintf("task %d", *g.Task)
		if g.Error != "" {
			c.diffs = append(c.diffs, fmt.Sprintf("%s: gdb: %s", who, g.Error))
			continue
		}
		tk := tasks[*g.Task]
		if tk == nil {
			c.diffs = append(c.diffs, who+": not among our tasks")
			continue
		}
		fs, err := rt.Stack(tk)
		if errors.Is(err, coroutines.ErrNoStack) {
			// Not started or done: the bridge shows the initial context,
			// the model no stack. Nothing of the program's to compare.
			c.noStack++
			continue
		}
		if err != nil && len(fs) == 0 {
			c.diffs = append(c.diffs, fmt.Sprintf("%s: %v", who, err))
			continue
		}
		c.compareStack(who, p, vr, fs, g.Frames)
	}
	t.Logf("%s: %v", filepath.Base(filepath.Dir(core)), c)
	if out := os.Getenv("DSECORE_VALUEDIFF_OUT"); out != "" {
		// Every difference, for a reading beyond the test log's first 40.
		os.WriteFile(filepath.Join(out, filepath.Base(filepath.Dir(core))+".txt"), []byte(strings.Join(c.diffs, "\n")+"\n"), 0o644)
		b, _ := json.MarshalIndent(gdb, "", " ")
		os.WriteFile(filepath.Join(out, filepath.Base(filepath.Dir(core))+".gdb.json"), b, 0o644)
	}
	for i, d := range c.diffs {
		if i == 40 {
			t.Errorf("… and %d more differences", len(c.diffs)-i)
			break
		}
		t.Errorf("%s", d)
	}
	if c.vars == 0 {
		t.Errorf("no value compared")
	}
	return c
}

// largeSample is the tasks of the large core whose values are compared:
// every task but the 10,000 sleepers (one code path, suspended alike), and
// every 50th sleeper. Showing each through the bridge costs gdb about 60
// ms; all of them would take ten minutes.
func largeSample(t *testing.T, sc *fixture.Scenario) []int64 {
	var ids []int64
	sleepers := 0
	for _, x := range sc.Expected["tasks"].([]any) {
		task := x.(map[string]any)
		id := fixture.Num(t, task["id"])
		if task["func"] == "wait_for_peer" {
			if sleepers++; sleepers%50 != 1 {
				continue
			}
		}
		ids = append(ids, id)
	}
	return ids
}

func TestValuesMatchGdbOnFixtures(t *testing.T) {
	set := fixture.Get(t)
	for _, name := range fixture.All {
		t.Run(name, func(t *testing.T) {
			sc := set.Scenario(t, name)
			var o gdboracle.ValueOptions
			if name == fixture.Large {
				o.Tasks = largeSample(t, sc)
			}
			compareValuesWithGdb(t, sc.Exe, sc.Core, o)
		})
	}
}

// TestTaskArgsTruth: on the task-args core, the arguments the program
// says its suspended tasks' frames hold (pg_scrub's pg, only an entry value
// of a global's address; pg_flush's pg, in a callee-saved register the
// task's saved context restores) read as the program wrote them, by the
// values model the DAP and the console show.
func TestTaskArgsTruth(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.TaskArgs)
	s, err := session.Open(session.Options{Core: sc.Core, Exe: sc.Exe})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rt := s.Runtime()
	truth, _ := sc.Expected["task_args"].([]any)
	if len(truth) != 2 {
		t.Fatalf("expected.json: task_args %v", sc.Expected["task_args"])
	}
	for _, x := range truth {
		w := x.(map[string]any)
		id, fn, arg := int64(fixture.Num(t, w["task"])), w["function"].(string), w["arg"].(string)
		want := fixture.Hex(t, w["value"])
		var tk *coroutines.Task
		for _, c := range rt.Tasks {
			if c.ID == id {
				tk = c
			}
		}
		if tk == nil {
			t.Errorf("task %d: not found", id)
			continue
		}
		fs, err := rt.Stack(tk)
		if err != nil {
			t.Errorf("task %d: %v", id, err)
			continue
		}
		found := false
		for i, f := range fs {
			if f.Function != fn {
				continue
			}
			found = true
			ps, _, err := s.Values().FrameVars(values.FrameOf(s.Process(), fs, i))
			if err != nil {
				t.Errorf("task %d %s: %v", id, fn, err)
			}
			var v *values.Value
			for _, p := range ps {
				if p.Name == arg {
					v = p
				}
			}
			if v == nil {
				t.Errorf("task %d %s: no argument %s", id, fn, arg)
				break
			}
			got, err := s.Values().Uint(v)
			sum := s.Values().Summary(v, false)
			if err != nil || got != want || !strings.Contains(sum, "<"+w["symbol"].(string)+">") {
				t.Errorf("task %d %s: %s = %#x (%v; %q, where %q), want %#x <%s> (%s)", id, fn, arg, got, err, sum, v.Where, want, w["symbol"], w["held"])
			} else {
				t.Logf("task %d %s: %s = %s (%s; %s)", id, fn, arg, sum, v.Where, w["held"])
			}
			break
		}
		if !found {
			t.Errorf("task %d: no frame of %s", id, fn)
		}
	}
}

// TestCephCorpusValues: every argument and local gdb reads in the real
// daemon's frames (ceph-mon has no DWARF: glibc's frames, with Debian's
// libc6-dbg) equal to the model's.
func TestCephCorpusValues(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the real-daemon corpus starts Ceph daemons")
	}
	corpus := cephCorpus(t)
	for _, name := range cephScenarios {
		t.Run(name, func(t *testing.T) {
			compareValuesWithGdb(t, "/usr/bin/ceph-mon", filepath.Join(corpus, name, "core"), gdboracle.ValueOptions{})
		})
	}
}
