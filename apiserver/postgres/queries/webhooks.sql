-- Outbound webhook endpoints and their delivery log (issue 17). The deliveries are
-- written by ingest/webhooks; the API only reads them and puts one back in line.

-- name: CountWebhookEndpoints :one
SELECT count(*) FROM webhook_endpoints WHERE tenant_id = @tenant_id;

-- name: InsertWebhookEndpoint :one
INSERT INTO webhook_endpoints (tenant_id, url, description, event_types, secret)
VALUES (@tenant_id, @url, @description, @event_types, @secret)
RETURNING *;

-- name: WebhookEndpoints :many
SELECT * FROM webhook_endpoints WHERE tenant_id = @tenant_id ORDER BY created_at, id;

-- name: WebhookEndpointByID :one
SELECT * FROM webhook_endpoints WHERE tenant_id = @tenant_id AND id = @id;

-- name: UpdateWebhookEndpoint :one
-- Enabling clears the failure state; disabling by staff records it with a reason.
UPDATE webhook_endpoints
SET url             = coalesce(sqlc.narg(url), url),
    description     = coalesce(sqlc.narg(description), description),
    event_types     = coalesce(sqlc.narg(event_types)::text[], event_types),
    enabled         = coalesce(sqlc.narg(enabled)::boolean, enabled),
    failing_since   = CASE WHEN sqlc.narg(enabled)::boolean THEN NULL ELSE failing_since END,
    disabled_at     = CASE WHEN sqlc.narg(enabled)::boolean THEN NULL
                           WHEN NOT sqlc.narg(enabled)::boolean THEN coalesce(disabled_at, now())
                           ELSE disabled_at END,
    disabled_reason = CASE WHEN sqlc.narg(enabled)::boolean THEN ''
                           WHEN NOT sqlc.narg(enabled)::boolean AND disabled_reason = '' THEN 'disabled by staff'
                           ELSE disabled_reason END,
    updated_at      = now()
WHERE tenant_id = @tenant_id AND id = @id
RETURNING *;

-- name: DeleteWebhookEndpoint :execrows
DELETE FROM webhook_endpoints WHERE tenant_id = @tenant_id AND id = @id;

-- name: RotateWebhookSecret :one
UPDATE webhook_endpoints
SET secret = @secret, previous_secret = @previous_secret, previous_expires_at = @previous_expires_at, updated_at = now()
WHERE tenant_id = @tenant_id AND id = @id
RETURNING *;

-- name: WebhookDeliveries :many
SELECT id, event_id, event_type, status, attempts, last_status, last_error, next_attempt_at, created_at, finished_at
FROM webhook_deliveries
WHERE tenant_id = @tenant_id AND endpoint_id = @endpoint_id
ORDER BY seq DESC
LIMIT @max_rows;

-- name: WebhookAttemptsOf :many
SELECT delivery_id, attempt, at, status_code, error, latency_ms
FROM webhook_attempts
WHERE tenant_id = @tenant_id AND delivery_id = ANY (@delivery_ids::uuid[])
ORDER BY delivery_id, attempt;

-- name: RedeliverWebhook :one
UPDATE webhook_deliveries
SET status = 'pending', next_attempt_at = now(), finished_at = NULL
WHERE tenant_id = @tenant_id AND endpoint_id = @endpoint_id AND id = @id AND status <> 'pending'
RETURNING id, event_id, event_type, status, attempts, last_status, last_error, next_attempt_at, created_at, finished_at;

-- name: WebhookDeliveryExists :one
SELECT EXISTS (SELECT 1 FROM webhook_deliveries WHERE tenant_id = @tenant_id AND endpoint_id = @endpoint_id AND id = @id);

-- name: NotificationTemplate :one
SELECT * FROM notification_templates WHERE tenant_id = @tenant_id AND kind = @kind AND locale = @locale;

-- name: UpsertNotificationTemplate :one
INSERT INTO notification_templates (tenant_id, kind, locale, subject, html, text_body)
VALUES (@tenant_id, @kind, @locale, @subject, @html, @text_body)
ON CONFLICT (tenant_id, kind, locale) DO UPDATE
SET subject = excluded.subject, html = excluded.html, text_body = excluded.text_body, updated_at = now()
RETURNING *;

-- name: DeleteNotificationTemplate :execrows
DELETE FROM notification_templates WHERE tenant_id = @tenant_id AND kind = @kind AND locale = @locale;

-- name: NotificationSends :many
SELECT event_id, kind, recipient, status, attempts, last_error, created_at, sent_at
FROM notification_sends
WHERE tenant_id = @tenant_id AND (@status::text = '' OR status = @status::text)
ORDER BY created_at DESC
LIMIT @max_rows;

-- name: InvalidateAccountTokens :exec
-- A new token replaces the user's unused ones of the same purpose.
UPDATE account_tokens SET used_at = now()
WHERE tenant_id = @tenant_id AND user_id = @user_id AND purpose = @purpose AND used_at IS NULL;

-- name: InsertAccountToken :exec
INSERT INTO account_tokens (tenant_id, user_id, purpose, token_hash, expires_at)
VALUES (@tenant_id, @user_id, @purpose, @token_hash, @expires_at);

-- name: UseAccountToken :one
-- Single use: the first caller gets the user, every later one (or after expiry) none.
UPDATE account_tokens SET used_at = now()
WHERE tenant_id = @tenant_id AND token_hash = @token_hash AND purpose = @purpose
  AND used_at IS NULL AND expires_at > now()
RETURNING user_id;

-- name: SetUserPassword :exec
UPDATE users SET password_hash = @password_hash, updated_at = now() WHERE tenant_id = @tenant_id AND id = @id;

-- name: RevokeUserRefreshTokens :exec
UPDATE refresh_tokens SET revoked_at = now() WHERE tenant_id = @tenant_id AND user_id = @user_id AND revoked_at IS NULL;

-- name: MarkEmailVerified :exec
UPDATE users SET email_verified_at = coalesce(email_verified_at, now()), updated_at = now() WHERE tenant_id = @tenant_id AND id = @id;
