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
SELECT warehouse, on_hand FROM stock_locations
WHERE tenant_id = @tenant_id AND sku = @sku
ORDER BY warehouse;

-- name: LocationOnHand :one
SELECT on_hand FROM stock_locations WHERE tenant_id = @tenant_id AND sku = @sku AND warehouse = @warehouse;

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

-- Reservation strategies of checkout (postgres.LockStrategy). ReserveStock is the
-- conditional update: a row changes only while enough of its SKU is available, and a
-- checkout that waited for a concurrent one re-checks the condition on the row as
-- that one left it. In the same statement it records the order's reservations and a
-- stock.changed event per SKU (the events.Stock fields); fewer rows back than SKUs
-- asked for means some were not available, and the caller rolls the statement back.
-- name: ReserveStock :many
WITH l AS (
    SELECT unnest(@skus::text[]) AS sku, unnest(@quantities::bigint[]) AS quantity,
        unnest(@product_ids::text[]) AS product_id
), s AS (
    UPDATE stock SET reserved = stock.reserved + l.quantity, version = stock.version + 1, updated_at = now()
    FROM l
    WHERE stock.tenant_id = @tenant_id AND stock.sku = l.sku AND stock.on_hand - stock.reserved >= l.quantity
    RETURNING stock.sku, l.quantity, l.product_id, (stock.on_hand - stock.reserved)::bigint AS available, stock.version
), r AS (
    INSERT INTO reservations (tenant_id, order_id, sku, quantity, expires_at)
    SELECT @tenant_id, @order_id::uuid, s.sku, s.quantity, sqlc.narg(expires_at)::timestamptz FROM s
), e AS (
    INSERT INTO outbox (tenant_id, aggregate_type, aggregate_id, event_type, payload)
    SELECT @tenant_id, 'stock', s.sku, 'stock.changed',
        jsonb_build_object('sku', s.sku, 'product_id', s.product_id, 'available', s.available, 'version', s.version)
    FROM s WHERE s.product_id <> ''
)
SELECT sku, available, version FROM s;

-- LockStocks takes the rows in SKU order, so checkouts of several SKUs cannot deadlock.
-- name: LockStocks :many
SELECT sku, on_hand, reserved FROM stock
WHERE tenant_id = @tenant_id AND sku = ANY (@skus::text[])
ORDER BY sku
FOR UPDATE;

-- ReadStocks and ReserveStockUnsafe are the unsafe read-then-write control of the
-- checkout benchmark: nothing locks the rows between the read and the write, which
-- sets reserved to the value computed from the read, so concurrent checkouts
-- overwrite each other's reservations and oversell. Never used to serve shoppers.
-- name: ReadStocks :many
SELECT sku, on_hand, reserved FROM stock
WHERE tenant_id = @tenant_id AND sku = ANY (@skus::text[])
ORDER BY sku;

-- name: ReserveStockUnsafe :many
WITH l AS (
    SELECT unnest(@skus::text[]) AS sku, unnest(@quantities::bigint[]) AS quantity,
        unnest(@reserved::bigint[]) AS reserved, unnest(@product_ids::text[]) AS product_id
), s AS (
    UPDATE stock SET reserved = l.reserved, version = stock.version + 1, updated_at = now()
    FROM l
    WHERE stock.tenant_id = @tenant_id AND stock.sku = l.sku
    RETURNING stock.sku, l.quantity, l.product_id, (stock.on_hand - stock.reserved)::bigint AS available, stock.version
), r AS (
    INSERT INTO reservations (tenant_id, order_id, sku, quantity, expires_at)
    SELECT @tenant_id, @order_id::uuid, s.sku, s.quantity, sqlc.narg(expires_at)::timestamptz FROM s
), e AS (
    INSERT INTO outbox (tenant_id, aggregate_type, aggregate_id, event_type, payload)
    SELECT @tenant_id, 'stock', s.sku, 'stock.changed',
        jsonb_build_object('sku', s.sku, 'product_id', s.product_id, 'available', s.available, 'version', s.version)
    FROM s WHERE s.product_id <> ''
)
SELECT sku, available, version FROM s;

-- ReleaseStock gives back what reservations of an order hold, on stock rows the
-- caller locked (LockStocks) first.
-- name: ReleaseStock :many
UPDATE stock SET reserved = stock.reserved - r.quantity, version = stock.version + 1, updated_at = now()
FROM reservations r
WHERE r.tenant_id = @tenant_id AND r.order_id = @order_id AND stock.tenant_id = r.tenant_id AND stock.sku = r.sku
RETURNING stock.sku, (stock.on_hand - stock.reserved)::bigint AS available, stock.version;

-- ConsumeStock takes fulfilled units out of the SKU's total and its reservations.
-- name: ConsumeStock :one
UPDATE stock SET on_hand = on_hand - @quantity, reserved = reserved - @quantity, version = version + 1, updated_at = now()
WHERE tenant_id = @tenant_id AND sku = @sku
RETURNING *;

-- name: LockLocations :many
SELECT warehouse, on_hand FROM stock_locations
WHERE tenant_id = @tenant_id AND sku = @sku AND on_hand > 0
ORDER BY on_hand DESC, warehouse
FOR UPDATE;

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
