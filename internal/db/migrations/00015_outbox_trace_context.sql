-- +goose Up
-- The W3C traceparent of the request that wrote an outbox row, so the relay's publish
-- span and the consumers' spans join that request's trace (docs/observability.md).
-- Writers do not name the column: the API sets kommerce.traceparent for its
-- transaction (set_config(..., true), like kommerce.tenant_id) while the request is
-- traced, and the default copies it into every row the transaction writes. Anything
-- that is not a well-formed traceparent is stored as NULL, and so is every row written
-- without tracing; the relay publishes such rows as before, without a trace.
CREATE FUNCTION kommerce_current_traceparent() RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
        SELECT CASE WHEN s ~ '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$' THEN s END
        FROM (SELECT current_setting('kommerce.traceparent', true) AS s) AS setting
    $$;

ALTER TABLE outbox
    ADD COLUMN trace_context text DEFAULT kommerce_current_traceparent()
        CHECK (trace_context IS NULL OR length(trace_context) <= 256);

-- +goose Down
ALTER TABLE outbox DROP COLUMN trace_context;
DROP FUNCTION kommerce_current_traceparent();
