-- GET /webhooks (api/src/webhooks.rs) walks webhooks newest first and probes each one's
-- deliveries by primary key; these indexes let it stop after the first page when it is
-- narrowed to a tenant or an event type. Unnarrowed, it walks webhooks_received_at_idx
-- backwards (the id tie-break is an incremental sort of equal timestamps). Plans and
-- timings on 1,000,000 webhooks: scripts/explain-webhook-search.sh.

-- One tenant's webhooks newest first (a tenant key's list, an admin's ?tenant_id=).
CREATE INDEX webhooks_tenant_received_at_idx ON webhooks (tenant_id, received_at, id);
-- One event type's webhooks newest first.
CREATE INDEX webhooks_event_type_received_at_idx ON webhooks (event_type, received_at, id);
-- ?status=failed probes each webhook for a failed delivery. Partial, on a rare and final
-- state: a delivery adds an entry once, when it fails (its updates are never HOT anyway,
-- status being in the other partial indexes' predicates), and the probe reads this small
-- index instead of the heap of every delivery.
CREATE INDEX deliveries_failed_by_webhook_idx ON deliveries (webhook_id)
    WHERE status = 'failed';
