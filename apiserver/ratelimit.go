package apiserver

import (
	"context"
	"time"
)

// RateLimit allows Rate requests per second on average and bursts of Burst.
type RateLimit struct {
	Rate  int
	Burst int
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

// RateLimiter checks several limits at once with GCRA: a request is allowed only if
// every limit allows it, and only an allowed request consumes from them.
type RateLimiter interface {
	Allow(ctx context.Context, keys []RateLimitKey) (RateLimitResult, error)
}
