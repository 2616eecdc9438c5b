-- Bulk replays (POST /replays): a filter over deliveries, run by the workers in batches.
-- The filter is kept as posted (`filter`) and parsed into columns the batch queries use.
-- Progress is the keyset cursor: the last (received_at, webhook_id, subscription_id) a
-- committed batch covered, so a worker that takes over after a crash goes on from there.
CREATE TABLE replays (
    id              uuid        PRIMARY KEY,
    tenant_id       uuid        REFERENCES tenants (id) ON DELETE CASCADE,
    -- An admin key's replay without a subscription covers every tenant (tenant_id NULL).
    every_tenant    boolean     NOT NULL DEFAULT false,
    filter          jsonb       NOT NULL,
    subscription_id uuid,
    -- Entries as in a subscription's `events` (exact types or `prefix.*`); NULL: all.
    event_types     text[],
    since           timestamptz NOT NULL,
    until           timestamptz NOT NULL,
    statuses        text[]      NOT NULL,
    include_missing boolean     NOT NULL DEFAULT false,
    status          text        NOT NULL DEFAULT 'running'
        CHECK (status IN ('running', 'done', 'cancelled')),
    matched         bigint      NOT NULL DEFAULT 0,
    queued          bigint      NOT NULL DEFAULT 0,
    -- false: walking existing deliveries; true: walking webhooks that have none to the
    -- subscription (include_missing), with the cursor's subscription_id unused.
    missing_stage   boolean     NOT NULL DEFAULT false,
    cursor_received_at     timestamptz,
    cursor_webhook_id      uuid,
    cursor_subscription_id uuid,
    created_at      timestamptz NOT NULL,
    finished_at     timestamptz
);

-- Workers look for running replays every second.
CREATE INDEX replays_running_idx ON replays (created_at) WHERE status = 'running';
-- GET /replays, newest first, per tenant.
CREATE INDEX replays_tenant_created_idx ON replays (tenant_id, created_at DESC, id DESC);

-- The subscription a fan-out webhook must not reach: an operational event about that
-- subscription's own failures (the stream entry's `skip`). Stored so include_missing
-- never creates such a delivery either.
ALTER TABLE webhooks ADD COLUMN skip_subscription uuid;
