-- Checkout settings per storefront. The storefront of a request is the one its Host
-- is mapped to, else "default".

-- name: CheckoutSettingsForHost :one
SELECT sf.storefront::text AS storefront, s.currency, s.reservation_ttl_seconds, s.tax_rate_bps, s.tax_label,
    s.shipping_amount, s.free_shipping_over, s.fraud_action, s.fraud_threshold,
    s.hoard_max_units_guest, s.hoard_max_units_customer, s.hoard_max_unpaid, s.hoard_max_unpaid_per_address
FROM (SELECT coalesce((SELECT h.storefront FROM storefront_hosts h
                       WHERE h.tenant_id = @tenant_id AND h.hostname = @hostname), 'default') AS storefront) sf
LEFT JOIN storefront_settings s ON s.tenant_id = @tenant_id AND s.storefront = sf.storefront;

-- name: GetCheckoutSettings :one
SELECT * FROM storefront_settings WHERE tenant_id = @tenant_id AND storefront = @storefront;

-- name: UpsertCheckoutSettings :one
INSERT INTO storefront_settings (tenant_id, storefront, currency, reservation_ttl_seconds, tax_rate_bps, tax_label,
    shipping_amount, free_shipping_over, fraud_action, fraud_threshold,
    hoard_max_units_guest, hoard_max_units_customer, hoard_max_unpaid, hoard_max_unpaid_per_address)
VALUES (@tenant_id, @storefront, @currency, @reservation_ttl_seconds, @tax_rate_bps, @tax_label,
    @shipping_amount, sqlc.narg(free_shipping_over), sqlc.narg(fraud_action), sqlc.narg(fraud_threshold),
    sqlc.narg(hoard_max_units_guest), sqlc.narg(hoard_max_units_customer), sqlc.narg(hoard_max_unpaid),
    sqlc.narg(hoard_max_unpaid_per_address))
ON CONFLICT (tenant_id, storefront) DO UPDATE
SET currency = excluded.currency, reservation_ttl_seconds = excluded.reservation_ttl_seconds,
    tax_rate_bps = excluded.tax_rate_bps, tax_label = excluded.tax_label, shipping_amount = excluded.shipping_amount,
    free_shipping_over = excluded.free_shipping_over, fraud_action = excluded.fraud_action,
    fraud_threshold = excluded.fraud_threshold, hoard_max_units_guest = excluded.hoard_max_units_guest,
    hoard_max_units_customer = excluded.hoard_max_units_customer, hoard_max_unpaid = excluded.hoard_max_unpaid,
    hoard_max_unpaid_per_address = excluded.hoard_max_unpaid_per_address, updated_at = now()
RETURNING *;
