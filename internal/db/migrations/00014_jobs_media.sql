-- Back-office jobs (product imports, order and product exports) and product media.
--
-- Both follow the tenancy rule of 00001 (tenant_id leads every key, RLS enabled and
-- forced). A job is its own checkpoint: the runner that holds its lease applies a
-- batch of rows, the batch's row errors and the new checkpoint in one transaction,
-- so a runner that dies mid-batch leaves the job exactly at the last batch boundary
-- and the next one resumes there.

-- +goose Up
CREATE TABLE jobs (
    tenant_id    uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id           uuid        NOT NULL DEFAULT gen_random_uuid(),
    kind         text        NOT NULL CHECK (kind IN ('import', 'export')),
    state        text        NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
    -- params is the request: for an import its object key and file size, for an
    -- export the entity, format and date range.
    params       jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(params) = 'object'),
    -- checkpoint is the number of data rows of the file already applied (imports) or
    -- 0 until the export is uploaded.
    checkpoint   bigint      NOT NULL DEFAULT 0 CHECK (checkpoint >= 0),
    rows_total   bigint      CHECK (rows_total >= 0),
    rows_done    bigint      NOT NULL DEFAULT 0 CHECK (rows_done >= 0),
    rows_failed  bigint      NOT NULL DEFAULT 0 CHECK (rows_failed >= 0),
    rows_created bigint      NOT NULL DEFAULT 0 CHECK (rows_created >= 0),
    rows_updated bigint      NOT NULL DEFAULT 0 CHECK (rows_updated >= 0),
    result_key   text,
    error        text,
    attempts     int         NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    lease_owner  text,
    lease_until  timestamptz,
    created_by   text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    PRIMARY KEY (tenant_id, id)
);
-- The runners' queue: unfinished jobs across tenants, oldest first.
CREATE INDEX jobs_unfinished ON jobs (created_at) WHERE state IN ('queued', 'running');

-- job_errors is the report of an import: one line per rejected row and column. The
-- key makes re-applying a batch after a crash harmless.
CREATE TABLE job_errors (
    tenant_id uuid   NOT NULL,
    job_id    uuid   NOT NULL,
    row_no    bigint NOT NULL CHECK (row_no > 0),
    col       text   NOT NULL,
    message   text   NOT NULL,
    PRIMARY KEY (tenant_id, job_id, row_no, col),
    FOREIGN KEY (tenant_id, job_id) REFERENCES jobs (tenant_id, id) ON DELETE CASCADE
);

-- product_images are the uploaded images of a product; their objects live in the
-- object store under prefix. A row with deleted_at set (or whose product was deleted)
-- still has objects to remove: the media sweep removes them, then the row.
CREATE TABLE product_images (
    tenant_id  uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         uuid        NOT NULL DEFAULT gen_random_uuid(),
    product_id uuid        NOT NULL,
    prefix     text        NOT NULL,
    url        text        NOT NULL,
    width      int         NOT NULL CHECK (width > 0),
    height     int         NOT NULL CHECK (height > 0),
    variants   jsonb       NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(variants) = 'array'),
    bytes      bigint      NOT NULL CHECK (bytes >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, product_id) REFERENCES products (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX product_images_product ON product_images (tenant_id, product_id);

ALTER TABLE jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE jobs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON jobs
    USING (kommerce_tenant_visible(tenant_id)) WITH CHECK (kommerce_tenant_visible(tenant_id));
ALTER TABLE job_errors ENABLE ROW LEVEL SECURITY;
ALTER TABLE job_errors FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON job_errors
    USING (kommerce_tenant_visible(tenant_id)) WITH CHECK (kommerce_tenant_visible(tenant_id));
ALTER TABLE product_images ENABLE ROW LEVEL SECURITY;
ALTER TABLE product_images FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON product_images
    USING (kommerce_tenant_visible(tenant_id)) WITH CHECK (kommerce_tenant_visible(tenant_id));

-- +goose Down
DROP TABLE product_images;
DROP TABLE job_errors;
DROP TABLE jobs;
