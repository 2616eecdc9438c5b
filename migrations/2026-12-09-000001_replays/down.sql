ALTER TABLE webhooks DROP COLUMN skip_subscription;
DROP TABLE replays;
