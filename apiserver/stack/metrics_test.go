package stack_test

import (
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/stack"
	"github.com/kommerce/kommerce/inference/recs"
)

// series reads every counter of reg as "name{label=value,...}" → value, so a test can
// compare what a run of requests recorded with what it should have.
func series(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(labels)
			out[mf.GetName()+"{"+strings.Join(labels, ",")+"}"] = m.GetCounter().GetValue()
		}
	}
	return out
}

// wantSeries fails unless every named series has exactly the given value.
func wantSeries(t *testing.T, got map[string]float64, want map[string]float64) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if t.Failed() {
		t.Logf("all series: %v", got)
	}
}

// TestAPIMetrics drives each outcome the API's own metrics count through the real
// API (PostgreSQL, Redis, stripe-mock) and reads the registry afterwards.
func TestAPIMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := startPayAPI(t, nil, func(o *stack.Options) { o.Registry = reg })
	s := e.till("metrics")
	id := s.product("MET-1", 1000, 0, 1)

	// Product cache: the create refreshed the entry, so both reads hit; a list is a miss
	// and then a hit until the next write invalidates it.
	e.do("GET", "/api/v1/products/"+id, "metrics", "", nil).want(200, "")
	e.do("GET", "/api/v1/products/"+id, "metrics", "", nil).want(200, "")
	e.do("GET", "/api/v1/products?limit=5", "metrics", "", nil).want(200, "")
	e.do("GET", "/api/v1/products?limit=5", "metrics", "", nil).want(200, "")
	e.do("PATCH", "/api/v1/products/"+id, "metrics", s.admin, map[string]any{"name": "Renamed"}).want(200, "")
	e.do("GET", "/api/v1/products?limit=5", "metrics", "", nil).want(200, "")

	// Checkouts: one created and its retry replayed; a second buyer of the last unit
	// refused for stock, twice (the retry replays the refusal).
	first, token := s.guestCart()
	s.add(first, token, "", "MET-1", 1).want(201, "")
	cart, ctoken := s.guestCart()
	s.add(cart, ctoken, "", "MET-1", 1).want(201, "")
	orderID := s.checkout(first, token, "", "first-buyer", map[string]any{"email": "a@example.test"}).want(201, "").str("id")
	s.checkout(first, token, "", "first-buyer", map[string]any{"email": "a@example.test"}).want(201, "")
	s.checkout(cart, ctoken, "", "other-buyer", map[string]any{"email": "b@example.test"}).want(409, apiserver.ErrInsufficientStock)
	s.checkout(cart, ctoken, "", "other-buyer", map[string]any{"email": "b@example.test"}).want(409, apiserver.ErrInsufficientStock)
	// A body the OpenAPI validator refuses never reaches the checkout: the HTTP metrics
	// count it (a 400 on the route), the checkout metric does not.
	s.checkout(cart, ctoken, "", "third", map[string]any{"email": 7}).want(400, apiserver.ErrInvalid)

	// Webhooks: applied, duplicate, ignored (an unhandled type), a forged signature.
	pi := s.paid(orderID, token)
	succeeded := event(apiserver.EventIntentSucceeded, time.Now(), intent(pi, "succeeded", 1000, 1000, s.meta(orderID), nil))
	s.deliver(succeeded).want(200, "")
	s.deliver(succeeded).want(200, "")
	s.deliver(event("customer.created", time.Now(), map[string]any{"id": "cus_1", "object": "customer", "metadata": s.meta(orderID)})).want(200, "")
	e.hook(succeeded, sigHeader("whsec_forged", time.Now(), succeeded), "X-Kommerce-Tenant", "metrics").want(400, apiserver.ErrInvalidSignature)

	// Recommendations: the default arm is popularity.
	e.recommend("metrics")

	got := series(t, reg)
	wantSeries(t, got, map[string]float64{
		"kommerce_api_cache_lookups_total{kind=product,result=hit}":                                              2,
		"kommerce_api_cache_lookups_total{kind=product_list,result=miss}":                                        2,
		"kommerce_api_cache_lookups_total{kind=product_list,result=hit}":                                         1,
		"kommerce_api_checkouts_total{result=created}":                                                           1,
		"kommerce_api_checkouts_total{result=replayed}":                                                          1,
		"kommerce_api_checkouts_total{result=insufficient_stock}":                                                2,
		"kommerce_api_checkouts_total{result=invalid}":                                                           0,
		"kommerce_api_stripe_webhooks_total{result=applied}":                                                     1,
		"kommerce_api_stripe_webhooks_total{result=duplicate}":                                                   1,
		"kommerce_api_stripe_webhooks_total{result=ignored}":                                                     1,
		"kommerce_api_stripe_webhooks_total{result=invalid_signature}":                                           1,
		"kommerce_api_recommendations_total{reason=" + recs.ReasonArm + ",source=" + recs.SourcePopularity + "}": 1,
	})
	if got["kommerce_api_rate_limit_checks_total{result=allowed}"] < 10 {
		t.Errorf("allowed rate limit checks: %v", got["kommerce_api_rate_limit_checks_total{result=allowed}"])
	}
	for k, v := range got {
		if strings.Contains(k, "failed_open") || strings.Contains(k, "result=error") || strings.HasPrefix(k, "kommerce_api_cache_write_failures_total") {
			t.Errorf("%s = %v with Redis up", k, v)
		}
	}
}

// TestAPIMetricsLimited counts 429s: requests go until the first 429 (whenever a slow
// machine lets it come), and every request is counted as allowed or limited.
func TestAPIMetricsLimited(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := startAPI(t, func(o *stack.Options) {
		o.Registry = reg
		o.UserLimit = apiserver.RateLimit{Rate: 1, Burst: 3}
	})
	e.tenant("tight")
	allowed := 0
	for range 30 {
		r := e.do("GET", "/api/v1/products", "tight", "", nil)
		if r.status == 429 {
			r.want(429, apiserver.ErrRateLimited)
			break
		}
		r.want(200, "")
		allowed++
	}
	if allowed < 3 || allowed == 30 {
		t.Fatalf("%d requests allowed before a 429, want the burst of 3 and then a 429", allowed)
	}
	wantSeries(t, series(t, reg), map[string]float64{
		"kommerce_api_rate_limit_checks_total{result=allowed}": float64(allowed),
		"kommerce_api_rate_limit_checks_total{result=limited}": 1,
	})
}

// TestAPIMetricsRedisDown points the API at a Redis that is not there: requests are let
// through and served from PostgreSQL, and the metrics say so.
func TestAPIMetricsRedisDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens here now
	dead := goredis.NewClient(&goredis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond, DialerRetries: 1, MaxRetries: -1})
	t.Cleanup(func() { dead.Close() })

	reg := prometheus.NewRegistry()
	e := startAPI(t, nil)
	admin := e.user(e.tenant("down"), "admin@down.test", apiserver.RoleAdmin)
	down := &apiEnv{t: t, db: e.db, redis: e.redis}
	down.start(func(o *stack.Options) {
		o.Registry = reg
		o.Redis = dead
	})
	id := down.do("POST", "/api/v1/products", "down", admin, product("Offline", "OFF-1", apiserver.StatusPublished, nil)).want(201, "").str("id")
	down.do("GET", "/api/v1/products/"+id, "down", "", nil).want(200, "")
	down.do("GET", "/api/v1/products", "down", "", nil).want(200, "")

	got := series(t, reg)
	if n := got["kommerce_api_rate_limit_checks_total{result=failed_open}"]; n < 3 {
		t.Errorf("failed_open = %v, want at least the 3 requests", n)
	}
	if got["kommerce_api_rate_limit_checks_total{result=allowed}"] != 0 {
		t.Errorf("allowed counted with the limiter down: %v", got)
	}
	wantSeries(t, got, map[string]float64{
		"kommerce_api_cache_write_failures_total{operation=invalidate}":    1,
		"kommerce_api_cache_lookups_total{kind=product,result=error}":      1,
		"kommerce_api_cache_lookups_total{kind=product_list,result=error}": 1,
	})
	if got["kommerce_api_cache_write_failures_total{operation=store}"] < 1 {
		t.Errorf("store failures: %v", got)
	}
}
