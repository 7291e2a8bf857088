// Package redis implements the cache store and the rate limiter on Redis, shared by
// every replica of the API. Keys are built by the callers and start with the tenant's
// Redis prefix; nothing here invents keys of its own.
package redis

import (
	"context"
	"errors"
	"fmt"
	"sync"
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
type Limiter struct {
	Client redis.UniversalClient

	start sync.Once
	queue chan *check
}

var _ apiserver.RateLimiter = (*Limiter)(nil)

// gcra: KEYS = limit keys; ARGV = emission interval (microseconds), burst pairs. Returns allowed (0/1), the burst
// of the reported limit, remaining, retry-after and reset-after in microseconds.
var gcra = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local allowed = 1
local limit, remaining, retry, reset = 0, -1, 0, 0
local tats = {}
for i = 1, #KEYS do
  local interval = tonumber(ARGV[2*i-1])
  local burst = tonumber(ARGV[2*i])
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
if allowed == 1 then
  for i = 1, #KEYS do
    redis.call('SET', KEYS[i], string.format('%.0f', tats[i]), 'PX', math.max(1, math.ceil((tats[i] - now) / 1000)))
  end
end
return {allowed, limit, remaining, math.ceil(retry), math.ceil(reset)}
`)

// Allow implements apiserver.RateLimiter.
func (l *Limiter) Allow(ctx context.Context, keys []apiserver.RateLimitKey) (apiserver.RateLimitResult, error) {
	r, _, err := l.AllowAndGet(ctx, keys, nil)
	return r, err
}

var _ apiserver.Prefetcher = (*Limiter)(nil)

// AllowAndGet implements apiserver.Prefetcher: the script and the GETs go out as one
// pipeline — one round trip — while the (possibly large) cached values stay out of
// the Lua interpreter. Values read for a refused request are dropped.
//
// Checks of concurrent requests are sent together: a few workers each take whatever
// checks are waiting and send them as one pipeline, so under load one write and one
// read system call (on both sides) serve many requests. An idle server sends each
// check at once, alone.
func (l *Limiter) AllowAndGet(ctx context.Context, keys []apiserver.RateLimitKey, get []string) (apiserver.RateLimitResult, [][]byte, error) {
	l.start.Do(l.startWorkers)
	c := &check{keys: make([]string, len(keys)), args: make([]any, 0, 2*len(keys)), get: get, done: make(chan struct{})}
	for i, k := range keys {
		c.keys[i] = k.Key
		c.args = append(c.args, float64(k.Limit.Interval())/float64(time.Microsecond), max(k.Limit.Burst, 1))
	}
	select {
	case l.queue <- c:
	case <-ctx.Done():
		return apiserver.RateLimitResult{}, nil, ctx.Err()
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		return apiserver.RateLimitResult{}, nil, ctx.Err()
	}
	return c.res, c.values, c.err
}

// check is one request's limit check waiting for a worker.
type check struct {
	keys   []string
	args   []any
	get    []string
	res    apiserver.RateLimitResult
	values [][]byte
	err    error
	done   chan struct{}

	script *redis.Cmd
	gets   []*redis.StringCmd
}

const (
	batchWorkers = 4
	maxBatch     = 64
	batchTimeout = 2 * time.Second
)

func (l *Limiter) startWorkers() {
	l.queue = make(chan *check, 4*maxBatch)
	for range batchWorkers {
		go l.work()
	}
}

func (l *Limiter) work() {
	batch := make([]*check, 0, maxBatch)
	for c := range l.queue {
		batch = append(batch[:0], c)
	drain:
		for len(batch) < maxBatch {
			select {
			case c := <-l.queue:
				batch = append(batch, c)
			default:
				break drain
			}
		}
		l.send(batch)
		for _, c := range batch {
			close(c.done)
		}
	}
}

// send runs a batch as one pipeline and fills in every check's result.
func (l *Limiter) send(batch []*check) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	run := func() error {
		_, err := l.Client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, c := range batch {
				c.script = gcra.EvalSha(ctx, p, c.keys, c.args...)
				c.gets = c.gets[:0]
				for _, k := range c.get {
					c.gets = append(c.gets, p.Get(ctx, k))
				}
			}
			return nil
		})
		return err
	}
	// Errors, of the connection or of one command, are on each command; result reads them.
	if err := run(); err != nil && redis.HasErrorPrefix(batch[0].script.Err(), "NOSCRIPT") {
		// First use on this Redis (or after a restart): load the script and retry.
		if gcra.Load(ctx, l.Client).Err() == nil {
			_ = run()
		}
	}
	for _, c := range batch {
		c.res, c.values, c.err = c.result()
	}
}

func (c *check) result() (apiserver.RateLimitResult, [][]byte, error) {
	v, err := c.script.Int64Slice()
	if err != nil {
		return apiserver.RateLimitResult{}, nil, fmt.Errorf("rate limit: %w", err)
	}
	if len(v) != 5 {
		return apiserver.RateLimitResult{}, nil, fmt.Errorf("rate limit: script returned %d values", len(v))
	}
	res := apiserver.RateLimitResult{
		Allowed: v[0] == 1, Limit: int(v[1]), Remaining: int(v[2]),
		RetryAfter: time.Duration(v[3]) * time.Microsecond, ResetAfter: time.Duration(v[4]) * time.Microsecond,
	}
	if !res.Allowed {
		return res, nil, nil
	}
	values := make([][]byte, len(c.get))
	for i, g := range c.gets {
		b, err := g.Bytes()
		switch {
		case errors.Is(err, redis.Nil):
		case err != nil:
			return apiserver.RateLimitResult{}, nil, fmt.Errorf("prefetch %s: %w", c.get[i], err)
		default:
			values[i] = b
		}
	}
	return res, values, nil
}
