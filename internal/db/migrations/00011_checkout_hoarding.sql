-- +goose Up
-- Checkout counts a shopper's unpaid orders (by e-mail address, customer and client
-- address) under advisory locks before it reserves stock: these partial indexes keep
-- the count to the few orders still pending payment.
CREATE INDEX orders_unpaid_email ON orders (tenant_id, lower(email)) WHERE status = 'pending_payment';
CREATE INDEX orders_unpaid_customer ON orders (tenant_id, customer_id) WHERE status = 'pending_payment' AND customer_id IS NOT NULL;
CREATE INDEX orders_unpaid_client_ip ON orders (tenant_id, client_ip_hash) WHERE status = 'pending_payment' AND client_ip_hash IS NOT NULL;

-- A storefront's own hoarding caps (apiserver.HoardPolicy); NULL: the API's defaults.
ALTER TABLE storefront_settings
    ADD COLUMN hoard_max_units_guest bigint CHECK (hoard_max_units_guest BETWEEN 1 AND 1000000),
    ADD COLUMN hoard_max_units_customer bigint CHECK (hoard_max_units_customer BETWEEN 1 AND 1000000),
    ADD COLUMN hoard_max_unpaid bigint CHECK (hoard_max_unpaid BETWEEN 1 AND 10000),
    ADD COLUMN hoard_max_unpaid_per_address bigint CHECK (hoard_max_unpaid_per_address BETWEEN 1 AND 10000),
    ADD CONSTRAINT storefront_settings_hoard_whole CHECK (num_nulls(hoard_max_units_guest, hoard_max_units_customer,
        hoard_max_unpaid, hoard_max_unpaid_per_address) IN (0, 4));

-- +goose Down
ALTER TABLE storefront_settings DROP CONSTRAINT storefront_settings_hoard_whole,
    DROP COLUMN hoard_max_units_guest, DROP COLUMN hoard_max_units_customer,
    DROP COLUMN hoard_max_unpaid, DROP COLUMN hoard_max_unpaid_per_address;
DROP INDEX orders_unpaid_client_ip;
DROP INDEX orders_unpaid_customer;
DROP INDEX orders_unpaid_email;
