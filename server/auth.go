package server

import (
	"bytes"
	"crypto/subtle"
	"fmt"
	"os"
)

// MinTokenBytes is the shortest token ReadToken takes: 128 bits as hex.
const MinTokenBytes = 32

// ReadToken reads the token of --auth-token-file: the file's content
// without surrounding white space. A token others may read is no secret:
// a file readable by its group or by others is refused, as ssh refuses a
// private key anyone may read; so is one another user owns, and a short
// one.
func ReadToken(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--auth-token-file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("--auth-token-file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("--auth-token-file %s: not a regular file", path)
	}
	if uid := owner(st); uid != os.Geteuid() {
		return nil, fmt.Errorf("--auth-token-file %s: owned by uid %d, not by the server's user (uid %d): whoever owns it knows the token", path, uid, os.Geteuid())
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("--auth-token-file %s: mode %04o lets others read the token (chmod 600 %s)", path, st.Mode().Perm(), path)
	}
	buf := make([]byte, 4097)
	n, _ := f.Read(buf)
	if n > 4096 {
		return nil, fmt.Errorf("--auth-token-file %s: longer than 4096 bytes", path)
	}
	tok := bytes.TrimSpace(buf[:n])
	if len(tok) < MinTokenBytes {
		return nil, fmt.Errorf("--auth-token-file %s: a token of %d bytes: at least %d are needed (head -c 32 /dev/urandom | xxd -p -c 64 > %s)", path, len(tok), MinTokenBytes, path)
	}
	return tok, nil
}

// tokenOK compares a client's token with the server's in constant time.
func tokenOK(got string, want []byte) bool {
	return subtle.ConstantTimeCompare([]byte(got), want) == 1
}
