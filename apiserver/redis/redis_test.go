package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/redis"
	"github.com/kommerce/kommerce/internal/testenv"
)

func TestLimiterOnRedis(t *testing.T) {
	rd := testenv.NewRedis(t)
	l := &redis.Limiter{Client: rd.Client}
	ctx := context.Background()
	tight := apiserver.RateLimitKey{Key: rd.Prefix + "user", Limit: apiserver.RateLimit{Rate: 1, Burst: 2}}
	wide := apiserver.RateLimitKey{Key: rd.Prefix + "tenant", Limit: apiserver.RateLimit{Rate: 1, Burst: 3}}
	if err := rd.Client.Set(ctx, rd.Prefix+"entry", "cached", 0).Err(); err != nil {
		t.Fatal(err)
	}
	get := []string{rd.Prefix + "entry", rd.Prefix + "absent"}

	for i, want := range []int{1, 0} {
		res, vals, err := l.AllowAndGet(ctx, []apiserver.RateLimitKey{tight, wide}, get)
		if err != nil || !res.Allowed || res.Remaining != want || res.Limit != 2 {
			t.Fatalf("request %d: %+v, %v", i, res, err)
		}
		if string(vals[0]) != "cached" || vals[1] != nil {
			t.Fatalf("request %d prefetched %q", i, vals)
		}
	}
	res, vals, err := l.AllowAndGet(ctx, []apiserver.RateLimitKey{tight, wide}, get)
	if err != nil || res.Allowed || res.RetryAfter <= 0 || res.RetryAfter > time.Second || vals != nil {
		t.Fatalf("third request: %+v, %q, %v; want denied with Retry-After ≤ 1s and nothing read", res, vals, err)
	}
	// The denied request consumed nothing: the tenant key still has one slot.
	if res, err := l.Allow(ctx, []apiserver.RateLimitKey{wide}); err != nil || !res.Allowed || res.Remaining != 0 {
		t.Fatalf("tenant key after a denied request: %+v, %v", res, err)
	}
	if ttl := rd.Client.PTTL(ctx, tight.Key).Val(); ttl <= 0 || ttl > 2*time.Second {
		t.Fatalf("limit key TTL %v: state must expire once the bucket is full again", ttl)
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
