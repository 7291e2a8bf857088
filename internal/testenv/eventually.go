package testenv

import (
	"testing"
	"time"
)

// Eventually polls cond until it reports done, failing t when timeout passes first.
// cond also says what it saw (the count so far, the condition's status, the error a
// call returned); the failure quotes the last of these, so a test that times out
// under load tells how far it got rather than only that it gave up.
//
// Give timeout generously: it bounds a wait for an outcome, not how fast the code
// must be, and the suite runs beside CPU-heavy builds. cond runs on the test's
// goroutine, so it may call t.Fatal itself (e.g. when the process it waits for exited).
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (done bool, seen string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	wait := 10 * time.Millisecond
	for {
		done, seen := cond()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s; last seen: %s", what, timeout, seen)
		}
		// Poll quickly at first, then every 250 ms: a wait of seconds costs a few
		// dozen checks, not hundreds. (No t.Context here: it is done already when a
		// t.Cleanup waits for something.)
		<-time.After(wait)
		wait = min(2*wait, 250*time.Millisecond)
	}
}
