package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The background fill. The first answer (bt of one thread) run cold does
// not lay out the symbol tables of the modules in its stack: it answers
// from the files' tables in place (session.Options.AnswerFirst) and, once
// its answer is written, starts dsecore again with the same arguments as
// a detached, low-priority child that writes the caches the next run
// maps (docs/architecture.md, "The first answer, cold"). The child's
// writes go through internal/cachefile (a temporary file renamed into
// place), so a run beside it or after it reads a whole cache file or
// none, and a child killed or timed out leaves only a temporary file the
// next run removes.
//
// $DSECORE_CACHE_FILL says how:
//
//	(unset)  the fill runs detached (its own session, nice 19)
//	wait     the fill runs as a child the command waits for (the tests':
//	         no process outlives them, the cache is whole when bt returns)
//	off      no answer-first: the layout is made and cached in process
//	child    this process is the fill (set by the parent)
const fillEnv = "DSECORE_CACHE_FILL"

// fillTimeout bounds the fill's run: a fill that has not ended by then
// exits; its temporary files are the next run's to remove.
const fillTimeout = 2 * time.Minute

// fillLock is the file, under the cache directory, the fill holds locked
// while it runs: a second cold run beside it starts none, and a test
// waits for the fill by locking it.
const fillLock = "fill.lock"

// pendingFill is the cache directory of a session that answered without
// its caches: main starts the fill there once the answer is written.
var pendingFill string

// answerFirst reports whether this run may answer without its caches.
func answerFirst() bool {
	m := os.Getenv(fillEnv)
	return m != "off" && m != "child"
}

// isFill reports whether this process is the background fill.
func isFill() bool { return os.Getenv(fillEnv) == "child" }

// fillSetup makes this process a well-behaved fill: lowest CPU priority
// and a bounded run.
func fillSetup() {
	if !isFill() {
		return
	}
	syscall.Setpriority(syscall.PRIO_PROCESS, 0, 19)
	time.AfterFunc(fillTimeout, func() { os.Exit(3) })
}

// startFill starts the fill for pendingFill, if any: nothing when another
// fill holds the lock or anything fails (the next cold run tries again).
func startFill() {
	if pendingFill == "" {
		return
	}
	if err := os.MkdirAll(pendingFill, 0o700); err != nil {
		return
	}
	lock, err := os.OpenFile(filepath.Join(pendingFill, fillLock), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return
	}
	defer lock.Close()
	if syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		return // a fill is running
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, fillEnv+"=") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(cmd.Env, fillEnv+"=child")
	// No stdin, stdout or stderr (/dev/null); the lock, inherited, is
	// held until the fill exits.
	cmd.ExtraFiles = []*os.File{lock}
	wait := os.Getenv(fillEnv) == "wait"
	if !wait {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	}
	if cmd.Start() != nil {
		return
	}
	if wait {
		cmd.Wait()
		return
	}
	cmd.Process.Release()
}
