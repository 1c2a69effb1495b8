// Package chaos injects faults at chosen points of a run, for the chaos
// tests: a file truncated, replaced or overwritten while it is read, the
// process killed in the middle of a cache write. A fault happens at a
// point the run reaches, not when a race is won, so every try is the same
// try. Nothing happens unless $DSECORE_CHAOS names a point:
//
//	DSECORE_CHAOS='POINT ACTION [ARG...]'
//
// POINT is a name the code passes to At ("opened": a session's core and
// files are open, nothing unwound; "stack": a thread's stack unwound and
// symbolized, its files mapped; "cache-write:KIND": half of a cache
// file of that kind is written, KIND being "section", "symtab", "index",
// "unit", "core", "result", "download", "marker"), optionally with "#N" for its Nth
// time (default the first). ACTIONS:
//
//	kill                    SIGKILL this process
//	truncate PATH SIZE      cut PATH to SIZE bytes (in place, as a cp of a smaller file does)
//	replace PATH FROM       write FROM's bytes over PATH in place (cp FROM PATH)
//	garbage PATH            overwrite PATH in place with as many random bytes (seeded: the same each try)
package chaos

import (
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Env is the variable that arms a point.
const Env = "DSECORE_CHAOS"

var armed = sync.OnceValue(func() *plan {
	s := os.Getenv(Env)
	if s == "" {
		return nil
	}
	f := strings.Fields(s)
	if len(f) < 2 {
		return nil
	}
	p := &plan{point: f[0], nth: 1, action: f[1], args: f[2:]}
	if i := strings.LastIndexByte(p.point, '#'); i > 0 {
		if n, err := strconv.Atoi(p.point[i+1:]); err == nil && n > 0 {
			p.point, p.nth = p.point[:i], n
		}
	}
	return p
})

type plan struct {
	point  string
	nth    int
	action string
	args   []string

	mu   sync.Mutex
	seen int
}

// Armed reports whether any point is armed (a writer takes the slower
// path that has the point only then).
func Armed() bool { return armed() != nil }

// At is a point of the run: when $DSECORE_CHAOS names it (and this is its
// Nth time), the action happens now, before At returns.
func At(point string) {
	p := armed()
	if p == nil || p.point != point {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen++
	if p.seen != p.nth {
		return
	}
	if err := p.do(); err != nil {
		fmt.Fprintf(os.Stderr, "dsecore: %s %s: %v\n", Env, point, err)
	}
}

func (p *plan) do() error {
	arg := func(i int) string {
		if i < len(p.args) {
			return p.args[i]
		}
		return ""
	}
	switch p.action {
	case "kill":
		return syscall.Kill(os.Getpid(), syscall.SIGKILL)
	case "truncate":
		n, err := strconv.ParseInt(arg(1), 0, 64)
		if err != nil {
			return err
		}
		return os.Truncate(arg(0), n)
	case "replace":
		b, err := os.ReadFile(arg(1))
		if err != nil {
			return err
		}
		return overwrite(arg(0), b)
	case "garbage":
		st, err := os.Stat(arg(0))
		if err != nil {
			return err
		}
		b := make([]byte, st.Size())
		rand.New(rand.NewSource(st.Size())).Read(b)
		return overwrite(arg(0), b)
	}
	return fmt.Errorf("unknown action %q", p.action)
}

// overwrite writes b over path in place (O_TRUNC, same inode: what cp does
// to an existing file, and what a mapping of it sees).
func overwrite(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
