-- name: CreateUser :one
INSERT INTO users (tenant_id, email, name, password_hash, role)
VALUES (@tenant_id, @email, @name, @password_hash, @role)
RETURNING *;

-- name: UserByEmail :one
SELECT * FROM users WHERE tenant_id = @tenant_id AND lower(email) = lower(@email);

-- name: UserByID :one
SELECT * FROM users WHERE tenant_id = @tenant_id AND id = @id;

-- name: InsertRefreshToken :exec
INSERT INTO refresh_tokens (tenant_id, family_id, user_id, token_hash, expires_at)
VALUES (@tenant_id, @family_id, @user_id, @token_hash, @expires_at);

-- name: RefreshTokenByHash :one
SELECT * FROM refresh_tokens WHERE tenant_id = @tenant_id AND token_hash = @token_hash FOR UPDATE;

-- name: MarkRefreshTokenRotated :exec
UPDATE refresh_tokens SET rotated_at = now() WHERE tenant_id = @tenant_id AND id = @id;

-- name: RevokeRefreshFamily :exec
UPDATE refresh_tokens SET revoked_at = now()
WHERE tenant_id = @tenant_id AND family_id = @family_id AND revoked_at IS NULL;
