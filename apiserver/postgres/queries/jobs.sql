-- Back-office jobs: imports and exports (apiserver/jobs).

-- name: InsertJob :one
INSERT INTO jobs (tenant_id, id, kind, params, rows_total, created_by)
VALUES (@tenant_id, @id, @kind, @params, sqlc.narg(rows_total), @created_by)
RETURNING *;

-- name: GetJob :one
SELECT * FROM jobs WHERE tenant_id = @tenant_id AND id = @id;

-- name: JobErrors :many
SELECT row_no, col, message FROM job_errors
WHERE tenant_id = @tenant_id AND job_id = @job_id
ORDER BY row_no, col
LIMIT @lim;

-- ClaimJob takes the oldest unfinished job of any tenant whose lease has run out (a
-- queued job has none): a crashed runner's jobs come back once their lease expires.
-- name: ClaimJob :one
UPDATE jobs SET state = 'running', lease_owner = @owner,
    lease_until = now() + make_interval(secs => @lease_seconds::float8),
    attempts = attempts + 1, updated_at = now()
WHERE (tenant_id, id) = (
    SELECT j.tenant_id, j.id FROM jobs j
    WHERE j.state IN ('queued', 'running') AND (j.lease_until IS NULL OR j.lease_until < now())
    ORDER BY j.created_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED)
RETURNING *;

-- name: JobTenant :one
SELECT * FROM tenants WHERE id = @id;

-- JobProgress records a batch and extends the lease; it changes nothing when another
-- runner holds the job now, which the caller takes as "stop".
-- name: JobProgress :execrows
UPDATE jobs SET checkpoint = @checkpoint, rows_done = @rows_done,
    rows_failed = rows_failed + @failed, rows_created = rows_created + @created, rows_updated = rows_updated + @updated,
    lease_until = now() + make_interval(secs => @lease_seconds::float8), updated_at = now()
WHERE tenant_id = @tenant_id AND id = @id AND lease_owner = @owner AND state = 'running';

-- name: FinishJob :execrows
UPDATE jobs SET state = @state, result_key = sqlc.narg(result_key), error = sqlc.narg(error),
    rows_total = coalesce(rows_total, @rows_done), rows_done = @rows_done,
    lease_owner = NULL, lease_until = NULL, updated_at = now(), finished_at = now()
WHERE tenant_id = @tenant_id AND id = @id AND lease_owner = @owner;

-- RetryJob gives a job back after a failure of the store or the database, to be
-- claimed again after a pause.
-- name: RetryJob :exec
UPDATE jobs SET lease_owner = NULL, lease_until = now() + make_interval(secs => @delay_seconds::float8),
    error = @error, updated_at = now()
WHERE tenant_id = @tenant_id AND id = @id AND lease_owner = @owner;

-- name: InsertJobErrors :exec
INSERT INTO job_errors (tenant_id, job_id, row_no, col, message)
SELECT @tenant_id, @job_id, unnest(@rows::bigint[]), unnest(@cols::text[]), unnest(@messages::text[])
ON CONFLICT DO NOTHING;

-- ImportLookup finds the SKUs of a batch with their product and the price in each
-- currency the batch names.
-- name: ImportLookup :many
SELECT v.sku, p.id AS product_id, p.name, p.description, p.status, (p.deleted_at IS NOT NULL)::bool AS deleted,
    coalesce((SELECT jsonb_object_agg(pr.currency, pr.amount) FROM prices pr
              WHERE pr.tenant_id = v.tenant_id AND pr.sku = v.sku), '{}'::jsonb)::jsonb AS prices
FROM variants v JOIN products p ON p.tenant_id = v.tenant_id AND p.id = v.product_id
WHERE v.tenant_id = @tenant_id AND v.sku = ANY (@skus::text[]);

-- name: ImportInsertProducts :exec
INSERT INTO products (tenant_id, id, name, description, status)
SELECT @tenant_id, unnest(@ids::uuid[]), unnest(@names::text[]), unnest(@descriptions::text[]), unnest(@statuses::text[]);

-- name: ImportInsertVariants :exec
INSERT INTO variants (tenant_id, sku, product_id, position)
SELECT @tenant_id, unnest(@skus::text[]), unnest(@product_ids::uuid[]), 0;

-- name: ImportUpdateProducts :exec
UPDATE products p SET name = u.name, description = u.description, status = u.status,
    version = p.version + 1, updated_at = now()
FROM (SELECT unnest(@ids::uuid[]) AS id, unnest(@names::text[]) AS name,
             unnest(@descriptions::text[]) AS description, unnest(@statuses::text[]) AS status) AS u
WHERE p.tenant_id = @tenant_id AND p.id = u.id;

-- name: ImportUpsertPrices :exec
INSERT INTO prices (tenant_id, sku, currency, amount)
SELECT @tenant_id, unnest(@skus::text[]), unnest(@currencies::text[]), unnest(@amounts::bigint[])
ON CONFLICT (tenant_id, sku, currency) DO UPDATE SET amount = excluded.amount;

-- ImportSnapshots are the products a batch wrote, as their events carry them.
-- name: ImportSnapshots :many
SELECT p.id, jsonb_build_object('id', p.id, 'version', p.version, 'name', p.name, 'description', p.description,
    'status', p.status, 'deleted', false, 'attributes', p.attributes, 'images', to_jsonb(p.images), 'updated_at', p.updated_at,
    'category_ids', coalesce((SELECT jsonb_agg(pc.category_id ORDER BY pc.position) FROM product_categories pc
              WHERE pc.tenant_id = p.tenant_id AND pc.product_id = p.id), '[]'::jsonb),
    'variants', coalesce((SELECT jsonb_agg(jsonb_build_object('sku', v.sku, 'attributes', v.attributes, 'prices',
                  coalesce((SELECT jsonb_agg(jsonb_build_object('currency', pr.currency, 'amount', pr.amount) ORDER BY pr.currency)
                            FROM prices pr WHERE pr.tenant_id = v.tenant_id AND pr.sku = v.sku), '[]'::jsonb)) ORDER BY v.position)
              FROM variants v WHERE v.tenant_id = p.tenant_id AND v.product_id = p.id), '[]'::jsonb))::jsonb AS snapshot
FROM products p
WHERE p.tenant_id = @tenant_id AND p.id = ANY (@ids::uuid[]);

-- ExportProducts is a page of the live catalog's (SKU, currency) prices in SKU
-- order; variants without a price give one row without currency.
-- name: ExportProducts :many
SELECT v.sku, p.name, p.description, p.status, coalesce(pr.currency, '')::text AS currency, pr.amount
FROM variants v
JOIN products p ON p.tenant_id = v.tenant_id AND p.id = v.product_id
LEFT JOIN prices pr ON pr.tenant_id = v.tenant_id AND pr.sku = v.sku
WHERE v.tenant_id = @tenant_id AND p.deleted_at IS NULL
  AND (sqlc.narg(created_from)::timestamptz IS NULL OR p.created_at >= sqlc.narg(created_from)::timestamptz)
  AND (sqlc.narg(created_to)::timestamptz IS NULL OR p.created_at < sqlc.narg(created_to)::timestamptz)
  -- The first condition lets the page start in the variants index; the second skips
  -- the currencies of the last SKU already written.
  AND v.sku >= @after_sku::text
  AND (v.sku, coalesce(pr.currency, '')) > (@after_sku::text, @after_currency::text)
ORDER BY v.sku, coalesce(pr.currency, '')
LIMIT @lim;

-- name: ExportOrders :many
SELECT id, status, email, currency, subtotal, shipping, tax, total, created_at
FROM orders
WHERE tenant_id = @tenant_id
  AND (sqlc.narg(created_from)::timestamptz IS NULL OR created_at >= sqlc.narg(created_from)::timestamptz)
  AND (sqlc.narg(created_to)::timestamptz IS NULL OR created_at < sqlc.narg(created_to)::timestamptz)
  AND (created_at, id) > (@after_created::timestamptz, @after_id::uuid)
ORDER BY created_at, id
LIMIT @lim;
