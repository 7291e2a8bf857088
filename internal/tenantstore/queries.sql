-- Queries of the operator on the tenants registry. Every transaction first calls
-- PlatformScope: the operator works across tenants, and row-level security hides
-- every tenants row from a transaction that has neither a tenant nor platform scope.

-- name: PlatformScope :exec
SELECT set_config('kommerce.platform', 'on', true);

-- name: LockTenantSlug :exec
-- Serialises concurrent reconciles of one slug (two operator replicas during a
-- leader hand-over) for the rest of the transaction.
SELECT pg_advisory_xact_lock(hashtextextended('kommerce.tenant:' || @slug::text, 0));

-- name: GetTenantBySlug :one
SELECT id, slug, name, status, topic_prefix, index_prefix, redis_prefix, created_at, updated_at
FROM tenants
WHERE slug = @slug;

-- name: InsertTenant :one
INSERT INTO tenants (id, slug, name, status, topic_prefix, index_prefix, redis_prefix)
VALUES (coalesce(sqlc.narg(id)::uuid, gen_random_uuid()), @slug, @name, @status,
        @topic_prefix, @index_prefix, @redis_prefix)
RETURNING id, slug, name, status, topic_prefix, index_prefix, redis_prefix, created_at, updated_at;

-- name: UpdateTenantProfile :one
UPDATE tenants
SET name = @name, status = @status, updated_at = now()
WHERE id = @id
RETURNING id, slug, name, status, topic_prefix, index_prefix, redis_prefix, created_at, updated_at;

-- name: DeleteTenant :execrows
-- Without an id (the operator never learnt it) the slug alone decides.
DELETE FROM tenants
WHERE slug = @slug AND (sqlc.narg(id)::uuid IS NULL OR id = sqlc.narg(id)::uuid);

-- name: SetTenantRedisPrefix :one
-- Only for a Tenant resource that recorded the CLI's old default Redis prefix before
-- migration 00009 moved its row to the shared default (see Ensure).
UPDATE tenants
SET redis_prefix = @redis_prefix, updated_at = now()
WHERE id = @id
RETURNING id, slug, name, status, topic_prefix, index_prefix, redis_prefix, created_at, updated_at;

-- name: UpsertStorefrontHost :exec
-- Maps a channel's hostname to its storefront (the Storefront controller's channels).
INSERT INTO storefront_hosts (tenant_id, hostname, storefront)
VALUES (@tenant_id, @hostname, @storefront)
ON CONFLICT (tenant_id, hostname) DO UPDATE SET storefront = excluded.storefront
WHERE storefront_hosts.storefront IS DISTINCT FROM excluded.storefront;

-- name: DeleteStaleStorefrontHosts :exec
-- Removes the hostnames a storefront no longer has.
DELETE FROM storefront_hosts
WHERE tenant_id = @tenant_id AND storefront = @storefront AND NOT (hostname = ANY(@hostnames::text[]));
