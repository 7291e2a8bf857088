-- Queries of the notifier. Every transaction is scoped to the event's tenant first
-- (TenantScope), so row-level security applies as in the API.

-- name: TenantScope :exec
SELECT set_config('kommerce.tenant_id', @tenant_id::text, true);

-- name: ClaimSend :one
-- Inserts the send's row or, when it exists, locks it: a duplicate of the event being
-- sent right now waits here until the first transaction commits, then sees its status.
INSERT INTO notification_sends (tenant_id, event_id, kind, recipient)
VALUES (@tenant_id, @event_id, @kind, @recipient)
ON CONFLICT (tenant_id, event_id, kind) DO UPDATE SET recipient = excluded.recipient
RETURNING status, attempts;

-- name: FinishSend :exec
UPDATE notification_sends
SET status = @status, attempts = attempts + 1, last_error = @last_error, message_id = @message_id,
    sent_at = CASE WHEN @status = 'sent' THEN now() END
WHERE tenant_id = @tenant_id AND event_id = @event_id AND kind = @kind;

-- name: ReviveSend :exec
-- A replayed dead letter starts its tries again.
UPDATE notification_sends SET status = 'failed', attempts = 0
WHERE tenant_id = @tenant_id AND event_id = @event_id AND kind = @kind AND status = 'dead';

-- name: TenantName :one
SELECT name FROM tenants WHERE id = @tenant_id;

-- name: OrderForMail :one
SELECT o.id, o.email, o.storefront, o.status, o.currency, o.subtotal, o.shipping, o.tax, o.total,
       coalesce(u.name, '')::text AS customer_name,
       coalesce((SELECT p.amount_refunded FROM payments p WHERE p.tenant_id = o.tenant_id AND p.order_id = o.id), 0)::bigint AS refunded
FROM orders o
LEFT JOIN users u ON u.tenant_id = o.tenant_id AND u.id = o.customer_id
WHERE o.tenant_id = @tenant_id AND o.id = @id;

-- name: OrderLinesForMail :many
SELECT coalesce(sku, '')::text AS sku, name, quantity, unit_price, amount
FROM order_lines
WHERE tenant_id = @tenant_id AND order_id = @order_id AND kind = 'item'
ORDER BY position;

-- name: TenantTemplates :many
SELECT locale, subject, html, text_body
FROM notification_templates
WHERE tenant_id = @tenant_id AND kind = @kind;

-- name: AdminEmails :many
SELECT email, name FROM users WHERE tenant_id = @tenant_id AND role = 'admin' ORDER BY created_at LIMIT 20;
