ALTER TABLE webhooks DROP COLUMN IF EXISTS tenant_id;
DROP INDEX IF EXISTS subscriptions_tenant_idx;
ALTER TABLE subscriptions DROP COLUMN IF EXISTS tenant_id;
DROP TABLE IF EXISTS api_keys;
DROP TABLE IF EXISTS tenants;
