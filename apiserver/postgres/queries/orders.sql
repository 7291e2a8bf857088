-- Orders, their lines, history and reservations, and checkout idempotency keys.

-- ClaimIdempotencyKey inserts the key's row in the checkout transaction; a concurrent
-- checkout with the same key waits here until this one commits (then finds the row)
-- or rolls back (then claims it itself).
-- name: ClaimIdempotencyKey :execrows
INSERT INTO idempotency_keys (tenant_id, scope, key, request_hash, response)
VALUES (@tenant_id, @scope, @key, @request_hash, ''::bytea)
ON CONFLICT DO NOTHING;

-- name: GetIdempotencyKey :one
SELECT * FROM idempotency_keys WHERE tenant_id = @tenant_id AND scope = @scope AND key = @key;

-- name: CompleteIdempotencyKey :exec
UPDATE idempotency_keys SET error_code = sqlc.narg(error_code), response = @response, order_id = sqlc.narg(order_id)
WHERE tenant_id = @tenant_id AND scope = @scope AND key = @key;

-- PlaceOrder writes a new order with its lines, the first step of its history, the
-- order.created event and the checkout's idempotent response, in one statement.
-- name: PlaceOrder :exec
WITH o AS (
    INSERT INTO orders (tenant_id, id, storefront, cart_id, customer_id, email, currency, subtotal, shipping, tax, total,
        shipping_address, billing_address, client_ip_hash, fraud_score, fraud_action, fraud_model, review,
        reservation_expires_at, created_at, updated_at)
    VALUES (@tenant_id, @id::uuid, @storefront, @cart_id, sqlc.narg(customer_id), @email, @currency, @subtotal, @shipping, @tax, @total,
        sqlc.narg(shipping_address), sqlc.narg(billing_address), sqlc.narg(client_ip_hash), sqlc.narg(fraud_score),
        sqlc.narg(fraud_action), sqlc.narg(fraud_model), @review, sqlc.narg(reservation_expires_at), @created_at, @created_at)
), l AS (
    INSERT INTO order_lines (tenant_id, order_id, position, kind, sku, product_id, name, quantity, unit_price, amount)
    SELECT @tenant_id, @id::uuid, unnest(@positions::int[]), unnest(@kinds::text[]), nullif(unnest(@skus::text[]), ''),
        nullif(unnest(@product_ids::text[]), '')::uuid, unnest(@names::text[]), unnest(@quantities::int[]),
        unnest(@unit_prices::bigint[]), unnest(@amounts::bigint[])
), t AS (
    INSERT INTO order_transitions (tenant_id, order_id, seq, from_status, to_status, actor, reason, created_at)
    VALUES (@tenant_id, @id::uuid, 1, NULL, 'pending_payment', @actor, 'checkout', @created_at)
), e AS (
    INSERT INTO outbox (tenant_id, aggregate_type, aggregate_id, event_type, payload)
    VALUES (@tenant_id, 'order', @id::text, 'order.created', @event)
)
UPDATE idempotency_keys SET response = @response, order_id = @id::uuid
WHERE idempotency_keys.tenant_id = @tenant_id AND idempotency_keys.scope = @scope AND idempotency_keys.key = @key;

-- name: InsertOrderTransition :exec
INSERT INTO order_transitions (tenant_id, order_id, seq, from_status, to_status, actor, reason, created_at)
VALUES (@tenant_id, @order_id,
    (SELECT coalesce(max(seq), 0) + 1 FROM order_transitions t WHERE t.tenant_id = @tenant_id AND t.order_id = @order_id),
    sqlc.narg(from_status), @to_status, @actor, @reason, @created_at);

-- name: GetOrder :one
SELECT * FROM orders WHERE tenant_id = @tenant_id AND id = @id;

-- name: LockOrder :one
SELECT * FROM orders WHERE tenant_id = @tenant_id AND id = @id FOR UPDATE;

-- LockExpiredOrder locks an unpaid order whose reservation ran out (by the
-- database's clock, the one the sweeper's scan uses).
-- name: LockExpiredOrder :one
SELECT * FROM orders
WHERE tenant_id = @tenant_id AND id = @id AND status = 'pending_payment' AND reservation_expires_at <= now()
FOR UPDATE;

-- name: OrderCartToken :one
SELECT c.token_hash FROM orders o JOIN carts c ON c.tenant_id = o.tenant_id AND c.id = o.cart_id
WHERE o.tenant_id = @tenant_id AND o.id = @id;

-- name: OrderLines :many
SELECT * FROM order_lines WHERE tenant_id = @tenant_id AND order_id = ANY (@order_ids::uuid[])
ORDER BY order_id, position;

-- name: OrderTransitions :many
SELECT * FROM order_transitions WHERE tenant_id = @tenant_id AND order_id = ANY (@order_ids::uuid[])
ORDER BY order_id, seq;

-- ListOrders is keyset-paginated, newest first.
-- name: ListOrders :many
SELECT * FROM orders
WHERE tenant_id = @tenant_id
  AND (sqlc.narg(customer_id)::uuid IS NULL OR customer_id = sqlc.narg(customer_id)::uuid)
  AND (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status)::text)
  AND (sqlc.narg(after_id)::uuid IS NULL OR (created_at, id) < (sqlc.narg(after_created)::timestamptz, sqlc.narg(after_id)::uuid))
ORDER BY created_at DESC, id DESC
LIMIT @lim;

-- name: SetOrderStatus :one
UPDATE orders SET status = @status, reservation_expires_at = sqlc.narg(reservation_expires_at),
    version = version + 1, updated_at = @updated_at
WHERE tenant_id = @tenant_id AND id = @id
RETURNING *;

-- LockReservedStocks locks the stock rows of the SKUs an order holds units of, in SKU
-- order (the order every checkout locks them in, as LockStocks), and returns their
-- SKUs: one round trip where reading the SKUs and then locking them took two.
-- name: LockReservedStocks :many
SELECT s.sku FROM stock s
WHERE s.tenant_id = @tenant_id
    AND s.sku IN (SELECT r.sku FROM reservations r WHERE r.tenant_id = @tenant_id AND r.order_id = @order_id)
ORDER BY s.sku
FOR UPDATE OF s;

-- name: KeepReservations :exec
UPDATE reservations SET expires_at = NULL WHERE tenant_id = @tenant_id AND order_id = @order_id;

-- FraudHistory answers the two history questions of the fraud features: other
-- customers ordering from the same client address in 30 days, and this customer's
-- orders in 24 hours. A customer is its account id, a guest its lower-case email.
-- name: FraudHistory :one
SELECT
    (SELECT count(DISTINCT coalesce(o.customer_id::text, lower(o.email))) FROM orders o
     WHERE o.tenant_id = @tenant_id AND o.client_ip_hash = @client_ip_hash
       AND o.created_at >= now() - interval '30 days'
       AND coalesce(o.customer_id::text, lower(o.email)) <> @customer::text)::int AS others_on_ip,
    (SELECT count(*) FROM orders o
     WHERE o.tenant_id = @tenant_id AND coalesce(o.customer_id::text, lower(o.email)) = @customer::text
       AND o.created_at >= now() - interval '24 hours')::int AS customer_orders;

-- ExpiredReservationOrders finds, across tenants (platform mode), orders whose
-- reservations ran out: the sweeper's work list.
-- name: ExpiredReservationOrders :many
SELECT DISTINCT tenant_id, order_id FROM reservations
WHERE expires_at <= now()
LIMIT @lim;

-- name: DeleteOldIdempotencyKeys :execrows
DELETE FROM idempotency_keys WHERE created_at < @before;

-- LockShopper takes a transaction-scoped advisory lock on one of a checkout's
-- shoppers (an e-mail address, customer or client address, hashed into key), so
-- concurrent checkouts of one shopper count its unpaid orders one after the other.
-- name: LockShopper :exec
SELECT pg_advisory_xact_lock(@key::bigint);

-- UnpaidOrders counts the orders still holding stock unpaid of the checkout's e-mail
-- address, customer and client address.
-- name: UnpaidOrders :one
SELECT
    (SELECT count(*) FROM orders o WHERE o.tenant_id = @tenant_id AND o.status = 'pending_payment'
        AND lower(o.email) = lower(@email) AND o.reservation_expires_at > @at) AS by_email,
    (SELECT count(*) FROM orders o WHERE o.tenant_id = @tenant_id AND o.status = 'pending_payment'
        AND o.customer_id = sqlc.narg(customer_id)::uuid AND o.reservation_expires_at > @at) AS by_customer,
    (SELECT count(*) FROM orders o WHERE o.tenant_id = @tenant_id AND o.status = 'pending_payment'
        AND o.client_ip_hash = sqlc.narg(client_ip_hash)::bytea AND o.reservation_expires_at > @at) AS by_address;
