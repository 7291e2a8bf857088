-- Queries behind search, recommendations and the dev search backfill. All run in a
-- tenant transaction, so row-level security limits them to the request's tenant.

-- StorefrontOfHost is the storefront a hostname of the tenant serves.
-- name: StorefrontOfHost :one
SELECT storefront FROM storefront_hosts WHERE tenant_id = @tenant_id AND hostname = @hostname;

-- RecentProducts ranks the published products newest first: the catalog's fallback
-- ranking for recommendations while no sales ranking exists.
-- name: RecentProducts :many
SELECT id FROM products
WHERE tenant_id = @tenant_id AND deleted_at IS NULL AND status = 'published'
ORDER BY created_at DESC, id DESC
LIMIT @lim;

-- ProductSummaries returns the published, non-deleted products among ids, with the
-- lowest price per currency over their variants, in the order of ids.
-- name: ProductSummaries :many
SELECT p.id, p.name, p.images,
    coalesce((SELECT jsonb_agg(jsonb_build_object('currency', m.currency, 'amount', m.amount) ORDER BY m.currency)
              FROM (SELECT pr.currency, min(pr.amount) AS amount FROM prices pr
                    JOIN variants v ON v.tenant_id = pr.tenant_id AND v.sku = pr.sku
                    WHERE v.tenant_id = p.tenant_id AND v.product_id = p.id
                    GROUP BY pr.currency) m), '[]'::jsonb)::jsonb AS prices
FROM unnest(@ids::uuid[]) WITH ORDINALITY AS want (id, ord)
JOIN products p ON p.tenant_id = @tenant_id AND p.id = want.id
WHERE p.deleted_at IS NULL AND p.status = 'published'
ORDER BY want.ord;

-- ProductSnapshots pages through every product of the tenant (deleted ones too, as
-- tombstones) in id order, each as the events.Product snapshot the outbox carries.
-- name: ProductSnapshots :many
SELECT p.id, p.version, p.name, p.description, p.status, (p.deleted_at IS NOT NULL)::boolean AS deleted,
    p.attributes, p.images, p.updated_at,
    coalesce((SELECT jsonb_agg(pc.category_id ORDER BY pc.position) FROM product_categories pc
              WHERE pc.tenant_id = p.tenant_id AND pc.product_id = p.id), '[]'::jsonb)::jsonb AS category_ids,
    coalesce((SELECT jsonb_agg(jsonb_build_object('sku', v.sku, 'attributes', v.attributes, 'prices',
                  coalesce((SELECT jsonb_agg(jsonb_build_object('currency', pr.currency, 'amount', pr.amount) ORDER BY pr.currency)
                            FROM prices pr WHERE pr.tenant_id = v.tenant_id AND pr.sku = v.sku), '[]'::jsonb)) ORDER BY v.position)
              FROM variants v WHERE v.tenant_id = p.tenant_id AND v.product_id = p.id), '[]'::jsonb)::jsonb AS variants
FROM products p
WHERE p.tenant_id = @tenant_id AND p.id > @after_id
ORDER BY p.id
LIMIT @lim;
