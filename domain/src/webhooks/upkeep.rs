//! What the workers' upkeep does to stored webhooks and deliveries, declared beside them:
//! the reconciler's read of overdue unfinished deliveries and its mark of those queued
//! again ([`overdue`], [`mark_queued`]), the retention purge's batch deletes
//! ([`DELETE_OLD_ATTEMPTS`], [`DELETE_OLD_WEBHOOKS`]; the worker's `purge` runs them), and
//! forgetting a webhook a late entry stored again after it was purged ([`forget`]).

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Integer, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use hookrelay_shared::db::{DbPool, bounded};
use hookrelay_shared::queue::NextAttempt;
use hookrelay_shared::schema::webhooks;
use uuid::Uuid;

use super::DeliveryStatus;

/// Deliveries one [`overdue`] batch reads at most.
pub const OVERDUE_BATCH: i64 = 500;

/// One batch of unfinished deliveries due before `$1`, after the keyset position
/// (`$2`, `$3`, `$4`), in due order, through `deliveries_unfinished_by_due_idx`.
pub const OVERDUE_DELIVERIES: &str = hookrelay_shared::const_concat!(
    "
SELECT webhook_id, subscription_id, status, attempts, GREATEST(next_retry_at, updated_at) AS due
FROM deliveries
WHERE status IN ",
    DeliveryStatus::UNFINISHED_SQL,
    "
  AND GREATEST(next_retry_at, updated_at) < $1
  AND (GREATEST(next_retry_at, updated_at), webhook_id, subscription_id) > ($2, $3, $4)
ORDER BY GREATEST(next_retry_at, updated_at), webhook_id, subscription_id
LIMIT $5"
);

/// Marks deliveries as queued again at `$1`, each only if it is still unfinished with the
/// attempt count the pass read (`$2`–`$4`): one that got an attempt meanwhile is not lost.
pub const MARK_QUEUED: &str = hookrelay_shared::const_concat!(
    "
UPDATE deliveries d SET updated_at = $1
FROM unnest($2::uuid[], $3::uuid[], $4::int4[]) AS s(webhook_id, subscription_id, attempts)
WHERE d.webhook_id = s.webhook_id AND d.subscription_id = s.subscription_id
  AND d.attempts = s.attempts AND d.status IN ",
    DeliveryStatus::UNFINISHED_SQL,
    "
RETURNING d.webhook_id, d.subscription_id, d.attempts, d.status, d.updated_at AS due"
);

/// An unfinished delivery as a pass sees it.
#[derive(Debug, Clone, diesel::QueryableByName)]
pub struct Overdue {
    #[diesel(sql_type = SqlUuid)]
    pub webhook_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub subscription_id: Uuid,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    #[diesel(sql_type = Timestamptz)]
    pub due: DateTime<Utc>,
}

impl Overdue {
    /// The retry that carries the delivery on: its next attempt.
    pub fn next(&self) -> NextAttempt {
        NextAttempt {
            webhook_id: self.webhook_id,
            subscription_id: self.subscription_id,
            attempt: u32::try_from(self.attempts).unwrap_or(0) + 1,
        }
    }
}

/// One batch ([`OVERDUE_DELIVERIES`]) of unfinished deliveries due before `cutoff`, after
/// the keyset position.
pub async fn overdue(
    conn: &mut AsyncPgConnection,
    cutoff: DateTime<Utc>,
    (due, webhook_id, subscription_id): (DateTime<Utc>, Uuid, Uuid),
) -> anyhow::Result<Vec<Overdue>> {
    diesel::sql_query(OVERDUE_DELIVERIES)
        .bind::<Timestamptz, _>(cutoff)
        .bind::<Timestamptz, _>(due)
        .bind::<SqlUuid, _>(webhook_id)
        .bind::<SqlUuid, _>(subscription_id)
        .bind::<BigInt, _>(OVERDUE_BATCH)
        .load(conn)
        .await
        .context("Failed to read overdue deliveries")
}

/// Marks `lost` as queued again at `now` ([`MARK_QUEUED`]), each only if still unfinished
/// with the attempts the pass read; answers those it marked.
pub async fn mark_queued(
    db: &DbPool,
    lost: &[Overdue],
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<Overdue>> {
    let mut conn = db.get().await.context("no Postgres connection")?;
    diesel::sql_query(MARK_QUEUED)
        .bind::<Timestamptz, _>(now)
        .bind::<Array<SqlUuid>, _>(lost.iter().map(|r| r.webhook_id).collect::<Vec<_>>())
        .bind::<Array<SqlUuid>, _>(lost.iter().map(|r| r.subscription_id).collect::<Vec<_>>())
        .bind::<Array<Integer>, _>(lost.iter().map(|r| r.attempts).collect::<Vec<_>>())
        .load(&mut conn)
        .await
        .context("Failed to mark deliveries as queued again")
}

/// One batch of attempt logs older than `$1`, found through `attempts_timestamp_idx` and
/// deleted through the primary key. `id = ANY(ARRAY(…))` rather than `id IN (…)`: the
/// planner hashes an `IN` list and scans the whole table to probe it.
pub const DELETE_OLD_ATTEMPTS: &str = r#"DELETE FROM attempts WHERE id = ANY(ARRAY(
    SELECT id FROM attempts WHERE "timestamp" < $1 LIMIT $2))"#;

/// One batch of webhooks received before `$1` with no unfinished delivery (found through
/// `webhooks_received_at_idx`, each checked through `deliveries_unfinished_by_webhook_idx`).
pub const DELETE_OLD_WEBHOOKS: &str = hookrelay_shared::const_concat!(
    "DELETE FROM webhooks WHERE id = ANY(ARRAY(
    SELECT w.id FROM webhooks w
    WHERE w.received_at < $1
      AND NOT EXISTS (SELECT 1 FROM deliveries d
                      WHERE d.webhook_id = w.id AND d.status IN ",
    DeliveryStatus::UNFINISHED_SQL,
    ")
    LIMIT $2))"
);

/// Removes a webhook that a late re-run of its entry stored again after the purge had
/// removed it (its first run finished long ago), so it is not delivered twice.
pub async fn forget(db: &DbPool, webhook_id: Uuid) -> anyhow::Result<()> {
    let mut conn = db.get().await.context("no Postgres connection")?;
    bounded(
        "Failed to remove a re-inserted purged webhook",
        diesel::delete(webhooks::table.find(webhook_id)).execute(&mut conn),
    )
    .await?;
    Ok(())
}
