package discovery

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math"
	"net/url"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/kommerce/kommerce/internal/search"
)

// ResultCache keeps search and autocomplete answers of this API replica for a short
// while. Shoppers' queries are heavily skewed (a few head terms make most of the
// traffic), and each one is an engine query with fuzzy matching and facet
// aggregations, so answering the repeats from memory is what lets search keep up
// with the rest of the shop.
//
// Staleness: an entry lives TTL from the moment its engine call started, so an
// answer never reflects an index state older than TTL. The engine itself makes a
// write searchable only at its next refresh (1 s in Elasticsearch), so the cache
// adds at most TTL to write → searchable. A settings change (synonyms, boosts,
// autocomplete, currency) takes effect at once: the settings are part of the key.
//
// Concurrent misses of the same key make one engine call; its answer (or error)
// goes to every caller waiting for it. Errors are never kept. Cached answers are
// shared by every request that hits them and must not be modified.
//
// A nil *ResultCache, or a TTL of 0, caches nothing.
type ResultCache struct {
	ttl        time.Duration
	maxEntries int
	now        func() time.Time // tests move time without sleeping
	lookups    *prometheus.CounterVec
	waiting    func() // tests: called once a caller waits for an engine call

	group singleflight.Group

	mu      sync.Mutex
	entries map[string]cacheEntry
	// queue holds the keys in insertion order. The TTL is the same for every entry,
	// so that is also expiry order: evicting from the front drops the expired
	// entries first, then the oldest. A key stored again leaves its older element
	// behind, recognised by its expiry not matching the map's.
	queue []queued
	head  int
}

type cacheEntry struct {
	value   any
	expires time.Time
}

type queued struct {
	key     string
	expires time.Time
}

// DefaultSearchCacheEntries bounds a ResultCache unless told otherwise. Entries
// live about a second, so the bound is reached only by more distinct queries a
// second than the engine could answer.
const DefaultSearchCacheEntries = 10000

// maxKeyLen leaves out of the cache the rare query whose parameters are long (a
// pasted paragraph, a long cursor), so that the entries bound also bounds memory.
const maxKeyLen = 2048

// maxFill bounds an engine call shared by several requests: it runs detached from
// the request that started it (that request leaving must not fail the others), so
// it needs a deadline of its own.
const maxFill = 30 * time.Second

// Lookup results counted in kommerce_api_search_cache_lookups_total.
const (
	cacheHit    = "hit"    // answered from the cache
	cacheMiss   = "miss"   // this request made the engine call
	cacheShared = "shared" // joined a call another request had started
)

// Kinds of cached answers.
const (
	kindSearch  = "search"
	kindSuggest = "suggest"
)

// NewResultCache returns a cache keeping answers for ttl (0: no caching, nil is
// returned) and at most maxEntries of them (0: DefaultSearchCacheEntries). reg, if
// not nil, receives kommerce_api_search_cache_lookups_total.
func NewResultCache(ttl time.Duration, maxEntries int, reg prometheus.Registerer) *ResultCache {
	if ttl <= 0 {
		return nil
	}
	if maxEntries <= 0 {
		maxEntries = DefaultSearchCacheEntries
	}
	c := &ResultCache{ttl: ttl, maxEntries: maxEntries, now: time.Now, entries: map[string]cacheEntry{}}
	if reg != nil {
		c.lookups = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kommerce_api_search_cache_lookups_total",
			Help: "Search and autocomplete answers by kind (search, suggest) and result: hit (from this replica's short-lived cache), miss (an engine call) or shared (waited for an identical engine call already running).",
		}, []string{"kind", "result"})
		reg.MustRegister(c.lookups)
	}
	return c
}

// get returns the cached answer of (kind, storefront, params) or fills it with
// fill, whose ctx is not the caller's: it ends only at maxFill, so that one caller
// leaving does not fail the others waiting for the same call. A caller whose own
// ctx ends stops waiting and gets its ctx error.
func (c *ResultCache) get(ctx context.Context, kind string, sf search.Storefront, params url.Values, fill func(context.Context) (any, error)) (any, error) {
	if c == nil {
		return fill(ctx)
	}
	key := cacheKey(kind, sf, params)
	if len(key) > maxKeyLen {
		return fill(ctx)
	}
	if v, ok := c.lookup(key); ok {
		c.count(kind, cacheHit)
		return v, nil
	}
	ran := false
	ch := c.group.DoChan(key, func() (v any, err error) {
		ran = true
		// singleflight re-panics a panic of DoChan's call in a goroutine of its own,
		// which would end the process; the HTTP layer's recovery cannot see it, so
		// it becomes this call's error (a logged 500) here.
		defer func() {
			if r := recover(); r != nil {
				v, err = nil, fmt.Errorf("panic: %v\n%s", r, debug.Stack())
			}
		}()
		start := c.now()
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), maxFill)
		defer cancel()
		v, err = fill(fctx)
		if err == nil {
			c.store(key, v, start.Add(c.ttl))
		}
		return v, err
	})
	if c.waiting != nil {
		c.waiting()
	}
	select {
	case r := <-ch:
		// ran is written before the call's result is sent on ch.
		if ran {
			c.count(kind, cacheMiss)
		} else {
			c.count(kind, cacheShared)
		}
		return r.Val, r.Err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *ResultCache) count(kind, result string) {
	if c.lookups != nil {
		c.lookups.WithLabelValues(kind, result).Inc()
	}
}

func (c *ResultCache) lookup(key string) (any, bool) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || !now.Before(e.expires) {
		return nil, false
	}
	return e.value, true
}

// store keeps v until expires, first evicting what has expired and then, while the
// cache is full, the oldest entries.
func (c *ResultCache) store(key string, v any, expires time.Time) {
	now := c.now()
	if !now.Before(expires) {
		return // the call took longer than the TTL: already too old to serve
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.head < len(c.queue) {
		q := c.queue[c.head]
		if now.Before(q.expires) && len(c.entries) < c.maxEntries {
			break
		}
		if e, ok := c.entries[q.key]; ok && e.expires.Equal(q.expires) {
			delete(c.entries, q.key)
		}
		c.queue[c.head] = queued{}
		c.head++
	}
	if c.head > len(c.queue)/2 {
		c.queue = append(c.queue[:0], c.queue[c.head:]...)
		c.head = 0
	}
	c.entries[key] = cacheEntry{value: v, expires: expires}
	c.queue = append(c.queue, queued{key: key, expires: expires})
}

// len is the number of entries held, expired or not (tests).
func (c *ResultCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// cacheKey identifies an answer: the kind, the tenant, the storefront's index, a
// fingerprint of the storefront's settings and the request's parameters in
// canonical order. Parts are separated by a byte no parameter encoding contains.
func cacheKey(kind string, sf search.Storefront, params url.Values) string {
	var fp [8]byte
	binary.LittleEndian.PutUint64(fp[:], settingsFingerprint(sf.Settings))
	return kind + "\x00" + sf.TenantID + "\x00" + sf.Index + "\x00" + string(fp[:]) + "\x00" + params.Encode()
}

// fingerprintSeed is per process, like the cache: fingerprints are never stored
// or compared across replicas.
var fingerprintSeed = maphash.MakeSeed()

// settingsFingerprint hashes everything in the settings that changes an answer. A
// 64-bit hash: two different settings of the same storefront sharing entries would
// take a collision, about one in 10^19.
func settingsFingerprint(st search.Settings) uint64 {
	var h maphash.Hash
	h.SetSeed(fingerprintSeed)
	str := func(s string) {
		h.WriteString(s)
		h.WriteByte(0)
	}
	num := func(f float64) {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], math.Float64bits(f))
		h.Write(b[:])
	}
	str(st.Currency)
	for _, g := range st.Synonyms {
		for _, m := range g {
			str(m)
		}
		h.WriteByte(1)
	}
	h.WriteByte(2)
	fields := make([]string, 0, len(st.FieldBoosts))
	for f := range st.FieldBoosts {
		fields = append(fields, f)
	}
	slices.Sort(fields)
	for _, f := range fields {
		str(f)
		num(st.FieldBoosts[f])
	}
	h.WriteByte(2)
	for _, b := range st.Boosts {
		str(b.Attribute)
		str(b.Category)
		num(b.Weight)
	}
	h.WriteByte(2)
	ac := st.Autocomplete
	if ac.Disabled {
		h.WriteByte(1)
	}
	num(float64(ac.MinChars))
	num(float64(ac.Limit))
	return h.Sum64()
}
