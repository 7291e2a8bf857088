package memory

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kommerce/kommerce/apiserver"
)

func TestGCRA(t *testing.T) {
	lim := apiserver.RateLimit{Rate: 10, Burst: 3} // one every 100ms, bursts of 3
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name      string
		at        time.Duration // since t0
		allowed   bool
		remaining int
	}{
		{"first of burst", 0, true, 2},
		{"second of burst", 0, true, 1},
		{"third of burst", 0, true, 0},
		{"burst spent", 0, false, 0},
		{"one interval later", 100 * time.Millisecond, true, 0},
		{"long pause refills", 10 * time.Second, true, 2},
	}
	l := NewLimiter()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l.now = func() time.Time { return t0.Add(tt.at) }
			r, _ := l.Allow(context.Background(), []apiserver.RateLimitKey{{Key: "k", Limit: lim}})
			if r.Allowed != tt.allowed || r.Remaining != tt.remaining {
				t.Fatalf("Allow = %+v; want allowed %v remaining %d", r, tt.allowed, tt.remaining)
			}
			if !r.Allowed && r.RetryAfter != 100*time.Millisecond {
				t.Fatalf("RetryAfter %v", r.RetryAfter)
			}
		})
	}
}

func TestDeniedRequestConsumesNothing(t *testing.T) {
	l := NewLimiter()
	t0 := time.Unix(1000, 0)
	l.now = func() time.Time { return t0 }
	tight := apiserver.RateLimitKey{Key: "user", Limit: apiserver.RateLimit{Rate: 1, Burst: 1}}
	wide := apiserver.RateLimitKey{Key: "tenant", Limit: apiserver.RateLimit{Rate: 1, Burst: 2}}
	for i, want := range []bool{true, false, false} {
		if r, _ := l.Allow(context.Background(), []apiserver.RateLimitKey{tight, wide}); r.Allowed != want {
			t.Fatalf("request %d allowed=%v", i, r.Allowed)
		}
	}
	// The two denied requests did not consume the tenant's second slot.
	if r, _ := l.Allow(context.Background(), []apiserver.RateLimitKey{wide}); !r.Allowed {
		t.Fatal("denied requests consumed the wider limit")
	}
}

func TestStoreSetIfNewer(t *testing.T) {
	s := NewStore()
	ctx := context.Background()
	entry := func(v int64) []byte { return fmt.Appendf(nil, "%020dpbody%d", v, v) }
	_ = s.SetIfNewer(ctx, "k", 2, entry(2), time.Minute)
	_ = s.SetIfNewer(ctx, "k", 1, entry(1), time.Minute) // a slow reader's old version
	if got, _ := s.Get(ctx, "k"); string(got) != string(entry(2)) {
		t.Fatalf("older version overwrote newer: %q", got)
	}
	_ = s.SetIfNewer(ctx, "k", 3, entry(3), time.Minute)
	if got, _ := s.Get(ctx, "k"); string(got) != string(entry(3)) {
		t.Fatalf("newer version not stored: %q", got)
	}
	// The store's clock is the test's: an entry is there until its TTL has passed.
	at := time.Unix(1000, 0)
	s.now = func() time.Time { return at }
	_ = s.Set(ctx, "gone", []byte("x"), time.Second)
	at = at.Add(time.Second - time.Nanosecond)
	if got, _ := s.Get(ctx, "gone"); string(got) != "x" {
		t.Fatalf("entry gone before its TTL: %q", got)
	}
	at = at.Add(2 * time.Nanosecond)
	if got, _ := s.Get(ctx, "gone"); got != nil {
		t.Fatal("expired entry returned")
	}
}

// TestGCRAPeriod: a limit per hour (registrations) spaces allowances by Period/Rate.
func TestGCRAPeriod(t *testing.T) {
	lim := apiserver.RateLimit{Rate: 2, Burst: 2, Period: time.Hour} // one every 30 min
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name    string
		at      time.Duration
		allowed bool
		retry   time.Duration
	}{
		{"first", 0, true, 0},
		{"second", time.Minute, true, 0},
		{"spent", 2 * time.Minute, false, 28 * time.Minute},
		{"still spent after a second", 2*time.Minute + time.Second, false, 28*time.Minute - time.Second},
		{"back after half an hour", 30 * time.Minute, true, 0},
	}
	l := NewLimiter()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l.now = func() time.Time { return t0.Add(tt.at) }
			r, _ := l.Allow(context.Background(), []apiserver.RateLimitKey{{Key: "k", Limit: lim}})
			if r.Allowed != tt.allowed || r.RetryAfter != tt.retry {
				t.Fatalf("Allow = %+v; want allowed %v retry %v", r, tt.allowed, tt.retry)
			}
		})
	}
}
