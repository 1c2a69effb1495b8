// Package bound gives the fuzz targets one way to require an answer in
// bounded time: a hang is a failure with the input named, not a stuck run.
package bound

import (
	"testing"
	"time"
)

// Within runs f and fails t with the message when f has not returned
// within d (f goes on in the background: a hung call cannot be stopped).
func Within(t testing.TB, d time.Duration, f func(), format string, args ...any) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf(format, args...)
	}
}
