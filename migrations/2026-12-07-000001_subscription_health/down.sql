DROP TABLE IF EXISTS outbox;
ALTER TABLE subscriptions
    DROP COLUMN IF EXISTS name,
    DROP COLUMN IF EXISTS http_method,
    DROP COLUMN IF EXISTS timeout_ms,
    DROP COLUMN IF EXISTS retry_schedule,
    DROP COLUMN IF EXISTS rate_limit,
    DROP COLUMN IF EXISTS consecutive_failures,
    DROP COLUMN IF EXISTS last_success_at,
    DROP COLUMN IF EXISTS last_failure_at,
    DROP COLUMN IF EXISTS disabled_reason,
    DROP COLUMN IF EXISTS disabled_at,
    DROP COLUMN IF EXISTS previous_secret,
    DROP COLUMN IF EXISTS previous_secret_expires_at;
