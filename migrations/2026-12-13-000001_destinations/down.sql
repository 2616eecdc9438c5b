DELETE FROM subscriptions WHERE destination IS NOT NULL;
ALTER TABLE subscriptions DROP CONSTRAINT subscriptions_one_destination;
ALTER TABLE subscriptions ALTER COLUMN target_url SET NOT NULL;
ALTER TABLE subscriptions DROP COLUMN destination;
