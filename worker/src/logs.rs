//! Every Postgres write of the delivery path, batched: stored webhooks with their
//! delivery rows, attempt rows and delivery state changes.
//!
//! One writer task takes records from a channel and commits whatever has accumulated
//! (up to `MAX_BATCH`) in one transaction, so Postgres sees a few round trips per batch
//! rather than one per attempt. Each record carries a oneshot that fires once its batch
//! is committed: callers acknowledge Redis only after that, which is what makes a crash
//! at any point recoverable.
//!
//! Postgres errors come in two kinds. While Postgres cannot be reached (no connection, a
//! connection that broke) the writer logs, backs off and retries the same batch, so an
//! outage pauses deliveries and nothing is lost. When Postgres answers and refuses the
//! batch — a data error, which retrying the same rows can never get past — the writer
//! writes the batch's records one at a time instead, so a refused record holds back
//! only itself: its caller gets [`NotCommitted::Refused`] and leaves its stream entry
//! unacknowledged, to be reclaimed and run again later.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hookrelay_shared::db::DbPool;
use hookrelay_shared::models::{Attempt, Delivery, DeliveryStatus, NewWebhook};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use self::transaction::{WriteError, write_batch};

mod transaction;

/// Records per transaction at most.
const MAX_BATCH: usize = 500;
/// Records waiting for the writer at most; senders wait when it is full.
const CHANNEL_CAPACITY: usize = 8_192;

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
    /// The URL the attempt went to; `None` when the delivery ends without an attempt
    /// (the row keeps the URL it had).
    pub target_url: Option<String>,
}

/// What a caller waits for: its record's result, once its batch is done.
type Done<T> = oneshot::Sender<Result<T, NotCommitted>>;

enum Record {
    Webhook {
        webhook: NewWebhook,
        deliveries: Vec<Delivery>,
        done: Done<bool>,
    },
    Update {
        attempt: Option<Attempt>,
        update: DeliveryUpdate,
        done: Done<()>,
    },
}

impl Record {
    /// Whom the record is about, for the log line of a refused one.
    fn about(&self) -> (Uuid, Option<Uuid>, Option<i32>) {
        match self {
            Self::Webhook { webhook, .. } => (webhook.id, None, None),
            Self::Update { update, .. } => (
                update.webhook_id,
                Some(update.subscription_id),
                Some(update.attempts),
            ),
        }
    }
}

/// The record is not durable, so the caller must not acknowledge its entry (it will be
/// reclaimed and run again).
#[derive(Debug, thiserror::Error)]
pub enum NotCommitted {
    /// Shutdown gave up on a Postgres that did not answer.
    #[error("the attempt log writer stopped before the record was committed")]
    WriterGone,
    /// Postgres refused this record (the writer logged it).
    #[error("Postgres refused the record: {0}")]
    Refused(String),
}

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
    ) -> Result<bool, NotCommitted> {
        self.send(|done| Record::Webhook {
            webhook,
            deliveries,
            done,
        })
        .await
    }

    /// Records an attempt (if any) and the delivery state it leads to.
    pub async fn record(
        &self,
        attempt: Option<Attempt>,
        update: DeliveryUpdate,
    ) -> Result<(), NotCommitted> {
        self.send(|done| Record::Update {
            attempt,
            update,
            done,
        })
        .await
    }

    async fn send<T>(&self, record: impl FnOnce(Done<T>) -> Record) -> Result<T, NotCommitted> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(record(done))
            .await
            .map_err(|_| NotCommitted::WriterGone)?;
        wait.await.map_err(|_| NotCommitted::WriterGone)?
    }
}

async fn run(db: DbPool, mut rx: mpsc::Receiver<Record>, abandon: CancellationToken) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // Whatever accumulated while the previous batch was being written forms the next:
    // no added latency when idle, large batches under load.
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let Some(mut committed) = commit(&db, &batch, &abandon).await else {
            tracing::warn!(
                records = batch.len(),
                "gave up writing attempt logs at shutdown; their entries will be redelivered"
            );
            return;
        };
        metrics::counter!("hookrelay_log_batches_total").increment(1);
        for (i, record) in batch.drain(..).enumerate() {
            let refused = committed.refused.remove(&i).map(NotCommitted::Refused);
            match record {
                // The first record of a webhook gets `true`, a duplicate in the same batch `false`.
                Record::Webhook { webhook, done, .. } => {
                    let _ = done.send(match refused {
                        Some(e) => Err(e),
                        None => Ok(committed.stored.remove(&webhook.id)),
                    });
                }
                Record::Update { done, .. } => {
                    let _ = done.send(refused.map_or(Ok(()), Err));
                }
            }
        }
    }
}

/// What committing a batch came to.
#[derive(Default)]
struct Committed {
    /// Webhooks that were not stored before.
    stored: HashSet<Uuid>,
    /// The records Postgres refused, by position in the batch, with its reason.
    refused: HashMap<usize, String>,
}

/// Commits `batch`, waiting out outages. A batch Postgres refuses is written again one
/// record at a time, so that only the records it refuses are held back. `None`:
/// `abandon` fired while Postgres could not be reached.
async fn commit(db: &DbPool, batch: &[Record], abandon: &CancellationToken) -> Option<Committed> {
    let error = match write_patiently(db, batch, abandon).await? {
        Ok(stored) => {
            return Some(Committed {
                stored,
                refused: HashMap::new(),
            });
        }
        Err(error) => error,
    };
    let mut committed = Committed::default();
    if let [record] = batch {
        committed.refused.insert(0, refuse(record, &error));
        return Some(committed);
    }
    tracing::warn!(
        records = batch.len(),
        error = %error,
        "Postgres refused a batch of attempt logs; writing its records one at a time"
    );
    for (i, record) in batch.iter().enumerate() {
        match write_patiently(db, std::slice::from_ref(record), abandon).await? {
            Ok(stored) => committed.stored.extend(stored),
            Err(error) => {
                committed.refused.insert(i, refuse(record, &error));
            }
        }
    }
    Some(committed)
}

/// Logs a refused record, once (a later run of its entry makes a new record), and
/// returns the reason for its caller.
fn refuse(record: &Record, error: &diesel::result::Error) -> String {
    let (webhook_id, subscription_id, attempt) = record.about();
    tracing::error!(
        %webhook_id,
        subscription_id = subscription_id.map(tracing::field::display),
        attempt,
        error = %error,
        "Postgres refused an attempt log record; its entry stays unacknowledged and runs again after reclaim"
    );
    error.to_string()
}

/// Writes `records` until Postgres commits (`Ok`) or refuses them (`Err`), backing off
/// while it cannot be reached. `None`: `abandon` fired while waiting.
async fn write_patiently(
    db: &DbPool,
    records: &[Record],
    abandon: &CancellationToken,
) -> Option<Result<HashSet<Uuid>, diesel::result::Error>> {
    let mut delay = Duration::from_millis(100);
    loop {
        match write_batch(db, records).await {
            Ok(stored) => return Some(Ok(stored)),
            Err(WriteError::Refused(e)) => return Some(Err(e)),
            Err(WriteError::Unavailable(e)) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    records = records.len(),
                    retry_in_ms = delay.as_millis(),
                    "could not write attempt logs to Postgres; deliveries wait until it answers"
                );
                tokio::select! {
                    () = abandon.cancelled() => return None,
                    () = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}
