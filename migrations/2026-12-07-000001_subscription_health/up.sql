-- Per-subscription delivery options, health counters, and secret rotation.
ALTER TABLE subscriptions
    ADD COLUMN name text,
    ADD COLUMN http_method text NOT NULL DEFAULT 'POST'
        CHECK (http_method IN ('POST', 'PUT', 'PATCH', 'GET', 'DELETE')),
    ADD COLUMN timeout_ms integer CHECK (timeout_ms BETWEEN 100 AND 60000),
    -- Delays in milliseconds; NULL: the worker's RETRY_SCHEDULE; '{}': no retries.
    ADD COLUMN retry_schedule bigint[],
    ADD COLUMN rate_limit integer CHECK (rate_limit > 0),
    -- Finished deliveries in a row that failed; reset by a success or by re-enabling.
    ADD COLUMN consecutive_failures integer NOT NULL DEFAULT 0,
    ADD COLUMN last_success_at timestamptz,
    ADD COLUMN last_failure_at timestamptz,
    ADD COLUMN disabled_reason text,
    -- When the service disabled it (NULL: it did not): ties the disable to the
    -- transaction that made it, so its event is raised once.
    ADD COLUMN disabled_at timestamptz,
    -- The secret before the last rotation, still signed with until it expires.
    ADD COLUMN previous_secret text,
    ADD COLUMN previous_secret_expires_at timestamptz;

-- Webhooks the service raises itself (operational events), written in the transaction
-- that decided them and moved into the work stream by a worker's outbox drainer, with
-- idempotency_key as the stream's Idempotency-Key: a crash between the two neither loses
-- nor doubles one.
CREATE TABLE outbox (
    id                uuid        PRIMARY KEY,
    idempotency_key   text        NOT NULL UNIQUE,
    -- The space the webhook fans out in (NULL: the default space).
    tenant_id         uuid,
    event_type        text        NOT NULL,
    payload           bytea       NOT NULL,
    -- A subscription the webhook must not reach (the one an event is about).
    skip_subscription uuid,
    created_at        timestamptz NOT NULL
);

CREATE INDEX outbox_created_at_idx ON outbox (created_at);
