package stack_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/stack"
)

// TestWebhookRateLimit floods the webhook from one address: past the burst the
// deliveries are 429 with Retry-After, while another tenant's deliveries from the
// same address, unaddressed ones, and a genuine event after the wait go through.
// The assertions hold however slowly the requests run: the flood stops at its
// first 429, whenever that comes.
func TestWebhookRateLimit(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := startPayAPI(t, nil, func(o *stack.Options) {
		o.Registry = reg
		o.WebhookLimit = apiserver.RateLimit{Rate: 1, Burst: 3}
	})
	s := e.till("flood")
	e.till("calm")
	s.product("FL-1", 1000, 0, 5)
	orderID, token := s.order("FL-1")
	pi := s.paid(orderID, token)
	succeeded := event(apiserver.EventIntentSucceeded, time.Now(), intent(pi, "succeeded", 1000, 1000, s.meta(orderID), nil))
	forged := sigHeader("whsec_forged", time.Now(), succeeded)

	before := e.snapshot()
	var limited *resp
	refused := 0
	for range 30 {
		r := e.hook(succeeded, forged, "X-Kommerce-Tenant", "flood")
		if r.status == 429 {
			limited = r.want(429, apiserver.ErrRateLimited)
			break
		}
		r.want(400, apiserver.ErrInvalidSignature)
		refused++
	}
	if limited == nil || refused < 3 {
		t.Fatalf("%d forged deliveries answered before a 429 (limited: %v), want the burst of 3 and then a 429", refused, limited != nil)
	}
	retry, err := strconv.Atoi(limited.header.Get("Retry-After"))
	if err != nil || retry < 1 {
		t.Fatalf("Retry-After %q", limited.header.Get("Retry-After"))
	}
	e.unchanged("forged and rate-limited deliveries", before)

	// Another tenant, and unaddressed deliveries, have budgets of their own.
	e.hook(succeeded, forged, "X-Kommerce-Tenant", "calm").want(400, apiserver.ErrInvalidSignature)
	s.deliver(event("customer.created", time.Now(), map[string]any{"id": "cus_1", "object": "customer", "metadata": s.meta(orderID)})).want(200, "")

	// After the wait Stripe's retry of the genuine event is applied.
	time.Sleep(time.Duration(retry)*time.Second + 100*time.Millisecond)
	e.hook(succeeded, sigHeader(s.secret, time.Now(), succeeded), "X-Kommerce-Tenant", "flood").want(200, "")
	if o := s.orderAs(orderID, s.admin); o.Status != apiserver.OrderPaid {
		t.Fatalf("order after the flood: %s", o.Status)
	}
	got := series(t, reg)
	wantSeries(t, got, map[string]float64{
		"kommerce_api_stripe_webhooks_total{result=rate_limited}":      1,
		"kommerce_api_stripe_webhooks_total{result=invalid_signature}": float64(refused + 1),
		"kommerce_api_stripe_webhooks_total{result=applied}":           1,
		"kommerce_api_stripe_webhooks_total{result=ignored}":           1,
	})
}
