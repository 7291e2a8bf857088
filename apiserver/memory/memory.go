// Package memory holds the in-process cache store and rate limiter used when no Redis
// is configured. State is per process, so they are correct for one replica only.
package memory

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/cache"
)

// maxEntries bounds the store; past it, expired entries are swept and, if that is not
// enough, everything is dropped (a cache may forget).
const maxEntries = 200_000

type entry struct {
	value   []byte
	expires time.Time
}

// Store implements cache.Store in memory.
type Store struct {
	mu  sync.Mutex
	m   map[string]entry
	now func() time.Time // time.Now; a test's own clock in tests
}

var _ cache.Store = (*Store)(nil)

// NewStore returns an empty store.
func NewStore() *Store { return &Store{m: map[string]entry{}, now: time.Now} }

// Get implements cache.Store.
func (s *Store) Get(_ context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[key]
	if !ok || (!e.expires.IsZero() && s.now().After(e.expires)) {
		return nil, nil
	}
	return e.value, nil
}

func (s *Store) put(key string, value []byte, ttl time.Duration) {
	if len(s.m) >= maxEntries {
		now := s.now()
		for k, e := range s.m {
			if !e.expires.IsZero() && now.After(e.expires) {
				delete(s.m, k)
			}
		}
		if len(s.m) >= maxEntries {
			clear(s.m)
		}
	}
	var exp time.Time
	if ttl > 0 {
		exp = s.now().Add(ttl)
	}
	s.m[key] = entry{value: value, expires: exp}
}

// SetIfNewer implements cache.Store.
func (s *Store) SetIfNewer(_ context.Context, key string, version int64, value []byte, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[key]; ok && len(e.value) >= cache.VersionWidth {
		if cur, err := strconv.ParseInt(string(e.value[:cache.VersionWidth]), 10, 64); err == nil && cur >= version && (e.expires.IsZero() || s.now().Before(e.expires)) {
			return nil
		}
	}
	s.put(key, value, ttl)
	return nil
}

// Set implements cache.Store.
func (s *Store) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.put(key, value, ttl)
	return nil
}

// Incr implements cache.Store.
func (s *Store) Incr(_ context.Context, key string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	if e, ok := s.m[key]; ok {
		n, _ = strconv.ParseInt(string(e.value), 10, 64)
	}
	n++
	s.put(key, []byte(strconv.FormatInt(n, 10)), 0)
	return n, nil
}

// Limiter implements apiserver.RateLimiter with GCRA in memory.
type Limiter struct {
	mu  sync.Mutex
	tat map[string]time.Time // theoretical arrival time per key
	now func() time.Time
}

var _ apiserver.RateLimiter = (*Limiter)(nil)

// NewLimiter returns a limiter with no history.
func NewLimiter() *Limiter { return NewLimiterClock(time.Now) }

// NewLimiterClock returns a limiter with no history that reads the time from now
// (time.Now when nil), so a test can move past a Retry-After instead of waiting.
func NewLimiterClock(now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{tat: map[string]time.Time{}, now: now}
}

// Allow implements apiserver.RateLimiter.
func (l *Limiter) Allow(_ context.Context, keys []apiserver.RateLimitKey) (apiserver.RateLimitResult, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.tat) > maxEntries {
		for k, t := range l.tat {
			if t.Before(now) {
				delete(l.tat, k)
			}
		}
	}
	res := apiserver.RateLimitResult{Allowed: true, Remaining: -1}
	newTats := make([]time.Time, len(keys))
	for i, k := range keys {
		r := GCRA(now, l.tat[k.Key], k.Limit)
		newTats[i] = r.newTAT
		res.Fold(r.RateLimitResult)
	}
	if res.Allowed {
		for i, k := range keys {
			l.tat[k.Key] = newTats[i]
		}
	}
	return res, nil
}

// GCRAResult is one key's verdict.
type GCRAResult struct {
	apiserver.RateLimitResult
	newTAT time.Time
}

// GCRA decides one request against a limit, given the key's stored theoretical
// arrival time (zero when unknown).
func GCRA(now, tat time.Time, lim apiserver.RateLimit) GCRAResult {
	interval := lim.Interval()
	burst := max(lim.Burst, 1)
	if tat.Before(now) {
		tat = now
	}
	newTAT := tat.Add(interval)
	allowAt := newTAT.Add(-time.Duration(burst) * interval)
	r := GCRAResult{RateLimitResult: apiserver.RateLimitResult{Limit: burst}}
	if now.Before(allowAt) {
		r.RetryAfter = allowAt.Sub(now)
		r.ResetAfter = tat.Sub(now)
		r.newTAT = tat
		return r
	}
	r.Allowed = true
	r.newTAT = newTAT
	r.Remaining = int(now.Sub(allowAt) / interval)
	r.ResetAfter = newTAT.Sub(now)
	return r
}
