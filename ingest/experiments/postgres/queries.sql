-- Queries of the experiments consumer (ingest/experiments). Every transaction works
-- for one tenant: TenantScope first, so row-level security applies.

-- name: TenantScope :exec
SELECT set_config('kommerce.tenant_id', @tenant_id::text, true);

-- name: LockUnit :exec
-- Serializes the recomputation of one unit across transactions and replicas; taken
-- after the transaction stored its fact, so whichever transaction locks last sees
-- every committed fact of the unit.
SELECT pg_advisory_xact_lock(hashtextextended('kommerce.experiment-unit/' || @tenant_id::text || '/' || @unit_key::text, 0));

-- name: InsertExposure :execrows
INSERT INTO experiment_exposures (tenant_id, event_id, experiment, arm, unit_key, request_id, model, version, items, error, latency_ms, at)
VALUES (@tenant_id, @event_id, @experiment, @arm, @unit_key, @request_id, @model, @version, @items, @error, @latency_ms, @at)
ON CONFLICT DO NOTHING;

-- name: InsertOutcome :execrows
INSERT INTO experiment_outcomes (tenant_id, event_id, unit_key, kind, product_id, request_id, at)
VALUES (@tenant_id, @event_id, @unit_key, @kind, @product_id, @request_id, @at)
ON CONFLICT DO NOTHING;

-- name: InsertOrder :execrows
INSERT INTO experiment_orders (tenant_id, order_id, revenue, currency, at)
VALUES (@tenant_id, @order_id, @revenue, @currency, @at)
ON CONFLICT DO NOTHING;

-- name: LinkOrderUnit :execrows
INSERT INTO experiment_order_units (tenant_id, order_id, unit_key)
VALUES (@tenant_id, @order_id, @unit_key)
ON CONFLICT DO NOTHING;

-- name: OrderUnits :many
SELECT unit_key FROM experiment_order_units
WHERE tenant_id = @tenant_id AND order_id = @order_id
ORDER BY unit_key;

-- name: UnitExperiments :many
-- The experiments a unit was exposed in.
SELECT DISTINCT experiment FROM experiment_exposures
WHERE tenant_id = @tenant_id AND unit_key = @unit_key
ORDER BY experiment;

-- name: UnitExposures :many
SELECT event_id, arm, request_id, items, error, latency_ms, at FROM experiment_exposures
WHERE tenant_id = @tenant_id AND unit_key = @unit_key AND experiment = @experiment
ORDER BY at, event_id;

-- name: UnitOutcomes :many
SELECT event_id, kind, product_id, request_id, at FROM experiment_outcomes
WHERE tenant_id = @tenant_id AND unit_key = @unit_key AND at BETWEEN @since AND @until
ORDER BY at, event_id;

-- name: UnitOrders :many
SELECT o.order_id, o.revenue, o.at FROM experiment_orders o
JOIN experiment_order_units u ON u.tenant_id = o.tenant_id AND u.order_id = o.order_id
WHERE u.tenant_id = @tenant_id AND u.unit_key = @unit_key AND o.at BETWEEN @since AND @until
ORDER BY o.at, o.order_id;

-- name: GetUnit :many
-- At most one row: the unit's current arm and contributions.
SELECT arm, contributions FROM experiment_units
WHERE tenant_id = @tenant_id AND experiment = @experiment AND unit_key = @unit_key
FOR UPDATE;

-- name: UpsertUnit :exec
INSERT INTO experiment_units (tenant_id, experiment, unit_key, arm, first_event_id, first_exposed_at, contributions)
VALUES (@tenant_id, @experiment, @unit_key, @arm, @first_event_id, @first_exposed_at, @contributions)
ON CONFLICT (tenant_id, experiment, unit_key) DO UPDATE
SET arm = excluded.arm, first_event_id = excluded.first_event_id, first_exposed_at = excluded.first_exposed_at,
    contributions = excluded.contributions, updated_at = now();

-- name: AddArmMetrics :exec
-- Adds values (decimal text, so that a value taken back cancels exactly) to the
-- per-arm hourly sums, in key order so that concurrent transactions lock rows alike.
INSERT INTO experiment_arm_metrics AS m (tenant_id, experiment, arm, hour, metric, value)
SELECT @tenant_id, @experiment, d.arm, d.hour, d.metric, sum(d.value::numeric)
FROM (SELECT unnest(@arms::text[]) AS arm, unnest(@hours::timestamptz[]) AS hour,
             unnest(@metrics::text[]) AS metric, unnest(@values::text[]) AS value) AS d
GROUP BY d.arm, d.hour, d.metric
ORDER BY d.arm, d.hour, d.metric
ON CONFLICT (tenant_id, experiment, arm, hour, metric) DO UPDATE SET value = m.value + excluded.value;

-- name: DeleteZeroArmMetrics :exec
-- Drops the sums AddArmMetrics brought back to zero, so that the rows are those an
-- in-order run leaves, whatever the order was.
DELETE FROM experiment_arm_metrics m
USING (SELECT unnest(@arms::text[]) AS arm, unnest(@hours::timestamptz[]) AS hour,
              unnest(@metrics::text[]) AS metric) AS d
WHERE m.tenant_id = @tenant_id AND m.experiment = @experiment
  AND m.arm = d.arm AND m.hour = d.hour AND m.metric = d.metric AND m.value = 0;

-- name: ArmTotals :many
SELECT arm, metric, sum(value)::float8 AS value FROM experiment_arm_metrics
WHERE tenant_id = @tenant_id AND experiment = @experiment
GROUP BY arm, metric
ORDER BY arm, metric;

-- name: ArmHourly :many
-- Cumulative sums at the end of each hour with a change.
SELECT arm, hour, metric,
       (sum(value) OVER (PARTITION BY arm, metric ORDER BY hour))::float8 AS value
FROM experiment_arm_metrics
WHERE tenant_id = @tenant_id AND experiment = @experiment
ORDER BY hour, arm, metric;
