-- One default Redis prefix. `kommerce admin create-tenant` used to give a tenant with
-- no chosen prefix the Redis prefix 'kommerce:<slug>:' while the operator gave
-- 'k:<slug>:' (docs/operator.md, the Tenant CRD). Both now take their defaults from
-- internal/tenancy, which keeps the operator's form; this moves the rows the CLI wrote
-- to it. Topic and index defaults were already the same on both paths.
--
-- Only a row whose prefix is exactly the old default of its own slug changes: a prefix
-- somebody chose stays, and so does a row whose new prefix another tenant already holds
-- (the prefixes are unique; that tenant keeps its keys, this one its old prefix).
--
-- Redis holds only the catalog cache and rate-limit counters under these prefixes, so a
-- tenant that moves starts with a cold cache and fresh limits; the old keys expire on
-- their own. A Tenant resource that adopted a CLI-made tenant before this migration
-- recorded the old prefix in spec.isolation.redisPrefix, where it is immutable; the
-- operator puts such a row back to the recorded prefix on its next reconcile
-- (tenantstore.Ensure), so that tenant keeps its old prefix.

-- +goose Up
SELECT set_config('kommerce.platform', 'on', true);

UPDATE tenants t
SET redis_prefix = 'k:' || t.slug || ':', updated_at = now()
WHERE t.redis_prefix = 'kommerce:' || t.slug || ':'
  AND NOT EXISTS (SELECT 1 FROM tenants o WHERE o.redis_prefix = 'k:' || t.slug || ':');

-- +goose Down
-- Nothing to undo: after the repair a row with the default prefix cannot tell whether
-- the CLI or the operator created it, and 'k:<slug>:' is right for both.
SELECT 1;
