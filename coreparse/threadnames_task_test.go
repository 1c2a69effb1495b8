package coreparse

import "testing"

// A thread that was running a coroutine task when the core was written
// has the task's stack: it starts in the context's trampoline, and the
// task's function is not the thread's entry routine (upstream libgo's
// Processer thread was named "libgo_make_fcontext" by bt and "Processer_1"
// by bt --all-tasks).
func TestEntryRoutineNotATaskStack(t *testing.T) {
	for _, c := range []struct {
		fs   []Frame
		want string
	}{
		{[]Frame{{Function: "crash_now"}, {Function: "co::Task::Run"}, {Function: "libgo_make_fcontext"}, {Function: "??", Boundary: true}}, ""},
		{[]Frame{{Function: "dm_hash_node_t::clear"}, {Function: "engine_shutdown_task"}, {Function: "make_fcontext"}}, ""},
		// Caught at the trampoline's first instructions: its frame the
		// stack's only named one, and the innermost.
		{[]Frame{{Function: "make_fcontext"}, {Function: "??", Boundary: true}}, ""},
		{[]Frame{{Function: "pthread_cond_wait"}, {Function: "co::Processer::Process"}, {Function: "co::Scheduler::Start()::<lambda()>"}}, "co::Scheduler::Start()::<lambda()>"},
		{[]Frame{{Function: "usleep"}, {Function: "make_fcontext_user"}, {Function: "worker_main"}}, "worker_main"},
	} {
		if got := EntryRoutine(c.fs, nil); got != c.want {
			t.Errorf("%s … %s: %q, want %q", c.fs[0].Function, c.fs[len(c.fs)-1].Function, got, c.want)
		}
	}
}
