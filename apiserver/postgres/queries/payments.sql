-- Payments: per-tenant Stripe keys, the PaymentIntent of each order, refunds,
-- disputes and the applied webhook events.

-- name: UpsertPaymentKeys :exec
INSERT INTO payment_keys (tenant_id, stripe_secret_key, stripe_webhook_secret, updated_at)
VALUES (@tenant_id, @stripe_secret_key, @stripe_webhook_secret, now())
ON CONFLICT (tenant_id) DO UPDATE
SET stripe_secret_key = excluded.stripe_secret_key, stripe_webhook_secret = excluded.stripe_webhook_secret, updated_at = now();

-- name: PaymentKeys :one
SELECT stripe_secret_key, stripe_webhook_secret FROM payment_keys WHERE tenant_id = @tenant_id;

-- name: PaymentByOrder :one
SELECT * FROM payments WHERE tenant_id = @tenant_id AND order_id = @order_id;

-- name: LockPaymentByOrder :one
SELECT * FROM payments WHERE tenant_id = @tenant_id AND order_id = @order_id FOR UPDATE;

-- name: PaymentByIntent :one
SELECT * FROM payments WHERE tenant_id = @tenant_id AND intent_id = @intent_id;

-- InsertPayment records that an intent is about to be created for the order; a
-- concurrent request for the same order inserts nothing (no row) and uses this row.
-- name: InsertPayment :one
INSERT INTO payments (tenant_id, order_id, idempotency_key, amount, currency)
VALUES (@tenant_id, @order_id, @idempotency_key, @amount, @currency)
ON CONFLICT (tenant_id, order_id) DO NOTHING
RETURNING *;

-- CheckoutKeyOfOrder is the Idempotency-Key the order was placed with (kept 24 hours).
-- name: CheckoutKeyOfOrder :one
SELECT key FROM idempotency_keys WHERE tenant_id = @tenant_id AND order_id = @order_id LIMIT 1;

-- RecordIntent stores Stripe's answer to the create call, unless the intent is known
-- already (a concurrent request or the intent's webhook recorded it first).
-- name: RecordIntent :one
UPDATE payments SET intent_id = @intent_id, status = @status, version = version + 1, updated_at = now()
WHERE tenant_id = @tenant_id AND id = @id AND intent_id IS NULL
RETURNING *;

-- SetPaymentState writes the state a webhook event leaves the (locked) payment in.
-- name: SetPaymentState :one
UPDATE payments SET intent_id = @intent_id, status = @status, status_at = sqlc.narg(status_at),
    amount_received = @amount_received, amount_refunded = @amount_refunded, charge_id = sqlc.narg(charge_id),
    failures = @failures, last_failure = @last_failure, version = version + 1, updated_at = now()
WHERE tenant_id = @tenant_id AND id = @id
RETURNING *;

-- TenantOfIntent finds, across tenants (platform mode), whose intent a webhook event
-- is about, to pick the secret that must verify it.
-- name: TenantOfIntent :one
SELECT tenant_id FROM payments WHERE intent_id = @intent_id;

-- name: TenantByID :one
SELECT * FROM tenants WHERE id = @id;

-- InsertPaymentEvent claims a webhook event; 0 rows means it was applied before (or
-- is being applied by a concurrent delivery, which this one then waits for).
-- name: InsertPaymentEvent :execrows
INSERT INTO payment_events (tenant_id, event_id, type, payment_id, order_id, stripe_created)
VALUES (@tenant_id, @event_id, @type, sqlc.narg(payment_id), sqlc.narg(order_id), @stripe_created)
ON CONFLICT DO NOTHING;

-- ExtendReservation moves an unpaid order's expiry (and its reservations') to at: a
-- failed payment leaves the shopper the retry window, then the stock is released.
-- name: ExtendReservation :execrows
WITH o AS (
    UPDATE orders SET reservation_expires_at = @at, updated_at = now()
    WHERE orders.tenant_id = @tenant_id AND orders.id = @order_id AND orders.status = 'pending_payment'
    RETURNING orders.id
)
UPDATE reservations SET expires_at = @at
WHERE reservations.tenant_id = @tenant_id AND reservations.order_id IN (SELECT id FROM o) AND reservations.expires_at IS NOT NULL;

-- name: InsertDispute :execrows
INSERT INTO payment_disputes (tenant_id, stripe_id, payment_id, order_id, amount, currency, reason, status, opened_at)
VALUES (@tenant_id, @stripe_id, @payment_id, @order_id, @amount, @currency, @reason, @status, @opened_at)
ON CONFLICT DO NOTHING;

-- name: RefundByKey :one
SELECT * FROM payment_refunds WHERE tenant_id = @tenant_id AND order_id = @order_id AND idempotency_key = @idempotency_key;

-- RefundTotals sums a payment's refunds Stripe accepted and those still waiting for
-- Stripe's answer.
-- name: RefundTotals :one
SELECT coalesce(sum(amount) FILTER (WHERE status IN ('pending', 'succeeded', 'requires_action')), 0)::bigint AS accepted,
       coalesce(sum(amount) FILTER (WHERE status = 'requested'), 0)::bigint AS requested
FROM payment_refunds WHERE tenant_id = @tenant_id AND payment_id = @payment_id;

-- name: InsertRefund :one
INSERT INTO payment_refunds (tenant_id, payment_id, order_id, idempotency_key, request_hash, amount, reason, note, actor)
VALUES (@tenant_id, @payment_id, @order_id, @idempotency_key, @request_hash, @amount, @reason, @note, @actor)
RETURNING *;

-- CompleteRefund stores Stripe's answer to a requested refund (once).
-- name: CompleteRefund :one
UPDATE payment_refunds SET status = @status, stripe_id = sqlc.narg(stripe_id), failure = @failure, updated_at = now()
WHERE tenant_id = @tenant_id AND id = @id AND status = 'requested'
RETURNING *;

-- name: GetRefund :one
SELECT * FROM payment_refunds WHERE tenant_id = @tenant_id AND id = @id;

-- SyncRefunded raises a payment's refunded amount to the sum of its accepted refunds.
-- name: SyncRefunded :one
UPDATE payments p SET amount_refunded = GREATEST(p.amount_refunded,
        (SELECT coalesce(sum(r.amount), 0) FROM payment_refunds r
         WHERE r.tenant_id = p.tenant_id AND r.payment_id = p.id AND r.status IN ('pending', 'succeeded', 'requires_action'))),
    version = p.version + 1, updated_at = now()
WHERE p.tenant_id = @tenant_id AND p.id = @id
RETURNING *;

-- LockRefundForEvent finds the refund a Stripe refund event is about: by Stripe's id,
-- or by the id this API put in the refund's metadata when the row has no Stripe id yet
-- (the answer to the create call was lost). A row that records another Stripe refund
-- is never matched by its metadata id. Stripe ids are unique per tenant, so at most
-- one row has this one.
-- name: LockRefundForEvent :one
SELECT * FROM payment_refunds
WHERE tenant_id = @tenant_id AND payment_id = @payment_id
  AND (stripe_id = @stripe_id OR (id = sqlc.narg(refund_id)::uuid AND stripe_id IS NULL))
ORDER BY stripe_id NULLS LAST
LIMIT 1
FOR UPDATE;

-- HasEndedRefunds reports whether a payment has a refund Stripe failed or canceled.
-- name: HasEndedRefunds :one
SELECT EXISTS (SELECT 1 FROM payment_refunds
               WHERE tenant_id = @tenant_id AND payment_id = @payment_id AND status IN ('failed', 'canceled'))::boolean;

-- EndRefund records that Stripe failed or canceled a refund after accepting it.
-- name: EndRefund :one
UPDATE payment_refunds SET status = @status, stripe_id = coalesce(stripe_id, @stripe_id), failure = @failure, updated_at = now()
WHERE tenant_id = @tenant_id AND id = @id
RETURNING *;

-- name: OrderRefunds :many
SELECT * FROM payment_refunds WHERE tenant_id = @tenant_id AND order_id = @order_id ORDER BY created_at, id;

-- name: OrderDisputes :many
SELECT * FROM payment_disputes WHERE tenant_id = @tenant_id AND order_id = @order_id ORDER BY opened_at, stripe_id;

-- UnrefundedPayment is the money an order's payment received and has not refunded.
-- name: UnrefundedPayment :one
SELECT coalesce(sum(amount_received - amount_refunded), 0)::bigint FROM payments WHERE tenant_id = @tenant_id AND order_id = @order_id;

-- name: AllPaymentKeySecrets :many
-- Every tenant's Stripe keys, for sealing them under the current secrets key (platform mode).
SELECT tenant_id, stripe_secret_key, stripe_webhook_secret FROM payment_keys ORDER BY tenant_id FOR UPDATE;

-- name: SetPaymentKeySecrets :exec
UPDATE payment_keys SET stripe_secret_key = @stripe_secret_key, stripe_webhook_secret = @stripe_webhook_secret
WHERE tenant_id = @tenant_id;
