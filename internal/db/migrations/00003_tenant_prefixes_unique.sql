-- Two tenants sharing a Kafka topic, search index or Redis key prefix would read each
-- other's data, so each prefix belongs to exactly one tenant. The operator maps a
-- unique violation here to an IsolationConflict condition on the Tenant.

-- +goose Up
CREATE UNIQUE INDEX tenants_topic_prefix_key ON tenants (topic_prefix);
CREATE UNIQUE INDEX tenants_index_prefix_key ON tenants (index_prefix);
CREATE UNIQUE INDEX tenants_redis_prefix_key ON tenants (redis_prefix);

-- +goose Down
DROP INDEX tenants_redis_prefix_key;
DROP INDEX tenants_index_prefix_key;
DROP INDEX tenants_topic_prefix_key;
