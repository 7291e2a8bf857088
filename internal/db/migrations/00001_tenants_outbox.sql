-- The tenant registry and the transactional outbox, plus the row-level security
-- helpers every tenant-scoped table uses.
--
-- Tenancy rule: every tenant-scoped table has tenant_id in its primary key and a
-- policy `tenant_isolation` built from kommerce_tenant_visible(tenant_id). A
-- transaction sees a tenant's rows only after `SET LOCAL kommerce.tenant_id = '<uuid>'`;
-- platform components that work across tenants (the outbox relay, the operator, the
-- reservation sweeper) use `SET LOCAL kommerce.platform = 'on'` instead. A query that
-- sets neither sees nothing, so a forgotten WHERE tenant_id = ... leaks nothing.

-- +goose Up
CREATE FUNCTION kommerce_current_tenant() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT nullif(current_setting('kommerce.tenant_id', true), '')::uuid $$;

CREATE FUNCTION kommerce_is_platform() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT coalesce(current_setting('kommerce.platform', true), '') = 'on' $$;

CREATE FUNCTION kommerce_tenant_visible(row_tenant uuid) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT row_tenant = kommerce_current_tenant() OR kommerce_is_platform() $$;

CREATE TABLE tenants (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    slug        text        NOT NULL UNIQUE
                            CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    name        text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    status      text        NOT NULL DEFAULT 'active'
                            CHECK (status IN ('active', 'suspended', 'deleting')),
    -- Data-plane isolation prefixes, fixed at creation (the Tenant resource makes them
    -- immutable too): Kafka topics, search indices and Redis keys of this tenant.
    topic_prefix text       NOT NULL CHECK (topic_prefix ~ '^[a-z0-9][a-z0-9._-]{0,99}$'),
    index_prefix text       NOT NULL CHECK (index_prefix ~ '^[a-z0-9][a-z0-9_-]{0,99}$'),
    redis_prefix text       NOT NULL CHECK (redis_prefix ~ '^[A-Za-z0-9:._-]{1,100}$'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- A tenant sees its own registry row; the platform sees all of them.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants
    USING (kommerce_tenant_visible(id))
    WITH CHECK (kommerce_tenant_visible(id));

-- outbox holds domain events written in the same transaction as the change they
-- describe; `kommerce ingest` relays unpublished rows to Kafka in id order and sets
-- published_at only after the broker acknowledged them.
CREATE TABLE outbox (
    tenant_id       uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id              bigint      GENERATED ALWAYS AS IDENTITY,
    event_id        uuid        NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    aggregate_type  text        NOT NULL CHECK (aggregate_type <> ''),
    aggregate_id    text        NOT NULL CHECK (aggregate_id <> ''),
    event_type      text        NOT NULL CHECK (event_type ~ '^[a-z_]+\.[a-z_.]+$'),
    payload         jsonb       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    published_at    timestamptz,
    PRIMARY KEY (tenant_id, id)
);

-- The relay scans unpublished rows in global id order; this index stays small because
-- published rows leave it.
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

ALTER TABLE outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE outbox FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON outbox
    USING (kommerce_tenant_visible(tenant_id))
    WITH CHECK (kommerce_tenant_visible(tenant_id));

-- +goose Down
DROP TABLE outbox;
DROP TABLE tenants;
DROP FUNCTION kommerce_tenant_visible(uuid);
DROP FUNCTION kommerce_is_platform();
DROP FUNCTION kommerce_current_tenant();
