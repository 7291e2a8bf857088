-- name: CreateTenant :one
INSERT INTO tenants (slug, name, topic_prefix, index_prefix, redis_prefix)
VALUES (@slug, @name, @topic_prefix, @index_prefix, @redis_prefix)
RETURNING *;

-- name: TenantBySlug :one
SELECT * FROM tenants WHERE slug = @slug;

-- name: TenantByHost :one
SELECT t.* FROM tenants t JOIN storefront_hosts h ON h.tenant_id = t.id
WHERE h.hostname = @hostname;

-- name: TenantCORSOrigins :many
SELECT DISTINCT unnest(cors_origins)::text AS origin FROM storefront_hosts WHERE tenant_id = @tenant_id;

-- name: UpsertStorefrontHost :execrows
INSERT INTO storefront_hosts (tenant_id, hostname, storefront, cors_origins)
VALUES (@tenant_id, @hostname, @storefront, @cors_origins::text[])
ON CONFLICT (hostname) DO UPDATE
SET storefront = excluded.storefront, cors_origins = excluded.cors_origins
WHERE storefront_hosts.tenant_id = excluded.tenant_id;

-- name: OriginAllowed :one
SELECT EXISTS (SELECT 1 FROM storefront_hosts WHERE @origin::text = ANY (cors_origins));
