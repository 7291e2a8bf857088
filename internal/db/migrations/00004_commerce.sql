-- Commerce: storefront checkout rules, inventory, carts, orders with their state
-- history, stock reservations and checkout idempotency keys.
--
-- Every table follows the tenancy rule of 00001 (tenant_id leads every key, RLS
-- enabled and forced). The invariants that protect money and stock are constraints
-- here rather than code: stock can never be negative nor reserved beyond what is on
-- hand, a cart becomes at most one order, an order total is the sum of its lines, and
-- a reservation cannot outlive its order.

-- +goose Up

-- storefront_settings are the commerce rules of one storefront of a tenant. Requests
-- use the storefront their Host is mapped to (storefront_hosts), else "default"; a
-- storefront without a row uses the API's defaults.
CREATE TABLE storefront_settings (
    tenant_id               uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    storefront              text        NOT NULL CHECK (storefront ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    currency                text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    reservation_ttl_seconds int         NOT NULL CHECK (reservation_ttl_seconds BETWEEN 1 AND 86400),
    -- Flat rules for now: tax in basis points of (items + shipping), a flat shipping
    -- fee waived from free_shipping_over (items subtotal) when that is set.
    tax_rate_bps            int         NOT NULL DEFAULT 0 CHECK (tax_rate_bps BETWEEN 0 AND 10000),
    tax_label               text        NOT NULL DEFAULT 'Tax' CHECK (length(tax_label) BETWEEN 1 AND 100),
    shipping_amount         bigint      NOT NULL DEFAULT 0 CHECK (shipping_amount BETWEEN 0 AND 1000000000000),
    free_shipping_over      bigint      CHECK (free_shipping_over BETWEEN 0 AND 1000000000000),
    -- The fraud policy applies only when the API has a fraud model configured.
    fraud_action            text        CHECK (fraud_action IN ('log', 'review', 'block')),
    fraud_threshold         double precision CHECK (fraud_threshold > 0 AND fraud_threshold < 1),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, storefront),
    CHECK ((fraud_action IS NULL) = (fraud_threshold IS NULL))
);

-- stock is the sellable quantity of a SKU: on_hand is the sum over its warehouses
-- (stock_locations), reserved what checkouts hold. Availability is on_hand - reserved.
-- Reservations are taken against the SKU as a whole; a warehouse is chosen when the
-- order is fulfilled. version grows with every change and is the version of the
-- SKU's stock.changed events. Not a foreign key to variants: a SKU removed from the
-- catalog keeps its stock history and open reservations.
CREATE TABLE stock (
    tenant_id  uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    sku        text        NOT NULL CHECK (sku ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    on_hand    bigint      NOT NULL DEFAULT 0 CHECK (on_hand >= 0),
    reserved   bigint      NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    version    bigint      NOT NULL DEFAULT 0 CHECK (version >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, sku),
    CONSTRAINT stock_reserved_within_on_hand CHECK (reserved <= on_hand)
);

CREATE TABLE stock_locations (
    tenant_id  uuid        NOT NULL,
    sku        text        NOT NULL,
    warehouse  text        NOT NULL CHECK (warehouse ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    on_hand    bigint      NOT NULL CHECK (on_hand >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, sku, warehouse),
    FOREIGN KEY (tenant_id, sku) REFERENCES stock (tenant_id, sku) ON DELETE CASCADE
);

-- stock_adjustments is the ledger of every change of on_hand: staff settings and
-- adjustments with their reason, and fulfilments (order_id set).
CREATE TABLE stock_adjustments (
    tenant_id     uuid        NOT NULL,
    id            bigint      GENERATED ALWAYS AS IDENTITY,
    sku           text        NOT NULL,
    warehouse     text        NOT NULL,
    delta         bigint      NOT NULL,
    on_hand_after bigint      NOT NULL CHECK (on_hand_after >= 0),
    reason        text        NOT NULL CHECK (length(reason) BETWEEN 1 AND 200),
    actor         text        NOT NULL,
    order_id      uuid,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, sku) REFERENCES stock (tenant_id, sku) ON DELETE CASCADE
);
CREATE INDEX stock_adjustments_sku ON stock_adjustments (tenant_id, sku, id);

-- carts: a guest cart is reached with its opaque token (only its SHA-256 is stored),
-- a customer cart by its owner; a customer has at most one active cart. A cart ends
-- checked_out (it became order_id) or merged (into the customer's cart at login).
CREATE TABLE carts (
    tenant_id   uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          uuid        NOT NULL DEFAULT gen_random_uuid(),
    storefront  text        NOT NULL,
    currency    text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    customer_id uuid,
    token_hash  bytea       CHECK (length(token_hash) = 32),
    status      text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'checked_out', 'merged')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, token_hash),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    CHECK (customer_id IS NOT NULL OR token_hash IS NOT NULL)
);
CREATE UNIQUE INDEX carts_one_active_per_customer ON carts (tenant_id, customer_id)
    WHERE status = 'active' AND customer_id IS NOT NULL;

CREATE TABLE cart_lines (
    tenant_id  uuid        NOT NULL,
    cart_id    uuid        NOT NULL,
    id         uuid        NOT NULL DEFAULT gen_random_uuid(),
    sku        text        NOT NULL,
    quantity   int         NOT NULL CHECK (quantity BETWEEN 1 AND 10000),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, cart_id, sku),
    FOREIGN KEY (tenant_id, cart_id) REFERENCES carts (tenant_id, id) ON DELETE CASCADE
);

-- orders: one per cart at most (UNIQUE cart_id), so no retry, race or replay can turn
-- one cart into two orders. Totals are integer minor units of one currency, and the
-- total is always the sum of the lines (items, shipping, tax).
CREATE TABLE orders (
    tenant_id              uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                     uuid        NOT NULL DEFAULT gen_random_uuid(),
    storefront             text        NOT NULL,
    cart_id                uuid        NOT NULL,
    customer_id            uuid,
    email                  text        NOT NULL DEFAULT '' CHECK (length(email) <= 254),
    status                 text        NOT NULL DEFAULT 'pending_payment'
                                       CHECK (status IN ('pending_payment', 'paid', 'fulfilled', 'shipped', 'delivered', 'cancelled', 'refunded')),
    currency               text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    subtotal               bigint      NOT NULL CHECK (subtotal >= 0),
    shipping               bigint      NOT NULL CHECK (shipping >= 0),
    tax                    bigint      NOT NULL CHECK (tax >= 0),
    total                  bigint      NOT NULL CHECK (total = subtotal + shipping + tax),
    shipping_address       jsonb,
    billing_address        jsonb,
    -- client_ip_hash is a keyed hash of the checkout's client address: the fraud
    -- features only compare addresses, never read them.
    client_ip_hash         bytea,
    fraud_score            double precision,
    fraud_action           text,
    fraud_model            text,
    review                 boolean     NOT NULL DEFAULT false,
    reservation_expires_at timestamptz,
    version                bigint      NOT NULL DEFAULT 1 CHECK (version > 0),
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, cart_id),
    FOREIGN KEY (tenant_id, cart_id) REFERENCES carts (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX orders_created ON orders (tenant_id, created_at DESC, id DESC);
CREATE INDEX orders_customer ON orders (tenant_id, customer_id, created_at DESC, id DESC);
CREATE INDEX orders_client_ip ON orders (tenant_id, client_ip_hash, created_at) WHERE client_ip_hash IS NOT NULL;

-- order_lines are the items, then shipping and tax as explicit lines.
CREATE TABLE order_lines (
    tenant_id  uuid   NOT NULL,
    order_id   uuid   NOT NULL,
    position   int    NOT NULL CHECK (position >= 0),
    kind       text   NOT NULL CHECK (kind IN ('item', 'shipping', 'tax')),
    sku        text,
    product_id uuid,
    name       text   NOT NULL,
    quantity   int    NOT NULL CHECK (quantity > 0),
    unit_price bigint NOT NULL CHECK (unit_price >= 0),
    amount     bigint NOT NULL CHECK (amount = unit_price * quantity),
    PRIMARY KEY (tenant_id, order_id, position),
    FOREIGN KEY (tenant_id, order_id) REFERENCES orders (tenant_id, id) ON DELETE CASCADE,
    CHECK ((kind = 'item') = (sku IS NOT NULL))
);

-- order_transitions is the history of an order's states: who moved it, when and why.
CREATE TABLE order_transitions (
    tenant_id   uuid        NOT NULL,
    order_id    uuid        NOT NULL,
    seq         int         NOT NULL CHECK (seq > 0),
    from_status text,
    to_status   text        NOT NULL,
    actor       text        NOT NULL CHECK (length(actor) BETWEEN 1 AND 100),
    reason      text        NOT NULL DEFAULT '' CHECK (length(reason) <= 200),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, order_id, seq),
    FOREIGN KEY (tenant_id, order_id) REFERENCES orders (tenant_id, id) ON DELETE CASCADE
);

-- reservations hold stock for an order: while pending payment until expires_at, once
-- paid (expires_at NULL) until the order is fulfilled. A released reservation is
-- deleted; stock.reserved always equals the sum of a SKU's reservations.
CREATE TABLE reservations (
    tenant_id  uuid        NOT NULL,
    order_id   uuid        NOT NULL,
    sku        text        NOT NULL,
    quantity   bigint      NOT NULL CHECK (quantity > 0),
    expires_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, order_id, sku),
    FOREIGN KEY (tenant_id, order_id) REFERENCES orders (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, sku) REFERENCES stock (tenant_id, sku)
);
-- The sweeper's scan (across tenants) and the release-on-read check (per SKU).
CREATE INDEX reservations_expiry ON reservations (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX reservations_sku_expiry ON reservations (tenant_id, sku, expires_at) WHERE expires_at IS NOT NULL;

-- idempotency_keys remember the first response to a checkout per caller and key. The
-- row is written in the checkout's own transaction, so a concurrent request with the
-- same key waits on it and then answers the same; request_hash tells a retry from a
-- different request reusing the key.
CREATE TABLE idempotency_keys (
    tenant_id    uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    scope        text        NOT NULL CHECK (length(scope) BETWEEN 1 AND 100),
    key          text        NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash bytea       NOT NULL CHECK (length(request_hash) = 32),
    -- error_code is NULL when the checkout placed order_id; response is the order or
    -- the error ({code, message, field}) as first answered.
    error_code   text,
    response     bytea       NOT NULL,
    order_id     uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, scope, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['storefront_settings', 'stock', 'stock_locations', 'stock_adjustments', 'carts',
                             'cart_lines', 'orders', 'order_lines', 'order_transitions', 'reservations',
                             'idempotency_keys'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (kommerce_tenant_visible(tenant_id)) WITH CHECK (kommerce_tenant_visible(tenant_id))', t);
    END LOOP;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE reservations;
DROP TABLE order_transitions;
DROP TABLE order_lines;
DROP TABLE orders;
DROP TABLE cart_lines;
DROP TABLE carts;
DROP TABLE stock_adjustments;
DROP TABLE stock_locations;
DROP TABLE stock;
DROP TABLE storefront_settings;
