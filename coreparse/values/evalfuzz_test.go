package values_test

import (
	"strings"
	"testing"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/values"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
)

// FuzzEval: any expression, evaluated on the field crash's clear() frame
// (real memory, real DWARF), is a value or an error, never a panic: Eval
// recovers only its own evaluation errors, so a bug that panics on some
// input shows here instead of becoming a user's "error".
func FuzzEval(f *testing.F) {
	sc := fixture.Get(f).Scenario(f, fixture.FieldCrash)
	p, err := coreparse.Open(coreparse.Options{Core: sc.Core, Exe: sc.Exe})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { p.Close() })
	fs, _ := p.Backtrace(p.CrashedThread())
	r := values.NewReader(p)
	var scope *values.Scope
	for i, fr := range fs {
		if fr.Function == "dm_hash_node_t::clear" {
			v := values.FrameOf(p, fs, i)
			ps, ls, _ := r.FrameVars(v)
			scope = &values.Scope{Frame: v, Vars: append(ps, ls...)}
		}
	}
	if scope == nil {
		f.Fatal("no clear() frame")
	}
	for _, s := range []string{"this", "$rbp", "this->refcount + 1", "this->objs", "(long)this->objs.data_.root_plus_size_.size_",
		"sizeof(dm_obj_t) > 0x130", "lsm4.engine_id", "sizeof(boost::intrusive::list_node<void *>)", "lsm4.node == this",
		"*(dm_obj_t *)0", "this->objs[3]", "((char *)this)[-1]", "-(", "sizeof(", "(dm_obj_t *", "this->", "1/0", "1%0",
		"*this->objs.data_.root_plus_size_.m_header.next_", "&&this", "this[1][2]", "'a'", "\"s\"", "0x", "1 << 64",
		"(boost::intrusive::list_node<void*> *)", "::", "lsm4.node->objs", "$nosuchreg", "*(long *)$rsp"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		v, err := r.Eval(scope, expr)
		if err == nil && v == nil {
			t.Errorf("%q: no value and no error", expr)
		}
		if err != nil && strings.TrimSpace(err.Error()) == "" {
			t.Errorf("%q: an empty error", expr)
		}
	})
}
