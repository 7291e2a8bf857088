-- Queries of `kommerce ingest`. The relay and the tenant directory work across
-- tenants, so every transaction first calls PlatformScope (row-level security hides
-- every tenant row from a transaction without a tenant or platform scope).

-- name: PlatformScope :exec
SELECT set_config('kommerce.platform', 'on', true);

-- name: TryRelayLeadership :one
-- One relay publishes at a time, so rows of one entity reach Kafka in id order even
-- with several ingest replicas; the others wait as hot standbys. Session-level: held
-- while the connection lives.
SELECT pg_try_advisory_lock(hashtextextended('kommerce.outbox-relay', 0));

-- name: RelaySettings :exec
-- Transaction-local settings of a relay batch.
-- enable_seqscan and enable_bitmapscan off make the claim walk the
-- outbox_unpublished index in id order. The planner cannot see through the
-- row-level security qual (tenant = current tenant OR platform scope): it guesses
-- that 0.5 % of the rows are visible, believes the backlog is a few hundred rows and
-- chooses a sequential scan that sorts every unpublished row, for every batch: 0.58 s
-- a batch with 50,000 rows waiting, 9 ms with the index (docs/benchmarks.md,
-- "Ingest and search").
-- synchronous_commit off: the commit does not wait for its WAL to reach the disk.
-- What a database crash can then lose is the mark of batches the broker already
-- acknowledged, and those rows are published again: a duplicate, which at-least-once
-- allows, never a lost event (the rows themselves were committed by their writers).
SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true),
       set_config('synchronous_commit', 'off', true);

-- name: ClaimOutbox :many
-- The oldest unpublished rows of one relay worker with their tenant's topic prefix,
-- locked for this transaction. A worker owns the message keys (tenant, aggregate)
-- that hash to it among @workers, so one entity's rows are always published by the
-- same worker, one batch after the other, in id order. SKIP LOCKED keeps a second
-- relay (during a leadership hand-over) from waiting on or double-claiming them.
SELECT o.tenant_id, o.id, o.event_id, o.aggregate_type, o.aggregate_id, o.event_type,
       o.payload, o.created_at, t.topic_prefix, coalesce(o.trace_context, '')::text AS trace_context
FROM outbox o
JOIN tenants t ON t.id = o.tenant_id
WHERE o.published_at IS NULL
  AND (hashtextextended(o.tenant_id::text || '/' || o.aggregate_id, 0) & 9223372036854775807) % @workers::bigint = @worker::bigint
ORDER BY o.id
LIMIT @max_rows
FOR UPDATE OF o SKIP LOCKED;

-- name: MarkPublished :execrows
UPDATE outbox o
SET published_at = now()
FROM (SELECT unnest(@tenant_ids::uuid[]) AS tenant_id, unnest(@ids::bigint[]) AS id) AS p
WHERE o.tenant_id = p.tenant_id AND o.id = p.id AND o.published_at IS NULL;

-- name: OutboxBacklog :one
-- How much is waiting, for the pending and oldest-age gauges.
SELECT count(*)::bigint AS pending,
       coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest_seconds
FROM outbox
WHERE published_at IS NULL;

-- name: DeletePublished :execrows
-- Published rows older than the retention are removed in bounded chunks.
DELETE FROM outbox
WHERE (tenant_id, id) IN (
    SELECT tenant_id, id FROM outbox
    WHERE published_at IS NOT NULL AND published_at < now() - make_interval(secs => @retention_seconds::float8)
    LIMIT 5000
);

-- name: ListTenants :many
-- Tenants whose events are processed, with the storefronts mapped to hostnames.
SELECT t.id, t.slug, t.topic_prefix, t.index_prefix,
       coalesce(array_agg(DISTINCT s.storefront) FILTER (WHERE s.storefront IS NOT NULL), '{}')::text[] AS storefronts
FROM tenants t
LEFT JOIN storefront_hosts s ON s.tenant_id = t.id
WHERE t.status <> 'deleting'
GROUP BY t.id
ORDER BY t.slug;
