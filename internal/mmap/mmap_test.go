package mmap

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestFile: a file's bytes, read-only; empty files and directories refused.
func TestFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("core bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := File(p)
	if err != nil || string(b) != "core bytes" {
		t.Fatalf("%q, %v", b, err)
	}
	Unmap(b)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o644)
	for _, bad := range []string{empty, dir} {
		if _, err := File(bad); err == nil || !strings.Contains(err.Error(), "not a mappable file") {
			t.Errorf("%s: %v", bad, err)
		}
	}
	if _, err := File(filepath.Join(dir, "none")); !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
}

// readPage reads one byte of every page of b from off on: a fault is a
// panic under Guard, turned into err by Catch.
func readPage(b []byte, off int) (sum byte, err error) {
	defer Catch(&err)
	for i := off; i < len(b); i += 4096 {
		sum += b[i]
	}
	return sum, nil
}

// TestFaultIsError: a mapped file truncated under its mapping (cp of a
// smaller build over a library) killed the process with SIGBUS; under
// Guard the read is a *FaultError naming the file, the offset and what
// changed, and Changed lists the file.
func TestFaultIsError(t *testing.T) {
	Guard()
	p := filepath.Join(t.TempDir(), "libdcache.so")
	if err := os.WriteFile(p, make([]byte, 64<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := File(p)
	if err != nil {
		t.Fatal(err)
	}
	defer Unmap(b)
	if _, err := readPage(b, 0); err != nil {
		t.Fatalf("intact file: %v", err)
	}
	if got := Changed(); len(got) != 0 {
		t.Fatalf("Changed before any change: %q", got)
	}
	if err := os.Truncate(p, 8192); err != nil {
		t.Fatal(err)
	}
	_, err = readPage(b, 8192)
	var fe *FaultError
	if !errors.As(err, &fe) {
		t.Fatalf("read past the new end: %v, want a *FaultError", err)
	}
	if fe.Path != p || fe.Offset != 8192 || fe.Why != "it is 8192 bytes now, was 65536" {
		t.Errorf("fault: %+v", fe)
	}
	if !strings.Contains(err.Error(), p) {
		t.Errorf("error does not name the file: %v", err)
	}
	if got := Changed(); len(got) != 1 || got[0] != p+": changed while being read (it is 8192 bytes now, was 65536)" {
		t.Errorf("Changed: %q", got)
	}
	if got := ChangedIn(b); got != "it is 8192 bytes now, was 65536" {
		t.Errorf("ChangedIn: %q", got)
	}
}

// TestOtherPanicsGoOn: Catch keeps only faults in its mappings; a nil
// dereference or an index out of range is not a changed file.
func TestOtherPanicsGoOn(t *testing.T) {
	Guard()
	for _, f := range []func(){
		func() { var p *int; _ = *p },
		func() { var s []byte; _ = s[3] },
	} {
		func() {
			defer func() {
				if r := recover(); r == nil || AsFault(r) != nil {
					t.Errorf("panic %v: AsFault %v", r, AsFault(r))
				}
			}()
			var err error
			func() {
				defer Catch(&err)
				f()
			}()
			t.Errorf("no panic (err %v)", err)
		}()
	}
}

// TestReplacedIsNotChanged: a file renamed over the mapped one (a
// concurrent run writing the same cache file) leaves the mapping intact:
// not a change.
func TestReplacedIsNotChanged(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "symtab-v3")
	os.WriteFile(p, []byte("old bytes"), 0o644)
	b, err := File(p)
	if err != nil {
		t.Fatal(err)
	}
	defer Unmap(b)
	os.WriteFile(p+".new", []byte("new bytes, longer"), 0o644)
	if err := os.Rename(p+".new", p); err != nil {
		t.Fatal(err)
	}
	if got := ChangedIn(b); got != "" || string(b) != "old bytes" {
		t.Errorf("ChangedIn %q, bytes %q", got, b)
	}
}

// TestLeaveToExit: after LeaveToExit, Unmap forgets a mapping (no longer
// registered: Changed does not report its file) and leaves its pages
// mapped until the process exits; before it, Unmap unmaps.
func TestLeaveToExit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("hello, mapping"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { leave.Store(false) })
	LeaveToExit()
	if !LeftToExit() {
		t.Fatal("LeftToExit is false after LeaveToExit")
	}
	registered := func() int { reg.mu.Lock(); defer reg.mu.Unlock(); return len(reg.rs) }
	before := registered()
	b, err := File(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Unmap(b); err != nil {
		t.Fatal(err)
	}
	if string(b) != "hello, mapping" {
		t.Fatalf("the left mapping reads %q", b)
	}
	if n := registered(); n != before {
		t.Fatalf("%d mappings registered, %d before", n, before)
	}
	if err := os.WriteFile(path, []byte("changed, mapping"), 0o644); err != nil {
		t.Fatal(err)
	}
	if c := Changed(); len(c) != 0 {
		t.Fatalf("a forgotten mapping's file reported changed: %v", c)
	}
	syscall.Munmap(b)
}
