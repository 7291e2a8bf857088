package apiserver

import (
	"context"
	"time"
)

// LoginPolicy slows down password guessing against one account, wherever the guesses
// come from: the first Free attempts of an account go through at once; the attempt
// that reaches Free and each one after it make the next wait Delay, doubled per
// further attempt, at most Max. A successful sign-in clears the count; so does Forget
// without attempts. Delays, not locks: at worst an account can be tried once per Max.
type LoginPolicy struct {
	Free   int
	Delay  time.Duration
	Max    time.Duration
	Forget time.Duration
}

// DelayAfter is the wait the policy imposes after an account's n-th attempt in a row
// without success (zero before the Free-th).
func (p LoginPolicy) DelayAfter(n int) time.Duration {
	if n < p.Free || p.Delay <= 0 || p.Max <= 0 {
		return 0 // a zero delay turns the throttle off
	}
	d := p.Delay
	for i := p.Free; i < n && d < p.Max; i++ {
		d *= 2
	}
	return min(d, p.Max)
}

// LoginThrottle keeps each account's count of attempts and current delay, under a
// key the caller builds (tenant-prefixed, a hash of the e-mail address: the store
// holds no addresses, and unknown addresses are counted like known ones).
type LoginThrottle interface {
	// Attempt records an attempt for key and returns zero, or, while key is waiting
	// out a delay, returns the time left and records nothing.
	Attempt(ctx context.Context, key string, p LoginPolicy) (wait time.Duration, err error)
	// Reset forgets key's attempts, after a successful sign-in.
	Reset(ctx context.Context, key string) error
}
