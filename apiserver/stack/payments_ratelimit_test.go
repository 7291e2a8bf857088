package stack_test

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/stack"
)

// TestWebhookRateLimit floods the webhook from one address with deliveries that name
// no shop (each would cost database lookups): past the burst they are 429 with
// Retry-After, while deliveries addressed to a shop from the same address are never
// limited, and Stripe's retry after the wait is applied. The limiter reads the test's
// clock, which moves only when the test moves it: however slowly the requests run,
// the burst is exactly 3, and the wait is what lets the retry through.
func TestWebhookRateLimit(t *testing.T) {
	reg := prometheus.NewRegistry()
	clock := &testClock{at: time.Now()}
	e := startPayAPI(t, nil, func(o *stack.Options) {
		o.Registry = reg
		o.WebhookLimit = apiserver.RateLimit{Rate: 1, Burst: 3}
		o.Now = clock.now
	})
	s := e.till("flood")
	s.product("FL-1", 1000, 0, 5)
	orderID, token := s.order("FL-1")
	pi := s.paid(orderID, token)
	succeeded := event(apiserver.EventIntentSucceeded, time.Now(), intent(pi, "succeeded", 1000, 1000, s.meta(orderID), nil))
	forged := sigHeader("whsec_forged", time.Now(), succeeded)

	before := e.snapshot()
	var limited *resp
	refused := 0
	for range 30 {
		r := e.hook(succeeded, forged) // no tenant header: found from the event
		if r.status == 429 {
			limited = r.want(429, apiserver.ErrRateLimited)
			break
		}
		r.want(400, apiserver.ErrInvalidSignature)
		refused++
	}
	if limited == nil || refused != 3 {
		t.Fatalf("%d forged deliveries answered before a 429 (limited: %v), want the burst of 3 and then a 429", refused, limited != nil)
	}
	retry, err := strconv.Atoi(limited.header.Get("Retry-After"))
	if err != nil || retry < 1 {
		t.Fatalf("Retry-After %q", limited.header.Get("Retry-After"))
	}
	// Addressed to the shop, from the same address, right after: never limited, forged
	// or genuine.
	for range 5 {
		e.hook(succeeded, forged, "X-Kommerce-Tenant", "flood").want(400, apiserver.ErrInvalidSignature)
	}
	e.unchanged("forged and rate-limited deliveries", before)
	e.hook(succeeded, sigHeader(s.secret, time.Now(), succeeded), "X-Kommerce-Tenant", "flood").want(200, "")
	if o := s.orderAs(orderID, s.admin); o.Status != apiserver.OrderPaid {
		t.Fatalf("order after an addressed delivery during the flood: %s", o.Status)
	}

	// Until the wait is over an unaddressed delivery is still refused; after it, it
	// goes through again.
	clock.advance(time.Duration(retry)*time.Second - time.Millisecond)
	s.deliver(succeeded).want(429, apiserver.ErrRateLimited)
	clock.advance(time.Millisecond)
	if r := s.deliver(succeeded).want(200, ""); r.json["duplicate"] != true {
		t.Fatalf("Stripe's retry after the wait: %s", r.raw)
	}
	wantSeries(t, series(t, reg), map[string]float64{
		"kommerce_api_stripe_webhooks_total{result=rate_limited}":      2,
		"kommerce_api_stripe_webhooks_total{result=invalid_signature}": float64(refused + 5),
		"kommerce_api_stripe_webhooks_total{result=applied}":           1,
		"kommerce_api_stripe_webhooks_total{result=duplicate}":         1,
	})
}

// testClock is a test's own time for the API's in-process rate limits.
type testClock struct {
	mu sync.Mutex
	at time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = c.at.Add(d)
}
