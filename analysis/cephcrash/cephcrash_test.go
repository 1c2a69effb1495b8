package cephcrash

import (
	"strings"
	"testing"
)

// The mgr's stack_sig (ceph crash info, Ceph 16.2.15's crash module) of
// the meta ceph-mon's own handler wrote for a kill -SEGV and for a failed
// ceph_assert (the real-daemon corpus, fixtures/ceph/corpus.sh).
func TestStackSigIsTheMgrs(t *testing.T) {
	killSegv := []string{
		"/lib/x86_64-linux-gnu/libc.so.6(+0x3c050) [0x7f3a85a5a050]",
		"/lib/x86_64-linux-gnu/libc.so.6(+0x85f16) [0x7f3a85aa3f16]",
		"pthread_cond_wait()",
		"(AsyncMessenger::wait()+0x5f) [0x7f3a8655932f]",
		"main()",
		"/lib/x86_64-linux-gnu/libc.so.6(+0x2724a) [0x7f3a85a4524a]",
		"__libc_start_main()",
		"_start()",
	}
	if got, err := StackSig(killSegv, ""); err != nil || got != "091cd39f8b3a3b179d72b5202dd4b2ac63908954942f58b3c9f54a911c04b11f" {
		t.Errorf("kill -SEGV: stack_sig %s, %v", got, err)
	}
	// The assertion message's thread id, time and line number are left out:
	// only the message's other text and the backtrace count.
	bt := []string{"/lib/x86_64-linux-gnu/libc.so.6(+0x3c050) [0x7f2931c5a050]", "gsignal()", "abort()",
		"(ceph::__ceph_assert_fail(char const*, char const*, int, char const*)+0x171) [0x7f293244e60e]"}
	msg := func(thread, time string) string {
		return "./src/common/ceph_context.cc: In function 'f()' thread " + thread + " time " + time +
			"\n./src/common/ceph_context.cc: 495: FAILED ceph_assert(x)\n"
	}
	a, err1 := StackSig(bt, msg("7f292f97f6c0", "2026-12-02T13:49:25.350452+0000"))
	b, err2 := StackSig(bt, msg("7f0000000001", "2026-12-03T00:00:00.000000+0000"))
	if err1 != nil || err2 != nil || a != b {
		t.Errorf("the same assertion on another thread at another time: %s, %s (%v, %v)", a, b, err1, err2)
	}
	if _, err := StackSig(bt, "no thread or time here\n"); err == nil {
		t.Errorf("an assertion message the crash module would refuse was accepted")
	}
}

// Ceph's BackTrace lines: a C++ name demangled with its offset and
// address, a C name as name(), a line without a name as it is.
func TestDemangle(t *testing.T) {
	for in, want := range map[string]string{
		"/usr/bin/ceph-mon(_ZN14AsyncMessenger4waitEv+0x5f) [0x7f3a8655932f]":      "(AsyncMessenger::wait()+0x5f) [0x7f3a8655932f]",
		"/lib/x86_64-linux-gnu/libc.so.6(pthread_cond_wait+0x2d) [0x7f3a85aa6c7d]": "pthread_cond_wait()",
		"/lib/x86_64-linux-gnu/libc.so.6(+0x3c050) [0x7f3a85a5a050]":               "/lib/x86_64-linux-gnu/libc.so.6(+0x3c050) [0x7f3a85a5a050]",
	} {
		if got := Demangle(in); got != want {
			t.Errorf("Demangle(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestEntityName: Ceph's global_init naming from a command line, and from
// the core's 79-byte copy of one when the memory holding argv is gone (a
// truncated core): a last word that may be cut is not read, and a client
// whose -i may have been cut off is not called client.admin.
func TestEntityName(t *testing.T) {
	long := "/home/runner/work/dsecore/build/fixtures/0123456789abcdef/bin/ceph-dse --scenario field-crash -i 64"
	psargs := func(cmd string) ([]string, bool) {
		if len(cmd) < 79 {
			return strings.Fields(cmd), false
		}
		return strings.Fields(cmd[:79]), true
	}
	for _, c := range []struct {
		argv []string
		cut  bool
		want string
	}{
		{[]string{"/usr/bin/ceph-osd", "-f", "--cluster", "ceph", "--id", "3"}, false, "osd.3"},
		{[]string{"/usr/bin/ceph-mon", "-n", "mon.a"}, false, "mon.a"},
		{[]string{"/opt/bin/ceph-dse", "--scenario", "field-crash", "-i", "64"}, false, "client.64"},
		{[]string{"/opt/bin/ceph-dse", "--scenario", "field-crash"}, false, "client.admin"},
		{[]string{"/usr/bin/ceph-osd", "-f"}, false, ""},
		// Cut: "-i 6" of "-i 64", and "-i" with its value gone.
		{strings.Fields("/work/x/bin/ceph-dse --scenario field-crash -i 6"), true, ""},
		{strings.Fields("/work/x/bin/ceph-dse --scenario field-crash -i"), true, ""},
		{strings.Fields("/work/x/bin/ceph-dse --scenario field-crash -i 64 --no-mon-config --ver"), true, "client.64"},
		// Exactly 79 bytes: whole, or cut; the kernel's copy cannot tell.
		{strings.Fields("/work/fixtures-cache/cbfff7c4c715ab62/bin/ceph-dse --scenario field-crash -i 64"), true, ""},
	} {
		if got, from := EntityNameCut(c.argv, c.cut); got != c.want || got == "" && c.cut && !strings.Contains(from, "cut short") {
			t.Errorf("EntityNameCut(%q, %v) = %q (%s), want %q", c.argv, c.cut, got, from, c.want)
		}
	}
	argv, cut := psargs(long)
	if !cut || len(long) <= 79 {
		t.Fatalf("%q: not cut", long)
	}
	if got, _ := EntityNameCut(argv, cut); got != "" {
		t.Errorf("the 79 bytes of %q give %q", long, got)
	}
}
