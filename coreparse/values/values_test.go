package values_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/values"
	"github.com/dsecore/dsecore/internal/fixture"
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
	if s := r.Summary(get("__pthread_kill_implementation", "threadid"), false); s != "<optimized out>" {
		t.Errorf("threadid = %s, gdb says <optimized out>", s)
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
		{"sizeof(dm_obj_t) > 0x130", "1"},
		{"&(*(dm_obj_t *)(" + obj0["hook"].(string) + " - 0x130)).hook == " + obj0["hook"].(string), "1"},
		{"&((dm_obj_t *)" + obj0["address"].(string) + ")->hook", obj0["hook"].(string)},
		{"lsm4.engine_id", "4"},
		// Template type names, spelled as a person types them.
		{"sizeof(boost::intrusive::list_node<void *>)", "16"},
		{"((boost::intrusive::list_node<void*> *)(" + node + " + 0x20))->next_ == " + node + " + 0x20", "1"},
		{"lsm4.node == this", "1"},
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
