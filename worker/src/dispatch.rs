//! The worker's main loop: take entries from the stream (new ones by reading, abandoned
//! ones by reclaiming), run each as its own task, and acknowledge it once its handler
//! has committed every effect.
//!
//! Two bounds keep a burst from swamping the process: at most 2 × `WORKER_CONCURRENCY`
//! entries are owned at once (entry slots, taken before reading, so COUNT never exceeds
//! free capacity; twice the permits because an entry also spends time waiting for its
//! Postgres commit, when it holds no permit), and at most `WORKER_CONCURRENCY` attempts
//! are in flight (the semaphore in `pipeline`). Entries are not processed in lockstep: a slow receiver
//! holds only its own entry's task.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use deadpool_redis::redis::{self, streams::StreamId};
use hookrelay_shared::queue::Entry;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::consumer::Consumer;
use crate::pipeline::{Context, HandBack};
use crate::{fanout, metrics, redeliver};

/// Entries asked for per read at most.
const READ_BATCH: usize = 256;

/// The shared state of the loops.
pub struct Dispatcher {
    pub ctx: Arc<Context>,
    pub consumer: Arc<Consumer>,
    pub tracker: TaskTracker,
    /// Free entry slots.
    pub slots: Arc<Semaphore>,
}

impl Dispatcher {
    /// Reads new entries until `stop`.
    pub async fn run_reader(self: Arc<Self>, stop: CancellationToken) {
        let mut failing = false;
        loop {
            let first = tokio::select! {
                () = stop.cancelled() => return,
                permit = Arc::clone(&self.slots).acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => return,
                },
            };
            // Only as many entries as slots we hold: a zero-permit acquire succeeds, so
            // the extra slots are asked for only when some are free, and COUNT is what
            // was actually acquired.
            let mut slots = first;
            let more = self.slots.available_permits().min(READ_BATCH - 1);
            if more > 0
                && let Ok(extra) = Arc::clone(&self.slots).try_acquire_many_owned(more as u32)
            {
                slots.merge(extra);
            }
            let count = slots.num_permits();
            let read = tokio::select! {
                () = stop.cancelled() => return,
                read = self.consumer.read(count) => read,
            };
            match read {
                Ok(entries) => {
                    if failing {
                        tracing::info!("reading the work stream again");
                        failing = false;
                    }
                    self.start_all(entries, slots);
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(
                            error = format!("{e:#}"),
                            "cannot read the work stream; retrying every second"
                        );
                        failing = true;
                    }
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
    }

    /// Takes over entries left idle longer than `RECLAIM_IDLE`, every `interval`, until `stop`.
    pub async fn run_reclaimer(self: Arc<Self>, interval: Duration, stop: CancellationToken) {
        let min_idle = self.ctx.config.delivery.reclaim_idle;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
            // Wait in line for slots: the semaphore is fair, so the reader (which holds
            // every free slot while it blocks) hands them over when its read returns.
            let want = (self.ctx.config.delivery.worker_concurrency / 4).clamp(1, READ_BATCH);
            let slots = tokio::select! {
                () = stop.cancelled() => return,
                slots = Arc::clone(&self.slots).acquire_many_owned(want as u32) => match slots {
                    Ok(slots) => slots,
                    Err(_) => return,
                },
            };
            match self.consumer.reclaim(min_idle, want).await {
                Ok(claimed) if !claimed.is_empty() => {
                    let limit = u64::from(self.ctx.config.delivery.max_entry_redeliveries);
                    let mut entries = Vec::with_capacity(claimed.len());
                    for (entry, times) in claimed {
                        // Handed over once by the first read, once more per redelivery.
                        if times.saturating_sub(1) > limit {
                            let reason = format!(
                                "not finished after {} redeliveries (MAX_ENTRY_REDELIVERIES={limit})",
                                times - 1
                            );
                            bury(&self.consumer, &entry.id, &entry.map, &reason, times - 1).await;
                        } else {
                            entries.push(entry);
                        }
                    }
                    tracing::info!(
                        entries = entries.len(),
                        "reclaimed entries left idle by another worker"
                    );
                    ::metrics::counter!(metrics::ENTRIES_RECLAIMED.name)
                        .increment(entries.len() as u64);
                    self.start_all(entries, slots);
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), "could not reclaim idle entries")
                }
            }
        }
    }

    /// Re-claims owned entries every `interval` until `stop`.
    pub async fn run_heartbeat(self: Arc<Self>, interval: Duration, stop: CancellationToken) {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
            if let Err(e) = self.consumer.heartbeat().await {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "heartbeat failed; entries may be taken over by another worker"
                );
            }
        }
    }

    /// Starts a task per entry, each holding one of `slots`. Callers read at most as many
    /// entries as they hold slots; any slot left over goes back when `slots` drops.
    fn start_all(&self, entries: Vec<StreamId>, slots: OwnedSemaphorePermit) {
        let mut slots = Some(slots);
        for entry in entries {
            let slot = match slots.take() {
                Some(mut held) if held.num_permits() > 1 => {
                    let one = held.split(1);
                    slots = Some(held);
                    one
                }
                last => last,
            };
            let Some(slot) = slot else {
                // Cannot happen (COUNT = slots held); the entry stays pending and is
                // reclaimed, rather than run without a slot.
                tracing::error!(entry_id = %entry.id, "read more entries than slots held");
                break;
            };
            let Some(owned) = Owned::track(&self.consumer, &entry.id) else {
                continue;
            };
            let ctx = Arc::clone(&self.ctx);
            let consumer = Arc::clone(&self.consumer);
            self.tracker.spawn(async move {
                process(&ctx, &consumer, entry).await;
                drop(owned);
                drop(slot);
            });
        }
    }
}

/// An entry this process works on: tracked (so heartbeats keep it claimed) until dropped,
/// which also happens when its task panics, so a panic never leaves an entry claimed
/// forever.
struct Owned {
    consumer: Arc<Consumer>,
    id: String,
}

impl Owned {
    /// `None` when the entry is already being worked on here.
    fn track(consumer: &Arc<Consumer>, id: &str) -> Option<Self> {
        consumer.track(id).then(|| Self {
            consumer: Arc::clone(consumer),
            id: id.to_owned(),
        })
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        self.consumer.untrack(&self.id);
    }
}

/// Runs one entry and acknowledges it when done. While a dependency cannot do the work
/// the entry is retried in place, with back-off, and stays ours (so nothing is sent again
/// and its hand-over count does not grow); an entry Postgres refused is left pending, to
/// be reclaimed and run again; one that cannot be decoded goes to the dead letters.
async fn process(ctx: &Arc<Context>, consumer: &Consumer, entry: StreamId) {
    let id = entry.id;
    let mut fields = entry.map;
    let decoded = match Entry::decode(&mut fields) {
        Ok(decoded) => decoded,
        Err(e) => {
            bury(consumer, &id, &fields, &e.to_string(), 1).await;
            return;
        }
    };
    let webhook_id = match &decoded {
        Entry::Webhook { webhook, .. } => webhook.webhook_id,
        Entry::Retry(job) => job.webhook_id,
    };
    let mut delay = Duration::from_millis(100);
    let mut failures = 0_u32;
    let result = loop {
        let result = match &decoded {
            Entry::Webhook {
                webhook,
                subscriptions_version,
            } => fanout::handle(ctx, webhook.clone(), *subscriptions_version).await,
            Entry::Retry(job) => redeliver::handle(ctx, *job).await,
        };
        let Err(HandBack::Unavailable(e)) = result else {
            break result;
        };
        failures += 1;
        metrics::entry_retried_in_place();
        // Loud at the 1st, 10th, 100th… failure: an outage shows at once, and an error
        // that is not an outage after all (it never clears) keeps showing.
        if is_power_of_ten(failures) {
            tracing::warn!(
                entry_id = %id, %webhook_id, failures, error = format!("{e:#}"),
                "entry cannot be processed now; retrying it in place until its dependencies answer"
            );
        } else {
            tracing::debug!(entry_id = %id, %webhook_id, failures, error = format!("{e:#}"), "entry still cannot be processed");
        }
        tokio::select! {
            () = ctx.shutdown.cancelled() => break Err(HandBack::ShuttingDown),
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    };
    if failures > 0 && result.is_ok() {
        tracing::info!(entry_id = %id, %webhook_id, failures, "entry processed after retrying in place");
    }
    match result {
        Ok(()) => {
            if let Err(e) = consumer.ack(&id).await {
                tracing::warn!(entry_id = %id, %webhook_id, error = %e, "could not acknowledge a finished entry; it will run again");
            }
        }
        Err(HandBack::ShuttingDown) => {
            tracing::debug!(entry_id = %id, %webhook_id, "handing an unfinished entry back at shutdown");
        }
        Err(HandBack::Refused(reason)) => {
            tracing::warn!(
                entry_id = %id, %webhook_id, error = %reason,
                "entry not finished (Postgres refused its record); it will be reclaimed and run again"
            );
        }
        Err(HandBack::Unavailable(_)) => {}
    }
}

/// Whether a count is 1, 10, 100, …
fn is_power_of_ten(mut n: u32) -> bool {
    while n >= 10 && n.is_multiple_of(10) {
        n /= 10;
    }
    n == 1
}

/// Moves an entry that ran `runs` times to the dead letters, logging why.
async fn bury(
    consumer: &Consumer,
    id: &str,
    fields: &HashMap<String, redis::Value>,
    reason: &str,
    runs: u64,
) {
    match consumer.bury(id, fields, reason, runs).await {
        Ok(()) => {
            tracing::error!(entry_id = %id, reason, runs, "moved a stream entry to the dead letters");
            metrics::dead_lettered();
        }
        Err(e) => {
            tracing::warn!(entry_id = %id, error = %e, "could not move a stream entry to the dead letters; it stays pending");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hookrelay_shared::keys::Keys;
    use hookrelay_shared::redis_client;

    use super::*;

    #[test]
    fn loud_failures_are_the_powers_of_ten() {
        let loud: Vec<u32> = (0..2_000).filter(|n| is_power_of_ten(*n)).collect();
        assert_eq!(loud, [1, 10, 100, 1_000]);
    }

    #[tokio::test]
    async fn an_entry_whose_task_panics_is_no_longer_held() {
        let url =
            std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let redis = redis_client::connect(&url, Duration::from_secs(5))
            .await
            .expect("Redis is reachable");
        let blocking = redis_client::blocking_pool(&url, 1).expect("a pool");
        let keys = Keys::new(&format!("test-{}", uuid::Uuid::new_v4().simple()));
        let consumer = Consumer::new(keys, redis, blocking);
        let task = tokio::spawn({
            let consumer = Arc::clone(&consumer);
            async move {
                let _owned = Owned::track(&consumer, "1-0").expect("not held yet");
                panic!("a bug in a handler");
            }
        });
        assert!(task.await.is_err(), "the task panicked");
        // Tracking it again succeeds only if the panic let go of it.
        assert!(
            consumer.track("1-0"),
            "the entry is still held after its task panicked"
        );
    }
}
