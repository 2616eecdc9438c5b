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
//! The sets: due retries (`retry::RetrySchedule::due_set`) and delayed webhooks
//! (`delayed::due_set`). A new kind of waiting work is one more [`DueSet`] in the list
//! `startup` hands to [`run`].

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_redis::redis;
use hookrelay_shared::redis_client::Redis;
use tokio_util::sync::CancellationToken;

/// How often the mover looks for due work.
pub const MOVE_INTERVAL: Duration = Duration::from_millis(100);

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

/// Runs every set's script every `MOVE_INTERVAL` until `shutdown`. Errors are logged
/// once per outage and retried.
pub async fn run(sets: Vec<DueSet>, mut conn: Redis, shutdown: CancellationToken) {
    let mut failing = false;
    loop {
        let mut wait = MOVE_INTERVAL;
        let mut failed = false;
        for set in &sets {
            match set.move_due(&mut conn, Utc::now()).await {
                Ok(moved) => {
                    if moved > 0 {
                        metrics::counter!(set.moved_total).increment(moved as u64);
                    }
                    // A full batch means more may be due right now.
                    if moved >= set.batch {
                        wait = Duration::ZERO;
                    }
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, what = set.what, "mover cannot reach Redis; due work waits");
                    }
                    failed = true;
                }
            }
        }
        if failed {
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
