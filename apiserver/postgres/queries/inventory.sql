-- Inventory: stock per SKU, its warehouses and the adjustment ledger. Every writer
-- locks the SKU's stock row first, so changes of one SKU are serialised and its
-- version orders them.

-- name: SKUProduct :one
SELECT product_id FROM variants WHERE tenant_id = @tenant_id AND sku = @sku;

-- name: EnsureStock :exec
INSERT INTO stock (tenant_id, sku) VALUES (@tenant_id, @sku) ON CONFLICT DO NOTHING;

-- name: GetStock :one
SELECT * FROM stock WHERE tenant_id = @tenant_id AND sku = @sku;

-- name: LockStock :one
SELECT * FROM stock WHERE tenant_id = @tenant_id AND sku = @sku FOR UPDATE;

-- name: StockLocations :many
SELECT warehouse, on_hand, reserved FROM stock_locations
WHERE tenant_id = @tenant_id AND sku = @sku
ORDER BY warehouse;

-- name: LocationStock :one
SELECT on_hand, reserved FROM stock_locations WHERE tenant_id = @tenant_id AND sku = @sku AND warehouse = @warehouse;

-- name: UpsertLocation :exec
INSERT INTO stock_locations (tenant_id, sku, warehouse, on_hand)
VALUES (@tenant_id, @sku, @warehouse, @on_hand)
ON CONFLICT (tenant_id, sku, warehouse) DO UPDATE SET on_hand = excluded.on_hand, updated_at = now();

-- AddOnHand changes the SKU's total; stock_reserved_within_on_hand refuses a total
-- below what is reserved.
-- name: AddOnHand :one
UPDATE stock SET on_hand = on_hand + @delta, version = version + 1, updated_at = now()
WHERE tenant_id = @tenant_id AND sku = @sku
RETURNING *;

-- name: InsertAdjustment :exec
INSERT INTO stock_adjustments (tenant_id, sku, warehouse, delta, on_hand_after, reason, actor, order_id)
VALUES (@tenant_id, @sku, @warehouse, @delta, @on_hand_after, @reason, @actor, sqlc.narg(order_id));

-- name: ListAdjustments :many
SELECT * FROM stock_adjustments
WHERE tenant_id = @tenant_id AND sku = @sku AND (sqlc.narg(before_id)::bigint IS NULL OR id < sqlc.narg(before_id)::bigint)
ORDER BY id DESC
LIMIT @lim;

-- ExpiredHolders are the orders holding expired reservations of any of skus: the
-- release-on-read path expires them before availability is trusted.
-- name: ExpiredHolders :many
SELECT DISTINCT order_id FROM reservations
WHERE tenant_id = @tenant_id AND sku = ANY (@skus::text[]) AND expires_at <= now();

-- Reservation strategies of checkout (postgres.LockStrategy). ReserveStock runs
-- kommerce_reserve_stock (migration 00006): per SKU, in SKU order, the conditional
-- update of the SKU's row (a checkout that waited for a concurrent one re-checks the
-- condition on the row as that one left it), then the placement of the units in the
-- SKU's warehouses, the reservations and the stock.changed event. It returns '' when
-- every SKU was reserved, else the first SKU that lacks units (the caller rolls back
-- what was reserved before it).
-- name: ReserveStock :one
SELECT coalesce(kommerce_reserve_stock(@tenant_id::uuid, @order_id::uuid, @skus::text[], @quantities::bigint[],
    @product_ids::text[], sqlc.narg(expires_at)::timestamptz), '')::text AS short_sku;

-- LockStocks takes the rows in SKU order, so checkouts of several SKUs cannot deadlock.
-- name: LockStocks :many
SELECT sku, on_hand, reserved FROM stock
WHERE tenant_id = @tenant_id AND sku = ANY (@skus::text[])
ORDER BY sku
FOR UPDATE;

-- ReadStocks and ReserveStockUnsafe are the unsafe read-then-write
-- control of the checkout benchmark: nothing locks the rows between the read and the
-- write, which sets reserved (of the SKU and of each warehouse) to the value computed
-- from the read, so concurrent checkouts overwrite each other's reservations and
-- oversell. It places units in warehouses like the safe strategies, so it does the
-- same work minus the re-check. Never used to serve shoppers.
-- ReadStocks returns each SKU's totals with, on one row each, its warehouses that
-- have units available, most available first (ties by name); warehouse is '' for a
-- SKU without any.
-- name: ReadStocks :many
SELECT s.sku, s.on_hand, s.reserved, coalesce(l.warehouse, '')::text AS warehouse,
    coalesce(l.on_hand, 0)::bigint AS warehouse_on_hand, coalesce(l.reserved, 0)::bigint AS warehouse_reserved
FROM stock s
LEFT JOIN stock_locations l ON l.tenant_id = s.tenant_id AND l.sku = s.sku AND l.on_hand > l.reserved
WHERE s.tenant_id = @tenant_id AND s.sku = ANY (@skus::text[])
ORDER BY s.sku, l.on_hand - l.reserved DESC, l.warehouse;

-- name: ReserveStockUnsafe :many
WITH l AS (
    SELECT unnest(@skus::text[]) AS sku, unnest(@quantities::bigint[]) AS quantity,
        unnest(@reserved::bigint[]) AS reserved, unnest(@product_ids::text[]) AS product_id
), s AS (
    UPDATE stock SET reserved = l.reserved, version = stock.version + 1, updated_at = now()
    FROM l
    WHERE stock.tenant_id = @tenant_id AND stock.sku = l.sku
    RETURNING stock.sku, l.quantity, l.product_id, (stock.on_hand - stock.reserved)::bigint AS available, stock.version
), p AS (
    SELECT unnest(@place_skus::text[]) AS sku, unnest(@place_warehouses::text[]) AS warehouse,
        unnest(@place_quantities::bigint[]) AS quantity, unnest(@place_reserved::bigint[]) AS reserved
), w AS (
    UPDATE stock_locations SET reserved = p.reserved, updated_at = now()
    FROM p
    WHERE stock_locations.tenant_id = @tenant_id AND stock_locations.sku = p.sku AND stock_locations.warehouse = p.warehouse
), r AS (
    INSERT INTO reservations (tenant_id, order_id, sku, warehouse, quantity, expires_at)
    SELECT @tenant_id, @order_id::uuid, p.sku, p.warehouse, p.quantity, sqlc.narg(expires_at)::timestamptz FROM p
), e AS (
    INSERT INTO outbox (tenant_id, aggregate_type, aggregate_id, event_type, payload)
    SELECT @tenant_id, 'stock', s.sku, 'stock.changed',
        jsonb_build_object('sku', s.sku, 'product_id', s.product_id, 'available', s.available, 'version', s.version)
    FROM s WHERE s.product_id <> ''
)
SELECT sku, available, version FROM s;

-- ReleaseStock deletes an order's reservations and gives their units back to the
-- warehouses they were placed in and to the SKUs' totals, on stock rows the caller
-- locked (LockReservedStocks) first: this statement starts after the locks are held,
-- so it reads the warehouses as the SKUs' last writers left them.
-- name: ReleaseStock :many
WITH d AS (
    DELETE FROM reservations r WHERE r.tenant_id = @tenant_id AND r.order_id = @order_id
    RETURNING r.sku, r.warehouse, r.quantity
), w AS (
    UPDATE stock_locations l SET reserved = l.reserved - d.quantity, updated_at = now()
    FROM d WHERE l.tenant_id = @tenant_id AND l.sku = d.sku AND l.warehouse = d.warehouse
), t AS (
    SELECT d.sku, sum(d.quantity)::bigint AS quantity FROM d GROUP BY d.sku
)
UPDATE stock SET reserved = stock.reserved - t.quantity, version = stock.version + 1, updated_at = now()
FROM t
WHERE stock.tenant_id = @tenant_id AND stock.sku = t.sku
RETURNING stock.sku, (stock.on_hand - stock.reserved)::bigint AS available, stock.version;

-- ConsumeReservations fulfils an order: every reservation's units leave the warehouse
-- it was placed in (on_hand and reserved both drop, recorded in the ledger) and the
-- SKU's totals, so availability does not change. The caller locks the stock rows
-- (LockReservedStocks) first.
-- name: ConsumeReservations :exec
WITH d AS (
    DELETE FROM reservations r WHERE r.tenant_id = @tenant_id AND r.order_id = @order_id
    RETURNING r.sku, r.warehouse, r.quantity
), w AS (
    UPDATE stock_locations l SET on_hand = l.on_hand - d.quantity, reserved = l.reserved - d.quantity, updated_at = now()
    FROM d WHERE l.tenant_id = @tenant_id AND l.sku = d.sku AND l.warehouse = d.warehouse
    RETURNING l.sku, l.warehouse, d.quantity, l.on_hand
), a AS (
    INSERT INTO stock_adjustments (tenant_id, sku, warehouse, delta, on_hand_after, reason, actor, order_id)
    SELECT @tenant_id, w.sku, w.warehouse, -w.quantity, w.on_hand, 'order fulfilled', @actor, @order_id::uuid
    FROM w ORDER BY w.sku, w.warehouse
), t AS (
    SELECT d.sku, sum(d.quantity)::bigint AS quantity FROM d GROUP BY d.sku
)
UPDATE stock SET on_hand = stock.on_hand - t.quantity, reserved = stock.reserved - t.quantity,
    version = stock.version + 1, updated_at = now()
FROM t
WHERE stock.tenant_id = @tenant_id AND stock.sku = t.sku;

-- name: SKUProducts :many
SELECT sku, product_id FROM variants WHERE tenant_id = @tenant_id AND sku = ANY (@skus::text[]);

-- name: InsertOutboxMany :exec
INSERT INTO outbox (tenant_id, aggregate_type, aggregate_id, event_type, payload)
SELECT @tenant_id, unnest(@aggregate_types::text[]), unnest(@aggregate_ids::text[]), unnest(@event_types::text[]),
    unnest(@payloads::jsonb[]);

-- SeedStock gives SKUs of the catalog that never had stock their first quantity in one
-- warehouse, with the ledger entries and stock.changed events a SetStock would
-- write; SKUs with stock are left alone, so seeding twice changes nothing.
-- name: SeedStock :one
WITH l AS (
    SELECT unnest(@skus::text[]) AS sku, unnest(@quantities::bigint[]) AS quantity
), v AS (
    SELECT l.sku, l.quantity, v.product_id FROM l JOIN variants v ON v.tenant_id = @tenant_id AND v.sku = l.sku
), s AS (
    INSERT INTO stock (tenant_id, sku, on_hand, version)
    SELECT @tenant_id, v.sku, v.quantity, 1 FROM v
    ON CONFLICT DO NOTHING
    RETURNING sku, on_hand, version
), loc AS (
    INSERT INTO stock_locations (tenant_id, sku, warehouse, on_hand)
    SELECT @tenant_id, s.sku, @warehouse, s.on_hand FROM s
), adj AS (
    INSERT INTO stock_adjustments (tenant_id, sku, warehouse, delta, on_hand_after, reason, actor)
    SELECT @tenant_id, s.sku, @warehouse, s.on_hand, s.on_hand, @reason, @actor FROM s
), e AS (
    INSERT INTO outbox (tenant_id, aggregate_type, aggregate_id, event_type, payload)
    SELECT @tenant_id, 'stock', s.sku, 'stock.changed',
        jsonb_build_object('sku', s.sku, 'product_id', v.product_id, 'available', s.on_hand, 'version', s.version)
    FROM s JOIN v ON v.sku = s.sku
)
SELECT count(*) FROM s;
