-- Subscribers: where fan-out and targeted ingest deliver, and how.
CREATE TABLE subscriptions (
    id          uuid        PRIMARY KEY,
    target_url  text        NOT NULL,
    secret      text        NOT NULL,
    -- NULL or '{}' = every event type; entries ending in '*' are prefix matches.
    events      text[],
    description text,
    headers     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    is_active   boolean     NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

-- GET /subscriptions lists oldest first with skip/limit.
CREATE INDEX subscriptions_created_at_idx ON subscriptions (created_at, id);
