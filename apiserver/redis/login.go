package redis

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kommerce/kommerce/apiserver"
)

// LoginThrottle implements apiserver.LoginThrottle in Redis, shared by every replica:
// one hash per key (n: attempts, until: end of the delay in the server's milliseconds)
// that expires Forget after its delay ends. Decided in one script, so concurrent
// attempts cannot slip past a delay together.
type LoginThrottle struct{ Client redis.UniversalClient }

var _ apiserver.LoginThrottle = (*LoginThrottle)(nil)

// loginAttempt: KEYS[1] = the account's key; ARGV = free attempts, first delay, cap
// and forget time, all in milliseconds but the first. Returns the milliseconds left
// of the delay (nothing recorded), or 0 (the attempt recorded).
var loginAttempt = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local v = redis.call('HMGET', KEYS[1], 'n', 'until')
local n = tonumber(v[1]) or 0
local untl = tonumber(v[2]) or 0
if now < untl then
  return untl - now
end
n = n + 1
local free, delay, cap, forget = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local d = 0
if n >= free then
  d = math.min(delay * 2 ^ math.min(n - free, 62), cap)
end
redis.call('HSET', KEYS[1], 'n', string.format('%d', n), 'until', string.format('%.0f', now + d))
redis.call('PEXPIRE', KEYS[1], string.format('%.0f', math.max(1, d + forget)))
return 0
`)

// Attempt implements apiserver.LoginThrottle.
func (l *LoginThrottle) Attempt(ctx context.Context, key string, p apiserver.LoginPolicy) (time.Duration, error) {
	ms, err := loginAttempt.Run(ctx, l.Client, []string{key}, p.Free, p.Delay.Milliseconds(), p.Max.Milliseconds(), p.Forget.Milliseconds()).Int64()
	if err != nil {
		return 0, fmt.Errorf("login throttle: %w", err)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// Reset implements apiserver.LoginThrottle.
func (l *LoginThrottle) Reset(ctx context.Context, key string) error {
	if err := l.Client.Del(ctx, key).Err(); err != nil {
		return fmt.Errorf("login throttle reset: %w", err)
	}
	return nil
}
