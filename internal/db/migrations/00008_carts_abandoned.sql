-- The background sweep deletes carts nobody changed for their retention period
-- (DeleteAbandonedCarts), guests' and customers' with different retentions. It reads
-- open carts of one kind older than a time across all tenants; this index keeps that
-- read to the carts it deletes instead of a scan of every cart ever made. Built
-- concurrently: the carts table of a running shop is written all the time.

-- +goose NO TRANSACTION
-- +goose Up
-- A concurrent build that failed leaves an invalid index behind, which IF NOT EXISTS
-- would keep; this migration is recorded only once it succeeded, so start clean.
DROP INDEX CONCURRENTLY IF EXISTS carts_open_by_updated;
CREATE INDEX CONCURRENTLY IF NOT EXISTS carts_open_by_updated ON carts ((customer_id IS NULL), updated_at) WHERE status <> 'checked_out';

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS carts_open_by_updated;
