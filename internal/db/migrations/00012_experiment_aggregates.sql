-- +goose Up
-- Experiment analysis (ingest/experiments): the facts the experiments consumer has
-- seen, once each, and the per-arm sums it derives from them.
--
-- Every effect is keyed by the event that caused it (event id, order id), so a replay
-- or a duplicate inserts nothing and changes nothing. The arm sums are not counters
-- bumped per event: each unit's contribution is recomputed from all its stored facts
-- whenever one of them arrives, and the arm sums move by (new − old) contribution.
-- The result depends only on the set of facts, never on their arrival order.

-- One row per model.exposure of an experiment (the envelope id is the request id).
CREATE TABLE experiment_exposures (
    tenant_id   uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    event_id    text        NOT NULL CHECK (event_id <> ''),
    experiment  text        NOT NULL CHECK (experiment <> ''),
    arm         text        NOT NULL CHECK (arm <> ''),
    unit_key    text        NOT NULL CHECK (unit_key <> ''),
    request_id  text        NOT NULL,
    model       text        NOT NULL,
    version     text        NOT NULL,
    items       text[]      NOT NULL,
    error       boolean     NOT NULL,
    latency_ms  float8      CHECK (latency_ms >= 0),
    at          timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, event_id)
);
CREATE INDEX experiment_exposures_unit ON experiment_exposures (tenant_id, unit_key, experiment, at);

-- Clicks and add-to-carts, once per behaviour event and unit it names (its session
-- and, when signed in, its user).
CREATE TABLE experiment_outcomes (
    tenant_id   uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    event_id    text        NOT NULL CHECK (event_id <> ''),
    unit_key    text        NOT NULL CHECK (unit_key <> ''),
    kind        text        NOT NULL CHECK (kind IN ('click', 'add_to_cart')),
    product_id  text        NOT NULL,
    request_id  text        NOT NULL, -- the recommendation request clicked, if the app said
    at          timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, event_id, unit_key)
);
CREATE INDEX experiment_outcomes_unit ON experiment_outcomes (tenant_id, unit_key, at);

-- Orders, once per order id, with the revenue order.created stated.
CREATE TABLE experiment_orders (
    tenant_id   uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    order_id    text        NOT NULL CHECK (order_id <> ''),
    revenue     bigint      NOT NULL CHECK (revenue >= 0), -- minor units of currency
    currency    text        NOT NULL,
    at          timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, order_id)
);

-- Which units placed an order: the customer of order.created, and the session and
-- user of a behaviour purchase naming the order (guests have only the session).
CREATE TABLE experiment_order_units (
    tenant_id   uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    order_id    text        NOT NULL CHECK (order_id <> ''),
    unit_key    text        NOT NULL CHECK (unit_key <> ''),
    PRIMARY KEY (tenant_id, order_id, unit_key)
);
CREATE INDEX experiment_order_units_unit ON experiment_order_units (tenant_id, unit_key);

-- One row per unit and experiment: the arm of its first exposure and what the unit
-- last contributed to experiment_arm_metrics ([{"h": unix hour, "m": metric, "v":
-- value}]), so that a recomputation can take it back exactly.
CREATE TABLE experiment_units (
    tenant_id        uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    experiment       text        NOT NULL,
    unit_key         text        NOT NULL,
    arm              text        NOT NULL,
    first_event_id   text        NOT NULL,
    first_exposed_at timestamptz NOT NULL,
    contributions    jsonb       NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, experiment, unit_key)
);

-- Per-arm sums by hour of the event that moved them: the sum over units of their
-- contributions plus the serving metrics of each exposure. An arm's aggregate is the
-- sum over hours; a snapshot at hour h is the sum over hours up to h. numeric, so
-- that sums are exact and do not depend on the order of the additions.
CREATE TABLE experiment_arm_metrics (
    tenant_id   uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    experiment  text        NOT NULL,
    arm         text        NOT NULL,
    hour        timestamptz NOT NULL CHECK (hour = date_trunc('hour', hour, 'UTC')),
    metric      text        NOT NULL CHECK (metric ~ '^[a-z0-9_]+$'),
    value       numeric     NOT NULL,
    PRIMARY KEY (tenant_id, experiment, arm, hour, metric)
);

ALTER TABLE experiment_exposures ENABLE ROW LEVEL SECURITY;
ALTER TABLE experiment_exposures FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON experiment_exposures
    USING (kommerce_tenant_visible(tenant_id)) WITH CHECK (kommerce_tenant_visible(tenant_id));
ALTER TABLE experiment_outcomes ENABLE ROW LEVEL SECURITY;
ALTER TABLE experiment_outcomes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON experiment_outcomes
    USING (kommerce_tenant_visible(tenant_id)) WITH CHECK (kommerce_tenant_visible(tenant_id));
ALTER TABLE experiment_orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE experiment_orders FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON experiment_orders
    USING (kommerce_tenant_visible(tenant_id)) WITH CHECK (kommerce_tenant_visible(tenant_id));
ALTER TABLE experiment_order_units ENABLE ROW LEVEL SECURITY;
ALTER TABLE experiment_order_units FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON experiment_order_units
    USING (kommerce_tenant_visible(tenant_id)) WITH CHECK (kommerce_tenant_visible(tenant_id));
ALTER TABLE experiment_units ENABLE ROW LEVEL SECURITY;
ALTER TABLE experiment_units FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON experiment_units
    USING (kommerce_tenant_visible(tenant_id)) WITH CHECK (kommerce_tenant_visible(tenant_id));
ALTER TABLE experiment_arm_metrics ENABLE ROW LEVEL SECURITY;
ALTER TABLE experiment_arm_metrics FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON experiment_arm_metrics
    USING (kommerce_tenant_visible(tenant_id)) WITH CHECK (kommerce_tenant_visible(tenant_id));

-- +goose Down
DROP TABLE experiment_arm_metrics;
DROP TABLE experiment_units;
DROP TABLE experiment_order_units;
DROP TABLE experiment_orders;
DROP TABLE experiment_outcomes;
DROP TABLE experiment_exposures;
