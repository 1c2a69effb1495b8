package fault

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
)

// FuzzParseLog: any file content gives lines or an error, never a panic.
func FuzzParseLog(f *testing.F) {
	sc := fixture.Get(f).Scenario(f, fixture.FieldCrash)
	logs, _ := filepath.Glob(filepath.Join(sc.Dir, "*.log"))
	for _, l := range logs {
		if b, err := os.ReadFile(l); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("2026-11-30 07:42:10.419707 7f8254a186c0 2985 13  INFO x\n\x00\xff"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<20 {
			return
		}
		lines, err := ReadLog("ceph-dse.fuzz.log", bytes.NewReader(data))
		if err == nil && len(lines) > len(data)+1 {
			t.Fatalf("%d lines from %d bytes", len(lines), len(data))
		}
	})
}
