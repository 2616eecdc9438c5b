//! Every Postgres write of the delivery path, batched: stored webhooks with their
//! delivery rows, attempt rows and delivery state changes.
//!
//! One writer task takes records from a channel and commits whatever has accumulated
//! (up to `MAX_BATCH` records and `MAX_BATCH_BYTES` of payload) in one transaction, on a
//! connection of its own, so Postgres sees a few round trips per batch rather than one
//! per attempt. Each record carries a oneshot that fires once its batch is committed:
//! callers acknowledge Redis only after that, which is what makes a crash at any point
//! recoverable.
//!
//! Postgres errors come in two kinds, told apart by SQLSTATE (`transaction`). While
//! Postgres cannot do the work — unreachable, a connection that broke or hung past
//! `STATEMENT_DEADLINE`, disk full, a statement timeout, missing privileges — the writer
//! logs, replaces its connection, backs off and retries the same batch in place, so the
//! work pauses, nothing is lost and no attempt is sent again. When Postgres refuses the
//! rows themselves — a data error, which retrying can never get past — the writer writes
//! the batch's records one at a time instead, so a refused record holds back only itself:
//! its caller gets [`NotCommitted::Refused`] and leaves its stream entry unacknowledged,
//! to be run again (and dead-lettered after `MAX_ENTRY_REDELIVERIES`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use hookrelay_domain::subscriptions::SubscriptionCache;
use hookrelay_domain::webhooks::Attempt;
use hookrelay_domain::webhooks::Delivery;
use hookrelay_domain::webhooks::NewWebhook;
use hookrelay_shared::db::STATEMENT_DEADLINE;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use hookrelay_domain::webhooks::delivery::DeliveryUpdate;

use self::transaction::{WriteError, WriterConnection, Written};

mod transaction;

/// Records per transaction at most.
const MAX_BATCH: usize = 500;
/// Payload and response bytes per transaction at most (a record larger than this goes
/// alone): 500 bodies of `MAX_PAYLOAD_BYTES` would make one statement of hundreds of MiB.
const MAX_BATCH_BYTES: usize = 4 << 20;
/// Records waiting for the writer at most; senders wait when it is full.
const CHANNEL_CAPACITY: usize = 8_192;

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
    /// The bytes the record adds to a statement, roughly: bodies and response bodies.
    fn size(&self) -> usize {
        match self {
            Self::Webhook {
                webhook,
                deliveries,
                ..
            } => webhook.payload.0.len() + 128 * (1 + deliveries.len()),
            Self::Update { attempt, .. } => {
                256 + attempt
                    .as_ref()
                    .and_then(|a| a.response_body.as_ref())
                    .map_or(0, String::len)
            }
        }
    }

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
pub struct Recorder {
    tx: mpsc::Sender<Record>,
}

impl Recorder {
    /// Starts the writer on a connection of its own to `database_url`. It ends when every
    /// `Recorder` is dropped and the last batch is committed, or when `abandon` fires
    /// while it waits for Postgres.
    ///
    /// Subscriptions a batch disables are invalidated in `cache` once it committed, so
    /// every process stops delivering to them (and ingest answers 409) within a second.
    pub fn spawn(
        database_url: String,
        auto_disable_after: u32,
        cache: Arc<SubscriptionCache>,
        abandon: CancellationToken,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let db = Postgres::new(database_url, auto_disable_after);
        let task = tokio::spawn(run(db, rx, cache, abandon));
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

async fn run(
    mut db: Postgres,
    mut rx: mpsc::Receiver<Record>,
    cache: Arc<SubscriptionCache>,
    abandon: CancellationToken,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut next = None;
    // Whatever accumulated while the previous batch was being written forms the next:
    // no added latency when idle, large batches under load.
    while let Some(first) = match next.take() {
        Some(record) => Some(record),
        None => rx.recv().await,
    } {
        let mut bytes = first.size();
        batch.push(first);
        while batch.len() < MAX_BATCH {
            let Ok(record) = rx.try_recv() else { break };
            bytes += record.size();
            if bytes > MAX_BATCH_BYTES {
                next = Some(record);
                break;
            }
            batch.push(record);
        }
        let Some(mut committed) = commit(&mut db, &batch, &abandon).await else {
            tracing::warn!(
                records = batch.len(),
                "gave up writing attempt logs at shutdown; their entries will be redelivered"
            );
            return;
        };
        metrics::counter!(crate::metrics::LOG_BATCHES.name).increment(1);
        after_commit(&cache, &committed).await;
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

/// What a committed batch's health changes call for outside Postgres: caches learn of
/// the subscriptions it disabled (a failure is logged; the cache's periodic full reload
/// catches up), and the metrics count them.
async fn after_commit(cache: &SubscriptionCache, committed: &Committed) {
    for kind in &committed.events {
        crate::metrics::operational_event(*kind);
    }
    if committed.disabled.is_empty() {
        return;
    }
    for (id, reason) in &committed.disabled {
        tracing::warn!(subscription_id = %id, reason, "subscription disabled automatically");
        crate::metrics::disabled(hookrelay_domain::subscriptions::health::disable_label(
            reason,
        ));
    }
    let ids: Vec<Uuid> = committed.disabled.iter().map(|(id, _)| *id).collect();
    if let Err(e) = cache.invalidate_all(&ids).await {
        tracing::error!(
            error = format!("{e:#}"),
            "subscriptions were disabled but caches could not be told"
        );
    }
}

/// The writer's Postgres: one connection, opened when needed and replaced when it broke
/// or hung.
struct Postgres {
    url: String,
    auto_disable_after: u32,
    connection: Option<WriterConnection>,
}

impl Postgres {
    fn new(url: String, auto_disable_after: u32) -> Self {
        Self {
            url,
            auto_disable_after,
            connection: None,
        }
    }

    /// Writes `records` in one transaction within `STATEMENT_DEADLINE`; a connection that
    /// failed or did not answer in time is dropped, and the next write opens a new one.
    async fn write(&mut self, records: &[Record]) -> Result<Written, WriteError> {
        let attempt = async {
            let connection = match &mut self.connection {
                Some(connection) if !connection.is_closed() => connection,
                slot => {
                    slot.insert(WriterConnection::open(&self.url, self.auto_disable_after).await?)
                }
            };
            connection.write(records).await
        };
        let result = tokio::time::timeout(STATEMENT_DEADLINE, attempt)
            .await
            .unwrap_or_else(|_| {
                Err(WriteError::Unavailable(anyhow::anyhow!(
                    "Postgres did not answer within {STATEMENT_DEADLINE:?}"
                )))
            });
        if matches!(result, Err(WriteError::Unavailable(_))) {
            // Whatever state it is in (broken, hung, mid-transaction), a new one is safer.
            self.connection = None;
        }
        result
    }
}

/// What committing a batch came to.
#[derive(Default)]
struct Committed {
    /// Webhooks that were not stored before.
    stored: HashSet<Uuid>,
    /// The records Postgres refused, by position in the batch, with its reason.
    refused: HashMap<usize, String>,
    /// Subscriptions the batch disabled, with the reason.
    disabled: Vec<(Uuid, String)>,
    /// Operational events it wrote to the outbox.
    events: Vec<hookrelay_domain::subscriptions::health::HealthEvent>,
}

impl Committed {
    fn add(&mut self, written: Written) {
        self.stored.extend(written.stored);
        self.disabled.extend(written.disabled);
        self.events.extend(written.events);
    }
}

/// Commits `batch`, waiting out outages. A batch Postgres refuses is written again one
/// record at a time, so that only the records it refuses are held back. `None`:
/// `abandon` fired while Postgres could not do the work.
async fn commit(
    db: &mut Postgres,
    batch: &[Record],
    abandon: &CancellationToken,
) -> Option<Committed> {
    let error = match write_patiently(db, batch, abandon).await? {
        Ok(written) => {
            let mut committed = Committed::default();
            committed.add(written);
            return Some(committed);
        }
        Err(error) => error,
    };
    let mut committed = Committed::default();
    if let [record] = batch {
        committed.refused.insert(0, refuse(record, error));
        return Some(committed);
    }
    tracing::warn!(
        records = batch.len(),
        error = %error,
        "Postgres refused a batch of attempt logs; writing its records one at a time"
    );
    for (i, record) in batch.iter().enumerate() {
        match write_patiently(db, std::slice::from_ref(record), abandon).await? {
            Ok(written) => committed.add(written),
            Err(error) => {
                committed.refused.insert(i, refuse(record, error));
            }
        }
    }
    Some(committed)
}

/// Logs a refused record, once (a later run of its entry makes a new record), and
/// returns the reason for its caller.
fn refuse(record: &Record, error: String) -> String {
    let (webhook_id, subscription_id, attempt) = record.about();
    tracing::error!(
        %webhook_id,
        subscription_id = subscription_id.map(tracing::field::display),
        attempt,
        error = %error,
        "Postgres refused an attempt log record; its entry stays unacknowledged and runs again later"
    );
    error
}

/// Writes `records` until Postgres commits (`Ok`) or refuses them (`Err`), backing off
/// while it cannot do the work. `None`: `abandon` fired while waiting.
async fn write_patiently(
    db: &mut Postgres,
    records: &[Record],
    abandon: &CancellationToken,
) -> Option<Result<Written, String>> {
    let mut delay = Duration::from_millis(100);
    loop {
        match db.write(records).await {
            Ok(written) => return Some(Ok(written)),
            Err(WriteError::Refused(e)) => return Some(Err(e)),
            Err(WriteError::Unavailable(e)) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    records = records.len(),
                    retry_in_ms = delay.as_millis(),
                    "could not write attempt logs to Postgres; deliveries wait until it can"
                );
                metrics::counter!(crate::metrics::LOG_WRITE_RETRIES.name).increment(1);
                tokio::select! {
                    () = abandon.cancelled() => return None,
                    () = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}
