// Package redis implements the cache store and the rate limiter on Redis, shared by
// every replica of the API. Keys are built by the callers and start with the tenant's
// Redis prefix; nothing here invents keys of its own.
package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kommerce/kommerce/apiserver/cache"
)

// Store implements cache.Store. Reads are served from a near cache in process
// memory, without a round trip, while the Store is subscribed to the invalidation
// channel; every write publishes its key there in the same atomic step as the write
// (a Lua script or MULTI), so the other replicas drop their copies, and drops its own
// copy before it returns, so a read after a write on the same replica never sees the
// old value. Reads on another replica see a write once its invalidation has arrived
// (Pub/Sub delivery, normally well under a millisecond); when the subscription breaks
// the near cache is emptied and bypassed until it is back, and a connection that
// dies silently is noticed by a ping within two health intervals (1 s).
//
// Only writes made through a Store are announced: keys under its prefixes must not
// be written in any other way while replicas run.
type Store struct {
	Client redis.UniversalClient
	// Channel is the invalidation channel; DefaultInvalidationChannel when empty.
	// Replicas sharing a Redis must use the same one.
	Channel string
	// NearBytes bounds the near cache; 0 means DefaultNearBytes, a negative value
	// turns it off (every read is a round trip).
	NearBytes int

	once sync.Once
	near *near
	gate chan struct{} // see near.gate
}

var _ cache.Store = (*Store)(nil)

func (s *Store) channel() string {
	if s.Channel == "" {
		return DefaultInvalidationChannel
	}
	return s.Channel
}

// nearCache starts the subscriber on first use; nil when the near cache is off.
func (s *Store) nearCache() *near {
	s.once.Do(func() {
		if s.NearBytes < 0 {
			return
		}
		var id [8]byte
		_, _ = rand.Read(id[:])
		s.near = &near{m: map[string]nearEntry{}, flights: map[string]*flight{}, max: s.NearBytes, self: hex.EncodeToString(id[:]), stopped: make(chan struct{})}
		if s.near.max == 0 {
			s.near.max = DefaultNearBytes
		}
		s.near.gate = s.gate
		go s.subscribe(s.near)
	})
	return s.near
}

// Get implements cache.Store.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	n := s.nearCache()
	if n == nil {
		return s.get(ctx, key)
	}
	now := time.Now()
	v, hit, ready := n.lookup(key, now)
	if hit {
		return v, nil
	}
	if !ready {
		return s.get(ctx, key)
	}
	t := n.begin(key)
	v, ttl, err := s.getWithTTL(ctx, key)
	// Kept with the remaining time to live, so the near copy expires when the
	// entry in Redis does; an absent key is kept too (a write announces it).
	keep := err == nil && (ttl > 0 || ttl == -1 || v == nil)
	n.done(key, t, keep, v, max(ttl, 0), now)
	return v, err
}

// getWithTTL reads the value of key (nil when absent) and its remaining time to live
// (-1 without one) in one round trip.
func (s *Store) getWithTTL(ctx context.Context, key string) ([]byte, time.Duration, error) {
	var get *redis.StringCmd
	var ttl *redis.DurationCmd
	if _, err := s.Client.Pipelined(ctx, func(p redis.Pipeliner) error {
		get, ttl = p.Get(ctx, key), p.PTTL(ctx, key)
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return nil, 0, err
	}
	b, err := get.Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ttl.Val(), nil
	}
	return b, ttl.Val(), err
}

// Holds reports whether a read of key would be served from the near cache, without
// a round trip.
func (s *Store) Holds(key string) bool {
	n := s.nearCache()
	if n == nil {
		return false
	}
	_, hit, _ := n.lookup(key, time.Now())
	return hit
}

// SubscriptionsLost counts the times the invalidation subscription broke, each of
// which emptied the near cache (0 when it is off).
func (s *Store) SubscriptionsLost() uint64 {
	if n := s.nearCache(); n != nil {
		return n.lost.Load()
	}
	return 0
}

func (s *Store) get(ctx context.Context, key string) ([]byte, error) {
	b, err := s.Client.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	return b, err
}

// announce is the message that tells the other replicas key was written.
func (s *Store) announce(key string) string {
	if n := s.nearCache(); n != nil {
		return n.self + " " + key
	}
	return "- " + key
}

// written drops the near copy of key after a write (or a failed one, which may have
// been applied): the next read on this replica goes to Redis.
func (s *Store) written(key string) {
	if n := s.nearCache(); n != nil {
		n.invalidate(key)
	}
}

// setIfNewer compares the zero-padded version at the start of the stored value, so a
// slow reader cannot overwrite a newer entry a writer stored meanwhile; a value it
// stores is announced on the invalidation channel (ARGV[4]) with ARGV[5].
var setIfNewer = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and tonumber(string.sub(cur, 1, 20)) and tonumber(string.sub(cur, 1, 20)) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
`)

// SetIfNewer implements cache.Store.
func (s *Store) SetIfNewer(ctx context.Context, key string, version int64, value []byte, ttl time.Duration) error {
	defer s.written(key)
	return setIfNewer.Run(ctx, s.Client, []string{key}, version, value, ttl.Milliseconds(), s.channel(), s.announce(key)).Err()
}

// Set implements cache.Store.
func (s *Store) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	defer s.written(key)
	_, err := s.Client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, key, value, ttl)
		p.Publish(ctx, s.channel(), s.announce(key))
		return nil
	})
	return err
}

var incr = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return n
`)

// Incr implements cache.Store.
func (s *Store) Incr(ctx context.Context, key string) (int64, error) {
	defer s.written(key)
	return incr.Run(ctx, s.Client, []string{key}, s.channel(), s.announce(key)).Int64()
}
