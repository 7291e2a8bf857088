-- Notifications by e-mail and outbound webhooks (issue 17).
--
-- notification_templates: a tenant's overrides of the shipped default e-mail templates,
-- one per kind and locale; the API renders each against sample data before it stores
-- it, so a template that cannot render is refused at save time.
--
-- notification_sends: one row per (event, kind) the notifier handled. The row is
-- inserted (or locked) in the transaction that sends the e-mail and its status is set
-- in that same transaction after the SMTP server accepted the message, so a duplicate
-- of the event waits on the row lock and then sees 'sent'. Status 'failed' keeps the
-- last error of a send that will be retried; 'dead' one that was dead-lettered.
--
-- account_tokens: password-reset and e-mail-verification tokens, stored as SHA-256
-- of the token only; single use (used_at) and expiring (expires_at).
--
-- webhook_endpoints / webhook_deliveries / webhook_attempts: endpoints a tenant's staff
-- registered, one delivery per (endpoint, event) made by the fan-out consumer (a
-- duplicate event finds the unique key and adds nothing), and every HTTP attempt of
-- a delivery with its status and latency for the delivery log.

-- +goose Up
ALTER TABLE users ADD COLUMN email_verified_at timestamptz;

CREATE TABLE notification_templates (
    tenant_id  uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kind       text        NOT NULL CHECK (kind ~ '^[a-z_]{1,40}$'),
    locale     text        NOT NULL CHECK (locale ~ '^[a-z]{2}(-[A-Z]{2})?$'),
    subject    text        NOT NULL CHECK (length(subject) BETWEEN 1 AND 1000),
    html       text        NOT NULL CHECK (length(html) <= 200000),
    text_body  text        NOT NULL CHECK (length(text_body) BETWEEN 1 AND 100000),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, kind, locale)
);

CREATE TABLE notification_sends (
    tenant_id  uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    event_id   uuid        NOT NULL,
    kind       text        NOT NULL,
    recipient  text        NOT NULL DEFAULT '',
    status     text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'failed', 'sent', 'dead')),
    attempts   int         NOT NULL DEFAULT 0,
    last_error text        NOT NULL DEFAULT '',
    message_id text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz,
    PRIMARY KEY (tenant_id, event_id, kind)
);
CREATE INDEX notification_sends_status ON notification_sends (tenant_id, status, created_at DESC);

CREATE TABLE account_tokens (
    tenant_id  uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         uuid        NOT NULL DEFAULT gen_random_uuid(),
    user_id    uuid        NOT NULL,
    purpose    text        NOT NULL CHECK (purpose IN ('password_reset', 'email_verification')),
    token_hash bytea       NOT NULL CHECK (length(token_hash) = 32),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, token_hash),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX account_tokens_user ON account_tokens (tenant_id, user_id, purpose);

CREATE TABLE webhook_endpoints (
    tenant_id           uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                  uuid        NOT NULL DEFAULT gen_random_uuid(),
    url                 text        NOT NULL CHECK (length(url) BETWEEN 8 AND 2000),
    description         text        NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    event_types         text[]      NOT NULL CHECK (cardinality(event_types) BETWEEN 1 AND 50),
    -- secretbox-sealed signing secrets (column names are the associated data);
    -- previous_secret stays valid until previous_expires_at after a rotation.
    secret              text        NOT NULL,
    previous_secret     text,
    previous_expires_at timestamptz,
    enabled             boolean     NOT NULL DEFAULT true,
    failing_since       timestamptz,
    disabled_at         timestamptz,
    disabled_reason     text        NOT NULL DEFAULT '',
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE webhook_deliveries (
    tenant_id       uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id              uuid        NOT NULL DEFAULT gen_random_uuid(),
    -- seq orders deliveries of one aggregate: the fan-out inserts them in the order the
    -- events come off their Kafka partition, which is the order of the aggregate's events.
    seq             bigint      GENERATED ALWAYS AS IDENTITY,
    endpoint_id     uuid        NOT NULL,
    event_id        uuid        NOT NULL,
    event_type      text        NOT NULL,
    aggregate_key   text        NOT NULL,
    payload         bytea       NOT NULL,
    status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts        int         NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_status     int,
    last_error      text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, endpoint_id, event_id),
    FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_aggregate ON webhook_deliveries (tenant_id, endpoint_id, aggregate_key, seq) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (tenant_id, endpoint_id, seq DESC);

CREATE TABLE webhook_attempts (
    tenant_id   uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    delivery_id uuid        NOT NULL,
    attempt     int         NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    status_code int,
    error       text        NOT NULL DEFAULT '',
    latency_ms  int         NOT NULL,
    PRIMARY KEY (tenant_id, delivery_id, attempt),
    FOREIGN KEY (tenant_id, delivery_id) REFERENCES webhook_deliveries (tenant_id, id) ON DELETE CASCADE
);

-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['notification_templates', 'notification_sends', 'account_tokens',
                             'webhook_endpoints', 'webhook_deliveries', 'webhook_attempts'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (kommerce_tenant_visible(tenant_id)) WITH CHECK (kommerce_tenant_visible(tenant_id))', t);
    END LOOP;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
DROP TABLE account_tokens;
DROP TABLE notification_sends;
DROP TABLE notification_templates;
ALTER TABLE users DROP COLUMN email_verified_at;
