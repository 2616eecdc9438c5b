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
    -- The secret before the last rotation, still signed with until it expires.
    ADD COLUMN previous_secret text,
    ADD COLUMN previous_secret_expires_at timestamptz;
