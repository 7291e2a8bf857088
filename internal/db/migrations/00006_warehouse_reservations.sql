-- Reservations per warehouse. Until now only on_hand was kept per warehouse
-- (stock_locations) and a reservation held units of the SKU as a whole, the warehouse
-- being chosen at fulfilment. Now every reservation row names the warehouse its units
-- come from (an order's line may be split over several), and each warehouse carries
-- what is reserved there, never more than it holds.
--
-- The per-SKU row of stock stays the guard every checkout passes first (its
-- conditional UPDATE serialises the checkouts of one SKU); under that row lock the
-- units are placed in the warehouses. So these sums hold at every commit, for every
-- SKU: stock.on_hand = sum(stock_locations.on_hand), stock.reserved =
-- sum(stock_locations.reserved) = sum(reservations.quantity), and per warehouse
-- reserved = the sum of the reservations that name it.

-- +goose Up
SELECT set_config('kommerce.platform', 'on', true);

ALTER TABLE stock_locations
    ADD COLUMN reserved bigint NOT NULL DEFAULT 0,
    ADD CONSTRAINT stock_locations_reserved_within_on_hand CHECK (reserved >= 0 AND reserved <= on_hand);

ALTER TABLE reservations
    ADD COLUMN warehouse text,
    DROP CONSTRAINT reservations_pkey;

-- kommerce_place_reservation places p_quantity units of an order's SKU in the SKU's
-- warehouses: the most available first, ties by name, split over several when no
-- single one has enough. It adds them to each warehouse's reserved, writes one
-- reservation per warehouse and returns the units placed, fewer than p_quantity only
-- when the warehouses lack them. The caller holds the SKU's stock row lock and keeps
-- stock.reserved in step. Checkouts (kommerce_reserve_stock) and the move of the
-- existing reservations below both place with it, so by the same rule.
-- +goose StatementBegin
CREATE FUNCTION kommerce_place_reservation(p_tenant uuid, p_order uuid, p_sku text, p_quantity bigint,
                                           p_expires_at timestamptz, p_created_at timestamptz) RETURNS bigint
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    placed bigint;
BEGIN
    WITH f AS (
        SELECT sl.warehouse, sl.on_hand - sl.reserved AS free,
               sum(sl.on_hand - sl.reserved) OVER (ORDER BY sl.on_hand - sl.reserved DESC, sl.warehouse
                                                   ROWS UNBOUNDED PRECEDING) AS upto
        FROM stock_locations sl
        WHERE sl.tenant_id = p_tenant AND sl.sku = p_sku AND sl.on_hand > sl.reserved
    ), a AS (
        SELECT f.warehouse, least(f.free, p_quantity - (f.upto - f.free)) AS take
        FROM f WHERE f.upto - f.free < p_quantity
    ), u AS (
        UPDATE stock_locations sl SET reserved = sl.reserved + a.take, updated_at = now()
        FROM a WHERE sl.tenant_id = p_tenant AND sl.sku = p_sku AND sl.warehouse = a.warehouse
        RETURNING sl.warehouse, a.take
    ), r AS (
        INSERT INTO reservations (tenant_id, order_id, sku, warehouse, quantity, expires_at, created_at)
        SELECT p_tenant, p_order, p_sku, u.warehouse, u.take, p_expires_at, p_created_at FROM u
        RETURNING quantity
    )
    SELECT coalesce(sum(r.quantity), 0) INTO placed FROM r;
    RETURN placed;
END
$$;
-- +goose StatementEnd

-- kommerce_reserve_stock reserves an order's units of several SKUs (the conditional
-- strategy of checkout, and the second step of the for-update one). SKU by SKU in
-- sorted order — the order every writer locks stock rows in, so checkouts of several
-- SKUs do not deadlock — it takes the SKU's row with the conditional UPDATE (which
-- waits for a concurrent checkout of the SKU, then re-checks its condition on the row
-- as that one left it), then places the units in the SKU's warehouses: the most
-- available first, ties by name, split over several when no single one has enough.
-- It writes the reservations and the stock.changed event of each SKU (product_ids ''
-- for a SKU without a product: no event).
--
-- The placement (kommerce_place_reservation) is a statement of its own on purpose: a
-- VOLATILE function takes a fresh snapshot per statement, so it reads the warehouses
-- after the row lock is held, as the last writer of the SKU committed them (every
-- writer of stock_locations holds the SKU's stock row lock first). One statement
-- reading them along with the UPDATE would see them as they were before the wait.
--
-- It returns NULL when every SKU was reserved, else the first SKU (in that order)
-- that lacks units; the SKUs before it are reserved, and the caller rolls back.
-- +goose StatementBegin
CREATE FUNCTION kommerce_reserve_stock(p_tenant uuid, p_order uuid, p_skus text[], p_quantities bigint[],
                                       p_product_ids text[], p_expires_at timestamptz) RETURNS text
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    l         record;
    available bigint;
    ver       bigint;
    placed    bigint;
BEGIN
    FOR l IN SELECT u.sku, u.quantity, u.product_id
             FROM unnest(p_skus, p_quantities, p_product_ids) AS u (sku, quantity, product_id)
             ORDER BY u.sku LOOP
        UPDATE stock s SET reserved = s.reserved + l.quantity, version = s.version + 1, updated_at = now()
        WHERE s.tenant_id = p_tenant AND s.sku = l.sku AND s.on_hand - s.reserved >= l.quantity
        RETURNING s.on_hand - s.reserved, s.version INTO available, ver;
        IF NOT FOUND THEN
            RETURN l.sku;
        END IF;

        placed := kommerce_place_reservation(p_tenant, p_order, l.sku, l.quantity, p_expires_at, now());
        IF placed <> l.quantity THEN
            -- The sums of the header were broken: fail rather than reserve units no
            -- warehouse has.
            RAISE EXCEPTION 'SKU %: % of % units found in its warehouses', l.sku, placed, l.quantity;
        END IF;

        IF l.product_id <> '' THEN
            INSERT INTO outbox (tenant_id, aggregate_type, aggregate_id, event_type, payload)
            VALUES (p_tenant, 'stock', l.sku, 'stock.changed',
                    jsonb_build_object('sku', l.sku, 'product_id', l.product_id, 'available', available, 'version', ver));
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- Existing reservations are placed with the rule checkouts use from now on
-- (kommerce_place_reservation), oldest reservation first. Data that breaks the sums
-- above cannot be placed: the migration then fails and says where, rather than
-- guessing.
-- +goose StatementBegin
DO $$
DECLARE
    r      record;
    placed bigint;
BEGIN
    FOR r IN SELECT tenant_id, order_id, sku, quantity, expires_at, created_at FROM reservations
             WHERE warehouse IS NULL ORDER BY tenant_id, sku, created_at, order_id LOOP
        DELETE FROM reservations
        WHERE tenant_id = r.tenant_id AND order_id = r.order_id AND sku = r.sku AND warehouse IS NULL;
        placed := kommerce_place_reservation(r.tenant_id, r.order_id, r.sku, r.quantity, r.expires_at, r.created_at);
        IF placed < r.quantity THEN
            RAISE EXCEPTION 'tenant %, SKU %: the warehouses lack % of the % units order % reserves',
                r.tenant_id, r.sku, r.quantity - placed, r.quantity, r.order_id;
        END IF;
    END LOOP;

    FOR r IN SELECT s.tenant_id, s.sku, s.reserved, coalesce(sum(l.reserved), 0) AS placed FROM stock s
             LEFT JOIN stock_locations l ON l.tenant_id = s.tenant_id AND l.sku = s.sku
             GROUP BY s.tenant_id, s.sku, s.reserved
             HAVING s.reserved <> coalesce(sum(l.reserved), 0) LOOP
        RAISE EXCEPTION 'tenant %, SKU %: stock.reserved is % but its reservations hold %',
            r.tenant_id, r.sku, r.reserved, r.placed;
    END LOOP;
END
$$;
-- +goose StatementEnd

ALTER TABLE reservations
    ALTER COLUMN warehouse SET NOT NULL,
    ADD PRIMARY KEY (tenant_id, order_id, sku, warehouse),
    DROP CONSTRAINT reservations_tenant_id_sku_fkey,
    ADD CONSTRAINT reservations_location_fkey FOREIGN KEY (tenant_id, sku, warehouse)
        REFERENCES stock_locations (tenant_id, sku, warehouse);

-- +goose Down
SELECT set_config('kommerce.platform', 'on', true);

DROP FUNCTION kommerce_reserve_stock(uuid, uuid, text[], bigint[], text[], timestamptz);
DROP FUNCTION kommerce_place_reservation(uuid, uuid, text, bigint, timestamptz, timestamptz);

ALTER TABLE reservations
    DROP CONSTRAINT reservations_location_fkey,
    DROP CONSTRAINT reservations_pkey;

WITH d AS (
    DELETE FROM reservations RETURNING *
)
INSERT INTO reservations (tenant_id, order_id, sku, warehouse, quantity, expires_at, created_at)
SELECT tenant_id, order_id, sku, min(warehouse), sum(quantity), max(expires_at), min(created_at)
FROM d GROUP BY tenant_id, order_id, sku;

ALTER TABLE reservations
    DROP COLUMN warehouse,
    ADD PRIMARY KEY (tenant_id, order_id, sku),
    ADD CONSTRAINT reservations_tenant_id_sku_fkey FOREIGN KEY (tenant_id, sku) REFERENCES stock (tenant_id, sku);

ALTER TABLE stock_locations
    DROP CONSTRAINT stock_locations_reserved_within_on_hand,
    DROP COLUMN reserved;
