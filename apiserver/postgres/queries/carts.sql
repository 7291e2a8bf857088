-- Carts and their lines.

-- name: InsertCart :one
INSERT INTO carts (tenant_id, storefront, currency, customer_id, token_hash)
VALUES (@tenant_id, @storefront, @currency, sqlc.narg(customer_id), sqlc.narg(token_hash))
RETURNING *;

-- name: ActiveCustomerCart :one
SELECT * FROM carts WHERE tenant_id = @tenant_id AND customer_id = @customer_id AND status = 'active';

-- name: LockCart :one
SELECT * FROM carts WHERE tenant_id = @tenant_id AND id = @id FOR UPDATE;

-- name: GetCart :one
SELECT * FROM carts WHERE tenant_id = @tenant_id AND id = @id;

-- name: LockGuestCartByToken :one
SELECT * FROM carts
WHERE tenant_id = @tenant_id AND token_hash = @token_hash AND customer_id IS NULL AND status = 'active'
FOR UPDATE;

-- name: TouchCart :exec
UPDATE carts SET updated_at = now() WHERE tenant_id = @tenant_id AND id = @id;

-- name: CloseCart :exec
UPDATE carts SET status = @status, updated_at = now() WHERE tenant_id = @tenant_id AND id = @id;

-- AdoptCart makes a guest cart the customer's own; the token stops working.
-- name: AdoptCart :exec
UPDATE carts SET customer_id = @customer_id, token_hash = NULL, updated_at = now()
WHERE tenant_id = @tenant_id AND id = @id;

-- CheckoutCart closes an active cart the caller may use (its token, or its owner)
-- and returns it; no row means not found, not theirs or not active any more.
-- name: CheckoutCart :one
UPDATE carts SET status = 'checked_out', updated_at = now()
WHERE tenant_id = @tenant_id AND id = @id AND status = 'active'
  AND ((customer_id IS NULL AND token_hash = sqlc.narg(token_hash)) OR customer_id = sqlc.narg(customer_id))
RETURNING *;

-- name: CartOrderID :one
SELECT id FROM orders WHERE tenant_id = @tenant_id AND cart_id = @cart_id;

-- CartLinesPriced is every line with what checkout needs to know about it now: its
-- product, whether it is for sale, its price in the cart's currency, the stock
-- available and whether expired reservations still hold some of it.
-- name: CartLinesPriced :many
SELECT l.id, l.sku, l.quantity,
    v.product_id, p.name AS product_name, v.attributes AS variant_attributes,
    coalesce(p.status = 'published' AND p.deleted_at IS NULL, false)::boolean AS sellable,
    pr.amount AS price,
    coalesce(s.on_hand - s.reserved, 0)::bigint AS available,
    EXISTS (SELECT 1 FROM reservations r
            WHERE r.tenant_id = l.tenant_id AND r.sku = l.sku AND r.expires_at <= now())::boolean AS has_expired
FROM cart_lines l
LEFT JOIN variants v ON v.tenant_id = l.tenant_id AND v.sku = l.sku
LEFT JOIN products p ON p.tenant_id = v.tenant_id AND p.id = v.product_id
LEFT JOIN prices pr ON pr.tenant_id = l.tenant_id AND pr.sku = l.sku AND pr.currency = @currency
LEFT JOIN stock s ON s.tenant_id = l.tenant_id AND s.sku = l.sku
WHERE l.tenant_id = @tenant_id AND l.cart_id = @cart_id
ORDER BY l.created_at, l.id;

-- SKUForCart is what adding a SKU to a cart checks.
-- name: SKUForCart :one
SELECT v.product_id,
    (p.status = 'published' AND p.deleted_at IS NULL)::boolean AS sellable,
    pr.amount AS price,
    coalesce(s.on_hand - s.reserved, 0)::bigint AS available,
    EXISTS (SELECT 1 FROM reservations r
            WHERE r.tenant_id = v.tenant_id AND r.sku = v.sku AND r.expires_at <= now())::boolean AS has_expired
FROM variants v
JOIN products p ON p.tenant_id = v.tenant_id AND p.id = v.product_id
LEFT JOIN prices pr ON pr.tenant_id = v.tenant_id AND pr.sku = v.sku AND pr.currency = @currency
LEFT JOIN stock s ON s.tenant_id = v.tenant_id AND s.sku = v.sku
WHERE v.tenant_id = @tenant_id AND v.sku = @sku;

-- name: CartLines :many
SELECT * FROM cart_lines WHERE tenant_id = @tenant_id AND cart_id = @cart_id ORDER BY created_at, id;

-- name: CartLineBySKU :one
SELECT * FROM cart_lines WHERE tenant_id = @tenant_id AND cart_id = @cart_id AND sku = @sku;

-- name: CartLine :one
SELECT * FROM cart_lines WHERE tenant_id = @tenant_id AND cart_id = @cart_id AND id = @id;

-- name: CountCartLines :one
SELECT count(*) FROM cart_lines WHERE tenant_id = @tenant_id AND cart_id = @cart_id;

-- name: SetCartLine :exec
INSERT INTO cart_lines (tenant_id, cart_id, sku, quantity)
VALUES (@tenant_id, @cart_id, @sku, @quantity)
ON CONFLICT (tenant_id, cart_id, sku) DO UPDATE SET quantity = excluded.quantity;

-- name: DeleteCartLine :execrows
DELETE FROM cart_lines WHERE tenant_id = @tenant_id AND cart_id = @cart_id AND id = @id;

-- DeleteAbandonedCarts deletes up to @lim open carts (active or merged) of guests
-- (@guests) or of customers, across all tenants, that nobody changed since @before.
-- A cart an order was placed from is kept with its order. Carts locked by a request
-- are skipped, and locking re-reads updated_at, so a cart touched meanwhile stays.
-- The condition matches carts_open_by_updated, so one call reads only what it deletes.
-- name: DeleteAbandonedCarts :execrows
DELETE FROM carts
WHERE (tenant_id, id) IN (
    SELECT a.tenant_id, a.id FROM carts a
    WHERE a.status <> 'checked_out'
      AND (a.customer_id IS NULL) = @guests::boolean
      AND a.updated_at < @before::timestamptz
      AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.tenant_id = a.tenant_id AND o.cart_id = a.id)
    LIMIT @lim
    FOR UPDATE SKIP LOCKED
);
