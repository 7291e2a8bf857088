// Package redis implements the cache store and the rate limiter on Redis, shared by
// every replica of the API. Keys are built by the callers and start with the tenant's
// Redis prefix; nothing here invents keys of its own.
package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/cache"
)

// Store implements cache.Store.
type Store struct{ Client redis.UniversalClient }

var _ cache.Store = (*Store)(nil)

// Get implements cache.Store.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := s.Client.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	return b, err
}

// setIfNewer compares the zero-padded version at the start of the stored value, so a
// slow reader cannot overwrite a newer entry a writer stored meanwhile.
var setIfNewer = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and tonumber(string.sub(cur, 1, 20)) and tonumber(string.sub(cur, 1, 20)) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`)

// SetIfNewer implements cache.Store.
func (s *Store) SetIfNewer(ctx context.Context, key string, version int64, value []byte, ttl time.Duration) error {
	return setIfNewer.Run(ctx, s.Client, []string{key}, version, value, ttl.Milliseconds()).Err()
}

// Set implements cache.Store.
func (s *Store) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	return s.Client.Set(ctx, key, value, ttl).Err()
}

// Incr implements cache.Store.
func (s *Store) Incr(ctx context.Context, key string) (int64, error) {
	return s.Client.Incr(ctx, key).Result()
}

// Limiter implements apiserver.RateLimiter with GCRA in one Lua script, so that the
// per-user and per-tenant limits of a request cost one round trip and are checked
// and consumed atomically. Times are the Redis server's clock in microseconds.
type Limiter struct{ Client redis.UniversalClient }

var _ apiserver.RateLimiter = (*Limiter)(nil)

// gcra: KEYS = limit keys, then keys to read when allowed; ARGV = the number of limit
// keys, then rate, burst pairs. Returns allowed (0/1), the burst of the reported
// limit, remaining, retry-after and reset-after in microseconds, then the values read
// (false for absent keys).
var gcra = redis.NewScript(`
local nlimits = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local allowed = 1
local limit, remaining, retry, reset = 0, -1, 0, 0
local tats = {}
for i = 1, nlimits do
  local rate = tonumber(ARGV[2*i])
  local burst = tonumber(ARGV[2*i+1])
  local interval = 1000000 / rate
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  local newtat = tat + interval
  local allow_at = newtat - burst * interval
  if now < allow_at then
    if allowed == 1 or allow_at - now > retry then
      limit, retry, reset = burst, allow_at - now, tat - now
    end
    allowed, remaining = 0, 0
  elseif allowed == 1 then
    local rem = math.floor((now - allow_at) / interval)
    if remaining < 0 or rem < remaining then
      limit, remaining, reset = burst, rem, newtat - now
    end
  end
  tats[i] = newtat
end
local out = {allowed, limit, remaining, math.ceil(retry), math.ceil(reset)}
if allowed == 1 then
  for i = 1, nlimits do
    redis.call('SET', KEYS[i], string.format('%.0f', tats[i]), 'PX', math.max(1, math.ceil((tats[i] - now) / 1000)))
  end
  for i = nlimits + 1, #KEYS do
    out[#out + 1] = redis.call('GET', KEYS[i])
  end
end
return out
`)

// Allow implements apiserver.RateLimiter.
func (l *Limiter) Allow(ctx context.Context, keys []apiserver.RateLimitKey) (apiserver.RateLimitResult, error) {
	r, _, err := l.AllowAndGet(ctx, keys, nil)
	return r, err
}

var _ apiserver.Prefetcher = (*Limiter)(nil)

// AllowAndGet implements apiserver.Prefetcher.
func (l *Limiter) AllowAndGet(ctx context.Context, keys []apiserver.RateLimitKey, get []string) (apiserver.RateLimitResult, [][]byte, error) {
	ks := make([]string, 0, len(keys)+len(get))
	args := make([]any, 0, 1+2*len(keys))
	args = append(args, len(keys))
	for _, k := range keys {
		ks = append(ks, k.Key)
		args = append(args, max(k.Limit.Rate, 1), max(k.Limit.Burst, 1))
	}
	ks = append(ks, get...)
	v, err := gcra.Run(ctx, l.Client, ks, args...).Slice()
	if err != nil {
		return apiserver.RateLimitResult{}, nil, fmt.Errorf("rate limit: %w", err)
	}
	if len(v) < 5 {
		return apiserver.RateLimitResult{}, nil, fmt.Errorf("rate limit: script returned %d values", len(v))
	}
	n := make([]int64, 5)
	for i := range n {
		x, ok := v[i].(int64)
		if !ok {
			return apiserver.RateLimitResult{}, nil, fmt.Errorf("rate limit: value %d is %T", i, v[i])
		}
		n[i] = x
	}
	res := apiserver.RateLimitResult{
		Allowed: n[0] == 1, Limit: int(n[1]), Remaining: int(n[2]),
		RetryAfter: time.Duration(n[3]) * time.Microsecond, ResetAfter: time.Duration(n[4]) * time.Microsecond,
	}
	if !res.Allowed {
		return res, nil, nil
	}
	values := make([][]byte, len(get))
	for i := range get {
		if 5+i < len(v) {
			if s, ok := v[5+i].(string); ok {
				values[i] = []byte(s)
			}
		}
	}
	return res, values, nil
}
