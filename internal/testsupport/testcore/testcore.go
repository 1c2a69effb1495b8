// Package testcore builds small C/C++ programs and crashes them so that the
// kernel writes a real core file, for unit tests of the core-reading packages.
//
// The field-crash reproduction lives in fixtures/ (see internal/testsupport/fixture); this
// package is for narrow tests that want a tiny, well-understood program: a
// NULL dereference, a signal handler that re-raises, a deep recursion.
//
// Programs are compiled once per test binary run into a directory keyed by the
// hash of their source and flags, so several tests can share one core.
package testcore

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Program is a source file to compile and crash.
type Program struct {
	Name string // short name, used in file names
	Lang string // "c" or "c++"
	// Compiler is the compiler to run ("clang-16"); default gcc for C,
	// g++ for C++.
	Compiler string
	Source   string   // the program text
	Flags    []string // extra compiler flags; default -O2 -g
	Args     []string // arguments for the crashing run
}

// Result is a built program and the core its crash left.
type Result struct {
	Dir    string // working directory of the run
	Exe    string // the executable
	Core   string // the kernel-written core
	Stderr string // what the program printed on stderr
}

var (
	mu    sync.Mutex
	cache = map[string]*Result{}
	root  string
)

// CacheEnv names a directory where built programs and their cores are
// kept between test binary runs, keyed as within one run (the program's
// source, flags and arguments) plus the compiler's identity. Unset (the
// default, and in CI) every test binary run builds and crashes its
// programs anew. scripts/mutate.sh sets it to a directory of its own run,
// removed when the run ends: a mutant changes dsecore's code, not the
// programs, so its thousand test runs crash each program once.
const CacheEnv = "DSECORE_TESTCORE_CACHE"

func baseDir() (string, error) {
	if root != "" {
		return root, nil
	}
	if d := os.Getenv(CacheEnv); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
		root = d
		return root, nil
	}
	d, err := os.MkdirTemp("", "dsecore-testcore-")
	if err != nil {
		return "", err
	}
	root = d
	return root, nil
}

// Make compiles p, runs it with core dumps enabled and returns the core.
// A missing compiler or a program that leaves no core fails the test: the
// tests that call this are about real cores and have nothing to test without one.
func Make(t testing.TB, p Program) *Result {
	t.Helper()
	r, err := build(p)
	if err != nil {
		t.Fatalf("testcore %s: %v", p.Name, err)
	}
	return r
}

func build(p Program) (*Result, error) {
	mu.Lock()
	defer mu.Unlock()
	flags := p.Flags
	if len(flags) == 0 {
		flags = []string{"-O2", "-g"}
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%s", p.Lang, p.Source, strings.Join(flags, " "), strings.Join(p.Args, " "), p.Compiler)
	key := p.Name + "-" + hex.EncodeToString(h.Sum(nil))[:12]
	if r, ok := cache[key]; ok {
		return r, nil
	}
	base, err := baseDir()
	if err != nil {
		return nil, err
	}
	compiler, ext := "gcc", ".c"
	if p.Lang == "c++" {
		compiler, ext = "g++", ".cc"
	}
	if p.Compiler != "" {
		compiler = p.Compiler
	}
	if os.Getenv(CacheEnv) != "" {
		// Kept between runs: the compiler is part of the key.
		path, err := exec.LookPath(compiler)
		if err != nil {
			return nil, err
		}
		fi, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(h, "\x00%s\x00%d\x00%d", path, fi.Size(), fi.ModTime().UnixNano())
		key = p.Name + "-" + hex.EncodeToString(h.Sum(nil))[:12]
	}
	dir := filepath.Join(base, key)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// Another test binary (go test runs packages side by side) may be
	// building the same program in a kept directory: one at a time, and a
	// finished one (its "done" file written last) is taken as it is.
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return nil, err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if b, err := os.ReadFile(filepath.Join(dir, "done")); err == nil {
		r := &Result{Dir: dir, Exe: filepath.Join(dir, p.Name), Core: filepath.Join(dir, "core"), Stderr: string(b)}
		cache[key] = r
		return r, nil
	}
	src := filepath.Join(dir, p.Name+ext)
	if err := os.WriteFile(src, []byte(p.Source), 0o644); err != nil {
		return nil, err
	}
	exe := filepath.Join(dir, p.Name)
	args := append(append([]string{}, flags...), "-o", exe, src, "-lpthread")
	if out, err := exec.Command(compiler, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s %s: %v\n%s", compiler, strings.Join(args, " "), err, out)
	}
	core := filepath.Join(dir, "core")
	os.Remove(core)
	// ulimit through the shell: Go has no portable setrlimit for the child alone.
	script := `ulimit -c unlimited; exec "$0" "$@"`
	cmd := exec.Command("/bin/sh", append([]string{"-c", script, exe}, p.Args...)...)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		return nil, fmt.Errorf("%s did not crash within 60s", p.Name)
	}
	if _, err := os.Stat(core); err != nil {
		pattern, _ := os.ReadFile("/proc/sys/kernel/core_pattern")
		return nil, fmt.Errorf("%s left no core in %s (core_pattern %q): %v", p.Name, dir, strings.TrimSpace(string(pattern)), err)
	}
	r := &Result{Dir: dir, Exe: exe, Core: core, Stderr: stderr.String()}
	if err := os.WriteFile(filepath.Join(dir, "done"), []byte(r.Stderr), 0o644); err != nil {
		return nil, err
	}
	cache[key] = r
	return r, nil
}

// NullDeref is a C program whose thread "worker" dereferences NULL inside an
// inlined helper, while the main thread waits in pthread_join.
var NullDeref = Program{
	Name: "nullderef",
	Lang: "c",
	Source: `#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
struct node { struct node *next; long v; };
static inline long walk(struct node *n) { long s = 0; while (n) { s += n->v; n = n->next; } return s; }
__attribute__((noinline)) long sum_list(struct node *n) { return walk(n) + walk(n->next->next); }
static void *worker(void *arg) {
	struct node b = {0, 2}, a = {&b, 1};
	pthread_setname_np(pthread_self(), "worker");
	printf("%ld\n", sum_list((struct node *)arg ? &a : 0));
	return 0;
}
int main(void) {
	pthread_t t;
	pthread_create(&t, 0, worker, (void *)0);
	pthread_join(t, 0);
	return 0;
}
`,
}

// Reraise is a C program with a Ceph-style fatal signal handler: it logs,
// restores SIG_DFL and re-raises with pthread_kill, so the core's own
// signal record says SI_TKILL and the fault registers are in the signal frame.
var Reraise = Program{
	Name: "reraise",
	Lang: "c",
	Source: `#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
__attribute__((noinline)) static void handle_fatal_signal(int signum, siginfo_t *si, void *uc) {
	char name[16] = "";
	pthread_getname_np(pthread_self(), name, sizeof name);
	fprintf(stderr, "*** Caught signal (%s) **\n in thread %lx thread_name:%s\n", strsignal(signum), (unsigned long)pthread_self(), name);
	signal(signum, SIG_DFL);
	pthread_kill(pthread_self(), signum);
}
struct obj { long pad[38]; struct obj *next; };
__attribute__((noinline)) long follow(struct obj *o) { long n = 0; while (o) { n++; o = o->next; } return n; }
__attribute__((noinline)) long crash_here(struct obj *o) { return follow(o->next) + 1; }
int main(void) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = handle_fatal_signal;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, 0);
	struct obj o = {{0}, (struct obj *)0x10};
	return (int)crash_here(&o);
}
`,
}

// ThreadsOnly is a program without any coroutine runtime: three threads
// blocked in a condition variable, the main thread crashing on a NULL read
// (four threads in its core).
var ThreadsOnly = Program{Name: "threads-only", Lang: "c", Flags: []string{"-O1", "-g", "-pthread"}, Source: `
#include <pthread.h>
#include <stddef.h>
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static void *wait_forever(void *arg) {
	pthread_mutex_lock(&mu);
	for (;;) pthread_cond_wait(&cv, &mu);
	return arg;
}
int main(void) {
	pthread_t t[3];
	for (int i = 0; i < 3; i++) pthread_create(&t[i], NULL, wait_forever, NULL);
	volatile int *p = NULL;
	return *p;
}
`}
