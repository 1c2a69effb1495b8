package fault_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/analysis/fault"
	"github.com/dsecore/dsecore/coreparse/values"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/dsecore/dsecore/internal/testsupport/gdboracle"
	"github.com/dsecore/dsecore/internal/testsupport/testcore"
	"github.com/dsecore/dsecore/session"
)

// TestPointerCandidates: the fallback's guesses for `this` when DWARF has
// none are, in order, the fault frame's registers (callee-saved first:
// rbp, rbx, r12–r15, then rdi, rsi, rax, rcx, rdx, r8, r9) as the signal
// handler saw them (expected.json's fault_regs), then the words of its
// stack frame from the handler's rsp up 0x200 bytes as gdb reads them
// (x/64gx), each only when it is at least 4096 and gdb can read memory
// there.
func TestPointerCandidates(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	a := analyze(t, sc, fault.Options{})
	regs := sc.Expected["fault_regs"].(map[string]any)
	sp := fixture.Hex(t, sc.Expected["fault_sp"])
	words, err := gdboracle.Commands(sc.Exe, sc.Core, gdboracle.Options{}, fmt.Sprintf("x/64gx %#x", sp))
	if err != nil {
		t.Fatal(err)
	}
	type cand struct {
		v     uint64
		where string
	}
	var all []cand
	for _, r := range []string{"rbp", "rbx", "r12", "r13", "r14", "r15", "rdi", "rsi", "rax", "rcx", "rdx", "r8", "r9"} {
		all = append(all, cand{fixture.Hex(t, regs[r]), "register %" + r})
	}
	off := uint64(0)
	for _, l := range strings.Split(words[0], "\n") {
		_, rest, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		for _, f := range strings.Fields(rest) {
			v, err := strconv.ParseUint(strings.TrimPrefix(f, "0x"), 16, 64)
			if err != nil {
				t.Fatalf("gdb's x/64gx: %q", l)
			}
			all = append(all, cand{v, fmt.Sprintf("the stack slot %#x (rsp+%#x)", sp+off, off)})
			off += 8
		}
	}
	if off != 0x200 {
		t.Fatalf("gdb's x/64gx at %#x gave %d words: %q", sp, off/8, words[0])
	}
	// Which of them gdb can read memory at.
	var probes []string
	var big []cand
	for _, c := range all {
		if c.v >= 4096 {
			big = append(big, c)
			probes = append(probes, fmt.Sprintf("x/gx %#x", c.v))
		}
	}
	out, err := gdboracle.Commands(sc.Exe, sc.Core, gdboracle.Options{}, probes...)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i, c := range big {
		if !strings.Contains(out[i], "Cannot access memory") {
			want = append(want, fmt.Sprintf("%#x %s", c.v, c.where))
		}
	}
	var got []string
	for _, c := range fault.PointerCandidates(a) {
		got = append(got, fmt.Sprintf("%#x %s", c.Value, c.Where))
	}
	if len(want) == 0 || !strings.HasSuffix(want[0], " register %rbp") {
		t.Fatalf("the handler's %%rbp (the node, %v) is not the first candidate: %q", sc.Expected["node"], want)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Logf("%d candidates", len(want))
		t.Errorf("candidates:\n%s\ngdb and the handler say:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestOwnerFields: the owner's scalar members (dm_hash_node_t's key,
// bucket, refcount and state: fixtures/dcache/dm.h; not the list, which is
// an object of its own) read as gdb prints them at the program's node.
func TestOwnerFields(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	a := analyze(t, sc, fault.Options{})
	var owner *fault.Object
	for i := range a.Objects {
		if a.Objects[i].Role == "owner" {
			owner = &a.Objects[i]
		}
	}
	if owner == nil {
		t.Fatalf("no owner: %+v", a.Objects)
	}
	names := []string{"key", "bucket", "refcount", "state"}
	var cmds []string
	for _, n := range names {
		cmds = append(cmds, fmt.Sprintf("p ((dm_hash_node_t*)%s)->%s", sc.Expected["node"], n))
	}
	out, err := gdboracle.Commands(sc.Exe, sc.Core, gdboracle.Options{}, cmds...)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i, n := range names {
		_, v, ok := strings.Cut(strings.TrimSpace(out[i]), " = ")
		if !ok {
			t.Fatalf("gdb: %q", out[i])
		}
		want[n] = v
	}
	if fmt.Sprint(owner.Fields) != fmt.Sprint(want) {
		t.Errorf("owner's fields %v, gdb prints %v", owner.Fields, want)
	}
}

// TestWalkNodeState: the list walk's inconsistent header names the node
// its link points to, one of the program's objects' hooks, and says that
// object's state as the profile names the value gdb reads in its `state`
// (0xdead: returned to the dcache pool).
func TestWalkNodeState(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	a := analyze(t, sc, fault.Options{})
	w := a.ListWalk
	if w == nil {
		t.Fatal("no list walk")
	}
	objs := map[uint64]string{} // hook → object
	for _, o := range sc.Expected["objs"].([]any) {
		m := o.(map[string]any)
		objs[fixture.Hex(t, m["hook"])] = m["address"].(string)
	}
	n := 0
	for _, f := range w.Found {
		if f.Kind != values.FindInconsistentHeader {
			continue
		}
		n++
		obj, ok := objs[f.Node]
		if !ok {
			t.Fatalf("finding %q names node %#x, no hook of the program's objects", f.Text, f.Node)
		}
		out, err := gdboracle.Commands(sc.Exe, sc.Core, gdboracle.Options{}, fmt.Sprintf("p/x ((dm_obj_t*)%s)->state", obj))
		if err != nil {
			t.Fatal(err)
		}
		_, v, _ := strings.Cut(strings.TrimSpace(out[0]), " = ")
		x, err := strconv.ParseInt(strings.TrimPrefix(v, "0x"), 16, 64)
		if err != nil {
			t.Fatalf("gdb: %q", out[0])
		}
		state := fmt.Sprintf("state=%#x", x)
		if s, ok := fault.DefaultProfile().ElementStates[x]; ok {
			state = s
		}
		if want := fmt.Sprintf("; that node's dm_obj_t is %s", state); !strings.HasSuffix(f.Text, want) {
			t.Errorf("finding %q, want it to end %q (gdb: state = %s)", f.Text, want, v)
		}
	}
	if n != 1 {
		t.Errorf("%d inconsistent-header findings: %q", n, w.Findings)
	}
}

// ownerFrameZero faults in a method that nothing was inlined into, with
// no signal handler: the concrete frame at the fault is the stack's
// frame #0.
var ownerFrameZero = testcore.Program{
	Name: "ownerframe0",
	Lang: "c++",
	Source: `struct Node { Node *next; long v; long sum(); };
__attribute__((noinline)) long Node::sum() { return next->v + v; }
int main(int argc, char **) {
	Node n{argc > 5 ? &n : nullptr, 1};
	return (int)n.sum();
}
`,
}

// TestOwnerAtFrameZero: the owner is `this` of the faulting method read
// from DWARF when that method is frame #0 (no handler, nothing inlined),
// and is what gdb's `p this` prints there.
func TestOwnerAtFrameZero(t *testing.T) {
	r := testcore.Make(t, ownerFrameZero)
	s, err := session.Open(session.Options{Core: r.Core, Exe: r.Exe})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := s.Analysis()
	if a.Fault == nil {
		t.Fatal("no fault")
	}
	g, err := gdboracle.FrameValue(r.Exe, r.Core, gdboracle.Options{}, a.Fault.Context.Thread.LWP, "Node::sum", "this")
	if err != nil {
		t.Fatal(err)
	}
	var owner *fault.Object
	for i := range a.Objects {
		if a.Objects[i].Role == "owner" {
			owner = &a.Objects[i]
		}
	}
	if owner == nil || !owner.FromDWARF || owner.Type != "Node" || g.Value == 0 || owner.Address != g.Value {
		t.Errorf("owner %+v; gdb's p this in Node::sum: %s", owner, g.Text)
	}
}
