-- A webhook as the worker first stored it: the exact bytes received, so status,
-- attempts and retries need nothing from Redis.
CREATE TABLE webhooks (
    id              uuid        PRIMARY KEY,
    event_type      text,
    -- The subscription named by POST /ingest/{id}; NULL for fan-out.
    subscription_id uuid,
    payload         bytea       NOT NULL,
    received_at     timestamptz NOT NULL
);

-- The purge job walks old webhooks in received order.
CREATE INDEX webhooks_received_at_idx ON webhooks (received_at);

-- One row per (webhook, subscription): the state of delivering that webhook there.
-- subscription_id has no foreign key: history outlives a deleted subscription.
CREATE TABLE deliveries (
    webhook_id       uuid        NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    subscription_id  uuid        NOT NULL,
    target_url       text        NOT NULL,
    status           text        NOT NULL
        CHECK (status IN ('pending', 'retrying', 'succeeded', 'failed')),
    attempts         integer     NOT NULL DEFAULT 0,
    last_status_code integer,
    error            text,
    next_retry_at    timestamptz,
    updated_at       timestamptz NOT NULL,
    PRIMARY KEY (webhook_id, subscription_id)
);

-- DELETE /subscriptions/{id} ends that subscription's unfinished deliveries; the purge
-- job asks whether a webhook still has any.
CREATE INDEX deliveries_unfinished_idx ON deliveries (subscription_id)
    WHERE status IN ('pending', 'retrying');
CREATE INDEX deliveries_unfinished_by_webhook_idx ON deliveries (webhook_id)
    WHERE status IN ('pending', 'retrying');
