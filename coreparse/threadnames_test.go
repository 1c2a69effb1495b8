package coreparse

import (
	"debug/elf"
	"testing"

	"github.com/dsecore/dsecore/coreparse/disasm"
)

// libcephCommon is where Ceph's Thread subclasses live (ceph-common).
const libcephCommon = "/usr/lib/x86_64-linux-gnu/ceph/libceph-common.so.2"

// TestForwardsCephThreadEntries: on the real libceph-common, the Thread
// subclasses whose entry() only calls their owner are forwarders, and the
// ones that run their own loop are not — decided from their code, so a
// thread's name never depends on what it was doing when the core was
// written (a CI run's ceph-mon core caught OpHistoryServiceThread::entry
// inside OpHistory::_insert_delayed and named the thread after it).
func TestForwardsCephThreadEntries(t *testing.T) {
	f, err := elf.Open(libcephCommon)
	if err != nil {
		t.Fatalf("%v (scripts/setup.sh installs ceph-common)", err)
	}
	defer f.Close()
	syms, err := f.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	text := f.Section(".text")
	data, err := text.Data()
	if err != nil {
		t.Fatal(err)
	}
	mem := disasm.Bytes{Addr: text.Addr, Data: data}
	want := map[string]bool{
		"_ZN13DispatchQueue14DispatchThread5entryEv":        true,  // dq->entry()
		"_ZN13DispatchQueue19LocalDeliveryThread5entryEv":   true,  // dq->run_local_delivery()
		"_ZN10ThreadPool10WorkThread5entryEv":               true,  // pool->worker(this), virtual
		"_ZN22OpHistoryServiceThread5entryEv":               false, // its own loop
		"_ZN4ceph6common24CephContextServiceThread5entryEv": false, // its own loop
	}
	seen := 0
	for _, s := range syms {
		w, ok := want[s.Name]
		if !ok || s.Size == 0 {
			continue
		}
		seen++
		if got := forwards(mem, s.Value, s.Value+s.Size); got != w {
			t.Errorf("%s (%d bytes): forwarder %v, want %v", s.Name, s.Size, got, w)
		}
	}
	if seen != len(want) {
		t.Fatalf("found %d of the %d entry functions in %s", seen, len(want), libcephCommon)
	}
}

// TestEntryRoutineForwardsOnlyForwarders: a Thread::entry frame gives the
// name of the frame it called only when it is a forwarder.
func TestEntryRoutineForwardsOnlyForwarders(t *testing.T) {
	stack := func(entry, inner string) []Frame {
		return []Frame{{Function: "usleep"}, {Function: inner}, {Function: entry}}
	}
	yes := func(*Frame) bool { return true }
	no := func(*Frame) bool { return false }
	for _, c := range []struct {
		fs       []Frame
		forwards func(*Frame) bool
		want     string
	}{
		{stack("DispatchQueue::DispatchThread::entry", "DispatchQueue::entry"), yes, "DispatchQueue::entry"},
		{stack("OpHistoryServiceThread::entry", "OpHistory::_insert_delayed"), no, "OpHistoryServiceThread::entry"},
		{stack("OpHistoryServiceThread::entry", "OpHistory::_insert_delayed"), nil, "OpHistoryServiceThread::entry"},
		{stack("AdminSocket::entry", "AdminSocket::do_accept"), yes, "AdminSocket::entry"},
		// A forwarder that is the stack's only frame (its callee not
		// unwound): nothing to forward to, it names itself.
		{[]Frame{{Function: "DispatchQueue::DispatchThread::entry"}}, yes, "DispatchQueue::DispatchThread::entry"},
	} {
		if got := EntryRoutine(c.fs, c.forwards); got != c.want {
			t.Errorf("%+v: %q, want %q", c.fs, got, c.want)
		}
	}
}
