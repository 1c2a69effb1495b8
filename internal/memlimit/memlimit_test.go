package memlimit

import (
	"runtime/debug"
	"testing"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"512M": 512 << 20, "2G": 2 << 30, "2GiB": 2 << 30, "100MB": 100 << 20, "1.5g": 3 << 29, "4096": 4096, "64k": 64 << 10} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("%q: %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "lots", "-1G", "12Q"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestConfigure: --max-memory is the runtime's soft limit (it was never
// set: a big core grew until the machine said no).
func TestConfigure(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	l, err := Configure(300 << 20)
	if err != nil {
		t.Fatal(err)
	}
	if l.Bytes > 300<<20 || debug.SetMemoryLimit(-1) != l.Bytes {
		t.Errorf("limit %+v, runtime's %d", l, debug.SetMemoryLimit(-1))
	}
}
