package redis_test

import (
	"context"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/kommerce/kommerce/apiserver/redis"
	"github.com/kommerce/kommerce/internal/testenv"
)

// replicas returns n Stores on one Redis, as n API replicas would have, each
// subscribed to the test's own invalidation channel.
func replicas(t *testing.T, rd *testenv.Redis, n int, gate chan struct{}) []*redis.Store {
	t.Helper()
	var out []*redis.Store
	for range n {
		s := &redis.Store{Client: rd.Client, Channel: rd.Prefix + "invalidate"}
		if gate != nil {
			redis.SetGate(s, gate)
		}
		out = append(out, s)
	}
	for i, s := range out {
		testenv.Eventually(t, 10*time.Second, "replica subscribed", func() (bool, string) {
			return redis.NearReady(s), "replica " + string(rune('A'+i)) + " not subscribed"
		})
	}
	return out
}

// holdNear reads key on s until s holds it near (a read that overlaps an
// invalidation of the key does not keep what it read), and checks the value.
func holdNear(t *testing.T, s *redis.Store, key, want string) {
	t.Helper()
	testenv.Eventually(t, 5*time.Second, "value held near", func() (bool, string) {
		got := mustGet(t, s, key)
		if got != want {
			t.Fatalf("read %q, want %q", got, want)
		}
		return redis.NearHas(s, key), "not held near"
	})
}

func mustGet(t *testing.T, s *redis.Store, key string) string {
	t.Helper()
	v, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return string(v)
}

// TestNearCacheReadYourWrites: a read after a write on the same replica sees it at
// once, for every kind of write, though the old value was held near.
func TestNearCacheReadYourWrites(t *testing.T) {
	rd := testenv.NewRedis(t)
	s := replicas(t, rd, 1, nil)[0]
	ctx := context.Background()
	key := rd.Prefix + "k"
	if err := s.Set(ctx, key, []byte("one"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, key); got != "one" || !redis.NearHas(s, key) {
		t.Fatalf("first read %q, held near %v", got, redis.NearHas(s, key))
	}
	if err := s.Set(ctx, key, []byte("two"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, key); got != "two" {
		t.Fatalf("read after Set: %q", got)
	}
	if err := s.SetIfNewer(ctx, key, 5, []byte(padded(5)+"p"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, key); got != padded(5)+"p" {
		t.Fatalf("read after SetIfNewer: %q", got)
	}
	gen := rd.Prefix + "gen"
	if got := mustGet(t, s, gen); got != "" || !redis.NearHas(s, gen) {
		t.Fatalf("absent key: %q, held near %v", got, redis.NearHas(s, gen))
	}
	if _, err := s.Incr(ctx, gen); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, gen); got != "1" {
		t.Fatalf("read after Incr: %q", got)
	}
	// The near copy expires with the entry in Redis.
	short := rd.Prefix + "short"
	if err := s.Set(ctx, short, []byte("x"), 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	mustGet(t, s, short)
	testenv.Eventually(t, 5*time.Second, "near copy expires with the key", func() (bool, string) {
		v := mustGet(t, s, short)
		return v == "", "still " + v
	})
}

// TestNearCacheAcrossReplicas: a write on one replica reaches the near copy of
// another through the invalidation channel, without waiting for a TTL.
func TestNearCacheAcrossReplicas(t *testing.T) {
	rd := testenv.NewRedis(t)
	rs := replicas(t, rd, 2, nil)
	a, b := rs[0], rs[1]
	ctx := context.Background()
	key := rd.Prefix + "p"
	if err := a.Set(ctx, key, []byte("v1"), time.Hour); err != nil {
		t.Fatal(err)
	}
	holdNear(t, b, key, "v1")
	for _, v := range []string{"v2", "v3"} {
		if err := a.Set(ctx, key, []byte(v), time.Hour); err != nil {
			t.Fatal(err)
		}
		written := time.Now()
		testenv.Eventually(t, 5*time.Second, "replica B sees replica A's write", func() (bool, string) {
			got := mustGet(t, b, key)
			return got == v, got
		})
		t.Logf("replica B saw %s within %v (polling)", v, time.Since(written))
	}
}

// TestNearCacheFlushedWhileUnsubscribed: when the subscription breaks, the near
// cache is emptied and bypassed until it is back, so a write whose invalidation was
// lost is still read at once.
func TestNearCacheFlushedWhileUnsubscribed(t *testing.T) {
	rd := testenv.NewRedis(t)
	gate := make(chan struct{}, 1)
	gate <- struct{}{} // the first subscription
	a := replicas(t, rd, 1, nil)[0]
	b := replicas(t, rd, 1, gate)[0]
	ctx := context.Background()
	key := rd.Prefix + "p"
	if err := a.Set(ctx, key, []byte("v1"), time.Hour); err != nil {
		t.Fatal(err)
	}
	holdNear(t, b, key, "v1")
	if !redis.DropSubscription(b) {
		t.Fatal("replica B had no subscription to drop")
	}
	testenv.Eventually(t, 5*time.Second, "replica B notices the broken subscription", func() (bool, string) {
		return !redis.NearReady(b), "still ready"
	})
	if redis.NearHas(b, key) {
		t.Fatal("near copy kept after the subscription broke")
	}
	// B hears nothing now; its reads must go to Redis.
	if err := a.Set(ctx, key, []byte("v2"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, b, key); got != "v2" || redis.NearHas(b, key) {
		t.Fatalf("unsubscribed replica read %q, held near %v; want v2 read from Redis and not kept", got, redis.NearHas(b, key))
	}
	gate <- struct{}{} // let B subscribe again
	testenv.Eventually(t, 10*time.Second, "replica B subscribed again", func() (bool, string) {
		return redis.NearReady(b), "not subscribed"
	})
	holdNear(t, b, key, "v2")
	if err := a.Set(ctx, key, []byte("v3"), time.Hour); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, "replica B sees the write after resubscribing", func() (bool, string) {
		got := mustGet(t, b, key)
		return got == "v3", got
	})
}

// TestNearCacheSurvivesIdleHealthChecks: an idle subscription is pinged, answers, and
// stays up — the near cache is not flushed for want of traffic.
func TestNearCacheSurvivesIdleHealthChecks(t *testing.T) {
	rd := testenv.NewRedis(t)
	s := replicas(t, rd, 1, nil)[0]
	key := rd.Prefix + "idle"
	if err := s.Set(context.Background(), key, []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	holdNear(t, s, key, "v")
	sub, before := redis.Subscription(s), redis.Pongs(s)
	testenv.Eventually(t, 10*time.Second, "two health pings answered", func() (bool, string) {
		return redis.Pongs(s) >= before+2, "waiting"
	})
	if redis.Subscription(s) != sub || !redis.NearReady(s) || !redis.NearHas(s, key) {
		t.Fatalf("after idle pings: same subscription %v, ready %v, held %v; want the near cache untouched",
			redis.Subscription(s) == sub, redis.NearReady(s), redis.NearHas(s, key))
	}
}

// TestNearCacheSubscriberEndsWithItsClient: the subscriber keeps resubscribing after
// anything but the application closing the Redis client, and then it ends, so a
// closed Store leaves no goroutine behind.
func TestNearCacheSubscriberEndsWithItsClient(t *testing.T) {
	rd := testenv.NewRedis(t)
	opts, err := goredis.ParseURL(rd.URL)
	if err != nil {
		t.Fatal(err)
	}
	client := goredis.NewClient(opts)
	s := &redis.Store{Client: client, Channel: rd.Prefix + "invalidate"}
	testenv.Eventually(t, 10*time.Second, "subscribed", func() (bool, string) {
		return redis.NearReady(s), "not subscribed"
	})
	// A lost subscription is not the end: the subscriber comes back.
	if !redis.DropSubscription(s) {
		t.Fatal("no subscription to drop")
	}
	testenv.Eventually(t, 10*time.Second, "subscribed again", func() (bool, string) {
		return redis.NearReady(s) && redis.Subscription(s) != nil, "not subscribed again"
	})
	select {
	case <-redis.SubscriberStopped(s):
		t.Fatal("the subscriber ended though the client is open")
	default:
	}
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-redis.SubscriberStopped(s):
	case <-time.After(10 * time.Second):
		t.Fatal("the subscriber still runs 10s after its client was closed")
	}
	if redis.NearReady(s) {
		t.Error("near cache still on after the client was closed")
	}
}
