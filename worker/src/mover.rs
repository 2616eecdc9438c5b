//! The mover: puts work whose time has come into the work stream, from the sorted sets
//! where it waits.
//!
//! Each such set is a [`DueSet`]: members scored by due time (Unix ms, rounded up when
//! added: `time::due_millis`), and one Lua script that takes the due members, XADDs
//! each to the stream and removes it from the set. A script runs atomically, so however
//! many workers run it, a member is moved exactly once and is never in neither place;
//! and a worker that dies loses nothing, since the work waits in Redis. Every worker
//! runs one mover, which runs every set's script every `MOVE_INTERVAL`, so work starts no
//! earlier than due and, when workers have capacity, within about `MOVE_INTERVAL` after.
//!
//! The sets: due retries (`retry::due_set`) and delayed webhooks (`delayed::due_set`),
//! one of each per served partition (a script touches one partition's keys only, so it
//! is legal on a cluster); each tick runs them all at once, those of draining partitions
//! every `DRAIN_EVERY` ticks only. A new kind of waiting work
//! is one more [`DueSet`] maker in the list `startup` hands to [`run`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_redis::redis;
use hookrelay_shared::keys::{Keys, Partition, PartitionKeys};
use hookrelay_shared::redis_client::Redis;
use tokio_util::sync::CancellationToken;

use crate::partitions::Partitions;

/// Makes one partition's [`DueSet`] of one kind.
pub type DueSetOf = fn(&PartitionKeys) -> DueSet;

/// How often the mover looks for due work.
pub const MOVE_INTERVAL: Duration = Duration::from_millis(100);

/// Draining partitions (no new work goes there) are looked at every this many ticks:
/// every second.
const DRAIN_EVERY: u64 = 10;

/// How long the mover waits after a Redis error.
const ERROR_BACKOFF: Duration = Duration::from_secs(1);

/// One sorted set of waiting work and the script that moves its due members.
#[derive(Clone)]
pub struct DueSet {
    /// What it holds, for logs (`retries`).
    pub what: &'static str,
    /// The name of the counter of members moved (`metrics::RETRIES_MOVED`).
    pub moved_total: &'static str,
    /// Members moved per script run at most (a run blocks Redis while it works); a full
    /// batch makes the mover run again at once.
    pub batch: usize,
    script: Arc<redis::Script>,
    /// KEYS: the set, then whatever else the script touches.
    keys: Vec<String>,
    /// ARGV after the first two, which are always now (Unix ms) and `batch`.
    args: Vec<String>,
}

impl DueSet {
    /// `script` returns how many members it moved (or dropped as unusable).
    pub fn new(
        what: &'static str,
        moved_total: &'static str,
        batch: usize,
        script: &str,
        keys: Vec<String>,
        args: Vec<String>,
    ) -> Self {
        Self {
            what,
            moved_total,
            batch,
            script: Arc::new(redis::Script::new(script)),
            keys,
            args,
        }
    }

    /// Moves the members due at `now` into the stream; returns how many moved.
    pub async fn move_due(
        &self,
        conn: &mut Redis,
        now: DateTime<Utc>,
    ) -> redis::RedisResult<usize> {
        let mut invocation = self.script.prepare_invoke();
        for key in &self.keys {
            invocation.key(key);
        }
        invocation.arg(now.timestamp_millis()).arg(self.batch);
        for arg in &self.args {
            invocation.arg(arg);
        }
        invocation.invoke_async(conn).await
    }
}

/// Runs every served partition's sets of each kind in `kinds` every `MOVE_INTERVAL`
/// until `shutdown`. Errors are logged once per outage and retried.
pub async fn run(
    kinds: Vec<DueSetOf>,
    keys: Keys,
    partitions: Arc<Partitions>,
    conn: Redis,
    shutdown: CancellationToken,
) {
    let mut sets: HashMap<(usize, Partition), DueSet> = HashMap::new();
    let mut failing = false;
    let mut tick = 0_u64;
    loop {
        let served = partitions.served();
        let drain_too = tick.is_multiple_of(DRAIN_EVERY);
        tick = tick.wrapping_add(1);
        let round: Vec<DueSet> = served
            .iter()
            .filter(|partition| drain_too || partitions.is_active(**partition))
            .flat_map(|partition| (0..kinds.len()).map(move |kind| (kind, *partition)))
            .map(|(kind, partition)| {
                sets.entry((kind, partition))
                    .or_insert_with(|| kinds[kind](&keys.partition(partition)))
                    .clone()
            })
            .collect();
        let now = Utc::now();
        let results = futures::future::join_all(round.iter().map(|set| {
            let mut conn = conn.clone();
            async move { (set, set.move_due(&mut conn, now).await) }
        }))
        .await;
        let mut wait = MOVE_INTERVAL;
        let mut errors = Vec::new();
        for (set, result) in results {
            match result {
                Ok(moved) => {
                    if moved > 0 {
                        metrics::counter!(set.moved_total).increment(moved as u64);
                    }
                    // A full batch means more may be due right now.
                    if moved >= set.batch {
                        wait = Duration::ZERO;
                    }
                }
                Err(e) => errors.push((set.what, e)),
            }
        }
        if let Some((what, e)) = errors.first() {
            if !failing {
                tracing::warn!(error = %e, what, failures = errors.len(), "mover cannot reach Redis; due work waits");
            }
            failing = true;
            wait = ERROR_BACKOFF;
        } else if failing {
            tracing::info!("mover reaches Redis again");
            failing = false;
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}
