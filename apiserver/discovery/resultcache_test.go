package discovery

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/search"
	"github.com/kommerce/kommerce/internal/search/elasticsearch"
	"github.com/kommerce/kommerce/internal/testenv"
)

// countingBackend counts the queries that reach the real engine behind it. While
// gate is set, each query waits for it to close (or for its ctx to end, as a real
// engine call would), so tests can line callers up behind one call.
type countingBackend struct {
	search.Backend
	calls atomic.Int64

	mu    sync.Mutex
	gate  chan struct{}
	down  search.Backend // when set, queries go there instead (an engine that is not up)
	panic bool           // when set, a query panics (a bug below the cache)
}

func (b *countingBackend) Search(ctx context.Context, index string, req search.Request) (search.Response, error) {
	b.calls.Add(1)
	b.mu.Lock()
	gate, down, panics := b.gate, b.down, b.panic
	b.mu.Unlock()
	if panics {
		panic("engine bug")
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return search.Response{}, ctx.Err()
		}
	}
	if down != nil {
		return down.Search(ctx, index, req)
	}
	return b.Backend.Search(ctx, index, req)
}

// settingsBox is settings a test changes between queries.
type settingsBox struct {
	mu sync.Mutex
	st search.Settings
}

func (s *settingsBox) SearchSettings(string, string) search.Settings {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

func (s *settingsBox) set(st search.Settings) {
	s.mu.Lock()
	s.st = st
	s.mu.Unlock()
}

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type cacheEnv struct {
	t        *testing.T
	engine   *countingBackend
	search   *Search
	settings *settingsBox
	clock    *fakeClock
	reg      *prometheus.Registry
	acme     context.Context // a tenant whose default storefront has three products
	globex   context.Context // another tenant, nothing indexed
}

// newCacheEnv indexes three products for tenant acme on the test Elasticsearch and
// serves them through a Search whose cache keeps answers for ttl.
func newCacheEnv(t *testing.T, ttl time.Duration) *cacheEnv {
	t.Helper()
	es := testenv.NewElasticsearchIndex(t)
	real, err := elasticsearch.New(es.URL)
	if err != nil {
		t.Fatal(err)
	}
	acme := &apiserver.Tenant{ID: "00000000-0000-0000-0000-00000000000a", Slug: "acme", IndexPrefix: es.Index + "-acme"}
	globex := &apiserver.Tenant{ID: "00000000-0000-0000-0000-00000000000b", Slug: "globex", IndexPrefix: es.Index + "-globex"}
	ctx := context.Background()
	index := search.IndexName(acme.IndexPrefix, DefaultStorefront)
	if err := real.EnsureIndex(ctx, index); err != nil {
		t.Fatal(err)
	}
	var writes []search.Write
	for i, name := range []string{"Navy Merino Sweater", "Grey Merino Cardigan", "Cotton Tee"} {
		id := string(rune('a'+i)) + "0000000-0000-0000-0000-000000000001"
		d := search.Document{TenantID: acme.ID, ProductID: id}
		d.ApplyProduct(events.Product{ID: id, Version: 1, Name: name, Status: "published",
			Variants: []events.Variant{{SKU: "SKU-" + id[:1], Prices: []events.Price{{Currency: "USD", Amount: 1000}}}}})
		writes = append(writes, search.Write{Doc: d})
	}
	res, err := real.Write(ctx, index, writes)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Status != search.Written {
			t.Fatalf("write: %+v", r)
		}
	}
	if err := real.Refresh(ctx, index); err != nil {
		t.Fatal(err)
	}
	e := &cacheEnv{t: t, engine: &countingBackend{Backend: real}, settings: &settingsBox{},
		clock: &fakeClock{now: time.Unix(1_700_000_000, 0)}, reg: prometheus.NewRegistry(),
		acme:   apiserver.NewContextWithTenant(ctx, acme),
		globex: apiserver.NewContextWithTenant(ctx, globex)}
	e.search = &Search{Searcher: search.NewSearcher(e.engine), Storefronts: &Storefronts{}, Settings: e.settings,
		Cache: NewResultCache(ttl, 0, e.reg)}
	if e.search.Cache != nil {
		e.search.Cache.now = e.clock.Now
	}
	return e
}

// find searches as ctx's tenant and returns the names found.
func (e *cacheEnv) find(ctx context.Context, query string) []string {
	e.t.Helper()
	params, err := url.ParseQuery(query)
	if err != nil {
		e.t.Fatal(err)
	}
	res, err := e.search.Search(ctx, "shop.test", params)
	if err != nil {
		e.t.Fatalf("search %s: %v", query, err)
	}
	var names []string
	for _, h := range res.Hits {
		names = append(names, h.Name)
	}
	return names
}

func (e *cacheEnv) suggest(ctx context.Context, query string) []search.Suggestion {
	e.t.Helper()
	params, err := url.ParseQuery(query)
	if err != nil {
		e.t.Fatal(err)
	}
	res, err := e.search.Suggest(ctx, "shop.test", params)
	if err != nil {
		e.t.Fatalf("suggest %s: %v", query, err)
	}
	return res
}

func (e *cacheEnv) wantCalls(n int64, after string) {
	e.t.Helper()
	if got := e.engine.calls.Load(); got != n {
		e.t.Fatalf("after %s: %d engine calls, want %d", after, got, n)
	}
}

func (e *cacheEnv) counted(kind, result string) float64 {
	return testutil.ToFloat64(e.search.Cache.lookups.WithLabelValues(kind, result))
}

func TestSearchCacheRepeatsWithinTTL(t *testing.T) {
	e := newCacheEnv(t, time.Second)
	first := e.find(e.acme, "q=merino&limit=5")
	if len(first) != 2 {
		t.Fatalf("merino: %v, want the sweater and the cardigan", first)
	}
	e.wantCalls(1, "the first search")
	e.clock.add(999 * time.Millisecond)
	if again := e.find(e.acme, "limit=5&q=merino"); len(again) != 2 {
		t.Fatalf("repeated search: %v", again)
	}
	e.wantCalls(1, "the same search (parameters in another order) within the TTL")
	e.suggest(e.acme, "q=mer")
	e.suggest(e.acme, "q=mer")
	e.wantCalls(2, "a suggestion asked twice")
	if got := e.counted(kindSearch, cacheHit); got != 1 {
		t.Errorf("search hits counted %v, want 1", got)
	}
	if got := e.counted(kindSuggest, cacheMiss); got != 1 {
		t.Errorf("suggest misses counted %v, want 1", got)
	}

	e.clock.add(time.Millisecond) // the first search's entry is now 1 s old
	e.find(e.acme, "q=merino&limit=5")
	e.wantCalls(3, "the same search once the TTL has passed")
}

func TestSearchCacheKeys(t *testing.T) {
	e := newCacheEnv(t, time.Minute)
	e.find(e.acme, "q=merino")
	e.wantCalls(1, "the first search")
	calls := int64(1)
	steps := []struct {
		name string
		do   func()
	}{
		{"another tenant", func() { e.find(e.globex, "q=merino") }},
		{"other parameters", func() { e.find(e.acme, "q=merino&limit=1") }},
		{"another text", func() { e.find(e.acme, "q=sweater") }},
		{"a suggestion of the same text", func() { e.suggest(e.acme, "q=merino") }},
		{"new synonyms", func() {
			e.settings.set(search.Settings{Synonyms: [][]string{{"merino", "wool"}}})
			e.find(e.acme, "q=merino")
		}},
		{"new boosts", func() {
			e.settings.set(search.Settings{Synonyms: [][]string{{"merino", "wool"}}, FieldBoosts: map[string]float64{"name": 2}})
			e.find(e.acme, "q=merino")
		}},
		{"another currency", func() {
			e.settings.set(search.Settings{Currency: "EUR", Synonyms: [][]string{{"merino", "wool"}}, FieldBoosts: map[string]float64{"name": 2}})
			e.find(e.acme, "q=merino")
		}},
	}
	for _, s := range steps {
		s.do()
		calls++
		e.wantCalls(calls, s.name)
	}
	// Another index of the same tenant: the storefront a host is mapped to.
	sf := search.Storefront{TenantID: "t", Index: "a"}
	other := sf
	other.Index = "b"
	if cacheKey(kindSearch, sf, url.Values{"q": {"x"}}) == cacheKey(kindSearch, other, url.Values{"q": {"x"}}) {
		t.Error("two indexes share a key")
	}
	// Back to settings seen before: their entry is still there.
	e.settings.set(search.Settings{Synonyms: [][]string{{"merino", "wool"}}})
	e.find(e.acme, "q=merino")
	e.wantCalls(calls, "settings seen before")
}

func TestSearchCacheCollapsesConcurrentMisses(t *testing.T) {
	e := newCacheEnv(t, time.Second)
	gate := make(chan struct{})
	e.engine.mu.Lock()
	e.engine.gate = gate
	e.engine.mu.Unlock()
	var joined sync.WaitGroup
	joined.Add(50)
	e.search.Cache.waiting = func() { joined.Done() }

	var wg sync.WaitGroup
	results := make([][]string, 50)
	for i := range 50 {
		wg.Go(func() { results[i] = e.find(e.acme, "q=merino") })
	}
	joined.Wait() // all 50 wait for the one call held at the gate
	close(gate)
	wg.Wait()
	e.wantCalls(1, "50 concurrent identical searches")
	for i, r := range results {
		if len(r) != 2 {
			t.Fatalf("caller %d got %v", i, r)
		}
	}
	if miss, shared := e.counted(kindSearch, cacheMiss), e.counted(kindSearch, cacheShared); miss != 1 || shared != 49 {
		t.Errorf("counted %v misses and %v shared, want 1 and 49", miss, shared)
	}
}

// TestSearchCacheWaiterLeaves: the request that started a shared call goes away;
// it gets its own ctx error while the call goes on for the one still waiting.
func TestSearchCacheWaiterLeaves(t *testing.T) {
	e := newCacheEnv(t, time.Second)
	gate := make(chan struct{})
	e.engine.mu.Lock()
	e.engine.gate = gate
	e.engine.mu.Unlock()
	joined := make(chan struct{}, 2)
	e.search.Cache.waiting = func() { joined <- struct{}{} }
	params := url.Values{"q": {"merino"}}

	leaving, leave := context.WithCancel(e.acme)
	firstErr := make(chan error, 1)
	go func() {
		_, err := e.search.Search(leaving, "shop.test", params)
		firstErr <- err
	}()
	<-joined
	second := make(chan []string, 1)
	go func() { second <- e.find(e.acme, "q=merino") }()
	<-joined
	leave()
	if err := <-firstErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("the caller that left got %v, want context.Canceled", err)
	}
	close(gate)
	if got := <-second; len(got) != 2 {
		t.Fatalf("the caller still waiting got %v", got)
	}
	e.wantCalls(1, "two callers of one search")
}

func TestSearchCacheKeepsNoErrors(t *testing.T) {
	e := newCacheEnv(t, time.Minute)
	down, err := elasticsearch.New("http://127.0.0.1:9") // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	e.engine.mu.Lock()
	e.engine.down = down
	e.engine.mu.Unlock()
	params := url.Values{"q": {"merino"}}
	if _, err := e.search.Search(e.acme, "shop.test", params); apiserver.ErrorCode(err) != apiserver.ErrUnavailable {
		t.Fatalf("engine down: %v, want unavailable", err)
	}
	e.engine.mu.Lock()
	e.engine.down = nil
	e.engine.mu.Unlock()
	if got := e.find(e.acme, "q=merino"); len(got) != 2 {
		t.Fatalf("engine back: %v", got)
	}
	e.wantCalls(2, "a failed search and its retry")
	if n := e.search.Cache.len(); n != 1 {
		t.Errorf("%d entries, want only the answer", n)
	}
}

func TestSearchCacheOff(t *testing.T) {
	e := newCacheEnv(t, 0)
	if e.search.Cache != nil {
		t.Fatal("a TTL of 0 made a cache")
	}
	e.find(e.acme, "q=merino")
	e.find(e.acme, "q=merino")
	e.suggest(e.acme, "q=mer")
	e.suggest(e.acme, "q=mer")
	e.wantCalls(4, "two searches and two suggestions without a cache")
}

// TestSearchCacheBound fills a cache of 3 entries: expired entries go first, then
// the oldest.
func TestSearchCacheBound(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	c := NewResultCache(time.Second, 3, nil)
	c.now = clock.Now
	fills := 0
	get := func(q string) {
		t.Helper()
		_, err := c.get(context.Background(), kindSearch, search.Storefront{TenantID: "t", Index: "i"}, url.Values{"q": {q}},
			func(context.Context) (any, error) { fills++; return q, nil })
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{"a", "b", "c"} {
		get(q)
		clock.add(100 * time.Millisecond)
	}
	get("d") // full: "a", the oldest, goes
	if c.len() != 3 {
		t.Fatalf("%d entries, want 3", c.len())
	}
	get("b")
	get("a")
	if fills != 5 {
		t.Fatalf("%d fills, want 5 (b kept, a evicted)", fills)
	}
	clock.add(time.Second) // everything expired
	get("e")
	if c.len() != 1 {
		t.Fatalf("%d entries after expiry, want 1", c.len())
	}
}

// TestSearchCachePanic: a panic below the cache (which runs the engine call in a
// goroutine of singleflight's, out of reach of the HTTP layer's recovery) is the
// request's error, not the end of the process, and is not kept.
func TestSearchCachePanic(t *testing.T) {
	e := newCacheEnv(t, time.Minute)
	e.engine.mu.Lock()
	e.engine.panic = true
	e.engine.mu.Unlock()
	_, err := e.search.Search(e.acme, "shop.test", url.Values{"q": {"merino"}})
	if err == nil || apiserver.ErrorCode(err) != apiserver.ErrInternal || !strings.Contains(err.Error(), "engine bug") {
		t.Fatalf("a panicking engine call: %v, want an internal error naming the panic", err)
	}
	e.engine.mu.Lock()
	e.engine.panic = false
	e.engine.mu.Unlock()
	if got := e.find(e.acme, "q=merino"); len(got) != 2 {
		t.Fatalf("after the panic: %v", got)
	}
}
