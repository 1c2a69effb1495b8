package gdbscript_test

import (
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
)

// TestWaits: in real gdb, `dse waits` on the heartbeat core (its log given
// with dse logs) says the watchdog was the messenger and names the stuck
// Processer thread, its lock and the lock's holder in I/O.
func TestWaits(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.Heartbeat)
	out := gdb(t, sc, nil, "dse logs "+sc.Dir, "echo ==waits==\\n", "dse waits")
	w := after(out, "==waits==")
	mustContain(t, "dse waits", w,
		"The abort came from Ceph's heartbeat watchdog", "the aborting thread is the messenger, not the culprit",
		"(Processer_5) running task", "waiting for hangs::pg_1.lock (ceph::mutex)", "which is in read(2)",
		"had suicide timed out after 3", "Chain 1:")
}
