//! The worker's main loop: take entries from the partitions' streams (new ones by
//! reading, abandoned ones by reclaiming), run each as its own task, and acknowledge it
//! once its handler has committed every effect.
//!
//! Reading is a round over the served partitions (`partitions`): each round hands the
//! free entry slots out over the partitions due for a look, in turn, and reads them all
//! at once without blocking (one pipelined round trip on one Redis; one per master on a
//! cluster). A partition that gave entries is looked at again at once; one that was
//! empty waits, doubling from 1 ms up to `IDLE_POLL` (active) or `DRAIN_POLL`
//! (draining). So a busy partition never waits for an idle one, a round starts wherever
//! the last one stopped (fair when slots are scarce), and an idle worker costs one
//! cheap command per partition per `IDLE_POLL`, for at most `IDLE_POLL` of added
//! latency.
//!
//! Two bounds keep a burst from swamping the process: at most 2 × `WORKER_CONCURRENCY`
//! entries are owned at once (entry slots, taken before reading, so COUNT never exceeds
//! free capacity; twice the permits because an entry also spends time waiting for its
//! Postgres commit, when it holds no permit), and at most `WORKER_CONCURRENCY` attempts
//! are in flight (the semaphore in `pipeline`). Entries are not processed in lockstep: a slow receiver
//! holds only its own entry's task.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_redis::redis::{self, streams::StreamId};
use hookrelay_shared::keys::Partition;
use hookrelay_shared::queue::Entry;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::consumer::{Consumer, EntryRef};
use crate::partitions::Partitions;
use crate::pipeline::{Context, HandBack};
use crate::{fanout, metrics, redeliver};

/// Entries asked for per round at most.
const READ_BATCH: usize = 256;

/// The longest an empty active partition waits for its next look: what polling adds to
/// a delivery's latency at most (half of it on average), and what it costs an idle
/// worker (one XREADGROUP per partition per `IDLE_POLL`). At 10 ms the delivery
/// benchmark's p50 at 1,000 webhooks/s rose by 3 to 4 ms against blocking reads; at 4 ms
/// by about 1 ms.
pub const IDLE_POLL: Duration = Duration::from_millis(4);

/// The longest an empty draining partition waits for its next look.
pub const DRAIN_POLL: Duration = Duration::from_secs(1);

/// How long a partition whose read failed waits.
const ERROR_POLL: Duration = Duration::from_secs(1);

/// The shared state of the loops.
pub struct Dispatcher {
    pub ctx: Arc<Context>,
    pub consumer: Arc<Consumer>,
    pub partitions: Arc<Partitions>,
    pub tracker: TaskTracker,
    /// Free entry slots.
    pub slots: Arc<Semaphore>,
}

/// When a partition is next looked at, and how long it waited last.
#[derive(Clone, Copy)]
struct Look {
    at: Instant,
    wait: Duration,
}

impl Look {
    /// After a read that gave `found` entries (`None`: it failed).
    fn after(self, found: Option<usize>, cap: Duration, now: Instant) -> Self {
        let wait = match found {
            Some(0) => (self.wait * 2).clamp(Duration::from_millis(1), cap),
            Some(_) => Duration::ZERO,
            None => ERROR_POLL,
        };
        Self {
            at: now + wait,
            wait,
        }
    }
}

/// Splits `count` entries over `due` partitions starting at `start`: the first gets the
/// remainder, none gets zero unless `count` is smaller than the partitions (then the
/// first `count` get one each, and the rest wait for the next round).
fn share(count: usize, due: &[Partition], start: usize) -> Vec<(Partition, usize)> {
    let take = due.len().min(count);
    let (each, extra) = (count / take.max(1), count % take.max(1));
    (0..take)
        .map(|i| (due[(start + i) % due.len()], each + usize::from(i < extra)))
        .collect()
}

impl Dispatcher {
    /// Reads new entries, in rounds over the served partitions, until `stop`.
    pub async fn run_reader(self: Arc<Self>, stop: CancellationToken) {
        let mut looks: HashMap<Partition, Look> = HashMap::new();
        let mut turn = 0_usize;
        let mut failing = false;
        loop {
            let served = self.partitions.served();
            let now = Instant::now();
            let look = |p: &Partition, looks: &HashMap<Partition, Look>| {
                looks.get(p).copied().unwrap_or(Look {
                    at: now,
                    wait: Duration::ZERO,
                })
            };
            let due: Vec<Partition> = served
                .iter()
                .filter(|p| look(p, &looks).at <= now)
                .copied()
                .collect();
            if due.is_empty() {
                let next = served
                    .iter()
                    .map(|p| look(p, &looks).at)
                    .min()
                    .unwrap_or(now + IDLE_POLL);
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep_until(next.into()) => {}
                }
                continue;
            }
            let first = tokio::select! {
                () = stop.cancelled() => return,
                permit = Arc::clone(&self.slots).acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => return,
                },
            };
            // Only as many entries as slots we hold: a zero-permit acquire succeeds, so
            // the extra slots are asked for only when some are free, and the counts add
            // up to what was actually acquired.
            let mut slots = first;
            let more = self.slots.available_permits().min(READ_BATCH - 1);
            if more > 0
                && let Ok(extra) = Arc::clone(&self.slots).try_acquire_many_owned(more as u32)
            {
                slots.merge(extra);
            }
            let shares = share(slots.num_permits(), &due, turn);
            turn = turn.wrapping_add(shares.len());
            let consumer = &self.consumer;
            let reads = shares.iter().map(|(partition, count)| async move {
                (*partition, consumer.read(*partition, *count).await)
            });
            let read = tokio::select! {
                () = stop.cancelled() => return,
                read = futures::future::join_all(reads) => read,
            };
            let read_at = Instant::now();
            let mut entries = Vec::new();
            let mut errors = Vec::new();
            for (partition, result) in read {
                let cap = if self.partitions.is_active(partition) {
                    IDLE_POLL
                } else {
                    DRAIN_POLL
                };
                let found = match result {
                    Ok(found) => {
                        let n = found.len();
                        entries.extend(found.into_iter().map(|entry| (partition, entry)));
                        Some(n)
                    }
                    Err(e) => {
                        errors.push(format!("{partition}: {e:#}"));
                        None
                    }
                };
                let next = look(&partition, &looks).after(found, cap, read_at);
                looks.insert(partition, next);
            }
            if errors.is_empty() && failing {
                tracing::info!("reading the work streams again");
                failing = false;
            } else if !errors.is_empty() && !failing {
                tracing::warn!(
                    errors = errors.join("; "),
                    "cannot read the work stream of some partitions; retrying each every second"
                );
                failing = true;
            }
            self.start_all(entries, slots, read_at);
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
            for partition in self.partitions.served().iter().copied() {
                if !self.reclaim(partition, min_idle, &stop).await {
                    return;
                }
            }
        }
    }

    /// Takes over `partition`'s entries left idle longer than `min_idle`; `false` once
    /// `stop` fired.
    async fn reclaim(
        &self,
        partition: Partition,
        min_idle: Duration,
        stop: &CancellationToken,
    ) -> bool {
        {
            // Wait in line for slots: the semaphore is fair, so the reader hands them
            // over as its round returns.
            let want = (self.ctx.config.delivery.worker_concurrency / 4).clamp(1, READ_BATCH);
            let slots = tokio::select! {
                () = stop.cancelled() => return false,
                slots = Arc::clone(&self.slots).acquire_many_owned(want as u32) => match slots {
                    Ok(slots) => slots,
                    Err(_) => return false,
                },
            };
            match self.consumer.reclaim(partition, min_idle, want).await {
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
                            let entry_ref = (partition, entry.id.clone());
                            bury(&self.consumer, &entry_ref, &entry.map, &reason, times - 1).await;
                        } else {
                            entries.push((partition, entry));
                        }
                    }
                    tracing::info!(
                        entries = entries.len(), %partition,
                        "reclaimed entries left idle by another worker"
                    );
                    ::metrics::counter!(metrics::ENTRIES_RECLAIMED.name)
                        .increment(entries.len() as u64);
                    self.start_all(entries, slots, Instant::now());
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), %partition, "could not reclaim idle entries")
                }
            }
        }
        true
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

    /// Starts a task per entry (read at `read_at`), each holding one of `slots`. Callers
    /// read at most as many entries as they hold slots; any slot left over goes back when
    /// `slots` drops.
    fn start_all(
        &self,
        entries: Vec<(Partition, StreamId)>,
        slots: OwnedSemaphorePermit,
        read_at: Instant,
    ) {
        let mut slots = Some(slots);
        for (partition, entry) in entries {
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
            let Some(owned) = Owned::track(&self.consumer, (partition, entry.id.clone())) else {
                continue;
            };
            let ctx = Arc::clone(&self.ctx);
            let consumer = Arc::clone(&self.consumer);
            self.tracker.spawn(async move {
                process(&ctx, &consumer, partition, entry, read_at).await;
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
    entry: EntryRef,
}

impl Owned {
    /// `None` when the entry is already being worked on here.
    fn track(consumer: &Arc<Consumer>, entry: EntryRef) -> Option<Self> {
        consumer.track(&entry).then(|| Self {
            consumer: Arc::clone(consumer),
            entry,
        })
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        self.consumer.untrack(&self.entry);
    }
}

/// Runs one entry and acknowledges it when done. While a dependency cannot do the work
/// the entry is retried in place, with back-off, and stays ours (so nothing is sent again
/// and its hand-over count does not grow); an entry Postgres refused is left pending, to
/// be reclaimed and run again; one that cannot be decoded goes to the dead letters.
async fn process(
    ctx: &Arc<Context>,
    consumer: &Consumer,
    partition: Partition,
    entry: StreamId,
    read_at: Instant,
) {
    let entry_ref = (partition, entry.id);
    let id = &entry_ref.1;
    let mut fields = entry.map;
    let decoded = match Entry::decode(&mut fields) {
        Ok(decoded) => decoded,
        Err(e) => {
            bury(consumer, &entry_ref, &fields, &e.to_string(), 1).await;
            return;
        }
    };
    let webhook_id = match &decoded {
        Entry::Webhook(webhook) => webhook.webhook_id,
        Entry::Retry(job) => job.webhook_id,
    };
    let mut delay = Duration::from_millis(100);
    let mut failures = 0_u32;
    let result = loop {
        let result = match &decoded {
            Entry::Webhook(webhook) => {
                fanout::handle(ctx, partition, webhook.clone(), read_at).await
            }
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
            if let Err(e) = consumer.ack(&entry_ref).await {
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
    entry: &EntryRef,
    fields: &HashMap<String, redis::Value>,
    reason: &str,
    runs: u64,
) {
    let (partition, id) = entry;
    match consumer.bury(entry, fields, reason, runs).await {
        Ok(()) => {
            tracing::error!(entry_id = %id, %partition, reason, runs, "moved a stream entry to the dead letters");
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
    fn a_round_shares_its_slots_over_the_partitions_in_turn() {
        let p: Vec<Partition> = (0..4).map(Partition::Numbered).collect();
        assert_eq!(
            share(10, &p, 0),
            [(p[0], 3), (p[1], 3), (p[2], 2), (p[3], 2)],
            "every entry slot handed out, the remainder first"
        );
        assert_eq!(
            share(2, &p, 3),
            [(p[3], 1), (p[0], 1)],
            "scarce slots go round from where the last round stopped"
        );
        assert_eq!(share(5, &p[..1], 0), [(p[0], 5)]);
    }

    #[test]
    fn an_empty_partition_waits_longer_each_time_up_to_its_cap() {
        let now = Instant::now();
        let mut look = Look {
            at: now,
            wait: Duration::ZERO,
        };
        let mut waits = Vec::new();
        for _ in 0..6 {
            look = look.after(Some(0), IDLE_POLL, now);
            waits.push(look.wait.as_millis());
        }
        assert_eq!(waits, [1, 2, 4, 4, 4, 4]);
        assert_eq!(look.after(Some(3), IDLE_POLL, now).wait, Duration::ZERO);
        assert_eq!(look.after(None, IDLE_POLL, now).wait, ERROR_POLL);
    }

    #[test]
    fn loud_failures_are_the_powers_of_ten() {
        let loud: Vec<u32> = (0..2_000).filter(|n| is_power_of_ten(*n)).collect();
        assert_eq!(loud, [1, 10, 100, 1_000]);
    }

    #[tokio::test]
    async fn an_entry_whose_task_panics_is_no_longer_held() {
        let url =
            std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let redis = redis_client::connect_url(&url, Duration::from_secs(5))
            .await
            .expect("Redis is reachable");
        let keys = Keys::new(&format!("test-{}", uuid::Uuid::new_v4().simple()));
        let consumer = Consumer::new(keys, redis);
        let task = tokio::spawn({
            let consumer = Arc::clone(&consumer);
            async move {
                let _owned = Owned::track(&consumer, (Partition::Numbered(0), "1-0".into()))
                    .expect("not held yet");
                panic!("a bug in a handler");
            }
        });
        assert!(task.await.is_err(), "the task panicked");
        // Tracking it again succeeds only if the panic let go of it.
        assert!(
            consumer.track(&(Partition::Numbered(0), "1-0".into())),
            "the entry is still held after its task panicked"
        );
    }
}
