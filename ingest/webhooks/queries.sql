-- Queries of the webhook fan-out and delivery worker. The fan-out works in its
-- event's tenant (TenantScope); the worker claims due deliveries of every tenant
-- (PlatformScope).

-- name: TenantScope :exec
SELECT set_config('kommerce.tenant_id', @tenant_id::text, true);

-- name: PlatformScope :exec
SELECT set_config('kommerce.platform', 'on', true);

-- name: FanOut :execrows
-- One delivery per endpoint subscribed to the event's type; a duplicate of the event
-- hits the unique key and adds nothing. Disabled endpoints get theirs too: they wait
-- until the endpoint is enabled again.
INSERT INTO webhook_deliveries (tenant_id, endpoint_id, event_id, event_type, aggregate_key, payload)
SELECT e.tenant_id, e.id, @event_id, @event_type, @aggregate_key, @payload
FROM webhook_endpoints e
WHERE e.tenant_id = @tenant_id AND (@event_type::text = ANY (e.event_types) OR '*' = ANY (e.event_types))
ON CONFLICT (tenant_id, endpoint_id, event_id) DO NOTHING;

-- name: ClaimDue :many
-- Due deliveries of enabled endpoints whose aggregate has no earlier pending delivery
-- to the same endpoint (order per aggregate), leased until @lease_until so no other
-- worker takes them meanwhile.
WITH due AS (
    SELECT d.tenant_id, d.id
    FROM webhook_deliveries d
    JOIN webhook_endpoints e ON e.tenant_id = d.tenant_id AND e.id = d.endpoint_id
    WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND e.enabled
      AND NOT EXISTS (
          SELECT 1 FROM webhook_deliveries p
          WHERE p.tenant_id = d.tenant_id AND p.endpoint_id = d.endpoint_id
            AND p.aggregate_key = d.aggregate_key AND p.status = 'pending' AND p.seq < d.seq)
    ORDER BY d.next_attempt_at, d.seq
    LIMIT @max_rows
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE webhook_deliveries w
SET next_attempt_at = @lease_until
FROM due, webhook_endpoints e
WHERE w.tenant_id = due.tenant_id AND w.id = due.id AND e.tenant_id = w.tenant_id AND e.id = w.endpoint_id
RETURNING w.tenant_id, w.id, w.endpoint_id, w.event_id, w.event_type, w.payload, w.attempts,
          e.url, e.secret, e.previous_secret, e.previous_expires_at, e.failing_since;

-- name: RecordAttempt :exec
INSERT INTO webhook_attempts (tenant_id, delivery_id, attempt, status_code, error, latency_ms)
VALUES (@tenant_id, @delivery_id, @attempt, sqlc.narg(status_code), @error, @latency_ms);

-- name: FinishDelivery :exec
UPDATE webhook_deliveries
SET status = @status, attempts = @attempts, last_status = sqlc.narg(last_status), last_error = @last_error,
    next_attempt_at = @next_attempt_at, finished_at = CASE WHEN @status <> 'pending' THEN now() END
WHERE tenant_id = @tenant_id AND id = @id;

-- name: EndpointSucceeded :exec
UPDATE webhook_endpoints SET failing_since = NULL
WHERE tenant_id = @tenant_id AND id = @id AND failing_since IS NOT NULL;

-- name: EndpointFailed :one
-- Marks the endpoint failing from now if it was not; returns since when it fails.
UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, now())
WHERE tenant_id = @tenant_id AND id = @id
RETURNING failing_since::timestamptz AS failing_since;

-- name: DisableEndpoint :execrows
-- Only the worker that flips enabled tells the tenant.
UPDATE webhook_endpoints
SET enabled = false, disabled_at = now(), disabled_reason = @reason, updated_at = now()
WHERE tenant_id = @tenant_id AND id = @id AND enabled;
