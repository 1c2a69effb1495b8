package signature

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// HangVersion names the hang signature's rules: the wait graph's shape
// (analysis/waits: for each deadlock the functions that hold and wait and
// the kind of lock, sorted so a cycle reads the same from any member; for
// each chain its waiting functions down to the holder's), never addresses,
// thread ids or task ids.
const HangVersion = "hang-v1"

// Hang is the signature of a hang core: its shape's parts (a watchdog, a
// deadlock, a chain, joined by " + ") are the frames hashed.
func Hang(shape string) Signature {
	s := Signature{Version: HangVersion}
	for _, part := range strings.Split(shape, " + ") {
		if part = strings.TrimSpace(part); part != "" {
			s.Frames = append(s.Frames, part)
			s.Raw = append(s.Raw, part)
		}
	}
	sum := sha256.Sum256([]byte(HangVersion + "\n" + strings.Join(s.Frames, "\n")))
	s.Hash = hex.EncodeToString(sum[:])
	return s
}
