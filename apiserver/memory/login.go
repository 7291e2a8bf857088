package memory

import (
	"context"
	"sync"
	"time"

	"github.com/kommerce/kommerce/apiserver"
)

// LoginThrottle implements apiserver.LoginThrottle in memory, for one replica.
type LoginThrottle struct {
	mu  sync.Mutex
	m   map[string]loginState
	now func() time.Time
}

type loginState struct {
	n       int
	until   time.Time // attempts wait until then
	expires time.Time // the count is forgotten then
}

var _ apiserver.LoginThrottle = (*LoginThrottle)(nil)

// NewLoginThrottle returns a throttle with no history that reads the time from now
// (time.Now when nil), so a test can move past a delay instead of waiting.
func NewLoginThrottle(now func() time.Time) *LoginThrottle {
	if now == nil {
		now = time.Now
	}
	return &LoginThrottle{m: map[string]loginState{}, now: now}
}

// Attempt implements apiserver.LoginThrottle.
func (l *LoginThrottle) Attempt(_ context.Context, key string, p apiserver.LoginPolicy) (time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.m) > maxEntries {
		l.sweep(now)
	}
	s, ok := l.m[key]
	if ok && !now.Before(s.expires) {
		s = loginState{}
	}
	if now.Before(s.until) {
		return s.until.Sub(now), nil
	}
	s.n++
	d := p.DelayAfter(s.n)
	s.until, s.expires = now.Add(d), now.Add(d+p.Forget)
	l.m[key] = s
	return 0, nil
}

// Reset implements apiserver.LoginThrottle.
func (l *LoginThrottle) Reset(_ context.Context, key string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, key)
	return nil
}

// sweep drops forgotten counts and, if the map is still full (a flood of distinct
// addresses), the counts of keys not waiting now: they restart from zero, while every
// delay being waited out is kept.
func (l *LoginThrottle) sweep(now time.Time) {
	for k, s := range l.m {
		if !now.Before(s.expires) {
			delete(l.m, k)
		}
	}
	if len(l.m) <= maxEntries {
		return
	}
	for k, s := range l.m {
		if !now.Before(s.until) {
			delete(l.m, k)
		}
	}
}
