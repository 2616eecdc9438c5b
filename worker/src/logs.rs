//! Every Postgres write of the delivery path, batched: stored webhooks with their
//! delivery rows, attempt rows and delivery state changes.
//!
//! One writer task takes records from a channel and commits whatever has accumulated
//! (up to `MAX_BATCH`) in one transaction, so Postgres sees a few round trips per batch
//! rather than one per attempt. Each record carries a oneshot that fires once its batch
//! is committed: callers acknowledge Redis only after that, which is what makes a crash
//! at any point recoverable. On a Postgres error the writer logs, backs off and retries
//! the same batch, so an outage pauses deliveries and nothing is lost.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, Bool, Int4, Nullable, Text, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use hookrelay_shared::db::DbPool;
use hookrelay_shared::models::{Attempt, Delivery, DeliveryStatus, NewWebhook};
use hookrelay_shared::schema::{attempts, deliveries, webhooks};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Records per transaction at most.
const MAX_BATCH: usize = 500;
/// Rows per INSERT statement (Postgres allows 65,535 bind parameters per statement).
const ROWS_PER_INSERT: usize = 2_000;
/// Records waiting for the writer at most; senders wait when it is full.
const CHANNEL_CAPACITY: usize = 8_192;

/// Sets delivery state from a batch of changes, never touching a delivery that has
/// already finished (DELETE /subscriptions ends them concurrently).
const UPDATE_DELIVERIES: &str = "
UPDATE deliveries d SET
    status = u.status,
    attempts = GREATEST(d.attempts, u.attempts),
    last_status_code = CASE WHEN u.attempted THEN u.code ELSE d.last_status_code END,
    error = u.error,
    next_retry_at = u.next_retry_at,
    updated_at = now()
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::int4[], $5::bool[], $6::int4[], $7::text[], $8::timestamptz[])
    AS u(webhook_id, subscription_id, status, attempts, attempted, code, error, next_retry_at)
WHERE d.webhook_id = u.webhook_id
  AND d.subscription_id = u.subscription_id
  AND d.status IN ('pending', 'retrying')";

/// A change of one delivery's state.
#[derive(Debug, Clone)]
pub struct DeliveryUpdate {
    pub webhook_id: Uuid,
    pub subscription_id: Uuid,
    pub status: DeliveryStatus,
    /// Attempts made so far (0 when the delivery ends without an attempt).
    pub attempts: i32,
    /// Whether this change comes from an attempt (then `last_status_code` is its code).
    pub attempted: bool,
    pub last_status_code: Option<i32>,
    pub error: Option<String>,
    pub next_retry_at: Option<DateTime<Utc>>,
}

enum Record {
    Webhook {
        webhook: NewWebhook,
        deliveries: Vec<Delivery>,
        done: oneshot::Sender<bool>,
    },
    Update {
        attempt: Option<Attempt>,
        update: DeliveryUpdate,
        done: oneshot::Sender<()>,
    },
}

/// The writer went away (shutdown gave up on a Postgres that did not answer): the
/// record may not be durable, so the caller must not acknowledge its entry.
#[derive(Debug, thiserror::Error)]
#[error("the attempt log writer stopped before the record was committed")]
pub struct WriterGone;

/// The sending side; cheap to clone.
#[derive(Clone)]
pub struct LogWriter {
    tx: mpsc::Sender<Record>,
}

impl LogWriter {
    /// Starts the writer. It ends when every `LogWriter` is dropped and the last batch is
    /// committed, or when `abandon` fires while it waits for Postgres.
    pub fn spawn(db: DbPool, abandon: CancellationToken) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let task = tokio::spawn(run(db, rx, abandon));
        (Self { tx }, task)
    }

    /// Stores a webhook and its delivery rows (both idempotent). Returns whether the
    /// webhook is new; `false` means an earlier run stored it already.
    pub async fn store_webhook(
        &self,
        webhook: NewWebhook,
        deliveries: Vec<Delivery>,
    ) -> Result<bool, WriterGone> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Record::Webhook {
                webhook,
                deliveries,
                done,
            })
            .await
            .map_err(|_| WriterGone)?;
        wait.await.map_err(|_| WriterGone)
    }

    /// Records an attempt (if any) and the delivery state it leads to.
    pub async fn record(
        &self,
        attempt: Option<Attempt>,
        update: DeliveryUpdate,
    ) -> Result<(), WriterGone> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Record::Update {
                attempt,
                update,
                done,
            })
            .await
            .map_err(|_| WriterGone)?;
        wait.await.map_err(|_| WriterGone)
    }
}

async fn run(db: DbPool, mut rx: mpsc::Receiver<Record>, abandon: CancellationToken) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // Whatever accumulated while the previous batch was being written forms the next:
    // no added latency when idle, large batches under load.
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let mut delay = Duration::from_millis(100);
        let stored = loop {
            match write_batch(&db, &batch).await {
                Ok(stored) => break Some(stored),
                Err(e) => {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        records = batch.len(),
                        retry_in_ms = delay.as_millis(),
                        "could not write attempt logs to Postgres; deliveries wait until it answers"
                    );
                    tokio::select! {
                        () = abandon.cancelled() => break None,
                        () = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        };
        let Some(mut stored) = stored else {
            tracing::warn!(
                records = batch.len(),
                "gave up writing attempt logs at shutdown; their entries will be redelivered"
            );
            return;
        };
        metrics::counter!("hookrelay_log_batches_total").increment(1);
        for record in batch.drain(..) {
            match record {
                // The first record of a webhook gets `true`, a duplicate in the same batch `false`.
                Record::Webhook { webhook, done, .. } => {
                    let _ = done.send(stored.remove(&webhook.id));
                }
                Record::Update { done, .. } => {
                    let _ = done.send(());
                }
            }
        }
    }
}

/// Commits one batch; returns the ids of webhooks that were not stored before.
async fn write_batch(db: &DbPool, batch: &[Record]) -> anyhow::Result<HashSet<Uuid>> {
    let mut conn = db
        .get()
        .await
        .map_err(|e| anyhow::anyhow!("no Postgres connection: {e}"))?;
    let mut new_webhooks = Vec::new();
    let mut new_deliveries = Vec::new();
    let mut new_attempts = Vec::new();
    let mut updates = Vec::new();
    for record in batch {
        match record {
            Record::Webhook {
                webhook,
                deliveries,
                ..
            } => {
                new_webhooks.push(webhook);
                new_deliveries.extend(deliveries.iter());
            }
            Record::Update {
                attempt, update, ..
            } => {
                new_attempts.extend(attempt.iter());
                updates.push(update);
            }
        }
    }
    let conn: &mut AsyncPgConnection = &mut conn;
    let stored = conn
        .transaction::<_, diesel::result::Error, _>(async |conn| {
            let mut stored = HashSet::new();
            for chunk in new_webhooks.chunks(ROWS_PER_INSERT) {
                let rows: Vec<&NewWebhook> = chunk.to_vec();
                let ids: Vec<Uuid> = diesel::insert_into(webhooks::table)
                    .values(rows)
                    .on_conflict_do_nothing()
                    .returning(webhooks::id)
                    .get_results(conn)
                    .await?;
                stored.extend(ids);
            }
            for chunk in new_deliveries.chunks(ROWS_PER_INSERT) {
                diesel::insert_into(deliveries::table)
                    .values(chunk.to_vec())
                    .on_conflict_do_nothing()
                    .execute(conn)
                    .await?;
            }
            for chunk in new_attempts.chunks(ROWS_PER_INSERT) {
                diesel::insert_into(attempts::table)
                    .values(chunk.to_vec())
                    .on_conflict_do_nothing()
                    .execute(conn)
                    .await?;
            }
            if !updates.is_empty() {
                update_deliveries(conn, &updates).await?;
            }
            Ok(stored)
        })
        .await?;
    Ok(stored)
}

async fn update_deliveries(
    conn: &mut AsyncPgConnection,
    updates: &[&DeliveryUpdate],
) -> diesel::QueryResult<usize> {
    diesel::sql_query(UPDATE_DELIVERIES)
        .bind::<Array<diesel::sql_types::Uuid>, _>(
            updates.iter().map(|u| u.webhook_id).collect::<Vec<_>>(),
        )
        .bind::<Array<diesel::sql_types::Uuid>, _>(
            updates
                .iter()
                .map(|u| u.subscription_id)
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Text>, _>(
            updates
                .iter()
                .map(|u| u.status.as_str())
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Int4>, _>(updates.iter().map(|u| u.attempts).collect::<Vec<_>>())
        .bind::<Array<Bool>, _>(updates.iter().map(|u| u.attempted).collect::<Vec<_>>())
        .bind::<Array<Nullable<Int4>>, _>(
            updates
                .iter()
                .map(|u| u.last_status_code)
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Nullable<Text>>, _>(
            updates.iter().map(|u| u.error.clone()).collect::<Vec<_>>(),
        )
        .bind::<Array<Nullable<Timestamptz>>, _>(
            updates.iter().map(|u| u.next_retry_at).collect::<Vec<_>>(),
        )
        .execute(conn)
        .await
}
