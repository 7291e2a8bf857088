package stack_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/internal/events"
)

// TestPaymentEndToEnd is the shopper's and the shop's whole path: cart → checkout →
// pay (a PaymentIntent on stripe-mock) → Stripe's signed payment_intent.succeeded →
// paid → staff refund (stripe-mock) → refunded with the stock back, Stripe's
// charge.refunded for that refund changing nothing more; redeliveries change nothing
// and the outbox holds each event exactly once.
func TestPaymentEndToEnd(t *testing.T) {
	e := startPayAPI(t, nil, nil)
	s := e.till("pay")
	s.product("PAY-1", 2500, 0, 5)
	orderID, token := s.order("PAY-1")
	total := s.orderAs(orderID, s.admin).Total

	// Pay: one intent, the same one however often the storefront asks.
	r := s.pay(orderID, token, "").want(201, "")
	var sess apiserver.PaymentSession
	r.decode(&sess)
	if sess.Amount != total || sess.Currency != "EUR" || sess.Status != "requires_payment_method" || sess.OrderID != orderID || sess.ClientSecret == "" {
		t.Fatalf("payment session: %s", r.raw)
	}
	for i := 0; i < 3; i++ {
		again := s.pay(orderID, token, "").want(200, "")
		if again.str("intent_id") != sess.IntentID || again.str("client_secret") == "" {
			t.Fatalf("paying again gave another intent: %s", again.raw)
		}
	}
	if n := e.count("payments"); n != 1 {
		t.Fatalf("%d payment rows after four pays, want 1", n)
	}
	if st := s.stock("PAY-1"); st.Reserved != 1 {
		t.Fatalf("stock before payment: %+v", st)
	}

	// Stripe says it succeeded: the order is paid by payment:stripe, once.
	succeeded := event(apiserver.EventIntentSucceeded, time.Now(), intent(sess.IntentID, "succeeded", total, total, s.meta(orderID), nil))
	res := s.deliver(succeeded).want(200, "")
	if res.json["duplicate"] == true || res.str("ignored") != "" {
		t.Fatalf("succeeded: %s", res.raw)
	}
	o := s.orderAs(orderID, s.admin)
	last := o.History[len(o.History)-1]
	if o.Status != apiserver.OrderPaid || last.Actor != "payment:stripe" || o.ReservationExpiresAt != nil {
		t.Fatalf("after succeeded: status %s, history %+v", o.Status, o.History)
	}
	before := e.snapshot()
	dup := s.deliver(succeeded).want(200, "")
	if dup.json["duplicate"] != true {
		t.Fatalf("redelivery not reported as duplicate: %s", dup.raw)
	}
	e.unchanged("a redelivered succeeded event", before)
	if again := s.pay(orderID, token, "").want(200, ""); again.str("intent_id") != sess.IntentID || again.str("status") != "succeeded" {
		t.Fatalf("paying a paid order: %s", again.raw)
	}

	// The customer's view: intent, charge, no refund yet, no secrets.
	rec := s.payments(orderID, token, "")
	if len(rec.Intents) != 1 || rec.Intents[0].AmountReceived != total || len(rec.Charges) != 1 || rec.Charges[0].Amount != total {
		t.Fatalf("records after payment: %+v", rec)
	}
	raw := e.do("GET", "/api/v1/orders/"+orderID+"/payments", s.slug, "", nil, "X-Cart-Token", token).want(200, "").raw
	if strings.Contains(string(raw), "secret") || strings.Contains(string(raw), "sk_test") {
		t.Fatalf("payment records show a secret: %s", raw)
	}

	// Staff refund everything: Stripe (stripe-mock) refunds, the order is refunded and
	// its stock released; the same key again is the same refund.
	rf := s.refund(orderID, "refund-1", map[string]any{"reason": "requested_by_customer", "note": "changed their mind"}).want(201, "")
	var refund apiserver.Refund
	rf.decode(&refund)
	if refund.Amount != total || refund.Status != "succeeded" || !strings.HasPrefix(refund.StripeID, "re_") || refund.Actor == "" {
		t.Fatalf("refund: %s", rf.raw)
	}
	replay := s.refund(orderID, "refund-1", map[string]any{"reason": "requested_by_customer", "note": "changed their mind"}).want(200, "")
	if replay.header.Get("Idempotent-Replayed") != "true" || replay.str("id") != refund.ID {
		t.Fatalf("refund retry: %s %v", replay.raw, replay.header)
	}
	o = s.orderAs(orderID, s.admin)
	if o.Status != apiserver.OrderRefunded || o.History[len(o.History)-1].Actor != "user:"+userID(t, s.admin) {
		t.Fatalf("after refund: %s %+v", o.Status, o.History)
	}
	if st := s.stock("PAY-1"); st.Reserved != 0 || st.Available != 5 {
		t.Fatalf("stock after refunding a paid order: %+v", st)
	}
	s.refund(orderID, "refund-2", map[string]any{"amount": 1}).want(422, apiserver.ErrRefundExceedsPayment)

	// Stripe's charge.refunded for that refund: known already, nothing changes.
	before = e.snapshot()
	refunded := event(apiserver.EventChargeRefunded, time.Now(), charge(sess.IntentID, total, total, s.meta(orderID)))
	if r := s.deliver(refunded).want(200, ""); r.str("ignored") == "" {
		t.Fatalf("charge.refunded of a refund made here should change nothing: %s", r.raw)
	}
	e.unchanged("charge.refunded of our own refund", before)

	// The staff view has the refund with its actor; the customer's hides who.
	staff := s.payments(orderID, "", s.admin)
	cust := s.payments(orderID, token, "")
	if len(staff.Refunds) != 1 || staff.Refunds[0].Actor == "" || cust.Refunds[0].Actor != "" || staff.Intents[0].AmountRefunded != total {
		t.Fatalf("records after refund: staff %+v customer %+v", staff, cust)
	}

	// The outbox holds each event once: the intent made, Stripe's success, the refund,
	// and the order's two steps.
	ups := e.paymentUpdates(s.t.ID)
	statuses := []string{}
	for _, u := range ups {
		statuses = append(statuses, u["status"].(string))
	}
	if strings.Join(statuses, ",") != "requires_payment_method,succeeded,refunded" {
		t.Fatalf("payment.updated statuses %v", statuses)
	}
	var ev map[string]any
	if err := json.Unmarshal(succeeded, &ev); err != nil {
		t.Fatal(err)
	}
	if n := e.countWhere(s.t.ID, "payment.updated", "stripe_event_id", ev["id"].(string)); n != 1 {
		t.Fatalf("succeeded event %d times in the outbox", n)
	}
	for to, want := range map[string]int{"paid": 1, "refunded": 1} {
		if n := e.countWhere(s.t.ID, "order.transitioned", "to", to); n != want {
			t.Fatalf("%d order.transitioned to %s, want %d", n, to, want)
		}
	}
	if n := e.count("payment_events"); n != 1 {
		t.Fatalf("%d applied webhook events, want 1 (the redeliveries and the known refund leave none)", n)
	}
	e.checkStockInvariants(s.t.ID)
}

// userID reads the subject of an access token.
func userID(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	var claims struct {
		Sub string `json:"sub"`
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || json.Unmarshal(b, &claims) != nil {
		t.Fatalf("token payload: %v", err)
	}
	return claims.Sub
}

// TestPayOrderLostAnswer: Stripe creates the intent but its answer never arrives (the
// API answers 503 and the row stays "creating"); the retry sends the same
// Idempotency-Key, so real Stripe would answer with the same intent, and the order
// still has one payment.
func TestPayOrderLostAnswer(t *testing.T) {
	proxy := &stripeProxy{}
	e := startPayAPI(t, proxy, nil)
	s := e.till("lost")
	s.product("LOST-1", 1000, 0, 3)
	orderID, token := s.order("LOST-1")

	proxy.lose.Store(true)
	s.pay(orderID, token, "").want(503, apiserver.ErrUnavailable)
	var status string
	e.scalar(&status, "SELECT status FROM payments WHERE order_id = $1", orderID)
	if status != apiserver.PaymentCreating {
		t.Fatalf("after a lost answer the payment is %q, want creating", status)
	}
	proxy.lose.Store(false)
	s.pay(orderID, token, "").want(201, "")
	s.pay(orderID, token, "").want(200, "")

	keys := proxy.sent("/v1/payment_intents")
	if len(keys) < 2 {
		t.Fatalf("%d create calls reached Stripe, want the lost one and its retry", len(keys))
	}
	for _, k := range keys {
		if k != keys[0] || !strings.HasPrefix(k, "kommerce-pi-"+orderID) {
			t.Fatalf("create calls sent Idempotency-Keys %v: a retry must send the first one", keys)
		}
	}
	if n := e.count("payments"); n != 1 {
		t.Fatalf("%d payments, want 1", n)
	}
}

// TestConcurrentPaysAndRefunds: 16 simultaneous pays of one order make one payment
// and all answer with its intent; 8 simultaneous refunds of 200 of a 1000 payment
// refund exactly 1000 and refuse the rest.
func TestConcurrentPaysAndRefunds(t *testing.T) {
	e := startPayAPI(t, nil, nil)
	s := e.till("conc")
	s.product("CONC-1", 1000, 0, 3)
	orderID, token := s.order("CONC-1")
	total := s.orderAs(orderID, s.admin).Total

	var wg sync.WaitGroup
	answers := make(chan *http.Response, 16)
	ids := make(chan string, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", e.base+"/api/v1/orders/"+orderID+"/payments", nil)
			req.Header.Set("X-Kommerce-Tenant", s.slug)
			req.Header.Set("X-Cart-Token", token)
			res, err := client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer res.Body.Close()
			var p apiserver.PaymentSession
			_ = json.NewDecoder(res.Body).Decode(&p)
			answers <- res
			ids <- p.IntentID
		}()
	}
	wg.Wait()
	close(answers)
	close(ids)
	created := 0
	for res := range answers {
		switch res.StatusCode {
		case 201:
			created++
		case 200:
		default:
			t.Errorf("concurrent pay: status %d", res.StatusCode)
		}
	}
	var first string
	for id := range ids {
		if first == "" {
			first = id
		}
		if id != first || id == "" {
			t.Fatalf("concurrent pays answered with intents %q and %q", first, id)
		}
	}
	if created != 1 || e.count("payments") != 1 {
		t.Fatalf("%d created answers, %d payments; want 1 and 1", created, e.count("payments"))
	}

	s.deliver(event(apiserver.EventIntentSucceeded, time.Now(), intent(first, "succeeded", total, total, s.meta(orderID), nil))).want(200, "")
	codes := make(chan int, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := s.refund(orderID, "part-"+string(rune('a'+i)), map[string]any{"amount": total / 5})
			codes <- r.status
		}(i)
	}
	wg.Wait()
	close(codes)
	ok, refused := 0, 0
	for c := range codes {
		switch c {
		case 201:
			ok++
		case 422:
			refused++
		default:
			t.Errorf("concurrent refund: status %d", c)
		}
	}
	var refunded int64
	e.scalar(&refunded, "SELECT amount_refunded FROM payments WHERE order_id = $1", orderID)
	if ok != 5 || refused != 3 || refunded != total {
		t.Fatalf("concurrent refunds: %d made, %d refused, %d refunded of %d", ok, refused, refunded, total)
	}
	if st := s.orderAs(orderID, s.admin).Status; st != apiserver.OrderRefunded {
		t.Fatalf("fully refunded in parts, the order is %s", st)
	}
}

// TestDisputeIsAFraudLabel: charge.dispute.created is recorded, shown in the
// records, and its payment.updated event is read by fraud training as a label.
func TestDisputeIsAFraudLabel(t *testing.T) {
	e := startPayAPI(t, nil, nil)
	s := e.till("disp")
	s.product("DISP-1", 1000, 0, 3)
	orderID, token, pi := s.paidOrder("DISP-1")
	total := s.orderAs(orderID, s.admin).Total

	d := event(apiserver.EventDisputeCreated, time.Now(), dispute("dp_test"+orderID[:8], pi, total, "fraudulent"))
	s.deliver(d).want(200, "")
	before := e.snapshot()
	if r := s.deliver(d).want(200, ""); r.json["duplicate"] != true {
		t.Fatalf("dispute redelivered: %s", r.raw)
	}
	e.unchanged("a redelivered dispute", before)

	rec := s.payments(orderID, token, "")
	if len(rec.Disputes) != 1 || rec.Disputes[0].Reason != "fraudulent" || rec.Disputes[0].Amount != total {
		t.Fatalf("disputes: %+v", rec.Disputes)
	}
	labels := 0
	for _, b := range e.outboxEvents(s.t.ID, string(events.PaymentUpdated)) {
		var l events.Payment
		if err := events.DecodeInto(events.PaymentUpdated, b, &l); err != nil {
			t.Fatal(err)
		}
		if l.Status == "disputed" && l.Reason == "fraudulent" && l.OrderID == orderID {
			labels++
		}
	}
	if labels != 1 {
		t.Fatalf("%d fraud labels in the outbox, want 1", labels)
	}
	if st := s.orderAs(orderID, s.admin).Status; st != apiserver.OrderPaid {
		t.Fatalf("a dispute moved the order to %s", st)
	}
}

// TestRefundProviderFailures: a refund Stripe refuses is stored failed, answered 422
// payment_rejected on every retry with its key, and holds back nothing; a refund whose
// answer is lost stays requested (its amount held back) and the retry with its key
// completes it with the same Stripe Idempotency-Key.
func TestRefundProviderFailures(t *testing.T) {
	proxy := &stripeProxy{}
	e := startPayAPI(t, proxy, nil)
	s := e.till("rfail")
	s.product("RF-1", 1000, 0, 3)
	id, _, _ := s.paidOrder("RF-1")

	proxy.refuse.Store(true)
	s.refund(id, "refused", map[string]any{"amount": 600}).want(422, apiserver.ErrPaymentRejected)
	proxy.refuse.Store(false)
	r := s.refund(id, "refused", map[string]any{"amount": 600}).want(422, apiserver.ErrPaymentRejected)
	if r.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("the refused refund's retry is not a replay: %v", r.header)
	}
	proxy.lose.Store(true)
	s.refund(id, "lost", map[string]any{"amount": 700}).want(503, apiserver.ErrUnavailable)
	proxy.lose.Store(false)
	// 700 is being refunded: only 300 is left for a new refund.
	s.refund(id, "third", map[string]any{"amount": 301}).want(422, apiserver.ErrRefundExceedsPayment)
	done := s.refund(id, "lost", map[string]any{"amount": 700}).want(200, "")
	if done.str("status") != "succeeded" || done.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("the lost refund's retry: %s", done.raw)
	}
	keys := proxy.sent("/v1/refunds")
	lost := keys[len(keys)-1]
	for _, k := range keys[1:] { // the first was the refused one
		if k != lost {
			t.Fatalf("refund calls sent Idempotency-Keys %v: the retry must send the lost call's", keys)
		}
	}
	rec := s.payments(id, "", s.admin)
	if len(rec.Refunds) != 2 || rec.Refunds[0].Status != "failed" || rec.Refunds[1].Status != "succeeded" || rec.Intents[0].AmountRefunded != 700 {
		t.Fatalf("records: %+v", rec)
	}
	if st := s.orderAs(id, s.admin).Status; st != apiserver.OrderPaid {
		t.Fatalf("a partial refund moved the order to %s", st)
	}
}

// TestPayExpiredOrder: an unpaid order whose reservation ran out (nobody read it
// since) cannot be paid: it is cancelled and its stock released on the spot.
func TestPayExpiredOrder(t *testing.T) {
	e := startPayAPI(t, nil, nil)
	s := e.till("expay")
	s.product("EX-1", 1000, 0, 3)
	id, token := s.order("EX-1")
	e.expire(id) // the reservation ran out an hour ago
	s.pay(id, token, "").want(409, apiserver.ErrOrderNotPayable)
	if st := e.orderStatus(id); st != "cancelled" {
		t.Fatalf("expired order is %s", st)
	}
	if st := s.stock("EX-1"); st.Reserved != 0 {
		t.Fatalf("stock of the expired order: %+v", st)
	}
	if n := e.count("payments"); n != 0 {
		t.Fatalf("%d payments for an expired order", n)
	}
}
