package cachefile

import (
	"bytes"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// settle waits until the file at path last changed a racy window ago by
// this machine's clock (the state a marker needs), polling its stamp.
func settle(t *testing.T, path string) {
	t.Helper()
	for !Settled(path) {
		if _, err := os.Stat(path); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// vouchedFile writes a sealed file of data at path and has a whole check
// leave its marker.
func vouchedFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := New(filepath.Dir(path)).Write("section", path, true, data); err != nil {
		t.Fatal(err)
	}
	settle(t, path)
	if n, err := VerifyFile(path); err != nil || n != int64(len(data)) {
		t.Fatalf("VerifyFile: %d, %v", n, err)
	}
	if _, err := os.Stat(markerPath(path)); err != nil {
		t.Fatalf("no marker after a whole check of a settled file: %v", err)
	}
}

// TestVouchedFile: a sealed file checked whole once is trusted by the next
// check as long as its stamp is the marker's (no block read again); a
// byte flipped in place, the file cut short, another file renamed over
// it are caught all the same (the change time moved); a marker damaged
// or another file's is not trusted; a file checked in the moment after
// its last change gets no marker (a write then could leave its change
// time as it was).
func TestVouchedFile(t *testing.T) {
	root := t.TempDir()
	data := make([]byte, 2*BlockSize+12345)
	rand.New(rand.NewSource(1)).Read(data)

	path := filepath.Join(root, "debug_info")
	vouchedFile(t, path, data)
	checks := wholeChecks.Load()
	if n, err := VerifyFile(path); err != nil || n != int64(len(data)) || wholeChecks.Load() != checks {
		t.Errorf("vouched file: %d, %v, %d whole checks (want none)", n, err, wholeChecks.Load()-checks)
	}

	// Damage through the kernel, each to a vouched file.
	for name, damage := range map[string]func(p string) error{
		"byte flipped": func(p string) error {
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteAt([]byte{data[BlockSize+7] ^ 1}, BlockSize+7)
			return err
		},
		"cut short": func(p string) error {
			st, err := os.Stat(p)
			if err != nil {
				return err
			}
			return os.Truncate(p, st.Size()-100)
		},
		"renamed over": func(p string) error {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b[7] ^= 1
			q := p + ".new"
			if err := os.WriteFile(q, b, 0o644); err != nil {
				return err
			}
			return os.Rename(q, p)
		},
	} {
		p := filepath.Join(root, "damaged", name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		vouchedFile(t, p, data)
		if err := damage(p); err != nil {
			t.Fatal(err)
		}
		if _, err := VerifyFile(p); !errors.Is(err, ErrDamaged) {
			t.Errorf("%s after its marker: %v, want ErrDamaged", name, err)
		}
	}

	// A damaged marker, another file's marker: a whole check.
	other := filepath.Join(root, "debug_line")
	vouchedFile(t, other, data[:BlockSize+3])
	for name, marker := range map[string]func() ([]byte, error){
		"damaged": func() ([]byte, error) {
			b, err := os.ReadFile(markerPath(path))
			b[len(vouchMagic)+9] ^= 1
			return b, err
		},
		"another file's": func() ([]byte, error) { return os.ReadFile(markerPath(other)) },
	} {
		b, err := marker()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(markerPath(path), b, 0o644); err != nil {
			t.Fatal(err)
		}
		checks := wholeChecks.Load()
		if n, err := VerifyFile(path); err != nil || n != int64(len(data)) || wholeChecks.Load() != checks+1 {
			t.Errorf("%s marker: %d, %v, %d whole checks (want 1)", name, n, err, wholeChecks.Load()-checks)
		}
	}

	// Checked in the moment after its last change: no marker.
	defer func(f, c time.Duration) { racyFine, racyCoarse = f, c }(racyFine, racyCoarse)
	racyFine, racyCoarse = time.Hour, time.Hour
	fresh := filepath.Join(root, "fresh")
	if err := New(root).Write("section", fresh, true, data); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyFile(fresh); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(markerPath(fresh)); !os.IsNotExist(err) {
		t.Errorf("a marker for a file checked within the racy window: %v", err)
	}
}

// TestCheckedStampMoved: a check that the file's stamp moved under (a
// write while it was read) leaves no marker.
func TestCheckedStampMoved(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "symtab")
	if err := os.WriteFile(path, bytes.Repeat([]byte("x"), 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	settle(t, path)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	trusted, err := Checked(path, f, func() error {
		return os.WriteFile(path, bytes.Repeat([]byte("y"), 4096), 0o644)
	})
	if trusted || err != nil {
		t.Fatalf("Checked: %v, %v", trusted, err)
	}
	if _, err := os.Stat(markerPath(path)); !os.IsNotExist(err) {
		t.Errorf("a marker for a file written while it was checked: %v", err)
	}
}

// TestRacyWindow: a change time with nanoseconds (ext4, XFS, tmpfs) has
// the fine window; one on a whole second (ext3, FAT: their granularity)
// the coarse one, longer than a tick of those clocks.
func TestRacyWindow(t *testing.T) {
	if w := racyWindow(1765150000*int64(time.Second) + 123456789); w != racyFine {
		t.Errorf("a change time with nanoseconds: %v", w)
	}
	if w := racyWindow(1765150000 * int64(time.Second)); w != racyCoarse || w < 2*time.Second {
		t.Errorf("a change time on a whole second: %v", w)
	}
}
