package gdboracle

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// MemoEnv names a directory in which gdb's answers are kept and reused by
// later calls with the same question: same gdb binary, same arguments,
// script and environment, same executable and core (path, size,
// modification time, inode). Unset (the default, and in CI) gdb runs every
// time. scripts/mutate.sh sets it to a directory of its own run, removed
// when the run ends: a mutant changes dsecore's code, never gdb's answer,
// so the thousand test runs of one mutation run need gdb's answers once.
const MemoEnv = "GDBORACLE_MEMO"

// memoKey is the file in the memo directory for one question, "" when
// there is no memo directory or a file cannot be identified.
func memoKey(exe, core string, parts ...string) string {
	dir := os.Getenv(MemoEnv)
	if dir == "" {
		return ""
	}
	h := sha256.New()
	gdb, err := exec.LookPath("gdb")
	if err != nil {
		return ""
	}
	for _, f := range []string{gdb, exe, core} {
		abs, err := filepath.Abs(f)
		if err != nil {
			return ""
		}
		fi, err := os.Stat(abs)
		if err != nil {
			return ""
		}
		ino := uint64(0)
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			ino = st.Ino
		}
		fmt.Fprintf(h, "%s\x00%d\x00%d\x00%d\x00", abs, fi.Size(), fi.ModTime().UnixNano(), ino)
	}
	for _, p := range parts {
		fmt.Fprintf(h, "%d\x00%s\x00", len(p), p)
	}
	return filepath.Join(dir, hex.EncodeToString(h.Sum(nil)))
}

// memoGet is the kept answer for key, if any.
func memoGet(key string) ([]byte, bool) {
	if key == "" {
		return nil, false
	}
	b, err := os.ReadFile(key)
	return b, err == nil
}

// memoPut keeps an answer (written whole, then renamed into place: a
// reader never sees half of one).
func memoPut(key string, b []byte) {
	if key == "" {
		return
	}
	if err := os.MkdirAll(filepath.Dir(key), 0o755); err != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(key), ".part-")
	if err != nil {
		return
	}
	_, werr := tmp.Write(b)
	if cerr := tmp.Close(); werr != nil || cerr != nil {
		os.Remove(tmp.Name())
		return
	}
	if os.Rename(tmp.Name(), key) != nil {
		os.Remove(tmp.Name())
	}
}
