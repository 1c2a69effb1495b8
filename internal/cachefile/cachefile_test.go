package cachefile

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// TestSealed: a sealed file's contents come back whole; a file with the
// same size and other bytes (random bytes over one block), a truncated
// one, a file without a trailer are ErrDamaged.
func TestSealed(t *testing.T) {
	root := t.TempDir()
	c := New(root)
	data := make([]byte, 2*BlockSize+12345)
	rand.New(rand.NewSource(1)).Read(data)
	path := filepath.Join(root, "id", "debug_info")
	if err := c.Write("section", path, true, data[:100], data[100:]); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	bl, err := Sealed(b)
	if err != nil || !bytes.Equal(bl.Data, data) || bl.Len() != 3 {
		t.Fatalf("sealed: %v, %d blocks", err, bl.Len())
	}
	for i := 0; i < bl.Len(); i++ {
		if err := bl.Verify(i); err != nil {
			t.Errorf("block %d: %v", i, err)
		}
	}
	if n, err := VerifyFile(path); err != nil || n != int64(len(data)) {
		t.Errorf("VerifyFile: %d, %v", n, err)
	}
	if got, err := ReadSealed(path); err != nil || !bytes.Equal(got, data) {
		t.Errorf("ReadSealed: %v", err)
	}
	// Random bytes over the middle block.
	bad := append([]byte(nil), b...)
	rand.New(rand.NewSource(2)).Read(bad[BlockSize+10 : BlockSize+5000])
	os.WriteFile(path, bad, 0o644)
	bl, err = Sealed(bad)
	if err != nil || bl.Verify(0) != nil || !errors.Is(bl.Verify(1), ErrDamaged) || bl.Verify(2) != nil {
		t.Errorf("damaged block 1: %v; %v %v %v", err, bl.Verify(0), bl.Verify(1), bl.Verify(2))
	}
	if _, err := VerifyFile(path); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), path) {
		t.Errorf("VerifyFile of a damaged file: %v", err)
	}
	// Random bytes of the whole file's size; a truncated file; no trailer.
	garbage := make([]byte, len(b))
	rand.New(rand.NewSource(3)).Read(garbage)
	for name, c := range map[string][]byte{"garbage": garbage, "truncated": b[:len(b)-100], "plain": data} {
		if _, err := Sealed(c); !errors.Is(err, ErrDamaged) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestCleanTemps: a killed writer's temporary file (unlocked) is removed
// by the next run; a live writer's (locked) is kept and its file renamed
// in place.
func TestCleanTemps(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "dwarf", "id")
	os.MkdirAll(dir, 0o755)
	dead := filepath.Join(dir, ".tmp-123")
	os.WriteFile(dead, make([]byte, 2700000), 0o644)
	oldPartial := filepath.Join(dir, ".partial-9")
	os.WriteFile(oldPartial, []byte("x"), 0o644)
	// A live writer in another process: a child holding the lock.
	live := filepath.Join(dir, ".tmp-live")
	os.WriteFile(live, []byte("being written"), 0o644)
	cmd := exec.Command("flock", live, "sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// Wait for the child's lock: a lock of our own fails then.
	for {
		f, _ := os.Open(live)
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		f.Close()
		if err != nil {
			break
		}
	}
	CleanTemps(dir)
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("a killed run's temporary file is still there: %v", err)
	}
	if _, err := os.Stat(oldPartial); !os.IsNotExist(err) {
		t.Errorf("an old .partial- file is still there: %v", err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("a live writer's file was removed: %v", err)
	}
}

// TestRoots: the XDG rules. A relative $XDG_CACHE_HOME is ignored (it
// turned the cache off); with $HOME=/nonexistent nothing is created
// (as root it made /nonexistent/.cache); ~/.cache is made when $HOME
// exists; a directory in no cache root is not made.
func TestRoots(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CACHE_HOME", "relative/cache")
	if got := DefaultRoot(); got != filepath.Join(home, ".cache", "dsecore") {
		t.Errorf("relative XDG_CACHE_HOME: root %q", got)
	}
	if err := New(DefaultRoot()).MkdirAll(filepath.Join(DefaultRoot(), "dwarf", "id")); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(home, ".cache")); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("~/.cache: %v %v", st.Mode(), err)
	}
	xdg := filepath.Join(t.TempDir(), "xdg")
	t.Setenv("XDG_CACHE_HOME", xdg)
	if got := DefaultRoot(); got != filepath.Join(xdg, "dsecore") {
		t.Errorf("XDG_CACHE_HOME: root %q", got)
	}
	t.Setenv("XDG_CACHE_HOME", "")
	gone := filepath.Join(t.TempDir(), "nonexistent")
	t.Setenv("HOME", gone)
	if err := New(DefaultRoot()).MkdirAll(filepath.Join(DefaultRoot(), "dwarf")); err == nil {
		t.Errorf("HOME=%s: MkdirAll made the cache", gone)
	}
	if _, err := os.Stat(gone); !os.IsNotExist(err) {
		t.Errorf("HOME=%s was created: %v", gone, err)
	}
	if _, err := New(DefaultRoot()).Create("section", filepath.Join(DefaultRoot(), "dwarf", "id", "debug_info"), true, 0); err == nil {
		t.Errorf("Create under a missing home succeeded")
	}
	if err := New(filepath.Join(t.TempDir(), "root")).MkdirAll(filepath.Join(t.TempDir(), "elsewhere", "x")); err == nil {
		t.Errorf("a directory outside the cache root was made")
	}
	var none *Cache
	if err := none.MkdirAll(filepath.Join(t.TempDir(), "none", "x")); err == nil || none.Dir("dwarf") != "" {
		t.Errorf("no cache: a directory was made, or Dir is %q", none.Dir("dwarf"))
	}
	t.Setenv("HOME", "")
	if got := DefaultRoot(); got != "" {
		t.Errorf("no HOME, no XDG_CACHE_HOME: root %q, want none", got)
	}
}

// TestVerifyOpen: checking a sealed file by reading it says what Sealed
// and Verify of its mapping say, error for error (the warning names the
// same block), for a whole file, a damaged block, a short last block,
// garbage, a truncated file and one without a trailer.
func TestVerifyOpen(t *testing.T) {
	root := t.TempDir()
	c := New(root)
	data := make([]byte, 2*BlockSize+12345)
	rand.New(rand.NewSource(1)).Read(data)
	path := filepath.Join(root, "id", "debug_info")
	if err := c.Write("section", path, true, data); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)
	bad := append([]byte(nil), good...)
	rand.New(rand.NewSource(2)).Read(bad[2*BlockSize+10 : 2*BlockSize+500]) // the short last block
	mid := append([]byte(nil), good...)
	mid[BlockSize+7] ^= 1
	garbage := make([]byte, len(good))
	rand.New(rand.NewSource(3)).Read(garbage)
	for _, tc := range []struct {
		name string
		b    []byte
	}{{"good", good}, {"last block", bad}, {"middle block", mid}, {"garbage", garbage}, {"truncated", good[:len(good)-100]}, {"plain", data}} {
		// What the mapping's checks say: Sealed, then each block.
		want, wantN := error(nil), int64(0)
		if bl, err := Sealed(tc.b); err != nil {
			want = err
		} else {
			wantN = int64(len(bl.Data))
			for i := 0; i < bl.Len() && want == nil; i++ {
				want = bl.Verify(i)
			}
		}
		p := filepath.Join(root, tc.name)
		if err := os.WriteFile(p, tc.b, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		n, got := VerifyOpen(f)
		f.Close()
		switch {
		case (want == nil) != (got == nil):
			t.Errorf("%s: VerifyOpen %d, %v; the mapping's checks %v", tc.name, n, got, want)
		case want != nil && (got.Error() != want.Error() || !errors.Is(got, ErrDamaged)):
			t.Errorf("%s: VerifyOpen says %q, the mapping's checks %q", tc.name, got, want)
		case want == nil && n != wantN:
			t.Errorf("%s: %d bytes, the mapping's checks %d", tc.name, n, wantN)
		}
	}
}

// TestConcurrentWritersOneDir: writers of one run creating files in one
// fresh directory at once (a module's sections, inflated on all CPUs) all
// commit: the directory's cleaning of a killed run's temporary files is
// over before any of them creates its own, so none is taken for a dead
// writer's and removed between its create and its lock. Without the wait
// it lost files ("rename .tmp-…: no such file or directory" within 50
// directories, 5 runs of 5); with it none can be lost.
func TestConcurrentWritersOneDir(t *testing.T) {
	c := New(t.TempDir())
	const dirs, writers = 50, 8
	for d := 0; d < dirs; d++ {
		dir := filepath.Join(c.Dir("dwarf"), fmt.Sprintf("mod-%d", d))
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, writers)
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				wr, err := c.Create("section", filepath.Join(dir, fmt.Sprintf("s%d", w)), true, 0)
				if err == nil {
					_, err = wr.Write(bytes.Repeat([]byte{byte(w)}, 4096))
				}
				if err == nil {
					err = wr.Commit()
				}
				errs[w] = err
			}()
		}
		close(start)
		wg.Wait()
		for w, err := range errs {
			if err != nil {
				t.Fatalf("%s: writer %d: %v", dir, w, err)
			}
			if n, err := VerifyFile(filepath.Join(dir, fmt.Sprintf("s%d", w))); err != nil || n != 4096 {
				t.Fatalf("%s: file %d: %d bytes, %v", dir, w, n, err)
			}
		}
	}
}
