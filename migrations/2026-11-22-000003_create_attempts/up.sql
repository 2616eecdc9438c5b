-- Every delivery attempt, as CONTRACT §5's attempt object. No foreign keys: attempts are
-- purged by age on their own schedule and outlive deleted subscriptions.
CREATE TABLE attempts (
    id              uuid        PRIMARY KEY,
    webhook_id      uuid        NOT NULL,
    subscription_id uuid        NOT NULL,
    target_url      text        NOT NULL,
    "timestamp"     timestamptz NOT NULL,
    attempt_number  integer     NOT NULL,
    outcome         text        NOT NULL
        CHECK (outcome IN ('Success', 'Failed Attempt', 'Failure')),
    status_code     integer,
    error           text,
    duration_ms     bigint      NOT NULL,
    response_body   text,
    next_retry_at   timestamptz
);

-- GET /status/{webhook_id}: newest attempts of one webhook.
CREATE INDEX attempts_webhook_idx ON attempts (webhook_id, "timestamp" DESC);
-- GET /subscriptions/{id}/attempts: newest attempts of one subscription.
CREATE INDEX attempts_subscription_idx ON attempts (subscription_id, "timestamp" DESC);
-- The purge job deletes by age in bounded batches.
CREATE INDEX attempts_timestamp_idx ON attempts ("timestamp");
