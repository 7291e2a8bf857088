-- name: InsertProduct :one
INSERT INTO products (tenant_id, name, description, status, attributes, images)
VALUES (@tenant_id, @name, @description, @status, @attributes, @images::text[])
RETURNING *;

-- name: GetProduct :one
SELECT * FROM products WHERE tenant_id = @tenant_id AND id = @id AND deleted_at IS NULL;

-- name: LockProduct :one
SELECT * FROM products WHERE tenant_id = @tenant_id AND id = @id AND deleted_at IS NULL FOR UPDATE;

-- name: UpdateProduct :one
UPDATE products
SET name = @name, description = @description, status = @status, attributes = @attributes,
    images = @images::text[], version = version + 1, updated_at = now()
WHERE tenant_id = @tenant_id AND id = @id
RETURNING *;

-- name: SoftDeleteProduct :one
UPDATE products SET deleted_at = now(), version = version + 1, updated_at = now()
WHERE tenant_id = @tenant_id AND id = @id AND deleted_at IS NULL
RETURNING *;

-- name: DeleteProductCategories :exec
DELETE FROM product_categories WHERE tenant_id = @tenant_id AND product_id = @product_id;

-- name: InsertProductCategories :exec
INSERT INTO product_categories (tenant_id, product_id, category_id, position)
SELECT @tenant_id, @product_id, u.category_id, u.ord
FROM unnest(@category_ids::uuid[]) WITH ORDINALITY AS u (category_id, ord);

-- name: DeleteVariantsNotIn :exec
DELETE FROM variants WHERE tenant_id = @tenant_id AND product_id = @product_id AND NOT (sku = ANY (@skus::text[]));

-- UpsertVariant affects no row when the SKU belongs to another product of the tenant.
-- name: UpsertVariant :execrows
INSERT INTO variants (tenant_id, sku, product_id, position, attributes)
VALUES (@tenant_id, @sku, @product_id, @position, @attributes)
ON CONFLICT (tenant_id, sku) DO UPDATE SET position = excluded.position, attributes = excluded.attributes
WHERE variants.product_id = excluded.product_id;

-- name: DeletePrices :exec
DELETE FROM prices WHERE tenant_id = @tenant_id AND sku = ANY (@skus::text[]);

-- name: InsertPrices :exec
INSERT INTO prices (tenant_id, sku, currency, amount)
SELECT @tenant_id, unnest(@skus::text[]), unnest(@currencies::text[]), unnest(@amounts::bigint[]);

-- name: ProductCategoryIDs :many
SELECT product_id, category_id FROM product_categories
WHERE tenant_id = @tenant_id AND product_id = ANY (@product_ids::uuid[])
ORDER BY product_id, position;

-- name: ProductVariants :many
SELECT product_id, sku, attributes FROM variants
WHERE tenant_id = @tenant_id AND product_id = ANY (@product_ids::uuid[])
ORDER BY product_id, position;

-- name: ProductPrices :many
SELECT p.sku, p.currency, p.amount FROM prices p
JOIN variants v ON v.tenant_id = p.tenant_id AND v.sku = p.sku
WHERE p.tenant_id = @tenant_id AND v.product_id = ANY (@product_ids::uuid[])
ORDER BY p.sku, p.currency;

-- name: CategoryAncestors :many
WITH RECURSIVE up AS (
    SELECT c.id, c.parent_id FROM categories c WHERE c.tenant_id = @tenant_id AND c.id = @id
    UNION
    SELECT c.id, c.parent_id FROM categories c JOIN up ON c.id = up.parent_id WHERE c.tenant_id = @tenant_id
)
SELECT id FROM up;

-- name: InsertCategory :one
INSERT INTO categories (tenant_id, parent_id, slug, name)
VALUES (@tenant_id, sqlc.narg(parent_id), @slug, @name)
RETURNING *;

-- name: GetCategory :one
SELECT * FROM categories WHERE tenant_id = @tenant_id AND id = @id;

-- LockCategory takes the row for an update that keeps its id: FOR NO KEY UPDATE, so
-- products being filed under the category (a foreign key check, FOR KEY SHARE) do
-- not wait for it, nor it for them.
-- name: LockCategory :one
SELECT * FROM categories WHERE tenant_id = @tenant_id AND id = @id FOR NO KEY UPDATE;

-- LockCategoryTree serialises the moves of a tenant's categories until the
-- transaction ends. A move checks that the new parent is not below the category and
-- then writes; two opposite moves at once (X under Y, Y under X) would otherwise each
-- pass the check and either deadlock on each other's row or, without row locks in
-- the way, make a cycle.
-- name: LockCategoryTree :exec
SELECT pg_advisory_xact_lock(hashtextextended('kommerce.category_tree:' || @tenant_id::text, 0));

-- name: UpdateCategory :one
UPDATE categories
SET parent_id = sqlc.narg(parent_id), slug = @slug, name = @name, version = version + 1, updated_at = now()
WHERE tenant_id = @tenant_id AND id = @id
RETURNING *;

-- name: ListCategories :many
WITH RECURSIVE tree AS (
    SELECT c.*, 0 AS depth FROM categories c WHERE c.tenant_id = @tenant_id AND c.parent_id IS NULL
    UNION ALL
    SELECT c.*, tree.depth + 1 FROM categories c JOIN tree ON c.parent_id = tree.id WHERE c.tenant_id = @tenant_id
)
SELECT id, parent_id, slug, name, version, created_at, updated_at FROM tree ORDER BY depth, name, id;

-- name: InsertOutbox :exec
INSERT INTO outbox (tenant_id, aggregate_type, aggregate_id, event_type, payload)
VALUES (@tenant_id, @aggregate_type, @aggregate_id, @event_type, @payload);

-- GetProductFull is a product with its categories and variants (with prices) as JSON,
-- in one round trip: the read behind every cache miss.
-- name: GetProductFull :one
SELECT p.id, p.name, p.description, p.status, p.attributes, p.images, p.version, p.created_at, p.updated_at,
    coalesce((SELECT jsonb_agg(pc.category_id ORDER BY pc.position) FROM product_categories pc
              WHERE pc.tenant_id = p.tenant_id AND pc.product_id = p.id), '[]'::jsonb)::jsonb AS category_ids,
    coalesce((SELECT jsonb_agg(jsonb_build_object('sku', v.sku, 'attributes', v.attributes, 'prices',
                  coalesce((SELECT jsonb_agg(jsonb_build_object('currency', pr.currency, 'amount', pr.amount) ORDER BY pr.currency)
                            FROM prices pr WHERE pr.tenant_id = v.tenant_id AND pr.sku = v.sku), '[]'::jsonb)) ORDER BY v.position)
              FROM variants v WHERE v.tenant_id = p.tenant_id AND v.product_id = p.id), '[]'::jsonb)::jsonb AS variants
FROM products p
WHERE p.tenant_id = @tenant_id AND p.id = @id AND p.deleted_at IS NULL;

-- ListProductPage is a keyset-paginated page (the page after (after_*, after_id) in
-- the given sort, ties broken by id; browsing large catalogs by relevance goes through
-- search) with everything it shows, in one statement: the category filter's subtree,
-- the page, and per product its categories, its variants (SKU and attributes in
-- position order) and their prices as arrays. price_counts[i] is the number of the
-- next entries of price_currencies and price_amounts that belong to variant i.
-- Attributes come as jsonb text, which the caller parses. Rows come in the page's
-- order.
-- name: ListProductPage :many
WITH RECURSIVE sub AS (
    SELECT c.id FROM categories c WHERE c.tenant_id = @tenant_id AND c.id = sqlc.narg(category_id)::uuid
    UNION
    SELECT c.id FROM categories c JOIN sub ON c.parent_id = sub.id WHERE c.tenant_id = @tenant_id
), page AS (
    -- One branch per sort, each in the order of an index; only the branch of @sort
    -- runs, so one generic plan serves every sort and the statement need not be
    -- planned again on each execution.
    (SELECT p.* FROM products p
    WHERE @sort::text = 'created_at' AND p.tenant_id = @tenant_id AND p.deleted_at IS NULL
      AND (sqlc.narg(status)::text IS NULL OR p.status = sqlc.narg(status)::text)
      AND (sqlc.narg(name_like)::text IS NULL OR p.name ILIKE sqlc.narg(name_like)::text)
      AND (sqlc.narg(category_id)::uuid IS NULL OR EXISTS (
            SELECT 1 FROM product_categories pc
            WHERE pc.tenant_id = p.tenant_id AND pc.product_id = p.id
              AND pc.category_id IN (SELECT sub.id FROM sub)))
      AND (sqlc.narg(after_id)::uuid IS NULL OR (p.created_at, p.id) > (sqlc.narg(after_created)::timestamptz, sqlc.narg(after_id)::uuid))
    ORDER BY p.created_at, p.id
    LIMIT @lim)
    UNION ALL
    (SELECT p.* FROM products p
    WHERE @sort::text = '-created_at' AND p.tenant_id = @tenant_id AND p.deleted_at IS NULL
      AND (sqlc.narg(status)::text IS NULL OR p.status = sqlc.narg(status)::text)
      AND (sqlc.narg(name_like)::text IS NULL OR p.name ILIKE sqlc.narg(name_like)::text)
      AND (sqlc.narg(category_id)::uuid IS NULL OR EXISTS (
            SELECT 1 FROM product_categories pc
            WHERE pc.tenant_id = p.tenant_id AND pc.product_id = p.id
              AND pc.category_id IN (SELECT sub.id FROM sub)))
      AND (sqlc.narg(after_id)::uuid IS NULL OR (p.created_at, p.id) < (sqlc.narg(after_created)::timestamptz, sqlc.narg(after_id)::uuid))
    ORDER BY p.created_at DESC, p.id DESC
    LIMIT @lim)
    UNION ALL
    (SELECT p.* FROM products p
    WHERE @sort::text = 'name' AND p.tenant_id = @tenant_id AND p.deleted_at IS NULL
      AND (sqlc.narg(status)::text IS NULL OR p.status = sqlc.narg(status)::text)
      AND (sqlc.narg(name_like)::text IS NULL OR p.name ILIKE sqlc.narg(name_like)::text)
      AND (sqlc.narg(category_id)::uuid IS NULL OR EXISTS (
            SELECT 1 FROM product_categories pc
            WHERE pc.tenant_id = p.tenant_id AND pc.product_id = p.id
              AND pc.category_id IN (SELECT sub.id FROM sub)))
      AND (sqlc.narg(after_id)::uuid IS NULL OR (p.name, p.id) > (sqlc.narg(after_name)::text, sqlc.narg(after_id)::uuid))
    ORDER BY p.name, p.id
    LIMIT @lim)
    UNION ALL
    (SELECT p.* FROM products p
    WHERE @sort::text = '-name' AND p.tenant_id = @tenant_id AND p.deleted_at IS NULL
      AND (sqlc.narg(status)::text IS NULL OR p.status = sqlc.narg(status)::text)
      AND (sqlc.narg(name_like)::text IS NULL OR p.name ILIKE sqlc.narg(name_like)::text)
      AND (sqlc.narg(category_id)::uuid IS NULL OR EXISTS (
            SELECT 1 FROM product_categories pc
            WHERE pc.tenant_id = p.tenant_id AND pc.product_id = p.id
              AND pc.category_id IN (SELECT sub.id FROM sub)))
      AND (sqlc.narg(after_id)::uuid IS NULL OR (p.name, p.id) < (sqlc.narg(after_name)::text, sqlc.narg(after_id)::uuid))
    ORDER BY p.name DESC, p.id DESC
    LIMIT @lim)
)
SELECT pg.id, pg.name, pg.description, pg.status, pg.images, pg.version, pg.created_at, pg.updated_at,
    pg.attributes::text AS attributes,
    coalesce(c.ids, '{}')::text[] AS category_ids,
    coalesce(v.skus, '{}')::text[] AS skus,
    coalesce(v.attrs, '{}')::text[] AS variant_attributes,
    coalesce(v.price_counts, '{}')::int4[] AS price_counts,
    coalesce(vp.currencies, '{}')::text[] AS price_currencies,
    coalesce(vp.amounts, '{}')::int8[] AS price_amounts
FROM page pg
LEFT JOIN LATERAL (
    SELECT array_agg(pc.category_id::text ORDER BY pc.position) AS ids FROM product_categories pc
    WHERE pc.tenant_id = pg.tenant_id AND pc.product_id = pg.id
) c ON true
LEFT JOIN LATERAL (
    SELECT array_agg(v.sku ORDER BY v.position) AS skus, array_agg(v.attributes::text ORDER BY v.position) AS attrs,
        array_agg((SELECT count(*) FROM prices pr WHERE pr.tenant_id = v.tenant_id AND pr.sku = v.sku)::int4 ORDER BY v.position) AS price_counts
    FROM variants v WHERE v.tenant_id = pg.tenant_id AND v.product_id = pg.id
) v ON true
LEFT JOIN LATERAL (
    SELECT array_agg(pr.currency ORDER BY v.position, pr.currency) AS currencies, array_agg(pr.amount ORDER BY v.position, pr.currency) AS amounts
    FROM variants v JOIN prices pr ON pr.tenant_id = v.tenant_id AND pr.sku = v.sku
    WHERE v.tenant_id = pg.tenant_id AND v.product_id = pg.id
) vp ON true
ORDER BY
  CASE WHEN @sort::text = 'created_at' THEN pg.created_at END ASC,
  CASE WHEN @sort::text = '-created_at' THEN pg.created_at END DESC,
  CASE WHEN @sort::text = 'name' THEN pg.name END ASC,
  CASE WHEN @sort::text = '-name' THEN pg.name END DESC,
  CASE WHEN @sort::text IN ('created_at', 'name') THEN pg.id END ASC,
  pg.id DESC;
