package bound

import (
	"fmt"
	"testing"
	"time"
)

// recorder is a testing.TB that remembers a Fatalf instead of stopping.
type recorder struct {
	testing.TB
	msg string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
}

// TestWithin: a quick call passes; one over the limit fails with the message.
func TestWithin(t *testing.T) {
	r := &recorder{TB: t}
	ran := false
	Within(r, time.Second, func() { ran = true }, "slow")
	if !ran || r.msg != "" {
		t.Fatalf("quick call: ran %v, failure %q", ran, r.msg)
	}
	release := make(chan struct{})
	defer close(release)
	Within(r, 20*time.Millisecond, func() { <-release }, "no answer in %s", "20ms")
	if r.msg != "no answer in 20ms" {
		t.Fatalf("hung call: failure %q", r.msg)
	}
}
