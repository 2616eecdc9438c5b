-- Tenants: customers of one deployment, each sealed off from the others. Rows with
-- tenant_id NULL belong to the default space.
CREATE TABLE tenants (
    id         uuid        PRIMARY KEY,
    name       text        NOT NULL,
    metadata   jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE INDEX tenants_created_at_idx ON tenants (created_at, id);

-- Stored API keys. Only the SHA-256 of the key is kept; key_prefix (the first characters
-- of the key, unique) is what the api looks a presented key up by, and what lists show.
CREATE TABLE api_keys (
    id           uuid        PRIMARY KEY,
    name         text        NOT NULL,
    -- No ON DELETE: deleting a tenant deletes its keys explicitly, in one transaction.
    tenant_id    uuid        REFERENCES tenants (id),
    permissions  text[]      NOT NULL,
    key_prefix   text        NOT NULL UNIQUE,
    key_hash     bytea       NOT NULL,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    expires_at   timestamptz,
    CHECK (permissions <@ ARRAY['ingest', 'read', 'write']::text[])
);

CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id, created_at, id);

ALTER TABLE subscriptions ADD COLUMN tenant_id uuid REFERENCES tenants (id);
-- Lists of one tenant's subscriptions (a tenant key's, or an admin's ?tenant_id=).
CREATE INDEX subscriptions_tenant_idx ON subscriptions (tenant_id, created_at, id);

-- The tenant a webhook was ingested in (NULL: the default space). No foreign key: a
-- webhook's history outlives its tenant until the purge removes it.
ALTER TABLE webhooks ADD COLUMN tenant_id uuid;
