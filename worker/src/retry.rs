//! The retry schedule: a Redis sorted set of due retries, and the mover that puts them
//! back into the work stream when their time comes.
//!
//! A failed attempt that has retries left adds `RetryJob::member()` to `keys.retry_schedule()`
//! with its due time (Unix ms) as score. Every worker runs the mover every
//! `MOVE_INTERVAL`: one Lua script takes the due members, XADDs each to the stream as a
//! `retry` entry and removes it from the set. The script runs atomically, so however
//! many workers run it, a member is moved exactly once and is never in neither place.
//! A retry therefore starts no earlier than due and, when workers have capacity, within
//! about `MOVE_INTERVAL` after.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_redis::redis;
use hookrelay_shared::keys::Keys;
use hookrelay_shared::queue::{RetryJob, field};
use hookrelay_shared::redis_client::Redis;
use tokio_util::sync::CancellationToken;

/// How often the mover looks for due retries.
pub const MOVE_INTERVAL: Duration = Duration::from_millis(100);

/// Members moved per script run at most (a run blocks Redis while it works).
const MOVE_BATCH: usize = 500;

/// Moves due members of the schedule into the stream. KEYS: schedule, stream. ARGV: now
/// (Unix ms), batch size, then the field names kind, webhook id, subscription id,
/// attempt. Returns how many members it moved. A member that does not parse is dropped
/// (it could never be delivered) and counted too.
const MOVE_SCRIPT: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  local webhook, sub, attempt = string.match(member, '^([^:]+):([^:]+):([^:]+)$')
  if webhook then
    redis.call('XADD', KEYS[2], '*', ARGV[3], 'retry', ARGV[4], webhook, ARGV[5], sub, ARGV[6], attempt)
  end
  redis.call('ZREM', KEYS[1], member)
end
return #due
";

/// The schedule store.
#[derive(Clone)]
pub struct RetrySchedule {
    keys: Keys,
    script: Arc<redis::Script>,
}

impl RetrySchedule {
    pub fn new(keys: Keys) -> Self {
        Self {
            keys,
            script: Arc::new(redis::Script::new(MOVE_SCRIPT)),
        }
    }

    /// Schedules `job` for `due`. Idempotent: scheduling the same job again only
    /// (re)sets its due time.
    pub async fn schedule(
        &self,
        conn: &mut Redis,
        job: &RetryJob,
        due: DateTime<Utc>,
    ) -> redis::RedisResult<()> {
        hookrelay_shared::queue::schedule_retry(conn, &self.keys, job, due).await
    }

    /// Moves the retries due at `now` into the stream; returns how many moved.
    pub async fn move_due(
        &self,
        conn: &mut Redis,
        now: DateTime<Utc>,
    ) -> redis::RedisResult<usize> {
        self.script
            .key(self.keys.retry_schedule())
            .key(self.keys.stream())
            .arg(now.timestamp_millis())
            .arg(MOVE_BATCH)
            .arg(field::KIND)
            .arg(field::WEBHOOK_ID)
            .arg(field::SUBSCRIPTION_ID)
            .arg(field::ATTEMPT)
            .invoke_async(conn)
            .await
    }

    /// Runs the mover until `shutdown`. Errors are logged once per outage and retried.
    pub async fn run_mover(self, mut conn: Redis, shutdown: CancellationToken) {
        let mut failing = false;
        loop {
            let wait = match self.move_due(&mut conn, Utc::now()).await {
                Ok(moved) => {
                    if failing {
                        tracing::info!("retry mover reaches Redis again");
                        failing = false;
                    }
                    if moved > 0 {
                        metrics::counter!("hookrelay_retries_moved_total").increment(moved as u64);
                    }
                    // A full batch means more may be due right now.
                    if moved >= MOVE_BATCH {
                        Duration::ZERO
                    } else {
                        MOVE_INTERVAL
                    }
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "retry mover cannot reach Redis; due retries wait");
                        failing = true;
                    }
                    Duration::from_secs(1)
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}
