-- Stripe secrets in payment_keys are now stored sealed (AES-256-GCM, see
-- internal/secretbox): "ksec1:<key id>:<base64>", about 4/3 of the secret plus 50
-- characters, so the 255-character limit of the column grows to 1024. Signing keys are
-- bytea and need no change. Existing plaintext rows stay readable and are sealed by
-- the API at start or by `kommerce admin rotate-secrets-key`.

-- +goose Up
ALTER TABLE payment_keys
    DROP CONSTRAINT payment_keys_stripe_secret_key_check,
    DROP CONSTRAINT payment_keys_stripe_webhook_secret_check,
    ADD CONSTRAINT payment_keys_stripe_secret_key_check CHECK (length(stripe_secret_key) <= 1024),
    ADD CONSTRAINT payment_keys_stripe_webhook_secret_check CHECK (length(stripe_webhook_secret) <= 1024);

-- +goose Down
ALTER TABLE payment_keys
    DROP CONSTRAINT payment_keys_stripe_secret_key_check,
    DROP CONSTRAINT payment_keys_stripe_webhook_secret_check,
    ADD CONSTRAINT payment_keys_stripe_secret_key_check CHECK (length(stripe_secret_key) <= 255),
    ADD CONSTRAINT payment_keys_stripe_webhook_secret_check CHECK (length(stripe_webhook_secret) <= 255);
