package coroutines_test

import (
	"strings"
	"testing"

	"github.com/dsecore/dsecore/analysis/coroutines"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/dsecore/dsecore/internal/testsupport/testcore"
)

// withSwapcontext calls libc's swapcontext (through its PLT): a possible
// runtime, never called absent.
var withSwapcontext = testcore.Program{Name: "swapcontext", Lang: "c", Flags: []string{"-O1", "-g"}, Source: `
#include <ucontext.h>
#include <stddef.h>
static ucontext_t main_ctx, co_ctx;
static char stack[65536];
static void co(void) { volatile int *p = NULL; *p = 1; }
int main(void) {
	getcontext(&co_ctx);
	co_ctx.uc_stack.ss_sp = stack;
	co_ctx.uc_stack.ss_size = sizeof stack;
	co_ctx.uc_link = &main_ctx;
	makecontext(&co_ctx, co, 0);
	swapcontext(&main_ctx, &co_ctx);
	return 0;
}
`}

// TestAbsent: a core whose modules neither define nor call a context
// switch routine is called absent, and full discovery on it agrees (no
// task, nothing to explain); a core calling swapcontext, and every
// fixture core of the runtime, are not.
func TestAbsent(t *testing.T) {
	prof, err := coroutines.LoadProfile("ceph-dse")
	if err != nil {
		t.Fatal(err)
	}
	r := testcore.Make(t, testcore.ThreadsOnly)
	p := open(t, r.Core, r.Exe)
	why, absent := coroutines.Absent(p, prof)
	if !absent || !strings.Contains(why, "no module defines or calls a context switch routine (jump_fcontext, libgo_jump_fcontext, swapcontext") {
		t.Errorf("threads-only: absent %v (%q)", absent, why)
	}
	rt := coroutines.Discover(p, prof)
	if len(rt.Tasks) != 0 || len(rt.Processers) != 0 || rt.NoTasks != "" {
		t.Errorf("threads-only: full discovery found %d tasks, %d Processers, NoTasks %q: Absent would hide them", len(rt.Tasks), len(rt.Processers), rt.NoTasks)
	}
	none := coroutines.NoRuntime(p, prof, why)
	if none.Absent != why || len(none.Tasks) != 0 || none.TaskCount != -1 || none.EffectiveProfile().Name != "ceph-dse" {
		t.Errorf("NoRuntime: %+v", none)
	}

	r = testcore.Make(t, withSwapcontext)
	if why, absent := coroutines.Absent(open(t, r.Core, r.Exe), prof); absent {
		t.Errorf("a program calling swapcontext: absent (%q)", why)
	}

	fx := fixture.Get(t)
	for _, name := range []string{fixture.FieldCrash, "large", fixture.Fork} {
		sc := fx.Scenario(t, name)
		if why, absent := coroutines.Absent(open(t, sc.Core, sc.Exe), prof); absent {
			t.Errorf("%s: absent (%q)", name, why)
		}
	}
}
