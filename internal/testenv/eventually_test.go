package testenv_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/kommerce/kommerce/internal/testenv"
)

// fatalRecorder is a testing.TB whose Fatalf records the message and ends the
// goroutine, as testing.T's does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// eventually runs testenv.Eventually against a recorder and returns the failure
// message, "" when it returned.
func eventually(t *testing.T, timeout time.Duration, cond func() (bool, string)) string {
	r := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		testenv.Eventually(r, timeout, "the thing", cond)
	}()
	<-done
	return r.msg
}

func TestEventually(t *testing.T) {
	t.Run("returns once the condition holds", func(t *testing.T) {
		calls := 0
		msg := eventually(t, time.Minute, func() (bool, string) {
			calls++
			return calls == 3, fmt.Sprintf("call %d", calls)
		})
		if msg != "" || calls != 3 {
			t.Fatalf("failed with %q after %d calls; want success on the third", msg, calls)
		}
	})
	t.Run("fails with what it saw last", func(t *testing.T) {
		calls := 0
		msg := eventually(t, 30*time.Millisecond, func() (bool, string) {
			calls++
			return false, fmt.Sprintf("%d of 300 committed", calls)
		})
		want := fmt.Sprintf("the thing: not reached within 30ms; last seen: %d of 300 committed", calls)
		if msg != want || calls < 2 {
			t.Fatalf("message %q after %d calls, want %q", msg, calls, want)
		}
	})
}
