-- +goose Up
-- No change of schema: since this version the relay deletes each outbox row in the
-- transaction it commits once the broker acknowledged the row's event, instead of
-- setting published_at and keeping the row for a week (ingest/postgres/queries.sql,
-- ClaimOutbox, says why). The comments say so where psql's \d+ shows them, since
-- the comment of 00001 above the table no longer does.
COMMENT ON TABLE outbox IS 'Domain events written in the transaction of the change they describe. The relay publishes them in id order and deletes each row when the broker has acknowledged it; the table holds what is still to publish, and rows dead-lettered as too large.';
COMMENT ON COLUMN outbox.published_at IS 'NULL until published. Set only on a row kept after it was dead-lettered as too large to publish (its payload stays readable, for the retention); every other row is deleted when published.';

-- +goose Down
COMMENT ON COLUMN outbox.published_at IS NULL;
COMMENT ON TABLE outbox IS NULL;
