package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is one test's share of the Redis server: a client and a key prefix that no
// other test uses. Keys under the prefix are deleted in cleanup.
type Redis struct {
	URL    string
	Client *redis.Client
	Prefix string
}

var redisReach reachability

// NewRedis connects to the test Redis server and reserves a key prefix.
func NewRedis(t testing.TB) *Redis {
	t.Helper()
	url := env("KOMMERCE_TEST_REDIS_URL", DefaultRedisURL)
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("KOMMERCE_TEST_REDIS_URL: %v", err)
	}
	opts.DialTimeout = 3 * time.Second
	client := redis.NewClient(opts)
	if err := redisReach.check(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		return client.Ping(ctx).Err()
	}); err != nil {
		_ = client.Close()
		Unavailable(t, "redis", url, err)
	}
	prefix := Name(t, "test", ":") + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := client.Scan(ctx, 0, prefix+"*", 500).Iterator()
		for iter.Next(ctx) {
			client.Del(ctx, iter.Val())
		}
		_ = client.Close()
	})
	return &Redis{URL: url, Client: client, Prefix: prefix}
}
