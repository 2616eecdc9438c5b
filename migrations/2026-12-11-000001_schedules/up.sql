-- Schedules: a fixed payload ingested at set times (shared/src/timetable.rs says when),
-- fired by the workers' schedule runner (worker/src/schedules.rs).
CREATE TABLE schedules (
    id              uuid        PRIMARY KEY,
    tenant_id       uuid        REFERENCES tenants (id) ON DELETE CASCADE,
    name            text        NOT NULL,
    description     text,
    -- Targeted runs; NULL: fan-out by event_type. No foreign key: a deleted subscription's
    -- runs end failed ("subscription deleted") and the schedule keeps its timetable.
    subscription_id uuid,
    event_type      text,
    payload         jsonb       NOT NULL,
    kind            text        NOT NULL CHECK (kind IN ('once', 'cron')),
    run_at          timestamptz,
    cron            text,
    timezone        text        NOT NULL DEFAULT 'UTC',
    missed_runs     text        NOT NULL DEFAULT 'run_once' CHECK (missed_runs IN ('run_once', 'skip')),
    is_active       boolean     NOT NULL DEFAULT true,
    -- The next tick; NULL once a `once` schedule has run.
    next_run_at     timestamptz,
    last_run_at     timestamptz,
    last_webhook_id uuid,
    run_count       bigint      NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CHECK ((kind = 'once') = (run_at IS NOT NULL) AND (kind = 'cron') = (cron IS NOT NULL)),
    CHECK (subscription_id IS NOT NULL OR event_type IS NOT NULL)
);

-- What the runner claims: active schedules by due time.
CREATE INDEX schedules_due_idx ON schedules (next_run_at) WHERE is_active;
CREATE INDEX schedules_tenant_created_idx ON schedules (tenant_id, created_at, id);
CREATE INDEX schedules_created_idx ON schedules (created_at, id);

-- One row per tick fired: the key makes each (schedule, tick) one run however many
-- workers try it.
CREATE TABLE schedule_runs (
    schedule_id   uuid        NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    scheduled_for timestamptz NOT NULL,
    webhook_id    uuid        NOT NULL,
    started_at    timestamptz NOT NULL,
    PRIMARY KEY (schedule_id, scheduled_for)
);

-- A run's webhook goes through the outbox like an operational event, so the transaction
-- that records the run also holds its webhook: targeted runs need a subscription, and a
-- targeted run may carry no event type. The row's id is the webhook's id.
ALTER TABLE outbox ADD COLUMN subscription_id uuid;
ALTER TABLE outbox ALTER COLUMN event_type DROP NOT NULL;
