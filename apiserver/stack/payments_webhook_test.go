package stack_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/stack"
)

// TestWebhookBadInput: every delivery Stripe's guidance says to refuse (bad or stale
// signatures: 400, Stripe retries) or to acknowledge and ignore (unknown types,
// events about other shops' payments: 200) changes nothing, with the exact status
// and code.
func TestWebhookBadInput(t *testing.T) {
	e := startPayAPI(t, nil, func(o *stack.Options) { o.MaxBodyBytes = 64 << 10 })
	a := e.till("hook-a")
	b := e.till("hook-b")
	a.product("HA-1", 1000, 0, 5)
	b.product("HB-1", 1000, 0, 5)
	aOrder, aToken := a.order("HA-1")
	aIntent := a.paid(aOrder, aToken)
	bOrder, bToken := b.order("HB-1")
	bIntent := b.paid(bOrder, bToken)
	unconfigured := e.store("hook-none") // a shop without Stripe keys

	ok := event(apiserver.EventIntentSucceeded, time.Now(), intent(aIntent, "succeeded", 1000, 1000, a.meta(aOrder), nil))
	now := time.Now()
	forBOrder := event(apiserver.EventIntentSucceeded, now, intent(bIntent, "succeeded", 1000, 1000, b.meta(bOrder), nil))
	// Metadata naming tenant A around tenant B's intent and order.
	bInA := event(apiserver.EventIntentSucceeded, now, intent(bIntent, "succeeded", 1000, 1000, a.meta(bOrder), nil))
	noTenant := event(apiserver.EventIntentSucceeded, now, intent("pi_unknown123", "succeeded", 1000, 1000, nil, nil))
	unknownType := event("customer.subscription.created", now, map[string]any{"id": "sub_1", "object": "subscription", "metadata": a.meta(aOrder)})
	notJSON := []byte(`{"id": "evt_1", "type": `)
	big := event(apiserver.EventIntentSucceeded, now, intent(aIntent, "succeeded", 1000, 1000, a.meta(aOrder), map[string]any{"description": strings.Repeat("x", 70<<10)}))
	hdr := func(p []byte) string { return sigHeader(a.secret, time.Now(), p) }
	tenantA := []string{"X-Kommerce-Tenant", a.slug}

	tests := []struct {
		name    string
		payload []byte
		sig     string
		extra   []string
		status  int
		code    string
		ignored string
	}{
		{"signed with another shop's secret", ok, sigHeader(b.secret, now, ok), nil, 400, apiserver.ErrInvalidSignature, ""},
		{"signed with a made-up secret", ok, sigHeader("whsec_forged", now, ok), nil, 400, apiserver.ErrInvalidSignature, ""},
		{"no signature", ok, "", nil, 400, apiserver.ErrInvalidSignature, ""},
		{"a header that is no signature", ok, "garbage", nil, 400, apiserver.ErrInvalidSignature, ""},
		{"a signature without its timestamp", ok, "v1=" + stripeSignature(a.secret, now, ok), nil, 400, apiserver.ErrInvalidSignature, ""},
		{"the body changed after signing", []byte(strings.Replace(string(ok), `"amount":1000`, `"amount":1`, 1)), hdr(ok), nil, 400, apiserver.ErrInvalidSignature, ""},
		{"signed 301 s ago", ok, sigHeader(a.secret, time.Now().Add(-301*time.Second), ok), nil, 400, apiserver.ErrStaleSignature, ""},
		{"signed an hour ago with a fresh t", ok, fmt.Sprintf("t=%d,v1=%s", time.Now().Unix(), stripeSignature(a.secret, time.Now().Add(-time.Hour), ok)), nil, 400, apiserver.ErrInvalidSignature, ""},
		{"not JSON", notJSON, hdr(notJSON), nil, 400, apiserver.ErrMalformedJSON, ""},
		{"not JSON, to the shop", notJSON, hdr(notJSON), tenantA, 400, apiserver.ErrMalformedJSON, ""},
		{"no tenant anywhere", noTenant, hdr(noTenant), nil, 400, apiserver.ErrInvalidSignature, ""},
		{"to a shop without keys", ok, hdr(ok), []string{"X-Kommerce-Tenant", unconfigured.slug}, 503, apiserver.ErrPaymentsNotConfigured, ""},
		{"to an unknown shop", ok, hdr(ok), []string{"X-Kommerce-Tenant", "nobody"}, 404, apiserver.ErrUnknownTenant, ""},
		{"text/plain", ok, hdr(ok), []string{"Content-Type", "text/plain"}, 415, apiserver.ErrUnsupportedMediaType, ""},
		{"above the body limit", big, hdr(big), nil, 413, apiserver.ErrPayloadTooLarge, ""},
		{"an unknown event type", unknownType, hdr(unknownType), nil, 200, "", "not handled"},
		// Another tenant's order: addressed to shop A and signed by A, about B's payment.
		{"another shop's payment, sent to this shop", forBOrder, hdr(forBOrder), tenantA, 200, "", "another shop"},
		// Metadata names B: only B's secret may verify it, and A signed it.
		{"another shop's payment, signed by this shop", forBOrder, hdr(forBOrder), nil, 400, apiserver.ErrInvalidSignature, ""},
		// Metadata claims A, but the intent and order are B's: A has no such payment.
		{"another shop's intent under this shop's name", bInA, hdr(bInA), nil, 200, "", "no payment of this shop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.snapshot()
			r := e.hook(tt.payload, tt.sig, tt.extra...).want(tt.status, tt.code)
			if tt.ignored != "" && !strings.Contains(r.str("ignored"), tt.ignored) {
				t.Fatalf("want ignored %q: %s", tt.ignored, r.raw)
			}
			if tt.status >= 400 && strings.Contains(string(r.raw), "whsec_") {
				t.Fatalf("an error shows a secret: %s", r.raw)
			}
			e.unchanged(tt.name, before)
		})
	}
	if st := a.orderAs(aOrder, a.admin).Status; st != apiserver.OrderPendingPayment {
		t.Fatalf("shop A's order is %s after only bad deliveries", st)
	}
	if st := b.orderAs(bOrder, b.admin).Status; st != apiserver.OrderPendingPayment {
		t.Fatalf("shop B's order is %s after only bad deliveries", st)
	}

	// The good delivery, with a rolled secret's second v1 signature and an unknown
	// scheme beside the valid one, addressed by nothing but its metadata.
	e.hook(ok, fmt.Sprintf("t=%d,v1=%s,v0=abc,v1=%s", now.Unix(), stripeSignature("whsec_old", now, ok), stripeSignature(a.secret, now, ok))).want(200, "")
	if st := a.orderAs(aOrder, a.admin).Status; st != apiserver.OrderPaid {
		t.Fatalf("after a valid delivery the order is %s", st)
	}
	// A replay of the same delivery within the tolerance: the same event, nothing new.
	before := e.snapshot()
	e.hook(ok, hdr(ok)).want(200, "")
	e.unchanged("a replayed event", before)
}

// TestWebhookAddressedByHost: a delivery to a storefront's Host is that shop's, and
// only its secret verifies it, whatever tenant the event's metadata names.
func TestWebhookAddressedByHost(t *testing.T) {
	e := startPayAPI(t, nil, nil)
	a := e.till("hosted-a")
	b := e.till("hosted-b")
	if err := e.st.Tenants.AddStorefrontHost(context.Background(), apiserver.StorefrontHost{TenantID: a.t.ID, Hostname: "pay.hosted-a.test"}); err != nil {
		t.Fatal(err)
	}
	a.product("HH-A", 1000, 0, 3)
	b.product("HH-B", 1000, 0, 3)
	aOrder, aToken := a.order("HH-A")
	aIntent := a.paid(aOrder, aToken)
	bOrder, bToken := b.order("HH-B")
	bIntent := b.paid(bOrder, bToken)
	host := []string{"Host", "pay.hosted-a.test:443"}

	// No tenant in the metadata: the Host names it.
	ok := event(apiserver.EventIntentSucceeded, time.Now(), intent(aIntent, "succeeded", 1000, 1000, map[string]string{apiserver.MetaOrderID: aOrder}, nil))
	// B's metadata, sent to A's Host: A's secret, not B's, must verify it.
	forB := event(apiserver.EventIntentSucceeded, time.Now(), intent(bIntent, "succeeded", 1000, 1000, b.meta(bOrder), nil))
	before := e.snapshot()
	e.hook(ok, sigHeader(b.secret, time.Now(), ok), host...).want(400, apiserver.ErrInvalidSignature)
	e.hook(forB, sigHeader(b.secret, time.Now(), forB), host...).want(400, apiserver.ErrInvalidSignature)
	if r := e.hook(forB, sigHeader(a.secret, time.Now(), forB), host...).want(200, ""); !strings.Contains(r.str("ignored"), "another shop") {
		t.Fatalf("B's event sent to A's host: %s", r.raw)
	}
	e.unchanged("deliveries to a host that are not its shop's", before)

	e.hook(ok, sigHeader(a.secret, time.Now(), ok), host...).want(200, "")
	if st := a.orderAs(aOrder, a.admin).Status; st != apiserver.OrderPaid {
		t.Fatalf("after a delivery to its host the order is %s", st)
	}
	if st := b.orderAs(bOrder, b.admin).Status; st != apiserver.OrderPendingPayment {
		t.Fatalf("shop B's order is %s after deliveries to A's host", st)
	}
}

// TestWebhookOutOfOrder: Stripe does not promise order. A refund before the success
// it implies, a decline after a success, an older decline after a newer one and an
// older partial refund after a newer one all end where in-order delivery would.
func TestWebhookOutOfOrder(t *testing.T) {
	e := startPayAPI(t, nil, nil)
	s := e.till("ooo")
	s.product("OOO-1", 1000, 0, 10)
	t0 := time.Now().Add(-time.Minute)

	t.Run("refunded before succeeded", func(t *testing.T) {
		id, token := s.order("OOO-1")
		pi := s.paid(id, token)
		s.deliver(event(apiserver.EventChargeRefunded, t0.Add(2*time.Second), charge(pi, 1000, 1000, s.meta(id)))).want(200, "")
		o := s.orderAs(id, s.admin)
		if o.Status != apiserver.OrderRefunded || len(o.History) != 3 || o.History[1].To != apiserver.OrderPaid || o.History[1].Actor != "payment:stripe" {
			t.Fatalf("refund first: %s %+v", o.Status, o.History)
		}
		before := e.snapshot()
		r := s.deliver(event(apiserver.EventIntentSucceeded, t0.Add(time.Second), intent(pi, "succeeded", 1000, 1000, s.meta(id), nil))).want(200, "")
		if r.str("ignored") == "" {
			t.Fatalf("a success after its refund: %s", r.raw)
		}
		e.unchanged("succeeded after refunded", before)
		if st := s.stock("OOO-1"); st.Reserved != 0 {
			t.Fatalf("stock of a refunded order still reserved: %+v", st)
		}
	})

	t.Run("declined after succeeded", func(t *testing.T) {
		id, token := s.order("OOO-1")
		pi := s.paid(id, token)
		s.deliver(event(apiserver.EventIntentSucceeded, t0.Add(2*time.Second), intent(pi, "succeeded", 1000, 1000, s.meta(id), nil))).want(200, "")
		before := e.snapshot()
		failed := intent(pi, "requires_payment_method", 1000, 0, s.meta(id), map[string]any{"last_payment_error": map[string]any{"code": "card_declined", "type": "card_error"}})
		if r := s.deliver(event(apiserver.EventIntentFailed, t0.Add(time.Second), failed)).want(200, ""); r.str("ignored") == "" {
			t.Fatalf("a decline after success: %s", r.raw)
		}
		e.unchanged("declined after succeeded", before)
		if st := s.orderAs(id, s.admin).Status; st != apiserver.OrderPaid {
			t.Fatalf("order %s", st)
		}
	})

	t.Run("older decline after newer", func(t *testing.T) {
		id, token := s.order("OOO-1")
		pi := s.paid(id, token)
		decline := func(at time.Time, code string) []byte {
			return event(apiserver.EventIntentFailed, at, intent(pi, "requires_payment_method", 1000, 0, s.meta(id),
				map[string]any{"last_payment_error": map[string]any{"code": code, "type": "card_error"}}))
		}
		s.deliver(decline(t0.Add(2*time.Second), "expired_card")).want(200, "")
		before := e.snapshot()
		if r := s.deliver(decline(t0.Add(time.Second), "card_declined")).want(200, ""); r.str("ignored") == "" {
			t.Fatalf("an older decline: %s", r.raw)
		}
		e.unchanged("an older decline", before)
		rec := s.payments(id, "", s.admin)
		if p := rec.Intents[0]; p.Failures != 1 || p.LastFailure != "expired_card" || p.Status != "requires_payment_method" {
			t.Fatalf("payment after two declines: %+v", p)
		}
	})

	t.Run("older partial refund after newer", func(t *testing.T) {
		id, token := s.order("OOO-1")
		pi := s.paid(id, token)
		s.deliver(event(apiserver.EventIntentSucceeded, t0, intent(pi, "succeeded", 1000, 1000, s.meta(id), nil))).want(200, "")
		s.deliver(event(apiserver.EventChargeRefunded, t0.Add(2*time.Second), charge(pi, 1000, 800, s.meta(id)))).want(200, "")
		before := e.snapshot()
		s.deliver(event(apiserver.EventChargeRefunded, t0.Add(time.Second), charge(pi, 1000, 300, s.meta(id)))).want(200, "")
		e.unchanged("an older partial refund", before)
		rec := s.payments(id, "", s.admin)
		if rec.Intents[0].AmountRefunded != 800 || s.orderAs(id, s.admin).Status != apiserver.OrderPaid {
			t.Fatalf("after refunds of 800 then 300 (older): %+v", rec.Intents[0])
		}
		// 200 left: a staff refund of 300 is refused, 200 is made. The 800 came from
		// elsewhere (the dashboard), so the API knows the total only when Stripe reports
		// it: the charge.refunded of this refund (1000) completes the order.
		s.refund(id, "rest-1", map[string]any{"amount": 300}).want(422, apiserver.ErrRefundExceedsPayment)
		if r := s.refund(id, "rest-2", nil).want(201, ""); r.json["amount"] != float64(200) {
			t.Fatalf("refund of the rest: %s", r.raw)
		}
		s.deliver(event(apiserver.EventChargeRefunded, time.Now(), charge(pi, 1000, 1000, s.meta(id)))).want(200, "")
		if st := s.orderAs(id, s.admin).Status; st != apiserver.OrderRefunded {
			t.Fatalf("after refunding the rest: %s", st)
		}
		s.refund(id, "rest-3", map[string]any{"amount": 1}).want(422, apiserver.ErrRefundExceedsPayment)
	})
	e.checkStockInvariants(s.t.ID)
}

// TestDeclinedPaymentRetryWindow: a declined payment leaves the order its stock for
// the retry window only; after it the order is cancelled and the stock released. A
// retry that succeeds within the window pays the order. The window is not waited
// out: once its end is checked, the test moves it into the past (expire).
func TestDeclinedPaymentRetryWindow(t *testing.T) {
	const window = time.Minute
	e := startPayAPI(t, nil, func(o *stack.Options) { o.Commerce.Payments.RetryWindow = window })
	s := e.till("retry")
	s.product("RW-1", 1000, 0, 2)
	declined := func(id, pi string) []byte {
		return event(apiserver.EventIntentFailed, time.Now(), intent(pi, "requires_payment_method", 1000, 0, s.meta(id),
			map[string]any{"last_payment_error": map[string]any{"code": "card_declined", "decline_code": "insufficient_funds", "type": "card_error"}}))
	}

	id, token := s.order("RW-1")
	pi := s.paid(id, token)
	before := s.orderAs(id, s.admin).ReservationExpiresAt
	declinedAt := time.Now()
	s.deliver(declined(id, pi)).want(200, "")
	o := s.orderAs(id, s.admin)
	// The window starts when the decline is applied: between the delivery and now.
	if o.Status != apiserver.OrderPendingPayment || o.ReservationExpiresAt == nil || !o.ReservationExpiresAt.Before(*before) ||
		o.ReservationExpiresAt.Before(declinedAt.Add(window-time.Millisecond)) || o.ReservationExpiresAt.After(time.Now().Add(window)) {
		t.Fatalf("after a decline at %v: %s, expiry %v (was %v)", declinedAt, o.Status, o.ReservationExpiresAt, before)
	}
	if p := s.payments(id, token, "").Intents[0]; p.Failures != 1 || p.LastFailure != "card_declined/insufficient_funds" {
		t.Fatalf("payment after a decline: %+v", p)
	}
	e.expire(id)
	if st := s.orderAs(id, s.admin).Status; st != apiserver.OrderCancelled {
		t.Fatalf("after the retry window the order is %s, want it cancelled", st)
	}
	if st := s.stock("RW-1"); st.Reserved != 0 {
		t.Fatalf("stock after the retry window: %+v", st)
	}
	s.pay(id, token, "").want(409, apiserver.ErrOrderNotPayable)

	// A retry inside the window succeeds: paid, and the stock stays taken.
	id2, token2 := s.order("RW-1")
	pi2 := s.paid(id2, token2)
	s.deliver(declined(id2, pi2)).want(200, "")
	s.deliver(event(apiserver.EventIntentSucceeded, time.Now(), intent(pi2, "succeeded", 1000, 1000, s.meta(id2), nil))).want(200, "")
	if o := s.orderAs(id2, s.admin); o.Status != apiserver.OrderPaid || o.ReservationExpiresAt != nil {
		t.Fatalf("a success after a decline: %s", o.Status)
	}
	if p := s.payments(id2, token2, "").Intents[0]; p.Failures != 1 || p.Status != "succeeded" {
		t.Fatalf("payment: %+v", p)
	}
	ups := e.paymentUpdates(s.t.ID)
	if last := ups[len(ups)-1]; last["attempts"] != float64(2) || last["status"] != "succeeded" {
		t.Fatalf("last payment.updated: %v", last)
	}
	e.checkStockInvariants(s.t.ID)
}

// TestPaymentForCancelledOrder: money that arrives for an order cancelled meanwhile
// (here by its customer) is refunded at once; the order stays cancelled.
func TestPaymentForCancelledOrder(t *testing.T) {
	e := startPayAPI(t, nil, nil)
	s := e.till("orphan")
	s.product("ORP-1", 1000, 0, 2)
	cart := s.e.do("POST", "/api/v1/carts", s.slug, s.customer, nil).want(201, "").str("id")
	s.add(cart, "", s.customer, "ORP-1", 1).want(201, "")
	id := s.checkout(cart, "", s.customer, "orphan-1", nil).want(201, "").str("id")
	pi := s.pay(id, "", s.customer).want(201, "").str("intent_id")
	s.move(id, s.customer, apiserver.OrderCancelled).want(200, "")
	s.pay(id, "", s.customer).want(409, apiserver.ErrOrderNotPayable)

	s.deliver(event(apiserver.EventIntentSucceeded, time.Now(), intent(pi, "succeeded", 1000, 1000, s.meta(id), nil))).want(200, "")
	rec := s.payments(id, "", s.customer)
	if len(rec.Refunds) != 1 || rec.Refunds[0].Amount != 1000 || rec.Refunds[0].Status != "succeeded" || rec.Intents[0].AmountRefunded != 1000 {
		t.Fatalf("payment for a cancelled order: %+v", rec)
	}
	staff := s.payments(id, "", s.admin)
	if staff.Refunds[0].Actor != "payment:stripe" {
		t.Fatalf("automatic refund by %q", staff.Refunds[0].Actor)
	}
	if st := s.orderAs(id, s.admin).Status; st != apiserver.OrderCancelled {
		t.Fatalf("order %s", st)
	}
}
