package eustack

import "testing"

// TestParse: eu-stack 0.188's output for one thread that ends normally and
// one whose unwind failed.
func TestParse(t *testing.T) {
	stdout := `PID 11450 - core
TID 11452:
#0  0x0000000000413b0b __pthread_kill_implementation.constprop.0
#1  0x0000000000408962 raise
#2  0x0000000000401770 sigusr2
TID 11450:
#0  0x0000000000460d99 __clone3
#1  0x00000000004361dd
`
	stderr := "eu-stack: dwfl_thread_getframes tid 11450 at 0x4361dd in /tmp/bt-static: No DWARF information found\n"
	th, err := Parse(stdout, stderr)
	if err != nil {
		t.Fatal(err)
	}
	if len(th) != 2 || th[0].TID != 11452 || len(th[0].Frames) != 3 || th[0].Frames[2] != (Frame{0x401770, "sigusr2"}) || th[0].Stop != "" {
		t.Fatalf("first thread: %+v", th)
	}
	if th[1].TID != 11450 || len(th[1].Frames) != 2 || th[1].Frames[1] != (Frame{0x4361dd, ""}) || th[1].Stop != "No DWARF information found" {
		t.Fatalf("second thread: %+v", th[1])
	}
}
