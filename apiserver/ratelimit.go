package apiserver

import (
	"context"
	"time"
)

// RateLimit allows Rate requests per Period (a second when zero) on average and
// bursts of Burst.
type RateLimit struct {
	Rate   int
	Burst  int
	Period time.Duration
}

// Interval is the time one request's allowance takes to come back: at least a
// nanosecond, since limiters divide by it (a rate above 10^9 per second would
// otherwise make it 0).
func (l RateLimit) Interval() time.Duration {
	p := l.Period
	if p <= 0 {
		p = time.Second
	}
	return max(p/time.Duration(max(l.Rate, 1)), time.Nanosecond)
}

// RateLimitKey is one limit to check: Key is the full storage key (tenant-prefixed).
type RateLimitKey struct {
	Key   string
	Limit RateLimit
}

// RateLimitResult describes the most constraining of the limits checked.
type RateLimitResult struct {
	Allowed    bool
	Limit      int           // the burst of the most constraining limit
	Remaining  int           // requests left in it now
	RetryAfter time.Duration // when denied: how long until one request is allowed
	ResetAfter time.Duration // how long until it is full again
}

// Fold merges one limit's verdict into the combined result r of several (start from
// RateLimitResult{Allowed: true, Remaining: -1}): denied if any denies, reporting the
// most constraining limit — the longest Retry-After when denied, the fewest requests
// left when allowed.
func (r *RateLimitResult) Fold(o RateLimitResult) {
	if !o.Allowed {
		if r.Allowed || o.RetryAfter > r.RetryAfter {
			r.Limit, r.RetryAfter, r.ResetAfter = o.Limit, o.RetryAfter, o.ResetAfter
		}
		r.Allowed, r.Remaining = false, 0
		return
	}
	if r.Allowed && (r.Remaining < 0 || o.Remaining < r.Remaining) {
		r.Limit, r.Remaining, r.ResetAfter = o.Limit, o.Remaining, o.ResetAfter
	}
}

// RateLimiter checks several limits at once with GCRA: a request is allowed only if
// every limit allows it, and only an allowed request consumes from them.
type RateLimiter interface {
	Allow(ctx context.Context, keys []RateLimitKey) (RateLimitResult, error)
}
