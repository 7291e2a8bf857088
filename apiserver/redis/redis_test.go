package redis_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/redis"
	"github.com/kommerce/kommerce/internal/testenv"
)

// TestLimiterOnRedis: with bursts below 16 every request is checked in Redis, so the
// limits are exact across replicas.
func TestLimiterOnRedis(t *testing.T) {
	rd := testenv.NewRedis(t)
	l := &redis.Limiter{Client: rd.Client}
	other := &redis.Limiter{Client: rd.Client} // a second replica
	ctx := context.Background()
	tight := apiserver.RateLimitKey{Key: rd.Prefix + "user", Limit: apiserver.RateLimit{Rate: 1, Burst: 2}}
	wide := apiserver.RateLimitKey{Key: rd.Prefix + "tenant", Limit: apiserver.RateLimit{Rate: 1, Burst: 3}}

	for i, lim := range []*redis.Limiter{l, other} {
		res, err := lim.Allow(ctx, []apiserver.RateLimitKey{tight, wide})
		if err != nil || !res.Allowed || res.Remaining != 1-i || res.Limit != 2 {
			t.Fatalf("request %d: %+v, %v", i, res, err)
		}
	}
	res, err := l.Allow(ctx, []apiserver.RateLimitKey{tight, wide})
	if err != nil || res.Allowed || res.RetryAfter <= 0 || res.RetryAfter > time.Second {
		t.Fatalf("third request: %+v, %v; want denied with Retry-After ≤ 1s", res, err)
	}
	// The denied request consumed nothing: the tenant key still has one slot, on
	// either replica, and then none.
	if res, err := other.Allow(ctx, []apiserver.RateLimitKey{wide}); err != nil || !res.Allowed || res.Remaining != 0 {
		t.Fatalf("tenant key after a denied request: %+v, %v", res, err)
	}
	if res, err := l.Allow(ctx, []apiserver.RateLimitKey{wide}); err != nil || res.Allowed {
		t.Fatalf("tenant key spent on the other replica: %+v, %v", res, err)
	}
	if ttl := rd.Client.PTTL(ctx, tight.Key).Val(); ttl <= 0 || ttl > 2*time.Second {
		t.Fatalf("limit key TTL %v: state must expire once the bucket is full again", ttl)
	}
}

// TestLeasesBoundOverAdmission runs two replicas' limiters against one key whose
// budget does not refill during the test (one request an hour), and checks the
// stated bound: never more than the budget in total, and after an exact checker
// has found the budget spent, at most R × LeaseCap more (what the replicas held).
func TestLeasesBoundOverAdmission(t *testing.T) {
	rd := testenv.NewRedis(t)
	ctx := context.Background()
	lim := apiserver.RateLimit{Rate: 1, Period: time.Hour, Burst: 256}
	capSize := redis.LeaseCap(0, lim)
	if capSize < 2 {
		t.Fatalf("LeaseCap = %d: the test needs leases of more than one request", capSize)
	}

	// drain admits on l from workers goroutines until every one of them is denied.
	drain := func(l *redis.Limiter, key string, workers int) int {
		var n atomic.Int64
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for {
					res, err := l.Allow(ctx, []apiserver.RateLimitKey{{Key: key, Limit: lim}})
					if err != nil {
						t.Error(err)
						return
					}
					if !res.Allowed {
						return
					}
					n.Add(1)
				}
			})
		}
		wg.Wait()
		return int(n.Load())
	}

	t.Run("total never exceeds the budget and no lease is lost", func(t *testing.T) {
		key := rd.Prefix + "total"
		a, b := &redis.Limiter{Client: rd.Client}, &redis.Limiter{Client: rd.Client}
		var na, nb int
		var wg sync.WaitGroup
		wg.Go(func() { na = drain(a, key, 8) })
		wg.Go(func() { nb = drain(b, key, 8) })
		wg.Wait()
		if na+nb != lim.Burst {
			t.Fatalf("replicas admitted %d + %d = %d, want exactly the budget of %d", na, nb, na+nb, lim.Burst)
		}
	})

	t.Run("after the budget is spent, at most what replicas held", func(t *testing.T) {
		key := rd.Prefix + "window"
		k := []apiserver.RateLimitKey{{Key: key, Limit: lim}}
		a, b := &redis.Limiter{Client: rd.Client}, &redis.Limiter{Client: rd.Client}
		exact := &redis.Limiter{Client: rd.Client, MaxLease: 1}
		admitted := 0
		// Each replica serves a run of requests, growing its leases, and keeps what
		// is left of the last one.
		for _, l := range []*redis.Limiter{a, b} {
			for range 3 * capSize / 2 {
				if res, err := l.Allow(ctx, k); err != nil || !res.Allowed {
					t.Fatalf("warm-up: %+v, %v", res, err)
				}
				admitted++
			}
		}
		// An exact checker spends the rest: from here exact GCRA admits nothing.
		for {
			res, err := exact.Allow(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Allowed {
				break
			}
			admitted++
		}
		extra := drain(a, key, 4) + drain(b, key, 4)
		t.Logf("admitted after the budget was spent: %d (bound %d = 2 replicas × LeaseCap %d)", extra, 2*capSize, capSize)
		if extra > 2*capSize {
			t.Fatalf("over-admission %d exceeds the bound of %d", extra, 2*capSize)
		}
		if admitted+extra != lim.Burst {
			t.Fatalf("%d admitted in all, want the budget of %d (leases are taken from it)", admitted+extra, lim.Burst)
		}
	})
}

// TestLimiterRedisDown: an unreachable Redis is an error (the HTTP layer lets the
// request through), never a silent verdict.
func TestLimiterRedisDown(t *testing.T) {
	dead := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, DialerRetries: 1, MaxRetries: -1})
	t.Cleanup(func() { _ = dead.Close() })
	l := &redis.Limiter{Client: dead}
	k := []apiserver.RateLimitKey{{Key: "down", Limit: apiserver.RateLimit{Rate: 1000, Burst: 2000}}}
	// Concurrent requests share the failed lease request instead of queueing one
	// behind the other; every one of them gets the error.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if res, err := l.Allow(context.Background(), k); err == nil {
				t.Errorf("Allow with Redis down = %+v, want an error", res)
			}
		})
	}
	wg.Wait()
	s := &redis.Store{Client: dead}
	if v, err := s.Get(context.Background(), "down"); err == nil {
		t.Fatalf("Get with Redis down = %q, want an error", v)
	}
}

func TestStoreSetIfNewer(t *testing.T) {
	rd := testenv.NewRedis(t)
	s := &redis.Store{Client: rd.Client}
	ctx := context.Background()
	key := rd.Prefix + "p"
	entry := func(v int64, body string) []byte { return []byte(padded(v) + "p" + body) }
	for _, step := range []struct {
		version int64
		body    string
		want    string
	}{
		{2, "two", "two"},
		{1, "one", "two"},   // a slow reader's older version loses
		{2, "again", "two"}, // the same version is not rewritten
		{3, "three", "three"},
	} {
		if err := s.SetIfNewer(ctx, key, step.version, entry(step.version, step.body), time.Minute); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, key)
		if err != nil || string(got[21:]) != step.want {
			t.Fatalf("after v%d: %q, %v; want body %q", step.version, got, err, step.want)
		}
	}
	if got, err := s.Get(ctx, rd.Prefix+"missing"); got != nil || err != nil {
		t.Fatalf("missing key: %q, %v", got, err)
	}
}

func padded(v int64) string {
	s := []byte("00000000000000000000")
	for i := len(s) - 1; v > 0; i-- {
		s[i] = byte('0' + v%10)
		v /= 10
	}
	return string(s)
}
