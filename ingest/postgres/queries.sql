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
-- Transaction-local settings of a relay batch, in one round trip: the platform scope
-- (the relay works across tenants), then
-- enable_seqscan and enable_bitmapscan off make the claim walk the
-- outbox_unpublished index in id order. The planner cannot see through the
-- row-level security qual (tenant = current tenant OR platform scope): it guesses
-- that 0.5 % of the rows are visible, believes the backlog is a few hundred rows and
-- chooses a sequential scan that sorts every unpublished row, for every batch: 0.58 s
-- a batch with 50,000 rows waiting, 9 ms with the index (docs/benchmarks.md,
-- "Ingest and search"). enable_hashjoin and enable_mergejoin off keep the claim's
-- two joins (claimed rows to their outbox row and to their tenant) nested loops
-- over the primary keys, whatever the statistics of a freshly filled outbox say:
-- the mark statement of earlier versions, joined to an array of ids, ran 1.8–4.9 s
-- on the CPU for some 500-row batches of a 20,000-row backlog.
-- synchronous_commit off: the commit does not wait for its WAL to reach the disk.
-- What a database crash can then lose is the delete of batches the broker already
-- acknowledged, and those rows are published again: a duplicate, which at-least-once
-- allows, never a lost event (the rows themselves were committed by their writers).
SELECT set_config('kommerce.platform', 'on', true),
       set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true),
       set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true),
       set_config('synchronous_commit', 'off', true);

-- name: ClaimOutbox :many
-- Claims the oldest unpublished rows of one relay worker and deletes them in one
-- statement, returning them with their tenant's topic prefix (in no particular
-- order: the relay sorts them by id). The delete is part of this transaction, which
-- the relay commits only after the broker acknowledged every row of it and rolls
-- back otherwise: no other transaction sees a row gone before its ack, and the rows
-- stay locked until then. A worker owns the message keys (tenant, aggregate) that
-- hash to it among @workers, so one entity's rows are always published by the same
-- worker, in id order. SKIP LOCKED keeps a worker's next claim from waiting on its
-- batch still in flight (it takes the rows after it), and a second relay (during a
-- leadership hand-over) from waiting on or double-claiming them.
-- Deleting rather than marking a published row: an UPDATE writes a new version of
-- the whole row (the ~1 KiB payload with it) and a new entry in each of the
-- table's two unique indexes; a DELETE writes neither. 40 claims of 500 product
-- rows, one psql session: 0.24–0.26 s against 0.39–0.45 s; PostgreSQL CPU per row
-- relayed 7.5–12 µs against 15.5–19.5 µs (BenchmarkRelayRun; docs/benchmarks.md,
-- Ingest). The table holds only the rows still to publish instead of a week of
-- published ones (KeepDeadLettered keeps the exception); Kafka holds what was
-- published.
-- Returning the rows straight from the DELETE, rather than selecting them first,
-- saves a copy of every payload.
WITH claimed AS (
    SELECT o.tenant_id, o.id
    FROM outbox o
    WHERE o.published_at IS NULL
      AND (hashtextextended(o.tenant_id::text || '/' || o.aggregate_id, 0) & 9223372036854775807) % @workers::bigint = @worker::bigint
    ORDER BY o.id
    LIMIT @max_rows
    FOR UPDATE SKIP LOCKED
)
DELETE FROM outbox o
USING claimed c
WHERE o.tenant_id = c.tenant_id AND o.id = c.id
RETURNING o.tenant_id, o.id, o.event_id, o.aggregate_type, o.aggregate_id, o.event_type,
          o.payload, o.created_at,
          (SELECT t.topic_prefix FROM tenants t WHERE t.id = o.tenant_id)::text AS topic_prefix,
          coalesce(o.trace_context, '')::text AS trace_context;

-- name: KeepDeadLettered :exec
-- Puts back, in the claim's transaction, a row the relay published only as a
-- dead-letter stub (its envelope was too large for the broker): the stub names the
-- row, whose payload stays readable here, marked published so no claim takes it
-- again, until DeletePublished removes it after the retention.
INSERT INTO outbox (tenant_id, id, event_id, aggregate_type, aggregate_id, event_type, payload, created_at, published_at, trace_context)
OVERRIDING SYSTEM VALUE
VALUES (@tenant_id, @id, @event_id, @aggregate_type, @aggregate_id, @event_type, @payload, @created_at, now(), nullif(@trace_context::text, ''));

-- name: OutboxBacklog :one
-- How much is waiting, for the pending and oldest-age gauges.
SELECT count(*)::bigint AS pending,
       coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest_seconds
FROM outbox
WHERE published_at IS NULL;

-- name: DeletePublished :execrows
-- Rows kept as dead letters (KeepDeadLettered) are removed after the retention, in
-- bounded chunks; every other row left the table when it was published.
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
