// Package testenv decides what a test does when the machine lacks
// something it needs: it fails, as a missing tool in CI must, unless
// DSECORE_ALLOW_SKIP=1 says that this machine is known to lack it (a
// developer's laptop on a filesystem without preadv2's RWF_NOWAIT); then
// it skips, saying why.
package testenv

import (
	"fmt"
	"os"
	"testing"
)

// AllowSkipEnv is the environment variable that turns SkipOrFail into a
// skip.
const AllowSkipEnv = "DSECORE_ALLOW_SKIP"

// SkipOrFail ends the test: a failure, or with DSECORE_ALLOW_SKIP=1 a skip.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(AllowSkipEnv) == "1" {
		t.Skipf("%s (skipped: %s=1)", msg, AllowSkipEnv)
	}
	t.Fatalf("%s (a machine known to lack this may set %s=1 to skip)", msg, AllowSkipEnv)
}
