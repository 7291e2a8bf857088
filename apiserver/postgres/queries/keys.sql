-- name: InsertSigningKey :exec
INSERT INTO signing_keys (tenant_id, kid, private_key, active) VALUES (@tenant_id, @kid, @private_key, true);

-- name: ActiveSigningKey :one
SELECT kid, private_key FROM signing_keys WHERE tenant_id = @tenant_id AND active;

-- name: SigningKeyByKID :one
SELECT private_key FROM signing_keys WHERE tenant_id = @tenant_id AND kid = @kid;

-- name: RetireSigningKeys :exec
UPDATE signing_keys SET active = false, retired_at = now() WHERE tenant_id = @tenant_id AND active;

-- name: DeleteRetiredSigningKeys :execrows
DELETE FROM signing_keys WHERE tenant_id = @tenant_id AND NOT active AND retired_at < @before;

-- name: AllSigningKeySecrets :many
-- Every tenant's keys, for sealing them under the current secrets key (platform mode).
SELECT tenant_id, kid, private_key FROM signing_keys ORDER BY tenant_id, kid FOR UPDATE;

-- name: SetSigningKeySecret :exec
UPDATE signing_keys SET private_key = @private_key WHERE tenant_id = @tenant_id AND kid = @kid;
