//! Refused inbound requests, written to `source_rejections` off the request path.
//!
//! A refusal is handed to a bounded channel and answered at once; one task per api
//! process writes what the channel holds in batches (one statement each). So a flood of
//! forged requests costs Postgres one insert per batch, not one per request, and never
//! slows the answers. When the channel is full (Postgres is down or slower than the
//! flood), further refusals are counted in [`DROPPED`] and not recorded; the refusals
//! themselves still happen. The purge job removes rows older than `LOG_RETENTION`.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, Int4, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use hookrelay_shared::db::{DbPool, bounded, checkout};
use hookrelay_shared::telemetry::Metric;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Refusals that never reached `source_rejections`: the channel was full or the batch's
/// insert failed. Recorded by whichever process runs a [`RejectionLog`] (the api).
pub const DROPPED: Metric = Metric::counter(
    "hookrelay_inbound_rejections_dropped_total",
    "Refused source requests not recorded in the rejections list (its writer fell behind or Postgres failed)",
);

/// Refusals waiting to be written, at most.
const CHANNEL_CAPACITY: usize = 10_000;
/// Rows per statement, at most.
const BATCH: usize = 500;
/// The longest reason stored (a verifier's reasons are far shorter).
const MAX_REASON_CHARS: usize = 500;

/// Rows of sources deleted meanwhile are skipped, not a foreign-key failure of the batch.
const INSERT: &str = "
INSERT INTO source_rejections (id, source_id, received_at, status, reason, remote_addr)
SELECT r.id, r.source_id, r.received_at, r.status, r.reason, r.remote_addr
FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::int4[], $5::text[], $6::text[])
     AS r (id, source_id, received_at, status, reason, remote_addr)
WHERE EXISTS (SELECT 1 FROM sources s WHERE s.id = r.source_id)";

/// One refused request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRejection {
    pub source_id: Uuid,
    pub received_at: DateTime<Utc>,
    pub status: u16,
    pub reason: String,
    pub remote_addr: String,
}

pub struct RejectionLog {
    sender: mpsc::Sender<NewRejection>,
    /// Taken once, by the writer task.
    receiver: Mutex<Option<mpsc::Receiver<NewRejection>>>,
}

impl Default for RejectionLog {
    fn default() -> Self {
        let (sender, receiver) = mpsc::channel(CHANNEL_CAPACITY);
        Self {
            sender,
            receiver: Mutex::new(Some(receiver)),
        }
    }
}

impl RejectionLog {
    /// Notes a refusal for the writer; never waits.
    pub fn record(&self, rejection: NewRejection) {
        if self.sender.try_send(rejection).is_err() {
            metrics::counter!(DROPPED.name).increment(1);
        }
    }

    /// Writes noted refusals until `shutdown`, then what is left. Runs once per process.
    pub async fn run_writer(&self, db: DbPool, shutdown: CancellationToken) {
        let taken = self
            .receiver
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let Some(mut receiver) = taken else { return };
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            let received = tokio::select! {
                () = shutdown.cancelled() => {
                    receiver.close();
                    receiver.recv_many(&mut batch, BATCH).await
                }
                n = receiver.recv_many(&mut batch, BATCH) => n,
            };
            if received == 0 {
                return;
            }
            if let Err(e) = write(&db, &batch).await {
                tracing::warn!(
                    error = format!("{e:#}"),
                    rows = batch.len(),
                    "could not record refused inbound requests; they are not in the rejections list"
                );
                metrics::counter!(DROPPED.name)
                    .increment(u64::try_from(batch.len()).unwrap_or(u64::MAX));
                // Postgres is in trouble: let it breathe before the next batch.
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            batch.clear();
        }
    }
}

async fn write(db: &DbPool, batch: &[NewRejection]) -> anyhow::Result<()> {
    let mut conn = checkout(db).await?;
    let ids: Vec<Uuid> = batch.iter().map(|_| Uuid::now_v7()).collect();
    let sources: Vec<Uuid> = batch.iter().map(|r| r.source_id).collect();
    let at: Vec<DateTime<Utc>> = batch.iter().map(|r| r.received_at).collect();
    let statuses: Vec<i32> = batch.iter().map(|r| i32::from(r.status)).collect();
    let reasons: Vec<String> = batch
        .iter()
        .map(|r| r.reason.chars().take(MAX_REASON_CHARS).collect())
        .collect();
    let addresses: Vec<&str> = batch.iter().map(|r| r.remote_addr.as_str()).collect();
    let inserting = diesel::sql_query(INSERT)
        .bind::<Array<SqlUuid>, _>(ids)
        .bind::<Array<SqlUuid>, _>(sources)
        .bind::<Array<Timestamptz>, _>(at)
        .bind::<Array<Int4>, _>(statuses)
        .bind::<Array<Text>, _>(reasons)
        .bind::<Array<Text>, _>(addresses)
        .execute(&mut conn);
    bounded("Failed to record refused inbound requests", inserting).await?;
    Ok(())
}

/// One batch of sources' rejections received before `$1` (`source_rejections_received_idx`).
pub const DELETE_OLD_REJECTIONS: &str = r#"DELETE FROM source_rejections WHERE id = ANY(ARRAY(
    SELECT id FROM source_rejections WHERE received_at < $1 LIMIT $2))"#;
