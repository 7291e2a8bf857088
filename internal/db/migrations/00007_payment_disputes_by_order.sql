-- An order's payment records list its disputes (OrderDisputes filters on tenant and
-- order); without this index that read scans every dispute of the tenant.

-- +goose Up
CREATE INDEX payment_disputes_by_order ON payment_disputes (tenant_id, order_id);

-- +goose Down
DROP INDEX payment_disputes_by_order;
