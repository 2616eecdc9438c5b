-- Sources (api/src/sources): public inbound URLs, each verified the way its provider signs.

-- What travels with a body that came in through a source: its content type and the
-- headers the source forwards ({"content_type": …, "headers": [[name, value], …]}).
-- NULL for webhooks ingested through /ingest: JSON, no extra headers.
ALTER TABLE webhooks ADD COLUMN envelope jsonb;

CREATE TABLE sources (
    id uuid PRIMARY KEY,
    tenant_id uuid REFERENCES tenants (id) ON DELETE CASCADE,
    name text NOT NULL,
    -- The secret part of the ingest path, /in/<token>; rotate-path replaces it.
    token text NOT NULL UNIQUE,
    -- {"type": …, …} with its secrets; never shown unmasked.
    verification jsonb NOT NULL,
    ip_allowlist text[],
    rate_limit_requests int4,
    rate_limit_per_seconds int4,
    -- {"header": …} | {"json_pointer": …} | {"value": …} | NULL
    event_type jsonb,
    -- Targeted ingest; NULL: fan-out by event type. No foreign key, as for schedules: a
    -- deleted subscription's webhooks end failed ("subscription deleted").
    subscription_id uuid,
    forward_headers text[] NOT NULL DEFAULT '{}',
    is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX sources_tenant_created_idx ON sources (tenant_id, created_at, id);

-- Refused inbound requests, kept for LOG_RETENTION (the purge job removes older ones).
CREATE TABLE source_rejections (
    id uuid PRIMARY KEY,
    source_id uuid NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    received_at timestamptz NOT NULL,
    status int4 NOT NULL,
    reason text NOT NULL,
    remote_addr text NOT NULL
);
CREATE INDEX source_rejections_source_received_idx
    ON source_rejections (source_id, received_at DESC);
CREATE INDEX source_rejections_received_idx ON source_rejections (received_at);
