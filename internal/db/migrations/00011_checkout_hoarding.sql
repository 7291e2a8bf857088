-- +goose Up
-- Checkout counts a shopper's unpaid orders (by e-mail address, customer and client
-- address) under advisory locks before it reserves stock: these partial indexes keep
-- the count to the few orders still pending payment.
CREATE INDEX orders_unpaid_email ON orders (tenant_id, lower(email)) WHERE status = 'pending_payment';
CREATE INDEX orders_unpaid_customer ON orders (tenant_id, customer_id) WHERE status = 'pending_payment' AND customer_id IS NOT NULL;
CREATE INDEX orders_unpaid_client_ip ON orders (tenant_id, client_ip_hash) WHERE status = 'pending_payment' AND client_ip_hash IS NOT NULL;

-- +goose Down
DROP INDEX orders_unpaid_client_ip;
DROP INDEX orders_unpaid_customer;
DROP INDEX orders_unpaid_email;
