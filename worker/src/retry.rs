//! The retry schedule: a Redis sorted set of due retries, and the script that moves them
//! back into the work stream when their time comes.
//!
//! A failed attempt that has retries left adds `NextAttempt::member()` to the retry
//! schedule of its webhook's home partition (`Keys::home`) with its due time (Unix ms,
//! rounded up) as score. The mover (`mover`) runs
//! `MOVE_SCRIPT` in every worker: it takes the due members, XADDs each to the stream as a
//! `retry` entry and removes it from the set, atomically, so a member is moved exactly
//! once. A retry therefore starts no earlier than due and, when workers have capacity,
//! within about `mover::MOVE_INTERVAL` after.

use chrono::{DateTime, Utc};
use deadpool_redis::redis;
use hookrelay_shared::keys::{Keys, PartitionKeys};
use hookrelay_shared::queue::{NextAttempt, field};
use hookrelay_shared::redis_client::Redis;

use crate::mover::DueSet;

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
}

impl RetrySchedule {
    pub fn new(keys: Keys) -> Self {
        Self { keys }
    }

    /// Schedules `job` for `due`. Idempotent: scheduling the same job again only
    /// (re)sets its due time.
    pub async fn schedule(
        &self,
        conn: &mut Redis,
        job: &NextAttempt,
        due: DateTime<Utc>,
    ) -> redis::RedisResult<()> {
        hookrelay_shared::queue::schedule_retry(conn, &self.keys, job, due).await
    }
}

/// One partition's schedule as the mover moves it.
pub fn due_set(keys: &PartitionKeys) -> DueSet {
    DueSet::new(
        "retries",
        crate::metrics::RETRIES_MOVED.name,
        MOVE_BATCH,
        MOVE_SCRIPT,
        vec![keys.retry_schedule(), keys.stream()],
        [
            field::KIND,
            field::WEBHOOK_ID,
            field::SUBSCRIPTION_ID,
            field::ATTEMPT,
        ]
        .map(str::to_owned)
        .into(),
    )
}
