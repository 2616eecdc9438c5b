DROP INDEX webhooks_no_subscribers_idx;
ALTER TABLE webhooks DROP COLUMN no_subscribers;
DROP INDEX deliveries_subscription_received_at_idx;
ALTER TABLE deliveries DROP COLUMN received_at;
