package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/postgres/dbq"
)

// errIgnored rolls back the transaction of an authentic event that changes nothing,
// so it leaves no trace (no event row, no outbox entry).
type errIgnored struct{ reason string }

func (e errIgnored) Error() string { return "ignored: " + e.reason }

func ignore(format string, args ...any) error { return errIgnored{fmt.Sprintf(format, args...)} }

// StripeWebhook implements apiserver.PaymentService.
//
// Whose secret must verify a delivery is decided before anything in it is trusted:
// the tenant the delivery was addressed to (the pod's tenant, X-Kommerce-Tenant or
// the storefront Host), else the tenant the event's metadata names, else the owner of
// the intent it names. Only that tenant's secret is tried. Then, in one transaction:
// claim the event id (a redelivery finds it and changes nothing), apply it to the
// order's payment and order under their row locks, append payment.updated (and
// order.transitioned) to the outbox. Stripe's `created` and the payment's state make
// late and out-of-order deliveries harmless: a decline never undoes a success, an
// older event never overwrites a newer one, amounts only grow, and a refund that
// arrives before the success it implies moves the order through paid to refunded.
func (s *PaymentService) StripeWebhook(ctx context.Context, req apiserver.WebhookRequest) (*apiserver.WebhookResult, error) {
	t := apiserver.TenantFromContext(ctx)
	if t == nil {
		var err error
		if t, err = s.webhookTenant(ctx, req.Payload); err != nil {
			return nil, err
		}
		ctx = apiserver.NewContextWithTenant(ctx, t)
	}
	keys, err := s.keys(ctx)
	if err != nil {
		return nil, err
	}
	ev, err := s.Webhooks.Verify(req.Payload, req.Signature, keys.WebhookSecret)
	if err != nil {
		return nil, err
	}
	if !eventIDRE.MatchString(ev.ID) {
		return nil, apiserver.FieldErrorf("id", "The event id is not a Stripe event id.")
	}
	res := &apiserver.WebhookResult{Received: true, EventID: ev.ID}
	if !apiserver.HandledEvent(ev.Type) {
		res.Ignored = "event type " + ev.Type + " is not handled"
		return res, nil
	}
	if ev.TenantID != "" && ev.TenantID != t.ID {
		res.Ignored = "the event is about another shop's payment"
		return res, nil
	}
	orphan, err := s.apply(ctx, ev)
	var ig errIgnored
	switch {
	case errors.As(err, &ig):
		res.Ignored = ig.reason
		s.log().InfoContext(ctx, "stripe event ignored", "event", ev.ID, "type", ev.Type, "reason", ig.reason)
		return res, nil
	case errors.Is(err, errDuplicate):
		res.Duplicate = true
		return res, nil
	case err != nil:
		return nil, fmt.Errorf("apply stripe event %s: %w", ev.ID, err)
	}
	if orphan != nil {
		s.refundOrphan(ctx, *orphan)
	}
	return res, nil
}

var errDuplicate = errors.New("event applied before")

// webhookTenant finds the tenant an unaddressed delivery is for, from the event's
// metadata or its intent. Nothing found is an invalid signature: no secret applies.
func (s *PaymentService) webhookTenant(ctx context.Context, payload []byte) (*apiserver.Tenant, error) {
	tid, intent, err := s.Webhooks.Peek(payload)
	if err != nil {
		return nil, err
	}
	var t *apiserver.Tenant
	err = s.DB.AsPlatform(ctx, func(q *dbq.Queries) error {
		if tid == "" && intentIDRE.MatchString(intent) {
			id, err := q.TenantOfIntent(ctx, &intent)
			if err != nil {
				return err
			}
			tid = id
		}
		if !apiserver.ValidID(tid) {
			return pgx.ErrNoRows
		}
		row, err := q.TenantByID(ctx, tid)
		t = tenantOf(row)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, &apiserver.Error{Code: apiserver.ErrInvalidSignature, Field: "Stripe-Signature",
			Message: "No shop's webhook secret applies to this event: send it to the shop's host or with X-Kommerce-Tenant."}
	}
	if err != nil {
		return nil, fmt.Errorf("webhook tenant: %w", err)
	}
	return t, nil
}

// orphanPayment is money received for an order that can no longer be paid (it was
// cancelled, e.g. its reservation expired, before the payment succeeded).
type orphanPayment struct {
	orderID  string
	intentID string
}

// apply applies a verified, handled event in one transaction.
func (s *PaymentService) apply(ctx context.Context, ev *apiserver.PaymentEvent) (*orphanPayment, error) {
	if !intentIDRE.MatchString(ev.IntentID) {
		return nil, ignore("the event names no payment intent")
	}
	var orphan *orphanPayment
	err := s.DB.InTenant(ctx, false, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		pay, err := q.PaymentByIntent(ctx, dbq.PaymentByIntentParams{TenantID: tid, IntentID: &ev.IntentID})
		if errors.Is(err, pgx.ErrNoRows) && apiserver.ValidID(ev.OrderID) {
			// The create call's answer was lost: the order's row has no intent yet.
			pay, err = q.PaymentByOrder(ctx, dbq.PaymentByOrderParams{TenantID: tid, OrderID: ev.OrderID})
		}
		if errors.Is(err, pgx.ErrNoRows) {
			return ignore("no payment of this shop has intent %s", ev.IntentID)
		}
		if err != nil {
			return err
		}
		if pay.IntentID != nil && *pay.IntentID != ev.IntentID {
			return ignore("intent %s is not the order's payment", ev.IntentID)
		}
		n, err := q.InsertPaymentEvent(ctx, dbq.InsertPaymentEventParams{TenantID: tid, EventID: ev.ID, Type: ev.Type,
			PaymentID: &pay.ID, OrderID: &pay.OrderID, StripeCreated: ev.Created})
		if err != nil {
			return err
		}
		if n == 0 {
			return errDuplicate
		}
		// Lock in the order every writer uses: the order, then its payment.
		o, err := q.LockOrder(ctx, dbq.LockOrderParams{TenantID: tid, ID: pay.OrderID})
		if err != nil {
			return err
		}
		if pay, err = q.LockPaymentByOrder(ctx, dbq.LockPaymentByOrderParams{TenantID: tid, OrderID: pay.OrderID}); err != nil {
			return err
		}
		a := &applier{s: s, q: q, tid: tid, ev: ev, order: o, pay: pay}
		if err := a.run(ctx); err != nil {
			return err
		}
		orphan = a.orphan
		return nil
	})
	return orphan, err
}

// applier applies one event to a locked order and payment.
type applier struct {
	s      *PaymentService
	q      *dbq.Queries
	tid    string
	ev     *apiserver.PaymentEvent
	order  dbq.Order
	pay    dbq.Payment
	orphan *orphanPayment
}

func (a *applier) run(ctx context.Context) error {
	if a.ev.Currency != "" && a.ev.Currency != a.pay.Currency {
		return ignore("the event's currency %s is not the payment's %s", a.ev.Currency, a.pay.Currency)
	}
	switch a.ev.Type {
	case apiserver.EventIntentSucceeded:
		return a.succeeded(ctx)
	case apiserver.EventIntentFailed:
		return a.failed(ctx)
	case apiserver.EventChargeRefunded:
		return a.refunded(ctx)
	case apiserver.EventDisputeCreated:
		return a.disputed(ctx)
	case apiserver.EventChargeRefundUpdated, apiserver.EventRefundUpdated, apiserver.EventRefundFailed:
		return a.refundEnded(ctx)
	}
	return ignore("event type %s is not handled", a.ev.Type)
}

// state is the mutable part of a payment row.
func stateOf(p dbq.Payment) dbq.SetPaymentStateParams {
	return dbq.SetPaymentStateParams{TenantID: p.TenantID, ID: p.ID, IntentID: p.IntentID, Status: p.Status, StatusAt: p.StatusAt,
		AmountReceived: p.AmountReceived, AmountRefunded: p.AmountRefunded, ChargeID: p.ChargeID, Failures: p.Failures, LastFailure: p.LastFailure}
}

func sameState(a, b dbq.SetPaymentStateParams) bool {
	return deref(a.IntentID) == deref(b.IntentID) && a.Status == b.Status && a.AmountReceived == b.AmountReceived &&
		a.AmountRefunded == b.AmountRefunded && deref(a.ChargeID) == deref(b.ChargeID) && a.Failures == b.Failures
}

func (a *applier) setCharge(st *dbq.SetPaymentStateParams) {
	if chargeIDRE.MatchString(a.ev.ChargeID) {
		id := a.ev.ChargeID
		st.ChargeID = &id
	}
}

func (a *applier) laterThanKnown(st *dbq.SetPaymentStateParams) {
	if st.StatusAt == nil || a.ev.Created.After(*st.StatusAt) {
		at := a.ev.Created
		st.StatusAt = &at
	}
}

// save writes the new state and its payment.updated event.
func (a *applier) save(ctx context.Context, st dbq.SetPaymentStateParams, status, reason string) error {
	p, err := a.q.SetPaymentState(ctx, st)
	if err != nil {
		return err
	}
	a.pay = p
	ev := updated(p, status)
	ev.Source, ev.StripeEventID, ev.StripeEventType, ev.Reason = "stripe", a.ev.ID, a.ev.Type, reason
	return writeUpdated(ctx, a.q, a.tid, ev)
}

// move applies an order step caused by Stripe.
func (a *applier) move(ctx context.Context, to apiserver.OrderStatus, reason string) error {
	o, err := applyTransition(ctx, a.q, a.tid, a.order, to, ActorStripe, reason)
	a.order = o
	return err
}

// markPaid moves an unpaid order to paid when the payment received its amount; an
// order cancelled before the money came is an orphan, refunded after the commit.
func (a *applier) markPaid(ctx context.Context) error {
	status := apiserver.OrderStatus(a.order.Status)
	switch {
	case status == apiserver.OrderPendingPayment && a.pay.AmountReceived >= a.pay.Amount:
		return a.move(ctx, apiserver.OrderPaid, "payment "+a.ev.IntentID)
	case status == apiserver.OrderPendingPayment:
		a.s.log().WarnContext(ctx, "payment received less than the order's total; order left unpaid",
			"order", a.order.ID, "received", a.pay.AmountReceived, "amount", a.pay.Amount)
	case status == apiserver.OrderCancelled && a.pay.AmountReceived > a.pay.AmountRefunded:
		a.orphan = &orphanPayment{orderID: a.order.ID, intentID: a.ev.IntentID}
	}
	return nil
}

func (a *applier) succeeded(ctx context.Context) error {
	old := stateOf(a.pay)
	st := old
	st.IntentID = &a.ev.IntentID
	st.Status = apiserver.PaymentSucceeded
	st.AmountReceived = max(st.AmountReceived, a.ev.AmountReceived)
	a.setCharge(&st)
	a.laterThanKnown(&st)
	if sameState(old, st) {
		return ignore("the payment's success is known already")
	}
	if err := a.save(ctx, st, apiserver.PaymentSucceeded, ""); err != nil {
		return err
	}
	return a.markPaid(ctx)
}

func (a *applier) failed(ctx context.Context) error {
	if a.pay.Status == apiserver.PaymentSucceeded {
		return ignore("the payment succeeded already; a decline of an earlier attempt changes nothing")
	}
	if a.pay.StatusAt != nil && a.ev.Created.Before(*a.pay.StatusAt) {
		return ignore("the event is older than the payment's last known state")
	}
	st := stateOf(a.pay)
	st.IntentID = &a.ev.IntentID
	st.Status = a.ev.Status
	if !validIntentStatus(st.Status) || st.Status == apiserver.PaymentSucceeded {
		st.Status = "requires_payment_method"
	}
	st.Failures++
	st.LastFailure = truncate(a.ev.FailureCode, 200)
	a.laterThanKnown(&st)
	if err := a.save(ctx, st, evFailed, a.ev.FailureCode); err != nil {
		return err
	}
	if apiserver.OrderStatus(a.order.Status) != apiserver.OrderPendingPayment {
		return nil
	}
	// The shopper may try again (the same intent, another card) within the retry
	// window; after it the sweeper or the next read releases the stock.
	window := a.s.RetryWindow
	if window <= 0 {
		window = apiserver.DefaultPaymentRetryWindow
	}
	at := now().Add(window)
	_, err := a.q.ExtendReservation(ctx, dbq.ExtendReservationParams{TenantID: a.tid, OrderID: a.order.ID, At: &at})
	return err
}

func (a *applier) refunded(ctx context.Context) error {
	old := stateOf(a.pay)
	st := old
	st.IntentID = &a.ev.IntentID
	st.AmountReceived = max(st.AmountReceived, a.ev.AmountCaptured)
	// Refunded amounts only grow, except when a refund fails (refundEnded): a charge
	// snapshot older than the payment's last known state may still count that refund,
	// so it raises nothing. Stripe's times are whole seconds: once a refund has
	// failed, a snapshot of the same second is not trusted to be newer either.
	stale := false
	if a.pay.StatusAt != nil && !a.ev.Created.After(*a.pay.StatusAt) {
		stale = a.ev.Created.Before(*a.pay.StatusAt)
		if !stale && a.ev.AmountRefunded > st.AmountRefunded {
			ended, err := a.q.HasEndedRefunds(ctx, dbq.HasEndedRefundsParams{TenantID: a.tid, PaymentID: a.pay.ID})
			if err != nil {
				return err
			}
			stale = ended
		}
	}
	if !stale {
		st.AmountRefunded = max(st.AmountRefunded, a.ev.AmountRefunded)
	}
	st.AmountRefunded = min(st.AmountRefunded, st.AmountReceived)
	if st.AmountReceived > 0 {
		st.Status = apiserver.PaymentSucceeded // a refunded charge was a successful payment
	}
	a.setCharge(&st)
	a.laterThanKnown(&st)
	full := a.ev.FullyRefunded || (st.AmountReceived > 0 && st.AmountRefunded >= st.AmountReceived)
	order := apiserver.OrderStatus(a.order.Status)
	moves := order == apiserver.OrderPendingPayment || (full && order.CanBecome(apiserver.OrderRefunded))
	if sameState(old, st) && !moves {
		return ignore("the charge's refunds are known already")
	}
	status := evPartiallyRefunded
	if full {
		status = evRefunded
	}
	if err := a.save(ctx, st, status, ""); err != nil {
		return err
	}
	if order == apiserver.OrderPendingPayment {
		// The refund came before the success it implies: the order was paid.
		if err := a.markPaid(ctx); err != nil {
			return err
		}
	}
	if full && apiserver.OrderStatus(a.order.Status).CanBecome(apiserver.OrderRefunded) {
		return a.move(ctx, apiserver.OrderRefunded, "refunded at the payment provider")
	}
	return nil
}

// refundEnded applies a refund that Stripe failed or canceled after accepting it
// (for example the card was closed): the money did not go back, so the refund is
// recorded as failed, the payment's refunded amount is lowered by it, and staff may
// refund again. The order keeps its status — its goods are settled either way — and
// the failure is logged as an error for staff and sent as payment.updated with status
// refund_failed. Any other refund status change is ignored.
func (a *applier) refundEnded(ctx context.Context) error {
	if !refundIDRE.MatchString(a.ev.RefundID) {
		return ignore("the event names no refund")
	}
	if a.ev.Status != "failed" && a.ev.Status != "canceled" {
		return ignore("refund %s is %s: only a failed or canceled refund changes anything", a.ev.RefundID, a.ev.Status)
	}
	args := dbq.LockRefundForEventParams{TenantID: a.tid, PaymentID: a.pay.ID, StripeID: &a.ev.RefundID}
	if apiserver.ValidID(a.ev.LocalRefundID) {
		args.RefundID = &a.ev.LocalRefundID
	}
	row, err := a.q.LockRefundForEvent(ctx, args)
	if errors.Is(err, pgx.ErrNoRows) {
		return ignore("refund %s was not made through this API", a.ev.RefundID)
	}
	if err != nil {
		return err
	}
	if row.Status == "failed" || row.Status == "canceled" {
		return ignore("refund %s is known to be %s already", a.ev.RefundID, row.Status)
	}
	tot, err := a.q.RefundTotals(ctx, dbq.RefundTotalsParams{TenantID: a.tid, PaymentID: a.pay.ID})
	if err != nil {
		return err
	}
	others := tot.Accepted
	if row.Status != "requested" {
		others -= row.Amount
	}
	failure := a.ev.FailureCode
	if failure == "" {
		failure = a.ev.Status
	}
	if row, err = a.q.EndRefund(ctx, dbq.EndRefundParams{TenantID: a.tid, ID: row.ID, Status: a.ev.Status,
		StripeID: &a.ev.RefundID, Failure: truncate(failure, 200)}); err != nil {
		return err
	}
	st := stateOf(a.pay)
	// What the payment counted as refunded included this refund if Stripe's answer or
	// a charge.refunded event counted it; what the other accepted refunds add up to is
	// the floor either way.
	st.AmountRefunded = max(others, st.AmountRefunded-row.Amount, 0)
	a.laterThanKnown(&st)
	p, err := a.q.SetPaymentState(ctx, st)
	if err != nil {
		return err
	}
	a.pay = p
	ev := updated(p, "refund_failed")
	ev.Source, ev.StripeEventID, ev.StripeEventType, ev.Reason, ev.RefundID = "stripe", a.ev.ID, a.ev.Type, failure, row.ID
	if err := writeUpdated(ctx, a.q, a.tid, ev); err != nil {
		return err
	}
	a.s.log().ErrorContext(ctx, "a refund failed at Stripe after it was accepted: the customer did not get this money back; refund again",
		"order", a.order.ID, "order_status", a.order.Status, "refund", row.ID, "stripe_refund", a.ev.RefundID, "amount", row.Amount,
		"currency", p.Currency, "failure", failure, "refunded_now", p.AmountRefunded, "received", p.AmountReceived)
	return nil
}

func (a *applier) disputed(ctx context.Context) error {
	if !disputeIDRE.MatchString(a.ev.DisputeID) {
		return ignore("the event names no dispute")
	}
	currency := a.ev.Currency
	if currency == "" {
		currency = a.pay.Currency
	}
	n, err := a.q.InsertDispute(ctx, dbq.InsertDisputeParams{TenantID: a.tid, StripeID: a.ev.DisputeID, PaymentID: a.pay.ID, OrderID: a.order.ID,
		Amount: max(a.ev.Amount, 0), Currency: currency, Reason: truncate(a.ev.DisputeReason, 100), Status: truncate(a.ev.DisputeStatus, 100), OpenedAt: a.ev.Created})
	if err != nil {
		return err
	}
	if n == 0 {
		return ignore("dispute %s is recorded already", a.ev.DisputeID)
	}
	ev := updated(a.pay, evDisputed)
	ev.Source, ev.StripeEventID, ev.StripeEventType, ev.Reason, ev.DisputeID = "stripe", a.ev.ID, a.ev.Type, a.ev.DisputeReason, a.ev.DisputeID
	return writeUpdated(ctx, a.q, a.tid, ev)
}

// refundOrphan gives back money that arrived for a cancelled order. A failure is
// logged: the payment stays visible with its unrefunded amount, and staff can refund
// it with POST /orders/{id}/refunds.
func (s *PaymentService) refundOrphan(ctx context.Context, o orphanPayment) {
	req := apiserver.RefundRequest{OrderID: o.orderID, IdempotencyKey: "auto-refund-" + o.intentID,
		Input: apiserver.RefundInput{Note: "paid after the order was cancelled"}}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if _, _, err := s.refund(ctx, req, ActorStripe); err != nil {
		s.log().ErrorContext(ctx, "refund of a payment for a cancelled order failed; refund it by hand", "order", o.orderID, "intent", o.intentID, "error", err.Error())
		return
	}
	s.log().InfoContext(ctx, "payment for a cancelled order refunded", "order", o.orderID, "intent", o.intentID)
}
