package stack_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kommerce/kommerce/apiserver"
)

// refundObject is a Stripe Refund as charge.refund.updated carries it.
func refundObject(r apiserver.Refund, intentID, status, failure string, meta map[string]string) map[string]any {
	m := map[string]string{"kommerce_refund_id": r.ID}
	for k, v := range meta {
		m[k] = v
	}
	return map[string]any{"id": r.StripeID, "object": "refund", "amount": r.Amount, "currency": "eur", "status": status,
		"failure_reason": failure, "charge": "ch_" + strings.TrimPrefix(intentID, "pi_"), "payment_intent": intentID, "metadata": m}
}

// TestRefundFailsAfterAccepted: Stripe accepts a refund, the order is refunded, then
// the refund fails (the card was closed). The refund is recorded failed, the payment's
// refunded amount goes back down, staff see it and can refund again; redeliveries,
// stale charge snapshots and other refund updates change nothing.
func TestRefundFailsAfterAccepted(t *testing.T) {
	e := startPayAPI(t, nil, nil)
	s := e.till("rf")
	s.product("RF-1", 3000, 0, 5)
	orderID, _, pi := s.paidOrder("RF-1")
	total := s.orderAs(orderID, s.admin).Total

	var part, rest apiserver.Refund
	s.refund(orderID, "rf-part", map[string]any{"amount": 1000}).want(201, "").decode(&part)
	s.refund(orderID, "rf-rest", map[string]any{}).want(201, "").decode(&rest)
	if part.Status != "succeeded" || rest.Amount != total-1000 || s.orderAs(orderID, s.admin).Status != apiserver.OrderRefunded {
		t.Fatalf("refunds %+v %+v", part, rest)
	}
	// Stripe's charge snapshot after both refunds, taken before the failure.
	snapshot := event(apiserver.EventChargeRefunded, time.Now().Add(-time.Minute), charge(pi, total, total, s.meta(orderID)))

	// Other status changes of a refund are acknowledged and change nothing.
	before := e.snapshot()
	for _, status := range []string{"succeeded", "pending", "requires_action"} {
		r := s.deliver(event(apiserver.EventChargeRefundUpdated, time.Now(), refundObject(part, pi, status, "", s.meta(orderID)))).want(200, "")
		if r.str("ignored") == "" {
			t.Fatalf("refund update to %s: %s", status, r.raw)
		}
	}
	unknown := apiserver.Refund{ID: "00000000-0000-4000-8000-000000000000", StripeID: "re_notmadehere", Amount: 500}
	if r := s.deliver(event(apiserver.EventRefundFailed, time.Now(), refundObject(unknown, pi, "failed", "unknown", s.meta(orderID)))).want(200, ""); !strings.Contains(r.str("ignored"), "not made through this API") {
		t.Fatalf("failure of a refund made elsewhere: %s", r.raw)
	}
	// Another shop, signing a failure of this shop's refund with its own secret and
	// naming itself: its payments have no such intent, so nothing of either changes.
	other := e.till("rf-other")
	if r := other.deliver(event(apiserver.EventChargeRefundUpdated, time.Now(), refundObject(part, pi, "failed", "unknown", other.meta(orderID)))).want(200, ""); r.str("ignored") == "" {
		t.Fatalf("another shop's failure of this refund: %s", r.raw)
	}
	e.unchanged("refund updates that change nothing", before)

	// The first refund fails.
	failed := event(apiserver.EventChargeRefundUpdated, time.Now(), refundObject(part, pi, "failed", "expired_or_canceled_card", s.meta(orderID)))
	if r := s.deliver(failed).want(200, ""); r.str("ignored") != "" || r.json["duplicate"] == true {
		t.Fatalf("refund failure not applied: %s", r.raw)
	}
	rec := s.payments(orderID, "", s.admin)
	if len(rec.Refunds) != 2 || rec.Refunds[0].Status != "failed" || rec.Refunds[0].Failure != "expired_or_canceled_card" || rec.Refunds[1].Status != "succeeded" {
		t.Fatalf("refunds after the failure: %+v", rec.Refunds)
	}
	if rec.Intents[0].AmountRefunded != total-1000 {
		t.Fatalf("refunded %d after the failure, want %d", rec.Intents[0].AmountRefunded, total-1000)
	}
	if o := s.orderAs(orderID, s.admin); o.Status != apiserver.OrderRefunded {
		t.Fatalf("order after a refund failed: %s (its goods are settled; it stays refunded)", o.Status)
	}
	if n := e.countWhere(s.t.ID, "payment.updated", "status", "refund_failed"); n != 1 {
		t.Fatalf("%d refund_failed events in the outbox, want 1", n)
	}

	// Redelivered, delivered again as refund.failed (a newer API version), or undone by
	// an older charge snapshot that still counts the refund: nothing changes.
	before = e.snapshot()
	if r := s.deliver(failed).want(200, ""); r.json["duplicate"] != true {
		t.Fatalf("redelivery: %s", r.raw)
	}
	s.deliver(event(apiserver.EventRefundFailed, time.Now(), refundObject(part, pi, "failed", "expired_or_canceled_card", s.meta(orderID)))).want(200, "")
	s.deliver(snapshot).want(200, "")
	e.unchanged("redelivered failure and a stale charge snapshot", before)
	if got := s.payments(orderID, "", s.admin).Intents[0].AmountRefunded; got != total-1000 {
		t.Fatalf("refunded %d after a stale snapshot, want %d", got, total-1000)
	}

	// A newer snapshot is applied: say staff refunded 500 more in Stripe's dashboard.
	if r := s.deliver(event(apiserver.EventChargeRefunded, time.Now().Add(time.Minute), charge(pi, total, total-500, s.meta(orderID)))).want(200, ""); r.str("ignored") != "" {
		t.Fatalf("a snapshot newer than the failure: %s", r.raw)
	}
	if got := s.payments(orderID, "", s.admin).Intents[0].AmountRefunded; got != total-500 {
		t.Fatalf("refunded %d after a newer snapshot, want %d", got, total-500)
	}

	// Staff refund the rest: exactly what is left can be refunded.
	s.refund(orderID, "rf-again", map[string]any{"amount": 501}).want(422, apiserver.ErrRefundExceedsPayment)
	var again apiserver.Refund
	s.refund(orderID, "rf-again", map[string]any{"amount": 500}).want(201, "").decode(&again)
	if again.Status != "succeeded" {
		t.Fatalf("refund after the failure: %+v", again)
	}
	s.deliver(event(apiserver.EventChargeRefunded, time.Now().Add(2*time.Minute), charge(pi, total, total, s.meta(orderID)))).want(200, "")
	if got := s.payments(orderID, "", s.admin).Intents[0].AmountRefunded; got != total {
		t.Fatalf("refunded %d at the end, want all %d", got, total)
	}
}

// TestRefundFailsBeforeItsAnswer: the answer to a refund call is lost (the row has no
// Stripe id yet) and Stripe then reports that refund failed. The event finds the row by
// the id in the refund's metadata; nothing had been counted, so nothing is taken off,
// and the staff's retry of the same key gets the failure.
func TestRefundFailsBeforeItsAnswer(t *testing.T) {
	proxy := &stripeProxy{}
	e := startPayAPI(t, proxy, nil)
	s := e.till("rfl")
	s.product("RL-1", 1000, 0, 3)
	orderID, _, pi := s.paidOrder("RL-1")

	proxy.lose.Store(true)
	s.refund(orderID, "lost", map[string]any{"amount": 700}).want(503, apiserver.ErrUnavailable)
	proxy.lose.Store(false)
	rec := s.payments(orderID, "", s.admin)
	if len(rec.Refunds) != 1 || rec.Refunds[0].Status != "requested" || rec.Refunds[0].StripeID != "" {
		t.Fatalf("refund after a lost answer: %+v", rec.Refunds)
	}
	lost := rec.Refunds[0]
	lost.StripeID = "re_lostanswer1"
	s.deliver(event(apiserver.EventChargeRefundUpdated, time.Now(), refundObject(lost, pi, "failed", "unknown", s.meta(orderID)))).want(200, "")
	rec = s.payments(orderID, "", s.admin)
	if rec.Refunds[0].Status != "failed" || rec.Refunds[0].StripeID != "re_lostanswer1" || rec.Refunds[0].Failure != "unknown" || rec.Intents[0].AmountRefunded != 0 {
		t.Fatalf("after the failure of an unanswered refund: %+v / refunded %d", rec.Refunds, rec.Intents[0].AmountRefunded)
	}
	s.refund(orderID, "lost", map[string]any{"amount": 700}).want(422, apiserver.ErrPaymentRejected)
	// The same metadata id with another Stripe refund id matches no row: only rows
	// without a Stripe id are found by metadata.
	other := lost
	other.StripeID = "re_someoneelse"
	if r := s.deliver(event(apiserver.EventChargeRefundUpdated, time.Now(), refundObject(other, pi, "failed", "unknown", s.meta(orderID)))).want(200, ""); !strings.Contains(r.str("ignored"), "not made through this API") {
		t.Fatalf("a failure naming a recorded row by metadata but another Stripe refund: %s", r.raw)
	}
	// All 1000 can still be refunded.
	s.refund(orderID, "after", map[string]any{"amount": 1000}).want(201, "")
}
