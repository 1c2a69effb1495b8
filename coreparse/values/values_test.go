package values_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/values"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
)

// TestFieldCrashVariables: the crashing thread's parameters and locals,
// against what the program knew (expected.json) and what gdb prints for
// the same frames (`this=0x…` of clear(), lsm, e=4, force=false, signo=11).
func TestFieldCrashVariables(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	p, err := coreparse.Open(coreparse.Options{Core: sc.Core, Exe: sc.Exe})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	fs, err := p.Backtrace(p.CrashedThread())
	if err != nil {
		t.Fatal(err)
	}
	r := values.NewReader(p)
	vars := map[string]map[string]*values.Value{}
	for i, f := range fs {
		fr := values.FrameOf(p, fs, i)
		if fr == nil {
			continue
		}
		ps, ls, _ := r.FrameVars(fr)
		m := map[string]*values.Value{}
		for _, v := range append(ps, ls...) {
			if _, dup := m[v.Name]; !dup {
				m[v.Name] = v
			}
		}
		if _, dup := vars[f.Function]; !dup {
			vars[f.Function] = m
		}
	}
	get := func(fn, name string) *values.Value {
		t.Helper()
		v := vars[fn][name]
		if v == nil {
			t.Fatalf("%s has no variable %s (has %v)", fn, name, vars[fn])
		}
		return v
	}
	node := sc.Expected["node"].(string)
	this := get("dm_hash_node_t::clear", "this")
	if s := r.Summary(this, false); s != node || this.Where != "register rbp" {
		t.Errorf("clear()'s this = %s (%s), the node is %s", s, this.Where, node)
	}
	kids, err := r.Children(this, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A DAP client's variables request may start anywhere: before the
	// first child is an error, not an index (b372a49).
	if ks, err := r.Children(this, -46, 1); err == nil {
		t.Errorf("children from -46: %v", ks)
	}
	got := map[string]string{}
	for _, k := range kids {
		got[k.Name] = r.Summary(k, false)
	}
	if got["refcount"] != "2" || got["state"] != "2" || got["objs"] != "size=0 (size_ says -1)" {
		t.Errorf("*this = %v", got)
	}
	objs, _ := r.Member(this, "objs")
	if objs == nil || r.IndexedCount(objs) != 0 {
		t.Errorf("objs %+v", objs)
	}
	lsm := get("lsm_release_all_csdobj", "lsm")
	if s := r.Summary(lsm, false); !strings.HasSuffix(s, "<(anonymous namespace)::lsm4>") {
		t.Errorf("lsm = %s", s)
	}
	eng, _ := r.Member(lsm, "engine_id")
	nodeField, _ := r.Member(lsm, "node")
	if eng == nil || r.Summary(eng, false) != "4" || nodeField == nil || r.Summary(nodeField, true) != node {
		t.Errorf("lsm->engine_id, lsm->node: %v %v", eng, nodeField)
	}
	csd, _ := r.Member(lsm, "csd_objs")
	if csd == nil || !strings.HasPrefix(r.Summary(csd, false), "size=") {
		t.Fatalf("csd_objs %v", csd)
	}
	if n := r.IndexedCount(csd); n > 0 {
		el, err := r.Index(csd, 0)
		if err != nil || !strings.HasPrefix(r.TypeName(el), "dm_obj_t *") {
			t.Errorf("csd_objs[0] %v %v", el, err)
		}
	}
	if s := r.Summary(get("(anonymous namespace)::EngineMgr::shutdown_engine", "e"), false); s != "4" {
		t.Errorf("shutdown_engine's e = %s, gdb says 4", s)
	}
	if s := r.Summary(get("(anonymous namespace)::EngineMgr::shutdown_engine", "force"), false); s != "false" {
		t.Errorf("force = %s, gdb says false", s)
	}
	if s := r.Summary(get("__pthread_kill_implementation", "signo"), false); s != "11" {
		t.Errorf("signo = %s, gdb says 11", s)
	}
	// As gdb: no entry value through the tail call into pthread_kill.
	tid := get("__pthread_kill_implementation", "threadid")
	if s := r.Summary(tid, false); s != "<optimized out>" {
		t.Errorf("threadid = %s, gdb says <optimized out>", s)
	}
	// What each value is, as drgn says it: absent and why, a reference to
	// memory, a value held in bytes (a register).
	if !tid.Absent() || tid.Kind != values.KindAbsent || tid.Absence != values.OptimizedOut || !errors.Is(tid.Err, values.ErrOptimizedOut) ||
		tid.AbsentText() != "optimized out" {
		t.Errorf("threadid: kind %d, absence %d, err %v, %q", tid.Kind, tid.Absence, tid.Err, tid.AbsentText())
	}
	if this.Kind != values.KindValue || this.Absent() || this.InMemory() || this.AbsentText() != "" || this.Err != nil {
		t.Errorf("this (register rbp): kind %d, err %v", this.Kind, this.Err)
	}
	if ref, _ := r.Deref(this); ref == nil || ref.Kind != values.KindReference || !ref.InMemory() || ref.Absent() {
		t.Errorf("*this: %+v", ref)
	}
	// Strings and arrays of the handler (Ceph's: its thread name and the
	// "*** Caught signal" line it formats into buf).
	handler := "ceph_sig::(anonymous namespace)::handle_oneshot_fatal_signal"
	x := get(handler, "pthread_name")
	if s := r.Summary(x, false); s != fmt.Sprintf("%q", sc.Expected["crash_thread_name"]) {
		t.Errorf("pthread_name = %s", s)
	}
	if s := r.Summary(get(handler, "buf"), false); !strings.Contains(s, `*** Caught signal (Segmentation fault) **\n in thread `) {
		t.Errorf("char buf[1024] = %s", s)
	}
}

// TestEval: the expressions of the field report's manual analysis.
func TestEval(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	p, err := coreparse.Open(coreparse.Options{Core: sc.Core, Exe: sc.Exe})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	fs, _ := p.Backtrace(p.CrashedThread())
	r := values.NewReader(p)
	var scope *values.Scope
	for i, f := range fs {
		if f.Function == "dm_hash_node_t::clear" {
			fr := values.FrameOf(p, fs, i)
			ps, ls, _ := r.FrameVars(fr)
			scope = &values.Scope{Frame: fr, Vars: append(ps, ls...)}
		}
	}
	if scope == nil {
		t.Fatal("no clear() frame")
	}
	node := sc.Expected["node"].(string)
	obj0 := sc.Expected["objs"].([]any)[0].(map[string]any)
	regs := sc.Expected["fault_regs"].(map[string]any)
	cases := []struct{ expr, want string }{
		{"this", node},
		{"$rbp", strings.TrimPrefix(regs["rbp"].(string), "0x")},
		{"$rbx", "0"},
		{"this->refcount + 1", "3"},
		{"this->objs", "size=0 (size_ says -1)"},
		{"(long)this->objs.data_.root_plus_size_.size_", "-1"},
		{"sizeof(dm_obj_t) > 0x130", "true"},
		{"&(*(dm_obj_t *)(" + obj0["hook"].(string) + " - 0x130)).hook == " + obj0["hook"].(string), "true"},
		{"&((dm_obj_t *)" + obj0["address"].(string) + ")->hook", obj0["hook"].(string)},
		{"lsm4.engine_id", "4"},
		// Template type names, spelled as a person types them.
		{"sizeof(boost::intrusive::list_node<void *>)", "16"},
		{"((boost::intrusive::list_node<void*> *)(" + node + " + 0x20))->next_ == " + node + " + 0x20", "true"},
		{"lsm4.node == this", "true"},
		{"((dm_obj_t *)0x10) + 1", ""}, // pointer arithmetic scales: checked below
	}
	for _, c := range cases[:len(cases)-1] {
		v, err := r.Eval(scope, c.expr)
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		got := r.Summary(v, false)
		if strings.HasPrefix(c.want, "0x") || c.expr == "$rbp" {
			got = r.Summary(v, true)
			if c.expr == "$rbp" {
				got = strings.TrimPrefix(got, "0x")
			}
		}
		if got != c.want && !strings.HasPrefix(got, c.want+" ") {
			t.Errorf("%s = %s, want %s", c.expr, got, c.want)
		}
	}
	v, err := r.Eval(scope, "(dm_obj_t *)0x10 + 1")
	size, _ := r.Eval(scope, "sizeof(dm_obj_t)")
	if err != nil || size == nil {
		t.Fatalf("pointer arithmetic: %v", err)
	}
	x, _ := r.Uint(v)
	n, _ := r.Int(size)
	if x != 0x10+uint64(n) {
		t.Errorf("(dm_obj_t *)0x10 + 1 = %#x, sizeof %d", x, n)
	}
	for _, bad := range []string{"*(dm_obj_t *)$rbx", "nosuchvar", "this->nosuch", "1 +", "(", "1/0"} {
		if v, err := r.Eval(scope, bad); err == nil {
			t.Errorf("%s evaluated to %s", bad, r.Summary(v, false))
		}
	}
}

// TestEvalOperators: every operator of the expression language on
// integers, with C's precedence and results computed here by Go; pointer
// arithmetic scales by the element's size, pointer differences count
// elements.
func TestEvalOperators(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	p, err := coreparse.Open(coreparse.Options{Core: sc.Core, Exe: sc.Exe})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	fs, _ := p.Backtrace(p.CrashedThread())
	r := values.NewReader(p)
	var scope *values.Scope
	for i, f := range fs {
		if f.Function == "dm_hash_node_t::clear" {
			fr := values.FrameOf(p, fs, i)
			ps, ls, _ := r.FrameVars(fr)
			scope = &values.Scope{Frame: fr, Vars: append(ps, ls...)}
		}
	}
	if scope == nil {
		t.Fatal("no clear() frame")
	}
	b := func(x bool) int64 {
		if x {
			return 1
		}
		return 0
	}
	for expr, want := range map[string]int64{
		"7 + 5": 12, "7 - 10": -3, "7 * 6": 42, "9 / 2": 4, "-9 / 2": -4, "17 % 5": 2, "1 << 4": 16, "256 >> 3": 32,
		"0xff & 0x0f": 15, "5 | 2": 7, "5 ^ 1": 4, "-(3)": -3, "!0": 1, "!7": 0, "~0": -1, "~5": ^5,
		"3 == 3": 1, "3 != 3": 0, "3 < 4": 1, "4 < 4": 0, "4 <= 4": 1, "5 <= 4": 0, "5 > 6": 0, "6 > 5": 1, "5 >= 5": 1, "4 >= 5": 0,
		"1 && 0": 0, "2 && 3": 1, "0 || 0": 0, "0 || 4": 1,
		"2 + 3 * 4": 14, "(2 + 3) * 4": 20, "10 - 4 - 3": 3, "1 + 2 == 3": 1, "1 << 2 + 1": 8, "7 & 3 == 3": b(7&(b(3 == 3)) != 0),
		"this->refcount * 2 - 1": 3, "sizeof(long)": 8, "sizeof(char)": 1, "sizeof(int *)": 8, "sizeof(this)": 8,
	} {
		v, err := r.Eval(scope, expr)
		if err != nil {
			t.Errorf("%s: %v", expr, err)
			continue
		}
		if got, err := r.Int(v); err != nil || got != want {
			t.Errorf("%s = %d (%v), want %d", expr, got, err, want)
		}
	}
	// Pointers: + and - scale; the difference of two is in elements.
	size, _ := r.Eval(scope, "sizeof(dm_obj_t)")
	n, _ := r.Int(size)
	for expr, want := range map[string]int64{
		"(dm_obj_t *)0x1000 + 2":                      0x1000 + 2*n,
		"(dm_obj_t *)0x1000 - 1":                      0x1000 - n,
		"(long)((dm_obj_t *)0x1000 + 3)":              0x1000 + 3*n,
		"(dm_obj_t *)0x1000 + 3 - (dm_obj_t *)0x1000": 3,
		"(char *)0x1000 + 3":                          0x1003,
		"(unsigned char)0x1ff":                        0xff,
		"(short)0x18000":                              -0x8000,
	} {
		v, err := r.Eval(scope, expr)
		if err != nil {
			t.Errorf("%s: %v", expr, err)
			continue
		}
		if got, _ := r.Int(v); got != want {
			t.Errorf("%s = %#x, want %#x", expr, got, want)
		}
	}
	for _, bad := range []string{"1 % 0", "5 /", "* 3", "&3", "sizeof(", "(long", "this->refcount +* 2"} {
		if v, err := r.Eval(scope, bad); err == nil {
			t.Errorf("%s evaluated to %s", bad, r.Summary(v, false))
		}
	}
}

// TestGlobalContainers: the program's globals as it set them: std::string
// (the scenario's name), a std::vector of pointers (the_objs: every object
// of expected.json, in order), element by element and through Index.
func TestGlobalContainers(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	p, err := coreparse.Open(coreparse.Options{Core: sc.Core, Exe: sc.Exe})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	fs, _ := p.Backtrace(p.CrashedThread())
	r := values.NewReader(p)
	var scope *values.Scope
	for i, f := range fs {
		if f.Function == "dm_hash_node_t::clear" {
			scope = &values.Scope{Frame: values.FrameOf(p, fs, i)}
		}
	}
	for expr, want := range map[string]string{
		"scenario":     `"` + sc.Expected["scenario"].(string) + `"`,
		"handler_kind": `"` + sc.Expected["handler_kind"].(string) + `"`,
	} {
		v, err := r.Eval(scope, expr)
		if err != nil {
			t.Errorf("%s: %v", expr, err)
			continue
		}
		if got := r.Summary(v, false); got != want {
			t.Errorf("%s = %s, want %s", expr, got, want)
		}
	}
	objs := sc.Expected["objs"].([]any)
	v, err := r.Eval(scope, "the_objs")
	if err != nil {
		t.Fatal(err)
	}
	if s := r.Summary(v, false); s != fmt.Sprintf("size=%d", len(objs)) {
		t.Errorf("the_objs = %s, the program had %d objects", s, len(objs))
	}
	if n := r.IndexedCount(v); n != len(objs) || !r.HasChildren(v) {
		t.Errorf("the_objs: %d indexed children", n)
	}
	kids, err := r.Children(v, 1, 2)
	if err != nil || len(kids) != 2 || kids[0].Name != "[1]" || r.Summary(kids[0], true) != objs[1].(map[string]any)["address"] || r.Summary(kids[1], true) != objs[2].(map[string]any)["address"] {
		t.Errorf("the_objs[1:3] = %v (%v)", kids, err)
	}
	for i, o := range objs {
		e, err := r.Index(v, int64(i))
		if err != nil || r.Summary(e, true) != o.(map[string]any)["address"] {
			t.Errorf("the_objs[%d] = %v (%v), want %s", i, e, err, o.(map[string]any)["address"])
		}
		w, err := r.Eval(scope, fmt.Sprintf("the_objs[%d]", i))
		if err != nil || r.Summary(w, true) != o.(map[string]any)["address"] {
			t.Errorf("eval the_objs[%d] = %v (%v)", i, w, err)
		}
	}
	if _, err := r.Index(v, int64(len(objs))); err == nil {
		t.Errorf("the_objs[%d] past the end: no error", len(objs))
	}
}
