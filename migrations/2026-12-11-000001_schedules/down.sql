DELETE FROM outbox WHERE event_type IS NULL;
ALTER TABLE outbox ALTER COLUMN event_type SET NOT NULL;
ALTER TABLE outbox DROP COLUMN subscription_id;
DROP TABLE schedule_runs;
DROP TABLE schedules;
