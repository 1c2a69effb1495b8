package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestSkipOrFail runs a test that calls SkipOrFail in a child process: it
// fails without DSECORE_ALLOW_SKIP=1 and skips with it.
func TestSkipOrFail(t *testing.T) {
	if os.Getenv("TESTENV_CHILD") == "1" {
		SkipOrFail(t, "no such facility")
		return
	}
	for _, c := range []struct {
		env  string
		fail bool
		says string
	}{{"", true, "--- FAIL"}, {"0", true, "--- FAIL"}, {"1", false, "--- SKIP"}} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSkipOrFail$", "-test.v")
		cmd.Env = append(os.Environ(), "TESTENV_CHILD=1", AllowSkipEnv+"="+c.env)
		out, err := cmd.CombinedOutput()
		if (err != nil) != c.fail || !strings.Contains(string(out), c.says) || !strings.Contains(string(out), "no such facility") {
			t.Errorf("%s=%q: err %v\n%s", AllowSkipEnv, c.env, err, out)
		}
	}
}
