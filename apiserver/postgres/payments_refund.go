package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/postgres/dbq"
)

// RefundOrder implements apiserver.PaymentService.
func (s *PaymentService) RefundOrder(ctx context.Context, req apiserver.RefundRequest) (*apiserver.Refund, bool, error) {
	if !apiserver.ValidIdempotencyKey(req.IdempotencyKey) {
		return nil, false, apiserver.FieldErrorf("Idempotency-Key", "Send an Idempotency-Key of 1 to %d printable ASCII characters.", apiserver.MaxIdemKeyLen)
	}
	if err := req.Input.Validate(); err != nil {
		return nil, false, err
	}
	if !apiserver.ValidID(req.OrderID) {
		return nil, false, noOrder()
	}
	p := apiserver.PrincipalFromContext(ctx)
	if p == nil || !p.Role.AtLeast(apiserver.RoleStaff) {
		return nil, false, apiserver.Errorf(apiserver.ErrForbidden, "Only staff can refund orders.")
	}
	return s.refund(ctx, req, "user:"+p.UserID)
}

// refund is a refund by actor: claim the key and reserve the amount, call Stripe,
// record the answer. The first two steps are one transaction, the last another.
func (s *PaymentService) refund(ctx context.Context, req apiserver.RefundRequest, actor string) (*apiserver.Refund, bool, error) {
	keys, keyErr := s.keys(ctx)
	hash := requestHash(req.Input)
	var row dbq.PaymentRefund
	var pay dbq.Payment
	var replayed bool
	err := s.DB.InTenant(ctx, false, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		if _, err := q.LockOrder(ctx, dbq.LockOrderParams{TenantID: tid, ID: req.OrderID}); err != nil {
			return notFound(err, "order")
		}
		var err error
		pay, err = q.LockPaymentByOrder(ctx, dbq.LockPaymentByOrderParams{TenantID: tid, OrderID: req.OrderID})
		if errors.Is(err, pgx.ErrNoRows) {
			return &apiserver.Error{Code: apiserver.ErrRefundExceedsPayment, Field: "amount", Message: "This order has no payment to refund."}
		}
		if err != nil {
			return err
		}
		row, err = q.RefundByKey(ctx, dbq.RefundByKeyParams{TenantID: tid, OrderID: req.OrderID, IdempotencyKey: req.IdempotencyKey})
		if err == nil {
			if !bytes.Equal(row.RequestHash, hash) {
				return &apiserver.Error{Code: apiserver.ErrIdempotencyKeyReused, Field: "Idempotency-Key",
					Message: "This Idempotency-Key was used for a different refund of this order; use a new key for a new refund."}
			}
			replayed = true
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		tot, err := q.RefundTotals(ctx, dbq.RefundTotalsParams{TenantID: tid, PaymentID: pay.ID})
		if err != nil {
			return err
		}
		done := max(pay.AmountRefunded, tot.Accepted)
		left := pay.AmountReceived - done - tot.Requested
		amount := left
		if req.Input.Amount != nil {
			amount = *req.Input.Amount
		}
		if left <= 0 || amount > left {
			return &apiserver.Error{Code: apiserver.ErrRefundExceedsPayment, Field: "amount", Message: fmt.Sprintf(
				"At most %d can be refunded: the payment received %d %s, %d is refunded and %d is being refunded.",
				max(left, 0), pay.AmountReceived, pay.Currency, done, tot.Requested)}
		}
		if _, err := secretKey(keys, keyErr); err != nil {
			return err
		}
		row, err = q.InsertRefund(ctx, dbq.InsertRefundParams{TenantID: tid, PaymentID: pay.ID, OrderID: req.OrderID, IdempotencyKey: req.IdempotencyKey,
			RequestHash: hash, Amount: amount, Reason: req.Input.Reason, Note: req.Input.Note, Actor: actor})
		return err
	})
	if err != nil {
		return nil, false, orderError(err, "refund")
	}
	if row.Status == "failed" {
		return nil, replayed, refundRejected(row.Failure)
	}
	if row.Status != "requested" {
		r := refundOf(row, pay.Currency)
		return &r, replayed, nil
	}
	// Requested: new, or a retry of one whose answer was lost; the same Stripe
	// Idempotency-Key makes Stripe answer with the same refund either way.
	key, err := secretKey(keys, keyErr)
	if err != nil {
		return nil, replayed, err
	}
	t := apiserver.TenantFromContext(ctx)
	res, callErr := s.Gateway.CreateRefund(ctx, key, apiserver.RefundCall{IntentID: deref(pay.IntentID), Amount: row.Amount, Reason: row.Reason,
		IdempotencyKey: "kommerce-re-" + row.ID,
		Metadata:       map[string]string{apiserver.MetaTenantID: t.ID, apiserver.MetaOrderID: row.OrderID, apiserver.MetaRefundID: row.ID}})
	if callErr != nil && apiserver.ErrorCode(callErr) != apiserver.ErrPaymentRejected {
		return nil, replayed, callErr // stays requested: a retry with the key calls again
	}
	if callErr == nil && !refundIDRE.MatchString(res.ID) {
		return nil, replayed, fmt.Errorf("stripe answered with refund id %q", res.ID)
	}
	out, err := s.completeRefund(ctx, row, res, callErr, actor)
	if err != nil {
		return nil, replayed, err
	}
	if out.Status == "failed" {
		return nil, replayed, refundRejected(out.Failure)
	}
	return out, replayed, nil
}

// refundRejected is the answer to a refund stored failed, first time and every retry.
func refundRejected(failure string) error {
	return apiserver.Errorf(apiserver.ErrPaymentRejected, "The payment provider refused this refund (%s).", failure)
}

// completeRefund records Stripe's answer to a refund, raises the payment's refunded
// amount and, when all that was received is refunded, moves the order to refunded
// (if its state allows: a cancelled order stays cancelled).
func (s *PaymentService) completeRefund(ctx context.Context, row dbq.PaymentRefund, res *apiserver.RefundResult, callErr error, actor string) (*apiserver.Refund, error) {
	var out apiserver.Refund
	err := s.DB.InTenant(ctx, false, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		o, err := q.LockOrder(ctx, dbq.LockOrderParams{TenantID: tid, ID: row.OrderID})
		if err != nil {
			return err
		}
		pay, err := q.LockPaymentByOrder(ctx, dbq.LockPaymentByOrderParams{TenantID: tid, OrderID: row.OrderID})
		if err != nil {
			return err
		}
		args := dbq.CompleteRefundParams{TenantID: tid, ID: row.ID}
		if callErr != nil {
			args.Status, args.Failure = "failed", truncate(apiserver.ErrorMessage(callErr), 200)
		} else {
			args.Status, args.StripeID, args.Failure = res.Status, &res.ID, truncate(res.FailureReason, 200)
			if !validRefundStatus(args.Status) {
				args.Status = "pending"
			}
		}
		done, err := q.CompleteRefund(ctx, args)
		if errors.Is(err, pgx.ErrNoRows) { // a concurrent retry recorded it first
			done, err = q.GetRefund(ctx, dbq.GetRefundParams{TenantID: tid, ID: row.ID})
			out = refundOf(done, pay.Currency)
			return err
		}
		if err != nil {
			return err
		}
		out = refundOf(done, pay.Currency)
		if done.Status == "failed" {
			ev := updated(pay, "refund_failed")
			ev.RefundID = done.ID
			return writeUpdated(ctx, q, tid, ev)
		}
		pay, err = q.SyncRefunded(ctx, dbq.SyncRefundedParams{TenantID: tid, ID: pay.ID})
		if err != nil {
			return err
		}
		full := pay.AmountRefunded >= pay.AmountReceived
		ev := updated(pay, evPartiallyRefunded)
		if full {
			ev.Status = evRefunded
		}
		ev.RefundID, ev.Reason = done.ID, done.Reason
		if err := writeUpdated(ctx, q, tid, ev); err != nil {
			return err
		}
		if full && apiserver.OrderStatus(o.Status).CanBecome(apiserver.OrderRefunded) {
			reason := "refund"
			if done.Reason == apiserver.RefundFraudulent {
				reason = "fraud" // the fraud label of inference/training
			}
			_, err = applyTransition(ctx, q, tid, o, apiserver.OrderRefunded, actor, reason)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("record refund: %w", err)
	}
	return &out, nil
}

func validRefundStatus(s string) bool {
	switch s {
	case "pending", "succeeded", "failed", "canceled", "requires_action":
		return true
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
