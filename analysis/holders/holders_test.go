package holders_test

import (
	"debug/dwarf"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dsecore/dsecore/analysis/coroutines"
	"github.com/dsecore/dsecore/analysis/fault"
	"github.com/dsecore/dsecore/analysis/holders"
	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/symbols"
	"github.com/dsecore/dsecore/coreparse/unwind"
	"github.com/dsecore/dsecore/coreparse/values"
	"github.com/dsecore/dsecore/internal/testsupport/bound"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/dsecore/dsecore/internal/testsupport/fixtureproc"
	"github.com/dsecore/dsecore/internal/testsupport/gdboracle"
)

type opened struct {
	sc *fixture.Scenario
	p  *coreparse.Process
	rt *coroutines.Runtime
}

func open(t testing.TB, name string) *opened {
	t.Helper()
	o := fixtureproc.Scenario(t, name)
	return &opened{o.Sc, o.P, o.RT}
}

// others are every stack but the crash's own (its thread and its task).
func (o *opened) others(t testing.TB) []holders.Stack {
	return holders.Without(holders.Stacks(o.p, o.rt), int(fixture.Num(t, o.sc.Expected["crash_lwp"])), fixture.Num(t, o.sc.Expected["crash_task_id"]))
}

// sizeOf is a type's size from the executable's DWARF.
func (o *opened) sizeOf(t testing.TB, name string) uint64 {
	t.Helper()
	n, ok := o.trySize(name)
	if !ok {
		t.Fatalf("no type %s", name)
	}
	return n
}

func (o *opened) trySize(name string) (uint64, bool) {
	for _, m := range append([]*coreparse.Module{o.p.Exe}, o.p.Modules...) {
		if m != nil && m.Syms != nil {
			if ty, ok := m.Syms.LookupType(name); ok && m.Syms.SizeOf(ty.Offset) > 0 {
				return uint64(m.Syms.SizeOf(ty.Offset)), true
			}
		}
	}
	return 0, false
}

// fieldTargets: the contested node (the owner), its list header and its
// objects, sized by their DWARF types.
func (o *opened) fieldTargets(t testing.TB) []holders.Target {
	node := fixture.Hex(t, o.sc.Expected["node"])
	ts := []holders.Target{
		{Address: node, Size: o.sizeOf(t, "dm_hash_node_t"), Role: "owner", What: "the owner dm_hash_node_t"},
		{Address: node + 0x18, Size: o.sizeOf(t, "dm_obj_list_t"), Role: "list header", Weight: 80},
	}
	for i, x := range o.sc.Expected["objs"].([]any) {
		ts = append(ts, holders.Target{Address: fixture.Hex(t, x.(map[string]any)["address"]), Size: o.sizeOf(t, "dm_obj_t"), Role: fmt.Sprintf("list element #%d", i), Weight: 60})
	}
	return ts
}

// TestPointerChainCoreHasNoRawCopy checks the fixture's claim in its core:
// no register and no stack word of any thread or task but the crash's own
// holds the node's address, so only the object graph can find its holder.
func TestPointerChainCoreHasNoRawCopy(t *testing.T) {
	o := open(t, fixture.PointerChain)
	node := fixture.Hex(t, o.sc.Expected["node"])
	crash := int(fixture.Num(t, o.sc.Expected["crash_lwp"]))
	crashTask := fixture.Num(t, o.sc.Expected["crash_task_id"])
	scanned := 0
	scan := func(who string, lo, hi uint64) {
		buf := make([]byte, hi-lo)
		n, _ := o.p.Core.ReadAt(buf, lo)
		if n < 8 {
			t.Errorf("%s: the stack [%#x, %#x) is not in the core", who, lo, hi)
		}
		for off := 0; off+8 <= n; off += 8 {
			if binary.LittleEndian.Uint64(buf[off:]) == node {
				t.Errorf("%s: the stack word at %#x holds the node %#x", who, lo+uint64(off), node)
			}
		}
		scanned += n
	}
	for _, th := range o.p.Threads {
		if th.LWP == crash {
			continue
		}
		r := &th.Core.Regs
		for i, v := range []uint64{r.R15, r.R14, r.R13, r.R12, r.Rbp, r.Rbx, r.R11, r.R10, r.R9, r.R8, r.Rax, r.Rcx, r.Rdx, r.Rsi, r.Rdi, r.OrigRax, r.Rip, r.Rsp} {
			if v == node {
				t.Errorf("thread LWP %d: register #%d of its NT_PRSTATUS holds the node", th.LWP, i)
			}
		}
		seg, ok := o.p.Core.SegmentAt(r.Rsp)
		if !ok {
			t.Fatalf("thread LWP %d: rsp %#x is in no segment", th.LWP, r.Rsp)
		}
		scan(fmt.Sprintf("thread LWP %d", th.LWP), r.Rsp, seg.Vaddr+seg.Memsz)
	}
	tasks := 0
	for _, tk := range o.rt.Tasks {
		if tk.ID == crashTask || tk.Running || tk.SP == 0 {
			continue
		}
		regs, err := o.rt.SavedRegs(tk)
		if err != nil {
			t.Fatalf("task %d: %v", tk.ID, err)
		}
		for n := 0; n <= unwind.RIP; n++ {
			if v, ok := regs.Get(n); ok && v == node {
				t.Errorf("task %d: its saved %s holds the node", tk.ID, unwind.RegName(n))
			}
		}
		scan(fmt.Sprintf("task %d", tk.ID), tk.SP, tk.StackHi)
		tasks++
	}
	if tasks < 12 || scanned < 8<<10 {
		t.Fatalf("scanned %d tasks, %d bytes: the check saw too little", tasks, scanned)
	}
}

// TestPointerChainHolder: the holder the fixture wrote, found through the
// object graph: each of its frames' paths (`l->node`, `lsm->node`), on its
// thread, with its variable's type; the paths evaluate to the node in the
// frame (dsecore's evaluator and gdb's); no fallback claims a raw holder.
func TestPointerChainHolder(t *testing.T) {
	o := open(t, fixture.PointerChain)
	truth := o.sc.Expected["holder"].(map[string]any)
	node := fixture.Hex(t, truth["object"])
	lwp := int(fixture.Num(t, truth["lwp"]))
	stacks := o.others(t)
	res := holders.Search(o.p, stacks, o.fieldTargets(t), holders.Options{})
	t.Logf("%d stacks, %d frames, %d variables, %d objects, %s; bounds %v", res.Stats.Stacks, res.Stats.Frames, res.Stats.Variables, res.Stats.Objects, res.Stats.Elapsed, res.Bounds)
	for _, h := range res.Hits {
		t.Logf("%-40s #%d %-45s %-14s %-22s %s d%d %s %d", h.Who, h.Frame, h.Function, h.Variable, h.Expr, h.Relation, h.Depth, h.Role, h.Score)
	}
	if len(res.Holders) == 0 || res.Holders[0].LWP != lwp || res.Holders[0].Best.Target != 0 || res.Holders[0].Best.Fallback {
		t.Fatalf("the strongest holder is not thread LWP %d holding the node: %+v", lwp, res.Holders)
	}
	best := res.Holders[0].Best
	if best.Relation != holders.PointsTo || best.Depth != 1 || best.How != "pointer chain" || best.Value != node {
		t.Errorf("best hit %+v", best)
	}
	if b, err := json.Marshal(res); err != nil || !strings.Contains(string(b), fmt.Sprintf(`"value":"%#x"`, node)) || !strings.Contains(string(b), `"expr":"l-\u003enode"`) {
		t.Errorf("the result's JSON: %v %.400s", err, b)
	}
	var gdbChecks []gdbCheck
	for _, x := range truth["paths"].([]any) {
		pt := x.(map[string]any)
		var got *holders.Hit
		for i := range res.Hits {
			h := &res.Hits[i]
			if h.LWP == lwp && h.Target == 0 && h.Function == pt["function"] && h.Variable == pt["variable"] {
				got = h
			}
		}
		if got == nil {
			t.Errorf("no hit in %s's %v of the node", pt["function"], pt["variable"])
			continue
		}
		if got.Expr != pt["expr"] || got.VarType != pt["type"] || got.Text != "`"+got.Expr+"`" || got.Fallback || got.Relation != holders.PointsTo || got.Value != node {
			t.Errorf("%s: hit %+v, truth %v", pt["function"], *got, pt)
		}
		gdbChecks = append(gdbChecks, gdbCheck{lwp: lwp, function: got.Function, expr: got.Expr, want: node})
	}
	// Its frames also hold the object it released (the truth's
	// released_obj), as `o`.
	released, holdsObj := fixture.Hex(t, truth["released_obj"]), false
	for _, h := range res.Hits {
		holdsObj = holdsObj || h.LWP == lwp && h.Function == "(anonymous namespace)::chain_release_cb" && h.Expr == "o" && h.Value == released && !h.Fallback
	}
	if !holdsObj {
		t.Errorf("chain_release_cb's o = %#x not found", released)
	}
	for _, h := range res.Hits {
		if h.Target == 0 && h.Fallback {
			t.Errorf("a raw holder of the node the core does not have: %+v", h)
		}
		if h.LWP != lwp && h.Target == 0 && h.TaskID < 0 {
			// Threads other than the holder: none holds the node.
			t.Errorf("thread %s holds the node: %+v", h.Who, h)
		}
	}
	checkEval(t, o, stacks, res)
	checkGdb(t, o.sc, gdbChecks)
}

// TestPointerChainHolderClang: the pointer-chain scenario built by
// clang++-16 -O2 -g (fixtures/variants, clang/pointer-chain), whose
// holder's parameters clang describes its own way: location lists of
// registers and DW_OP_entry_value, read through the caller's
// DW_TAG_call_site_parameter. Each path of the truth that gdb can
// evaluate in its frame (the variable has a value, and the path is the
// node) is found with that value and type; a variable gdb says is
// <optimized out> (chain_release_cb's `l`: only its entry value is
// described, and its caller's call is indirect, through a register gdb
// cannot recover, so gdb will not take the call site's parameter) is
// claimed by no hit, as dsecore's entry values follow gdb's rule. The
// strongest holder is the holder thread's typed path; no raw match
// outranks it.
func TestPointerChainHolderClang(t *testing.T) {
	v := fixture.GetVariants(t).VariantScenario(t, fixture.VariantClang, fixture.PointerChain)
	op := fixtureproc.Open(t, &v.Scenario)
	o := &opened{op.Sc, op.P, op.RT}
	truth := o.sc.Expected["holder"].(map[string]any)
	node := fixture.Hex(t, truth["object"])
	lwp := int(fixture.Num(t, truth["lwp"]))
	res := holders.Search(o.p, o.others(t), o.fieldTargets(t), holders.Options{})
	for _, h := range res.Hits {
		t.Logf("%-40s #%d %-45s %-14s %-22s %-18s %s d%d %s %d", h.Who, h.Frame, h.Function, h.Variable, h.Expr, h.Location, h.Relation, h.Depth, h.Role, h.Score)
	}
	if len(res.Holders) == 0 || res.Holders[0].LWP != lwp || res.Holders[0].Best.Target != 0 || res.Holders[0].Best.Fallback {
		t.Fatalf("the strongest holder is not thread LWP %d's typed path to the node: %+v", lwp, res.Holders)
	}
	found, optimizedOut := 0, 0
	for _, x := range truth["paths"].([]any) {
		pt := x.(map[string]any)
		fn, variable, expr := pt["function"].(string), pt["variable"].(string), pt["expr"].(string)
		gv, err := gdboracle.FrameValue(v.Exe, v.Core, gdboracle.Options{}, lwp, fn, variable)
		if err != nil {
			t.Fatalf("gdb: %s in %s: %v", variable, fn, err)
		}
		var got *holders.Hit
		for i := range res.Hits {
			h := &res.Hits[i]
			if h.LWP == lwp && h.Target == 0 && h.Function == fn && h.Variable == variable {
				got = h
			}
		}
		if gv.OptimizedOut {
			optimizedOut++
			t.Logf("gdb: %s in %s is %s", variable, fn, gv.Text)
			if got != nil {
				t.Errorf("%s: %s is <optimized out> to gdb, the search has %+v", fn, variable, *got)
			}
			continue
		}
		pv, err := gdboracle.FrameValue(v.Exe, v.Core, gdboracle.Options{}, lwp, fn, expr)
		if err != nil || pv.OptimizedOut || pv.Value != node {
			t.Errorf("gdb: %s in %s = %+v (%v), want the node %#x", expr, fn, pv, err, node)
		}
		if got == nil {
			t.Errorf("%s: gdb has %s = %s, the search has no hit of it", fn, variable, gv.Text)
			continue
		}
		found++
		if got.Expr != expr || got.VarType != pt["type"] || got.Fallback || got.Relation != holders.PointsTo || got.Value != node {
			t.Errorf("%s: hit %+v, truth %v", fn, *got, pt)
		}
	}
	t.Logf("%d of the truth's paths found (gdb evaluates them), %d <optimized out> to gdb and not claimed", found, optimizedOut)
	if found == 0 {
		t.Error("no path of the truth found")
	}
	if res.Hits[0].Fallback {
		t.Errorf("a raw match ranks first: %+v", res.Hits[0])
	}
}

// checkEval evaluates every DWARF hit's expression in its frame with
// dsecore's evaluator: a pointer path gives the value found; an element
// or variable in place has the address found.
func checkEval(t *testing.T, o *opened, stacks []holders.Stack, res *holders.Result) {
	t.Helper()
	r := values.NewReader(o.p)
	byWho := map[string][]coreparse.Frame{}
	for _, s := range stacks {
		byWho[s.Who] = s.Frames
	}
	n := 0
	for _, h := range res.Hits {
		if h.Fallback || n > 200 {
			continue
		}
		fs := byWho[h.Who]
		fr := values.FrameOf(o.p, fs, h.Frame)
		params, locals, _ := r.FrameVars(fr)
		v, err := r.Eval(&values.Scope{Frame: fr, Vars: append(params, locals...)}, h.Expr)
		if err != nil {
			t.Errorf("%s #%d %s: %q does not evaluate: %v", h.Who, h.Frame, h.Function, h.Expr, err)
			continue
		}
		// A pointer path gives the pointer found; a value in place (a
		// variable, a container element) is at the address found.
		var got uint64
		if ty := r.Resolved(v); ty != nil && ty.Kind == symbols.KindPointer && ty.Tag == dwarf.TagPointerType {
			got, err = r.Uint(v)
		} else if ty != nil && ty.Kind == symbols.KindBase {
			got, err = r.Uint(v)
		} else {
			got = v.Addr
		}
		if err != nil || got != h.Value {
			t.Errorf("%s #%d %s: %q is %#x (%v), the search found %#x", h.Who, h.Frame, h.Function, h.Expr, got, err, h.Value)
		}
		n++
	}
	if n == 0 {
		t.Error("no DWARF hit to evaluate")
	}
}

type gdbCheck struct {
	lwp      int
	function string
	expr     string
	want     uint64
}

// checkGdb prints each path in gdb, in the frame of that function on that
// thread: gdb must agree with the value.
func checkGdb(t *testing.T, sc *fixture.Scenario, checks []gdbCheck) {
	t.Helper()
	if len(checks) == 0 {
		return
	}
	out, err := exec.Command("gdb", "-nx", "-batch", "-ex", "info threads", sc.Exe, sc.Core).CombinedOutput()
	if err != nil {
		t.Fatalf("gdb: %v\n%s", err, out)
	}
	args := []string{"-nx", "-batch"}
	for _, c := range checks {
		m := regexp.MustCompile(`(?m)^[ *]+(\d+)\s+Thread \S+ \(LWP ` + strconv.Itoa(c.lwp) + `\)`).FindStringSubmatch(string(out))
		if m == nil {
			t.Fatalf("gdb has no thread LWP %d:\n%s", c.lwp, out)
		}
		fn := c.function
		if i := strings.LastIndex(fn, "::"); i >= 0 && strings.HasPrefix(fn, "(anonymous namespace)") {
			fn = fn[i+2:]
		}
		args = append(args, "-ex", "thread "+m[1], "-ex", "frame function "+fn, "-ex", "echo ==\\n", "-ex", "p/x (unsigned long)("+c.expr+")")
	}
	out, err = exec.Command("gdb", append(args, sc.Exe, sc.Core)...).CombinedOutput()
	if err != nil {
		t.Fatalf("gdb: %v\n%s", err, out)
	}
	parts := strings.Split(string(out), "==\n")[1:]
	if len(parts) != len(checks) {
		t.Fatalf("gdb answered %d of %d:\n%s", len(parts), len(checks), out)
	}
	for i, c := range checks {
		m := regexp.MustCompile(`\$\d+ = (0x[0-9a-f]+)`).FindStringSubmatch(parts[i])
		if m == nil || fixture.Hex(t, m[1]) != c.want {
			t.Errorf("gdb: %s in %s on LWP %d: %q, want %#x", c.expr, c.function, c.lwp, strings.TrimSpace(parts[i]), c.want)
		}
	}
}

// targetsOf are the addresses of interest as the fault analysis names them
// today: its objects and the nodes its list walk reached (phase 2 will
// pass these, and their owners, from the analysis itself).
func (o *opened) targetsOf(t testing.TB, a *fault.Analysis) []holders.Target {
	var ts []holders.Target
	for _, ob := range a.Objects {
		if ob.Address == 0 {
			continue
		}
		w := 100
		if ob.Role != "owner" {
			w = 80
		}
		size, _ := o.trySize(ob.Type) // the list header's "type" is its member's name
		ts = append(ts, holders.Target{Address: ob.Address, Size: size, Role: ob.Role, What: "the " + ob.Role + " " + ob.Type, Weight: w})
	}
	if w := a.ListWalk; w != nil {
		for i, n := range w.Nodes {
			ts = append(ts, holders.Target{Address: n.Element, Size: o.sizeOf(t, w.Element), Role: fmt.Sprintf("list node #%d", i), Weight: 60})
		}
	}
	return ts
}

func (o *opened) analyze(t testing.TB) *fault.Analysis {
	var logs []string
	for _, l := range o.sc.Expected["logs"].([]any) {
		logs = append(logs, filepath.Join(o.sc.Dir, l.(string)))
	}
	return fault.Analyze(o.p, o.rt, fault.Options{Logs: logs})
}

// TestFieldCrashHolders: on the field crash every holder the raw search of
// the fault analysis finds is found again, now through a DWARF variable
// where the frame has one; the strongest is engine 5's task holding the
// node in release_wait's parameter; every path evaluates to what it found.
func TestFieldCrashHolders(t *testing.T) {
	o := open(t, fixture.FieldCrash)
	a := o.analyze(t)
	targets := o.targetsOf(t, a)
	if len(targets) < 2 {
		t.Fatalf("targets %+v", targets)
	}
	stacks := o.others(t)
	res := holders.Search(o.p, stacks, targets, holders.Options{})
	t.Logf("%d stacks, %d frames, %d variables, %d objects, %s; bounds %v", res.Stats.Stacks, res.Stats.Frames, res.Stats.Variables, res.Stats.Objects, res.Stats.Elapsed, res.Bounds)
	for _, h := range res.Hits {
		t.Logf("%-36s #%-2d %-40s %-12s %-28s %-11s d%d %-14s %3d %v", h.Who, h.Frame, h.Function, h.Variable, h.Expr, h.Relation, h.Depth, h.Role, h.Score, h.Fallback)
	}
	if len(a.Others) == 0 {
		t.Fatal("the fault analysis found no holder")
	}
	for _, old := range a.Others {
		found := false
		for _, h := range res.Hits {
			found = found || h.Who == old.Who && h.Value == old.Address
		}
		if !found {
			t.Errorf("the raw search's holder %s (#%d %s, %s = %#x, %s) is not found", old.Who, old.Frame, old.Function, old.Where, old.Address, old.What)
		}
	}
	best := res.Holders[0].Best
	node := fixture.Hex(t, o.sc.Expected["node"])
	if best.Fallback || best.Value != node || best.Function != "(anonymous namespace)::release_wait" || best.Expr != "node" || best.Relation != holders.PointsTo || !strings.HasPrefix(best.Who, "task ") {
		t.Errorf("the strongest holder: %+v", best)
	}
	checkEval(t, o, stacks, res)
}

// TestSinglePathHasNoOtherHolder: in tcache-uaf and double-free one path
// queued, freed and walked the request; no other thread or task holds it
// (the truth's holders are none); likewise the pool's use-after-free.
func TestSinglePathHasNoOtherHolder(t *testing.T) {
	t.Run(fixture.UseAfterFree, func(t *testing.T) {
		// The pool's use-after-free: engine 4's path alone; nothing else
		// holds the node or its objects.
		o := open(t, fixture.UseAfterFree)
		if _, racing := o.sc.Expected["racing_tasks"]; racing {
			t.Fatal("the truth has racing tasks")
		}
		res := holders.Search(o.p, o.others(t), o.fieldTargets(t), holders.Options{})
		for _, h := range res.Hits {
			t.Errorf("a holder the truth does not have: %+v", h)
		}
	})
	for _, name := range []string{fixture.TcacheUAF, fixture.DoubleFree} {
		t.Run(name, func(t *testing.T) {
			o := open(t, name)
			if h, ok := o.sc.Expected["holders"].([]any); !ok || len(h) != 0 {
				t.Fatalf("the truth's holders: %v", o.sc.Expected["holders"])
			}
			heapTruth := o.sc.Expected["heap"].(map[string]any)
			req := fixture.Hex(t, heapTruth["mem"])
			targets := []holders.Target{{Address: req, Size: o.sizeOf(t, "dm_release_req_t"), Role: "freed request"}}
			for _, x := range o.sc.Expected["objs"].([]any)[:4] {
				targets = append(targets, holders.Target{Address: fixture.Hex(t, x.(map[string]any)["address"]), Size: o.sizeOf(t, "dm_obj_t"), Role: "queued object"})
			}
			res := holders.Search(o.p, o.others(t), targets[:1], holders.Options{})
			for _, h := range res.Hits {
				t.Errorf("a holder the truth does not have: %+v", h)
			}
			// The crash's own path (its task, running on the crashed
			// thread) holds it: the search finds it there.
			all := holders.Search(o.p, holders.Stacks(o.p, o.rt), targets[:1], holders.Options{})
			own := false
			for _, h := range all.Hits {
				own = own || h.LWP == int(fixture.Num(t, o.sc.Expected["crash_lwp"])) && !h.Fallback && h.Function == "(anonymous namespace)::heap_shutdown" && h.Expr == "victim"
			}
			if !own {
				t.Errorf("the crash's task does not hold its own request: %+v", all.Hits)
			}
		})
	}
}

// TestBounds: on the large core (10,066 stacks) the default bounds leave
// the search whole but for pointers deeper than 4 hops, and the field
// crash's holder is still the strongest; each bound, when hit, is reported.
func TestBounds(t *testing.T) {
	o := open(t, fixture.Large)
	stacks := o.others(t)
	targets := o.fieldTargets(t)
	has := func(res *holders.Result, bound string) bool {
		for _, b := range res.Bounds {
			if b.Bound == bound && b.Count > 0 && b.Text != "" {
				return true
			}
		}
		return false
	}
	res := holders.Search(o.p, stacks, targets, holders.Options{})
	t.Logf("%d stacks, %d frames, %d variables, %d objects, %s; bounds %+v", res.Stats.Stacks, res.Stats.Frames, res.Stats.Variables, res.Stats.Objects, res.Stats.Elapsed, res.Bounds)
	if res.Stats.Stacks < 10000 || has(res, "time") || has(res, "objects") || has(res, "elements") {
		t.Errorf("stats %+v, bounds %+v", res.Stats, res.Bounds)
	}
	if best := res.Holders[0].Best; best.Function != "(anonymous namespace)::release_wait" || best.Expr != "node" || best.Fallback {
		t.Errorf("the strongest holder: %+v", best)
	}
	for _, c := range []struct {
		bound string
		o     holders.Options
	}{
		{"objects", holders.Options{MaxObjects: 10}},
		{"elements", holders.Options{MaxElements: 2}},
		{"depth", holders.Options{MaxDepth: 1}},
		{"time", holders.Options{Timeout: time.Nanosecond}},
	} {
		if r := holders.Search(o.p, stacks, targets, c.o); !has(r, c.bound) {
			t.Errorf("%+v: bounds %+v", c.o, r.Bounds)
		}
	}
}

// TestHostileMemory: on the hostile core (lists that loop or run into
// unmapped memory, a 200,000-object list, a stack 100,000 frames deep,
// frame pointers that loop) the search ends, in bounded time, having read
// every frame the unwinder gives; the lists hang off globals, which are no
// frame's holders, and none is claimed.
func TestHostileMemory(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, "hostile")
	p := fixtureproc.Process(t, sc)
	var targets []holders.Target
	for _, k := range []string{"cyc_node", "wild_node", "big_node"} {
		targets = append(targets, holders.Target{Address: fixture.Hex(t, sc.Expected[k]), Role: k})
	}
	var res *holders.Result
	bound.Within(t, 120*time.Second, func() {
		res = holders.Search(p, holders.Stacks(p, nil), targets, holders.Options{})
	}, "the holder search did not end on the hostile core")
	if res.Stats.Stacks != 2 || res.Stats.Frames < 500 {
		t.Errorf("stats %+v", res.Stats)
	}
	for _, h := range res.Hits {
		t.Errorf("a holder the core does not have: %+v", h)
	}
}

// TestGlobalThroughParameter: in the cv-notifier core two threads hold the
// global hangs::journal_lock (a ceph::mutex_debug) through a plain pointer
// parameter, jl, of journal_write and of flush_kick. Both are holders. The
// compiler passes &journal_lock as a constant: jl's location in both frames
// is an entry value whose call-site parameter is DW_OP_addr of the global,
// which in a PIE must be relocated by the executable's bias; read
// unrelocated (as before 5a7ade9), jl pointed nowhere and neither frame was
// found, only the lock's own frames by their futex word.
func TestGlobalThroughParameter(t *testing.T) {
	o := open(t, fixture.CVNotifier)
	var lock uint64
	for _, obj := range o.sc.Expected["waits"].(map[string]any)["objects"].([]any) {
		if m := obj.(map[string]any); m["expr"] == "hangs::journal_lock" {
			lock = fixture.Hex(t, m["address"])
		}
	}
	_, sym, ok := o.p.LookupSymbol("hangs::journal_lock")
	if lock == 0 || !ok || sym.Size == 0 {
		t.Fatalf("journal_lock %#x, symbol %v", lock, ok)
	}
	lwp := map[string]float64{}
	for _, th := range o.sc.Expected["hang_threads"].([]any) {
		m := th.(map[string]any)
		lwp[m["name"].(string)] = m["lwp"].(float64)
	}
	stacks := holders.Stacks(o.p, o.rt)
	res := holders.Search(o.p, stacks, []holders.Target{{Address: lock, Size: sym.Size, Role: "journal_lock"}}, holders.Options{NoRaw: true})
	for _, h := range res.Hits {
		t.Logf("%-40s #%-2d %-46s %-4s %-11s %s", h.Who, h.Frame, h.Function, h.Expr, h.Relation, h.Location)
	}
	for thread, fn := range map[string]string{"dse_journal": "hangs::(anonymous namespace)::journal_write", "dse_flush_kick": "hangs::(anonymous namespace)::flush_kick"} {
		found := false
		for _, h := range res.Hits {
			found = found || h.LWP == int(lwp[thread]) && h.TaskID < 0 && h.Function == fn && h.Variable == "jl" && h.Param &&
				h.Expr == "jl" && h.Relation == holders.PointsTo && h.Value == lock && !h.Fallback
		}
		if !found {
			t.Errorf("%s (LWP %d): %s's parameter jl is not a holder of journal_lock at %#x", thread, int(lwp[thread]), fn, lock)
		}
	}
	// jl evaluates, in its frame, to the lock (as gdb prints it).
	r := values.NewReader(o.p)
	for _, st := range stacks {
		for i, f := range st.Frames {
			if !strings.HasSuffix(f.Function, "::journal_write") && !strings.HasSuffix(f.Function, "::flush_kick") {
				continue
			}
			fr := values.FrameOf(o.p, st.Frames, i)
			params, locals, _ := r.FrameVars(fr)
			v, err := r.Eval(&values.Scope{Frame: fr, Vars: append(params, locals...)}, "jl")
			if err != nil {
				t.Errorf("%s #%d %s: jl: %v", st.Who, i, f.Function, err)
				continue
			}
			if u, err := r.Uint(v); err != nil || u != lock {
				t.Errorf("%s #%d %s: jl = %#x (%v), want %#x", st.Who, i, f.Function, u, err, lock)
			}
		}
	}
}
