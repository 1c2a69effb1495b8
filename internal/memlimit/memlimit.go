// Package memlimit sets the Go runtime's soft memory limit
// (runtime/debug.SetMemoryLimit) from what the machine allows: --max-memory,
// the cgroup's memory.max, and the address space left under RLIMIT_AS
// (ulimit -v). Near the limit the collector works harder and a big core
// is answered more slowly instead of the process dying.
//
// The address space: a Go program reserves ~585 MiB at start for its page
// allocator's summaries (runtime.(*pageAlloc).sysInit, sized for the whole
// 48-bit address space, whatever the heap) and 64 MiB heap arenas as the
// heap grows; its 512 MiB scavenger index is optional (the runtime goes on
// without it when the reservation fails). No Go program starts under
// about 730 MiB of ulimit -v (built without cgo: with it, each thread's
// 8 MiB pthread stack and glibc's 64 MiB malloc arena come on top). What
// is left, the heap and the files dsecore maps (debug sections, cache
// files) share: the heap gets half of it.
package memlimit

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
)

// MinHeadroom is the least address space above the runtime's own
// reservations with which dsecore starts reading a core: below it, one
// line says so instead of a crash somewhere in the runtime.
const MinHeadroom = 96 << 20

// Limit is what Configure decided.
type Limit struct {
	Bytes  int64  // the soft limit set (0: none)
	Source string // "--max-memory", "cgroup memory.max", "ulimit -v", "GOMEMLIMIT"
	// Headroom is the address space left under RLIMIT_AS when Configure
	// ran (-1: unlimited).
	Headroom int64
}

// Configure sets the soft limit to the smallest of max (bytes, 0 none),
// the cgroup's memory limit and half the address space left under
// RLIMIT_AS. $GOMEMLIMIT, when set, stands unless max is given.
func Configure(max int64) (Limit, error) {
	l := Limit{Headroom: -1}
	consider := func(b int64, src string) {
		if b > 0 && (l.Bytes == 0 || b < l.Bytes) {
			l.Bytes, l.Source = b, src
		}
	}
	if max > 0 {
		consider(max, "--max-memory")
	} else if os.Getenv("GOMEMLIMIT") != "" {
		return Limit{Bytes: debug.SetMemoryLimit(-1), Source: "GOMEMLIMIT", Headroom: -1}, nil
	}
	if b := cgroupLimit(); b > 0 {
		consider(b*9/10, "cgroup memory.max")
	}
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_AS, &rl) == nil && rl.Cur != math.MaxUint64 && rl.Cur < 1<<62 {
		used := vmSize()
		l.Headroom = int64(rl.Cur) - used
		if l.Headroom < MinHeadroom {
			return l, fmt.Errorf("ulimit -v %d KiB leaves %d MiB of address space after the Go runtime's own reservations (%d MiB): too little to read a core (at least %d MiB more are needed)",
				rl.Cur>>10, max64(0, l.Headroom)>>20, used>>20, MinHeadroom>>20)
		}
		consider(l.Headroom/2, "ulimit -v")
	}
	if l.Bytes > 0 {
		debug.SetMemoryLimit(l.Bytes)
	}
	return l, nil
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// vmSize is the process's address space now (VmSize), in bytes.
func vmSize() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmSize:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// cgroupLimit is the memory limit of the process's cgroup (v2 memory.max,
// else v1 memory.limit_in_bytes), 0 when there is none.
func cgroupLimit() int64 {
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := strings.TrimSpace(string(b))
		if s == "max" {
			return 0
		}
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 && n < 1<<60 {
			return n
		}
	}
	return 0
}

// ParseSize reads a size: bytes, or with a suffix K, M, G, T (powers of
// 1024; "KiB", "MB" and the like read the same).
func ParseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q: not a size (e.g. 512M, 2G)", s)
	}
	return int64(v * float64(mult)), nil
}
