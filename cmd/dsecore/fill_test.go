package main

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
)

// fillRun runs `dsecore bt CORE --exe EXE` (the first answer) with cache
// as $XDG_CACHE_HOME and env added; no $DSECORE_CACHE_FILL unless env
// gives one (the command's own default: a detached fill).
func fillRun(t *testing.T, sc *fixture.Scenario, cache string, env ...string) (string, string) {
	t.Helper()
	cmd := exec.Command(dsecoreBin, "bt", sc.Core, "--exe", sc.Exe)
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "XDG_CACHE_HOME=") && !strings.HasPrefix(e, fillEnv+"=") && !strings.HasPrefix(e, "DSECORE_CHAOS=") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(append(cmd.Env, "XDG_CACHE_HOME="+cache), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("dsecore bt %s: %v\n%s", sc.Core, err, errb.String())
	}
	return out.String(), errb.String()
}

// waitFill waits for the background fill the last run started in cache:
// it holds fill.lock locked until it exits (taken by its parent before it
// started, so there is no moment the lock is free while it runs).
func waitFill(t *testing.T, cache string) {
	t.Helper()
	f, err := os.Open(filepath.Join(cache, "dsecore", fillLock))
	if err != nil {
		t.Fatalf("no fill was started: %v", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}

// cacheFiles are the cache's files (relative paths; temporary files, the
// fill's lock and the markers of files checked whole apart) and its
// temporary files. A marker (internal/cachefile, vouch.go) is written by
// a run whose check began outside the racy window after the file's last
// change: whether one is there depends on the clock, not on the fill.
func cacheFiles(t *testing.T, cache string) (files, temps []string) {
	t.Helper()
	filepath.WalkDir(cache, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || d.Name() == fillLock {
			return nil
		}
		if n := d.Name(); strings.HasPrefix(n, ".") && strings.HasSuffix(n, ".verified") {
			return nil
		}
		rel, _ := filepath.Rel(cache, p)
		if strings.HasPrefix(d.Name(), ".tmp-") || strings.HasPrefix(d.Name(), ".partial-") {
			temps = append(temps, rel)
		} else {
			files = append(files, rel)
		}
		return nil
	})
	slices.Sort(files)
	return files, temps
}

// TestColdFirstAnswerFill: a cold first answer (bt, empty cache) answers
// as a run that lays out and caches everything in process
// (DSECORE_CACHE_FILL=off), without the symbol layouts; its detached
// background fill then leaves exactly the cache files the in-process run
// leaves, and the run after reads them and answers the same. A fill
// killed in the middle of writing a layout (the chaos point
// cache-write:symtab, which the answering run never reaches: it writes no
// layout) leaves a temporary file and no damaged one: the next run
// answers the same, removes it, and its fill completes the cache.
func TestColdFirstAnswerFill(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	refCache := t.TempDir()
	ref, refErr := fillRun(t, sc, refCache, fillEnv+"=off")
	want, _ := cacheFiles(t, refCache)
	if !slices.ContainsFunc(want, func(f string) bool { return strings.Contains(f, "symtab-v3") }) {
		t.Fatalf("the in-process run cached no symbol layout: %v", want)
	}

	cache := t.TempDir()
	out, errs := fillRun(t, sc, cache)
	if out != ref || errs != refErr {
		t.Fatalf("cold answer differs from the in-process run's:\n%s\n%s\nwant:\n%s\n%s", out, errs, ref, refErr)
	}
	waitFill(t, cache)
	got, temps := cacheFiles(t, cache)
	if !slices.Equal(got, want) || len(temps) > 0 {
		t.Fatalf("after the fill the cache holds %v (temporary %v), want the in-process run's %v", got, temps, want)
	}
	out, errs = fillRun(t, sc, cache)
	if out != ref || errs != refErr {
		t.Fatalf("warm answer after the fill differs:\n%s\n%s", out, errs)
	}
	if again, _ := cacheFiles(t, cache); !slices.Equal(again, want) {
		t.Fatalf("the warm run changed the cache: %v", again)
	}

	// The fill killed mid-write.
	cache = t.TempDir()
	out, errs = fillRun(t, sc, cache, "DSECORE_CHAOS=cache-write:symtab kill")
	if out != ref || errs != refErr {
		t.Fatalf("cold answer whose fill is killed differs:\n%s\n%s", out, errs)
	}
	waitFill(t, cache)
	got, temps = cacheFiles(t, cache)
	if len(temps) == 0 || slices.Equal(got, want) {
		t.Fatalf("the fill was not killed mid-write: cache %v, temporary %v", got, temps)
	}
	out, errs = fillRun(t, sc, cache)
	if out != ref || errs != refErr {
		t.Fatalf("the answer after a killed fill differs:\n%s\n%s", out, errs)
	}
	waitFill(t, cache)
	if got, temps = cacheFiles(t, cache); !slices.Equal(got, want) || len(temps) > 0 {
		t.Fatalf("after a killed fill and the next run's: cache %v, temporary %v; want %v", got, temps, want)
	}
	if out, errs = fillRun(t, sc, cache); out != ref || errs != refErr {
		t.Fatalf("warm answer differs:\n%s\n%s", out, errs)
	}
}
