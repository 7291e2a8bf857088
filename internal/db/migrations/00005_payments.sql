-- Payments: one Stripe PaymentIntent per order, its refunds and disputes, the Stripe
-- webhook events applied (de-duplicated by event id), and per-tenant Stripe keys for
-- installs without a cluster.
--
-- Every table follows the tenancy rule of 00001. Money invariants are constraints:
-- an order has at most one intent (a retry can never create a second), nothing is
-- refunded beyond what was received, and a webhook event is applied at most once.

-- +goose Up

-- payment_keys are a tenant's Stripe keys when they do not come from a mounted
-- Secret (kommerce admin set-stripe-keys). Never returned by the API nor logged.
CREATE TABLE payment_keys (
    tenant_id             uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    stripe_secret_key     text        NOT NULL DEFAULT '' CHECK (length(stripe_secret_key) <= 255),
    stripe_webhook_secret text        NOT NULL DEFAULT '' CHECK (length(stripe_webhook_secret) <= 255),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id)
);

-- payments: the PaymentIntent of an order. The row is written before Stripe is
-- called (status 'creating', intent_id NULL) with the Idempotency-Key every call for
-- it sends, so a crash between the call and recording its answer is repaired by the
-- next request (same key, same intent) or by the intent's webhook (its metadata
-- names the order). status is Stripe's PaymentIntent status once known.
-- status_at is the Stripe `created` time of the event that set status: an older
-- event never overwrites a newer one. version grows with every change and is the
-- version of the payment.updated events.
CREATE TABLE payments (
    tenant_id       uuid        NOT NULL,
    id              uuid        NOT NULL DEFAULT gen_random_uuid(),
    order_id        uuid        NOT NULL,
    provider        text        NOT NULL DEFAULT 'stripe' CHECK (provider = 'stripe'),
    idempotency_key text        NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    intent_id       text        CHECK (intent_id ~ '^pi_[A-Za-z0-9_]{1,250}$'),
    status          text        NOT NULL DEFAULT 'creating'
                                CHECK (status IN ('creating', 'requires_payment_method', 'requires_confirmation', 'requires_action',
                                                  'processing', 'requires_capture', 'canceled', 'succeeded')),
    amount          bigint      NOT NULL CHECK (amount > 0),
    currency        text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    amount_received bigint      NOT NULL DEFAULT 0 CHECK (amount_received >= 0),
    -- amount_refunded is the larger of the charge's refunded total as Stripe last
    -- reported it and the sum of the refunds Stripe accepted from this API: both only
    -- grow, so an older event can never lower it.
    amount_refunded bigint      NOT NULL DEFAULT 0 CHECK (amount_refunded >= 0),
    charge_id       text        CHECK (charge_id ~ '^(ch|py)_[A-Za-z0-9_]{1,250}$'),
    failures        int         NOT NULL DEFAULT 0 CHECK (failures >= 0),
    last_failure    text        NOT NULL DEFAULT '' CHECK (length(last_failure) <= 200),
    status_at       timestamptz,
    version         bigint      NOT NULL DEFAULT 1 CHECK (version > 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, order_id),
    UNIQUE (tenant_id, intent_id),
    FOREIGN KEY (tenant_id, order_id) REFERENCES orders (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT payments_refund_within_received CHECK (amount_refunded <= amount_received)
);
-- The webhook finds the tenant of an event by its intent before verifying it.
CREATE INDEX payments_intent ON payments (intent_id) WHERE intent_id IS NOT NULL;

-- payment_refunds: the refunds asked for through the API. A refund is written
-- 'requested' before Stripe is called (its amount then counts against what can still
-- be refunded, so concurrent refunds can never exceed the payment) and completed with
-- Stripe's answer (its refund status); the client's Idempotency-Key and a hash of the
-- request make a retry return the same refund. Refunds made elsewhere (the Stripe
-- dashboard) are known only as the charge's refunded total (payments.amount_refunded).
CREATE TABLE payment_refunds (
    tenant_id       uuid        NOT NULL,
    id              uuid        NOT NULL DEFAULT gen_random_uuid(),
    payment_id      uuid        NOT NULL,
    order_id        uuid        NOT NULL,
    idempotency_key text        NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    request_hash    bytea       NOT NULL CHECK (length(request_hash) = 32),
    stripe_id       text        CHECK (stripe_id ~ '^(re|pyr)_[A-Za-z0-9_]{1,250}$'),
    amount          bigint      NOT NULL CHECK (amount > 0),
    status          text        NOT NULL DEFAULT 'requested'
                                CHECK (status IN ('requested', 'pending', 'succeeded', 'failed', 'canceled', 'requires_action')),
    reason          text        NOT NULL DEFAULT '' CHECK (reason IN ('', 'duplicate', 'fraudulent', 'requested_by_customer')),
    note            text        NOT NULL DEFAULT '' CHECK (length(note) <= 200),
    actor           text        NOT NULL CHECK (length(actor) BETWEEN 1 AND 100),
    failure         text        NOT NULL DEFAULT '' CHECK (length(failure) <= 200),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, order_id, idempotency_key),
    UNIQUE (tenant_id, stripe_id),
    FOREIGN KEY (tenant_id, payment_id) REFERENCES payments (tenant_id, id) ON DELETE CASCADE
);

-- payment_disputes: chargebacks. A dispute with reason 'fraudulent' is the fraud label
-- training reads (from the payment.updated event: status "disputed", reason).
CREATE TABLE payment_disputes (
    tenant_id  uuid        NOT NULL,
    stripe_id  text        NOT NULL CHECK (stripe_id ~ '^(dp|du)_[A-Za-z0-9_]{1,250}$'),
    payment_id uuid        NOT NULL,
    order_id   uuid        NOT NULL,
    amount     bigint      NOT NULL CHECK (amount >= 0),
    currency   text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    reason     text        NOT NULL CHECK (length(reason) <= 100),
    status     text        NOT NULL CHECK (length(status) <= 100),
    opened_at  timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, stripe_id),
    FOREIGN KEY (tenant_id, payment_id) REFERENCES payments (tenant_id, id) ON DELETE CASCADE
);

-- payment_events are the Stripe webhook events applied, one row each: the primary
-- key is what makes a redelivered event change nothing. The row is inserted first in
-- the transaction that applies the event, so a concurrent delivery of the same event
-- waits for it and then finds it. Ignored events (unknown types, stale, not this
-- tenant's) leave no row.
CREATE TABLE payment_events (
    tenant_id     uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    event_id      text        NOT NULL CHECK (event_id ~ '^evt_[A-Za-z0-9_]{1,250}$'),
    type          text        NOT NULL CHECK (length(type) BETWEEN 1 AND 100),
    payment_id    uuid,
    order_id      uuid,
    stripe_created timestamptz NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, event_id)
);

-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['payment_keys', 'payments', 'payment_refunds', 'payment_disputes', 'payment_events'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (kommerce_tenant_visible(tenant_id)) WITH CHECK (kommerce_tenant_visible(tenant_id))', t);
    END LOOP;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP TABLE payment_events;
DROP TABLE payment_disputes;
DROP TABLE payment_refunds;
DROP TABLE payments;
DROP TABLE payment_keys;
