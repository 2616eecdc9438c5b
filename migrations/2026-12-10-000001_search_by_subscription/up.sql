-- Two GET /webhooks filters that a walk of webhooks newest first cannot serve from the
-- first page's rows (api/src/webhooks.rs; timings: scripts/explain-webhook-search.sh).

-- ?subscription_id= walks that subscription's deliveries newest first instead of every
-- webhook: a delivery carries its webhook's received_at (written with it, never changed),
-- so a subscription that gets one webhook in ten thousand is as quick to list as one that
-- gets them all, and ?status=failed&subscription_id= probes only its webhooks.
ALTER TABLE deliveries ADD COLUMN received_at timestamptz;
UPDATE deliveries d SET received_at = w.received_at FROM webhooks w WHERE w.id = d.webhook_id;
ALTER TABLE deliveries ALTER COLUMN received_at SET NOT NULL;
CREATE INDEX deliveries_subscription_received_at_idx
    ON deliveries (subscription_id, received_at, webhook_id);

-- ?status=no_subscribers: a webhook stored with no delivery at all is marked when the log
-- writer stores it; a replay that adds a delivery to it (include_missing) clears the mark.
-- The filter still checks that no delivery exists; the mark only narrows the walk to a
-- small partial index.
ALTER TABLE webhooks ADD COLUMN no_subscribers boolean NOT NULL DEFAULT false;
UPDATE webhooks w SET no_subscribers = true
    WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.webhook_id = w.id);
CREATE INDEX webhooks_no_subscribers_idx ON webhooks (received_at, id) WHERE no_subscribers;
