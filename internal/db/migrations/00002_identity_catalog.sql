-- Identity (users, refresh tokens, per-tenant signing keys), storefront host mapping
-- and the catalog (categories, products, variants, prices).
--
-- Every table follows the tenancy rule of 00001: tenant_id leads the primary key and
-- every foreign key, and RLS is enabled and forced with the policy tenant_isolation, so
-- a statement that forgets `WHERE tenant_id = ...` still sees only the tenant set by
-- set_config('kommerce.tenant_id', ..., true) in its transaction.

-- +goose Up

-- storefront_hosts maps a request's Host to the tenant whose storefront it is, and lists
-- the browser origins that storefront's apps may call the API from (CORS).
CREATE TABLE storefront_hosts (
    tenant_id    uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    hostname     text        NOT NULL CHECK (hostname ~ '^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?(:[0-9]{1,5})?$'),
    storefront   text        NOT NULL DEFAULT 'default' CHECK (storefront ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    cors_origins text[]      NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, hostname),
    -- A hostname belongs to one tenant only; the lookup runs before the tenant is known.
    UNIQUE (hostname)
);

-- signing_keys are the Ed25519 keys that sign a tenant's access tokens when the API is
-- not given keys from the tenant's Secret (--tenant-keys-dir). One key is active (signs);
-- retired keys still verify tokens issued before a rotation until they are deleted.
CREATE TABLE signing_keys (
    tenant_id   uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kid         text        NOT NULL CHECK (kid ~ '^[A-Za-z0-9._-]{1,64}$'),
    private_key bytea       NOT NULL, -- PKCS#8 DER
    active      boolean     NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    retired_at  timestamptz,
    PRIMARY KEY (tenant_id, kid)
);
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (tenant_id) WHERE active;

CREATE TABLE users (
    tenant_id     uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id            uuid        NOT NULL DEFAULT gen_random_uuid(),
    email         text        NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    name          text        NOT NULL DEFAULT '' CHECK (length(name) <= 200),
    password_hash text        NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    role          text        NOT NULL DEFAULT 'customer' CHECK (role IN ('customer', 'staff', 'admin')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
-- Emails are unique per tenant, case-insensitively: the same person may shop at two
-- tenants with the same address and they are two unrelated accounts.
CREATE UNIQUE INDEX users_email ON users (tenant_id, lower(email));

-- refresh_tokens stores only a SHA-256 of each opaque token. A login starts a family;
-- each refresh marks the presented token rotated and issues the next one in the family.
-- Presenting a rotated token again means it was stolen (or replayed), so the whole
-- family is revoked.
CREATE TABLE refresh_tokens (
    tenant_id  uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         uuid        NOT NULL DEFAULT gen_random_uuid(),
    family_id  uuid        NOT NULL,
    user_id    uuid        NOT NULL,
    token_hash bytea       NOT NULL CHECK (length(token_hash) = 32),
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    rotated_at timestamptz,
    revoked_at timestamptz,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, token_hash),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (tenant_id, family_id);

-- categories form a tree per tenant (parent_id NULL at the roots); the service refuses
-- a parent change that would make a cycle.
CREATE TABLE categories (
    tenant_id  uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         uuid        NOT NULL DEFAULT gen_random_uuid(),
    parent_id  uuid,
    slug       text        NOT NULL CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,98}[a-z0-9])?$'),
    name       text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    version    bigint      NOT NULL DEFAULT 1 CHECK (version > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, slug),
    FOREIGN KEY (tenant_id, parent_id) REFERENCES categories (tenant_id, id),
    CHECK (parent_id IS DISTINCT FROM id)
);
CREATE INDEX categories_parent ON categories (tenant_id, parent_id);

-- products are soft-deleted (deleted_at) so that orders and events keep referring to
-- them; version grows by one on every write and is the version of product.* events.
CREATE TABLE products (
    tenant_id   uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          uuid        NOT NULL DEFAULT gen_random_uuid(),
    name        text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description text        NOT NULL DEFAULT '' CHECK (length(description) <= 10000),
    status      text        NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published')),
    attributes  jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attributes) = 'object'),
    images      text[]      NOT NULL DEFAULT '{}',
    version     bigint      NOT NULL DEFAULT 1 CHECK (version > 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX products_created ON products (tenant_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX products_name ON products (tenant_id, name, id) WHERE deleted_at IS NULL;

CREATE TABLE product_categories (
    tenant_id   uuid NOT NULL,
    product_id  uuid NOT NULL,
    category_id uuid NOT NULL,
    position    int  NOT NULL,
    PRIMARY KEY (tenant_id, product_id, category_id),
    FOREIGN KEY (tenant_id, product_id) REFERENCES products (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, category_id) REFERENCES categories (tenant_id, id)
);
CREATE INDEX product_categories_category ON product_categories (tenant_id, category_id);

-- variants are the sellable SKUs; a SKU is unique within a tenant, across products, and
-- stays taken after its product is soft-deleted (orders and stock refer to it).
CREATE TABLE variants (
    tenant_id  uuid  NOT NULL,
    sku        text  NOT NULL CHECK (sku ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    product_id uuid  NOT NULL,
    position   int   NOT NULL,
    attributes jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attributes) = 'object'),
    PRIMARY KEY (tenant_id, sku),
    FOREIGN KEY (tenant_id, product_id) REFERENCES products (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX variants_product ON variants (tenant_id, product_id);

-- prices are integer minor units (cents) per ISO 4217 currency.
CREATE TABLE prices (
    tenant_id uuid   NOT NULL,
    sku       text   NOT NULL,
    currency  text   NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    amount    bigint NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (tenant_id, sku, currency),
    FOREIGN KEY (tenant_id, sku) REFERENCES variants (tenant_id, sku) ON DELETE CASCADE
);

-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['storefront_hosts', 'signing_keys', 'users', 'refresh_tokens',
                             'categories', 'products', 'product_categories', 'variants', 'prices'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (kommerce_tenant_visible(tenant_id)) WITH CHECK (kommerce_tenant_visible(tenant_id))', t);
    END LOOP;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP TABLE prices;
DROP TABLE variants;
DROP TABLE product_categories;
DROP TABLE products;
DROP TABLE categories;
DROP TABLE refresh_tokens;
DROP TABLE users;
DROP TABLE signing_keys;
DROP TABLE storefront_hosts;
