-- The reconciler (worker/src/reconcile.rs) walks unfinished deliveries in order of due
-- time: GREATEST(next_retry_at, updated_at) is when a retry is due, when a pending
-- delivery was stored, or when the reconciler last queued it again. Partial, like the
-- other unfinished-delivery indexes: its size is the deliveries under way, not the table.
CREATE INDEX IF NOT EXISTS deliveries_unfinished_by_due_idx
    ON deliveries ((GREATEST(next_retry_at, updated_at)), webhook_id, subscription_id)
    WHERE status IN ('pending', 'retrying');
