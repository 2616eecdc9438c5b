//! The table columns of each resource: which fields a list shows, under which headers.
//! (`--output json` prints the API's answer whole and ignores these.)

use serde_json::Value;

use crate::output::{Column, col};

/// `subscriptions list`.
pub const SUBSCRIPTION: &[Column] = &[
    col("ID", "/id"),
    col("NAME", "/name"),
    col("DESTINATION", "/destination/type"),
    col("TARGET", "/target_url"),
    col("EVENTS", "/events"),
    col("ACTIVE", "/is_active"),
    col("FAILURES", "/consecutive_failures"),
];
/// `webhooks list`.
pub const WEBHOOK: &[Column] = &[
    col("WEBHOOK", "/webhook_id"),
    col("EVENT TYPE", "/event_type"),
    col("STATUS", "/status"),
    col("DELIVERIES", "/deliveries"),
    col("RECEIVED", "/received_at"),
];
/// `status`: its recent attempts.
pub const ATTEMPT: &[Column] = &[
    col("#", "/attempt_number"),
    col("WHEN", "/timestamp"),
    col("OUTCOME", "/outcome"),
    col("CODE", "/status_code"),
    col("MS", "/duration_ms"),
    col("ERROR", "/error"),
];
/// `status`: its deliveries, one per subscription.
pub const DELIVERY: &[Column] = &[
    col("SUBSCRIPTION", "/subscription_id"),
    col("STATUS", "/status"),
    col("ATTEMPTS", "/attempts"),
    col("CODE", "/last_status_code"),
    col("ERROR", "/error"),
];
/// `replays list`.
pub const REPLAY: &[Column] = &[
    col("ID", "/id"),
    col("STATUS", "/status"),
    col("MATCHED", "/matched"),
    col("QUEUED", "/queued"),
    col("CREATED", "/created_at"),
];
/// `tenants list`.
pub const TENANT: &[Column] = &[
    col("ID", "/id"),
    col("NAME", "/name"),
    col("CREATED", "/created_at"),
];
/// `keys list` (never the secret: the API shows only its prefix).
pub const KEY: &[Column] = &[
    col("ID", "/id"),
    col("NAME", "/name"),
    col("PREFIX", "/key_prefix"),
    col("TENANT", "/tenant_id"),
    col("PERMISSIONS", "/permissions"),
    col("LAST USED", "/last_used_at"),
];
/// `schedules list`.
pub const SCHEDULE: &[Column] = &[
    col("ID", "/id"),
    col("NAME", "/name"),
    col("KIND", "/kind"),
    col("CRON", "/cron"),
    col("ACTIVE", "/is_active"),
    col("NEXT RUN", "/next_run_at"),
];
/// `sources list`.
pub const SOURCE: &[Column] = &[
    col("ID", "/id"),
    col("NAME", "/name"),
    col("VERIFICATION", "/verification/type"),
    col("PATH", "/ingest_path"),
    col("ACTIVE", "/is_active"),
];
/// `dead-letters list`.
pub const DEAD_LETTER: &[Column] = &[
    col("ID", "/id"),
    col("WEBHOOK", "/webhook_id"),
    col("EVENT TYPE", "/event_type"),
    col("REASON", "/reason"),
    col("DEAD AT", "/dead_at"),
];

/// A schedule's runs and a source's rejections have no fixed columns: every field of the
/// first row, named after it.
pub fn of_first_row(rows: &Value) -> Vec<Column> {
    rows.as_array()
        .and_then(|r| r.first())
        .and_then(Value::as_object)
        .map(|first| first.keys().map(|k| Column::field(k)).collect())
        .unwrap_or_default()
}
