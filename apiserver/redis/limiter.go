package redis

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kommerce/kommerce/apiserver"
)

// DefaultMaxLease is the most requests a replica leases per key at once when
// Limiter.MaxLease is 0.
const DefaultMaxLease = 64

// Limiter implements apiserver.RateLimiter with GCRA state kept in Redis, shared by
// every replica, while admitting most requests without a round trip: a replica
// leases a few requests' worth of a key's budget at once — one Lua script for all the
// keys of a request, atomic, all or nothing, times on the Redis server's clock — and
// admits against the lease in process memory until it is spent.
//
// Over-admission bound: a lease is taken out of the budget in Redis when it is
// granted, so no more requests are leased than GCRA allows; what a replica admits
// later than exact GCRA would is only what it held leased. Over any stretch of time,
// every key admits at most what exact GCRA allows plus R × LeaseCap(limit) requests
// for R replicas (a replica has at most one lease in flight per key, and leases again
// only once the last is spent). LeaseCap is min(MaxLease, Burst/8), at least 1: a
// limit whose burst is below 16 is checked in Redis at every request, exactly as
// before. Lease sizes start at one and double while a replica spends each lease
// within 50 ms, so a key used slowly is checked in Redis at (nearly) every request;
// a lease of more than one is renewed in the background once half spent.
//
// A denial is remembered until its Retry-After — GCRA never admits sooner, whatever
// the other replicas do — so a client that keeps knocking costs no round trips. The
// RateLimit headers of a request admitted from a lease are estimates: what Redis had
// left when the lease was granted, plus what is left of the lease.
type Limiter struct {
	Client redis.UniversalClient
	// MaxLease caps the requests a replica leases per key at once; 0 means
	// DefaultMaxLease, 1 checks every request in Redis.
	MaxLease int

	start sync.Once
	queue chan *check

	mu      sync.Mutex
	leases  map[string]*lease
	sweepAt int
}

var _ apiserver.RateLimiter = (*Limiter)(nil)

const (
	// leaseWindow: a lease spent faster than this doubles the next one.
	leaseWindow = 50 * time.Millisecond
	// minSweep is how many keys the limiter tracks before it forgets idle ones.
	minSweep = 100_000
)

// lease is one key's state on this replica.
type lease struct {
	tokens      int       // requests leased and not yet admitted
	size        int       // requests to lease next time
	leasedAt    time.Time // when the last lease was granted
	pending     *renewal  // the lease in flight, if any
	deniedUntil time.Time // Redis refused until then
	limit       int       // the key's burst, for the headers
	remaining   int       // requests Redis had left after the last lease
	resetAt     time.Time // when the key is full again, as of the last lease
	quietUntil  time.Time // no renewal ahead of need until then (Redis had none)
}

// LeaseCap is the most requests a Limiter with the given MaxLease leases at once for
// lim: an eighth of the burst, so that replicas cannot hoard it, at most maxLease
// (DefaultMaxLease when 0), at least one.
func LeaseCap(maxLease int, lim apiserver.RateLimit) int {
	if maxLease <= 0 {
		maxLease = DefaultMaxLease
	}
	return max(1, min(maxLease, max(lim.Burst, 1)/8))
}

// renewal is a lease request in flight; the requests waiting for it share its
// error, so that while Redis is unreachable each request waits for one failed round
// trip at most, not for one per request queued before it.
type renewal struct {
	done chan struct{}
	err  error // set before done is closed
}

// next returns the size of the lease to ask for now.
func (st *lease) next(now time.Time, capSize int) int {
	switch {
	case st.size == 0:
		st.size = 1
	case now.Sub(st.leasedAt) < leaseWindow:
		st.size *= 2
	case now.Sub(st.leasedAt) > 8*leaseWindow:
		st.size /= 2
	}
	st.size = max(1, min(st.size, capSize))
	return st.size
}

func (l *Limiter) state(key string, now time.Time) *lease {
	st := l.leases[key]
	if st == nil {
		if len(l.leases) >= max(l.sweepAt, minSweep) {
			l.sweep(now)
		}
		st = &lease{}
		l.leases[key] = st
	}
	return st
}

// sweep forgets keys with nothing in flight, no denial in force and no lease (or one
// idle for a minute, which is then given up: the limit only gets stricter).
func (l *Limiter) sweep(now time.Time) {
	for k, st := range l.leases {
		if st.pending == nil && !now.Before(st.deniedUntil) && (st.tokens == 0 || now.Sub(st.leasedAt) > time.Minute) {
			delete(l.leases, k)
		}
	}
	l.sweepAt = 2 * len(l.leases)
}

// Allow implements apiserver.RateLimiter.
func (l *Limiter) Allow(ctx context.Context, keys []apiserver.RateLimitKey) (apiserver.RateLimitResult, error) {
	l.mu.Lock()
	if l.leases == nil {
		l.leases = map[string]*lease{}
	}
	ls := make([]*lease, len(keys))
	for {
		now := time.Now()
		for i, k := range keys {
			ls[i] = l.state(k.Key, now)
		}
		if res, denied := deniedLocally(ls, now); denied {
			l.mu.Unlock()
			return res, nil
		}
		var wait *renewal
		var need []int
		for i, st := range ls {
			switch {
			case st.tokens > 0:
			case st.pending != nil:
				wait = st.pending
			default:
				need = append(need, i)
			}
		}
		if wait != nil {
			l.mu.Unlock()
			select {
			case <-wait.done:
			case <-ctx.Done():
				return apiserver.RateLimitResult{}, ctx.Err()
			}
			if wait.err != nil {
				return apiserver.RateLimitResult{}, wait.err
			}
			l.mu.Lock()
			continue
		}
		if len(need) == 0 {
			res := apiserver.RateLimitResult{Allowed: true, Remaining: -1}
			for i, st := range ls {
				st.tokens--
				res.Fold(apiserver.RateLimitResult{Allowed: true, Limit: st.limit, Remaining: st.remaining + st.tokens, ResetAfter: max(st.resetAt.Sub(now), 0)})
				l.renewAhead(keys[i], st, now)
			}
			l.mu.Unlock()
			return res, nil
		}
		res, done, err := l.renew(ctx, keys, ls, need, now)
		if err != nil || done {
			l.mu.Unlock()
			return res, err
		}
		// Leased: the next pass admits from the lease (unless a concurrent request
		// took it first, in which case it leases again).
	}
}

// renewAhead starts, in the background, the renewal of a lease of more than one
// request once half of it is spent, so that busy keys rarely make a request wait. It
// asks for what tops the lease up to its size: when the grant arrives the replica
// holds at most that size, so the over-admission bound is unchanged. Leases of one
// (small bursts, slow keys) are never renewed ahead: they stay exact. Called with
// l.mu held.
func (l *Limiter) renewAhead(k apiserver.RateLimitKey, st *lease, now time.Time) {
	if st.pending != nil || st.size < 2 || st.tokens > st.size/2 || now.Before(st.quietUntil) {
		return
	}
	size := st.next(now, LeaseCap(l.MaxLease, k.Limit))
	want := size - st.tokens
	if want < 1 {
		return
	}
	r := &renewal{done: make(chan struct{})}
	st.pending = r
	c := &check{keys: []string{k.Key}, args: []any{float64(k.Limit.Interval()) / float64(time.Microsecond), st.limit, want}, done: make(chan struct{})}
	go func() {
		err := l.do(context.Background(), c)
		l.mu.Lock()
		defer l.mu.Unlock()
		st.pending = nil
		r.err = err
		close(r.done)
		if err != nil {
			return
		}
		now := time.Now()
		g := c.grants[0]
		if !c.allowed {
			// Nothing left in Redis: what this replica holds is still good, and
			// the request that finds it spent asks again (and is denied).
			st.quietUntil = now.Add(g.retry)
			return
		}
		st.tokens += g.granted
		st.remaining = g.remaining
		st.leasedAt = now
		st.resetAt = now.Add(g.reset)
	}()
}

// deniedLocally answers for keys Redis refused recently, until their Retry-After.
func deniedLocally(ls []*lease, now time.Time) (apiserver.RateLimitResult, bool) {
	res := apiserver.RateLimitResult{Allowed: true, Remaining: -1}
	for _, st := range ls {
		if now.Before(st.deniedUntil) {
			res.Fold(apiserver.RateLimitResult{Limit: st.limit, RetryAfter: st.deniedUntil.Sub(now), ResetAfter: max(st.resetAt.Sub(now), 0)})
		}
	}
	return res, !res.Allowed
}

// renew leases the keys ls[need] in one round trip; it is called and returns with
// l.mu held, and releases it meanwhile. done is true when the request is decided
// (denied).
func (l *Limiter) renew(ctx context.Context, keys []apiserver.RateLimitKey, ls []*lease, need []int, now time.Time) (res apiserver.RateLimitResult, done bool, err error) {
	r := &renewal{done: make(chan struct{})}
	c := &check{keys: make([]string, 0, len(need)), args: make([]any, 0, 3*len(need)), done: make(chan struct{})}
	for _, i := range need {
		st := ls[i]
		st.pending = r
		st.limit = max(keys[i].Limit.Burst, 1)
		c.keys = append(c.keys, keys[i].Key)
		c.args = append(c.args, float64(keys[i].Limit.Interval())/float64(time.Microsecond), st.limit, st.next(now, LeaseCap(l.MaxLease, keys[i].Limit)))
	}
	l.mu.Unlock()
	err = l.do(ctx, c)
	l.mu.Lock()
	for _, i := range need {
		ls[i].pending = nil
	}
	r.err = err
	close(r.done)
	if err != nil {
		return apiserver.RateLimitResult{}, true, err
	}
	now = time.Now()
	res = apiserver.RateLimitResult{Allowed: true, Remaining: -1}
	for j, i := range need {
		st, g := ls[i], c.grants[j]
		st.resetAt = now.Add(g.reset)
		if g.retry > 0 {
			st.deniedUntil = now.Add(g.retry)
			res.Fold(apiserver.RateLimitResult{Limit: st.limit, RetryAfter: g.retry, ResetAfter: g.reset})
		}
		if c.allowed {
			st.tokens += g.granted
			st.remaining = g.remaining
			st.leasedAt = now
		}
	}
	return res, !c.allowed, nil
}

// leaseScript: KEYS = limit keys; ARGV = emission interval (microseconds), burst and
// requests wanted, per key. Grants min(wanted, available) on every key, or nothing on
// any when one has nothing available. Returns allowed (0/1), then per key: granted,
// remaining after the grant, retry-after and reset-after in microseconds.
var leaseScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {1}
local tats = {}
for i = 1, #KEYS do
  local interval = tonumber(ARGV[3*i-2])
  local burst = tonumber(ARGV[3*i-1])
  local want = tonumber(ARGV[3*i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  local avail = burst + math.floor((now - tat) / interval)
  local grant = math.min(want, avail)
  if grant < 1 then
    out[1] = 0
    out[4*i-2], out[4*i-1], out[4*i], out[4*i+1] = 0, 0, math.ceil(tat + interval - burst * interval - now), math.ceil(tat - now)
  else
    tats[i] = tat + grant * interval
    out[4*i-2], out[4*i-1], out[4*i], out[4*i+1] = grant, avail - grant, 0, math.ceil(tats[i] - now)
  end
end
if out[1] == 1 then
  for i = 1, #KEYS do
    redis.call('SET', KEYS[i], string.format('%.0f', tats[i]), 'PX', math.max(1, math.ceil((tats[i] - now) / 1000)))
  end
else
  for i = 1, #KEYS do out[4*i-2] = 0 end
end
return out
`)

// check is one lease request waiting for a worker.
type check struct {
	keys    []string
	args    []any
	allowed bool
	grants  []grant
	err     error
	done    chan struct{}

	script *redis.Cmd
}

type grant struct {
	granted, remaining int
	retry, reset       time.Duration
}

const (
	batchWorkers = 4
	maxBatch     = 64
	batchTimeout = 2 * time.Second
)

// do sends c and waits for its result. Lease requests of concurrent requests are
// sent together: a few workers each take whatever is waiting and send it as one
// pipeline.
func (l *Limiter) do(ctx context.Context, c *check) error {
	l.start.Do(l.startWorkers)
	select {
	case l.queue <- c:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

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
				c.script = leaseScript.EvalSha(ctx, p, c.keys, c.args...)
			}
			return nil
		})
		return err
	}
	// Errors, of the connection or of one command, are on each command; result reads them.
	if err := run(); err != nil && redis.HasErrorPrefix(batch[0].script.Err(), "NOSCRIPT") {
		// First use on this Redis (or after a restart): load the script and retry.
		if leaseScript.Load(ctx, l.Client).Err() == nil {
			_ = run()
		}
	}
	for _, c := range batch {
		c.err = c.result()
	}
}

func (c *check) result() error {
	v, err := c.script.Int64Slice()
	if err != nil {
		return fmt.Errorf("rate limit: %w", err)
	}
	if len(v) != 1+4*len(c.keys) {
		return fmt.Errorf("rate limit: script returned %d values for %d keys", len(v), len(c.keys))
	}
	c.allowed = v[0] == 1
	c.grants = make([]grant, len(c.keys))
	for i := range c.grants {
		w := v[1+4*i:]
		c.grants[i] = grant{granted: int(w[0]), remaining: int(w[1]),
			retry: time.Duration(w[2]) * time.Microsecond, reset: time.Duration(w[3]) * time.Microsecond}
	}
	return nil
}
