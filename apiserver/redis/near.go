package redis

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultInvalidationChannel is the Pub/Sub channel on which every Store announces
// the keys it wrote, so that the other replicas drop their near copies.
const DefaultInvalidationChannel = "kommerce:cache:invalidate"

// DefaultNearBytes bounds a Store's near cache (keys and values) when NearBytes is 0.
const DefaultNearBytes = 64 << 20

const (
	// healthInterval: a subscription that has said nothing for this long is pinged;
	// one that has not answered the ping one interval later is taken as broken. A
	// connection that dies without a reset is so noticed within two intervals.
	healthInterval = 500 * time.Millisecond
	// resubscribeBackoff spaces attempts to subscribe again while Redis is away.
	resubscribeBackoff = 200 * time.Millisecond
)

// near is a Store's copy of the entries it read, kept in process memory and served
// without a round trip. It is correct only while the subscription to the
// invalidation channel is up (ready): every write through any Store publishes the
// key it wrote, in the same atomic step as the write, and the subscriber drops the
// key here. Whenever the subscription is not known to be up, near holds nothing and
// reads go to Redis.
type near struct {
	mu      sync.RWMutex
	ready   bool   // subscribed: entries read now may be kept
	epoch   uint64 // changes whenever the whole cache is flushed
	m       map[string]nearEntry
	size    int // bytes of keys and values in m
	max     int
	flights map[string]*flight // reads from Redis in progress, per key
	sub     *redis.PubSub      // the live subscription, nil between subscriptions
	self    string             // this Store's id, which starts its announcements
	pongs   atomic.Uint64      // health pings answered, for tests
	lost    atomic.Uint64      // subscriptions lost (each flushed the near cache)

	// gate, when set (tests only), is received from before each new subscription, so
	// a test can hold the subscriber down while it writes.
	gate chan struct{}
	// stopped is closed when the subscriber has ended, once the client is closed.
	stopped chan struct{}
}

// flight counts the reads of one key in progress and the invalidations of the key
// since the first of them started.
type flight struct {
	reads int
	seq   uint64
}

// ticket is what a read from Redis must still find when it comes back for its value
// to be kept.
type ticket struct {
	epoch, seq uint64
}

type nearEntry struct {
	value   []byte // nil: the key is absent in Redis
	expires time.Time
}

// lookup returns the near copy of key, if there is one, and whether the
// subscription is up.
func (n *near) lookup(key string, now time.Time) (value []byte, hit, ready bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	e, ok := n.m[key]
	if ok && (e.expires.IsZero() || now.Before(e.expires)) {
		return e.value, true, n.ready
	}
	return nil, false, n.ready
}

// begin registers a read of key from Redis; the caller must call done with the
// ticket, whether it keeps the value or not.
func (n *near) begin(key string) ticket {
	n.mu.Lock()
	defer n.mu.Unlock()
	f := n.flights[key]
	if f == nil {
		f = &flight{}
		n.flights[key] = f
	}
	f.reads++
	return ticket{epoch: n.epoch, seq: f.seq}
}

// done ends a read of key and keeps what it returned, unless key was invalidated
// (or the cache flushed, or the subscription lost) since the read started: the
// value may then be older than a write whose invalidation has already gone by.
func (n *near) done(key string, t ticket, keep bool, value []byte, ttl time.Duration, now time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	f := n.flights[key]
	fresh := f != nil && f.seq == t.seq && n.epoch == t.epoch && n.ready
	if f != nil {
		if f.reads--; f.reads <= 0 {
			delete(n.flights, key)
		}
	}
	if !keep || !fresh {
		return
	}
	e := nearEntry{value: value}
	if ttl > 0 {
		e.expires = now.Add(ttl)
	}
	if old, ok := n.m[key]; ok {
		n.size -= len(key) + len(old.value)
	}
	add := len(key) + len(value)
	if n.size+add > n.max {
		clear(n.m)
		n.size = 0
	}
	n.m[key] = e
	n.size += add
}

// invalidate drops key, and makes reads of it in flight not keep what they read.
func (n *near) invalidate(key string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if f := n.flights[key]; f != nil {
		f.seq++
	}
	if old, ok := n.m[key]; ok {
		n.size -= len(key) + len(old.value)
		delete(n.m, key)
	}
}

// reset drops everything and says whether entries may be kept from now on.
func (n *near) reset(ready bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ready && !ready {
		n.lost.Add(1)
	}
	n.epoch++
	n.ready = ready
	clear(n.m)
	n.size = 0
}

// subscribe keeps the subscription to the invalidation channel up for as long as
// the client is open, flushing the near cache whenever it is not known to be up.
func (s *Store) subscribe(n *near) {
	defer close(n.stopped)
	ctx := context.Background()
	for {
		if n.gate != nil {
			<-n.gate
		}
		_ = s.listen(ctx, n) // why it ended does not matter: the loop subscribes again
		n.reset(false)
		// Only the client's own Ping tells that the application closed the client. The
		// subscription's error cannot: a PubSub closed under it (by a test standing in
		// for a network failure) also answers ErrClosed, and stopping then would leave
		// the near cache off for good.
		if errors.Is(s.Client.Ping(ctx).Err(), redis.ErrClosed) {
			return // nothing to keep up any more
		}
		time.Sleep(resubscribeBackoff)
	}
}

// listen subscribes and applies invalidations until the subscription fails.
func (s *Store) listen(ctx context.Context, n *near) error {
	ps := s.Client.Subscribe(ctx)
	defer ps.Close()
	if err := ps.Subscribe(ctx, s.channel()); err != nil {
		return err
	}
	n.setSubscription(ps)
	defer n.setSubscription(nil)
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, healthInterval)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !pinged {
				if err := ps.Ping(ctx); err != nil {
					return err
				}
				pinged = true
				continue
			}
			return err
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			// Confirmed: every write from now on reaches us. Entries read before
			// it may have missed one, so start empty.
			if m.Kind == "subscribe" && m.Channel == s.channel() {
				n.reset(true)
			}
		case *redis.Message:
			// This Store dropped its own copy when it wrote; the other replicas'
			// writes are what count here.
			if from, key, ok := strings.Cut(m.Payload, " "); ok && from != n.self {
				n.invalidate(key)
			}
		case *redis.Pong:
			n.pongs.Add(1)
		}
	}
}

// setSubscription records the live subscription, for a test to break it.
func (n *near) setSubscription(ps *redis.PubSub) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sub = ps
}
