//! A Redis lock that gives each tick of a periodic job to exactly one worker, and never
//! lets two runs overlap. The purge (`scheduler`) and the reconciler (`reconcile`) use it.
//!
//! Every worker fires at each tick and calls [`TickLock::acquire`] with the tick's time.
//! The key's value is `<tick ms>:<token>` while a run holds it (with a lease, so a worker
//! that dies mid-run frees it) and `<tick ms>:done` afterwards, remembered for a while. A
//! worker takes the lock only when no run is under way and no run has happened for its
//! tick or a later one — so a worker firing late for a tick already done does nothing.
//! [`TickLock::finish`] is a compare-and-set on the token: a holder whose lease ran out
//! cannot overwrite whoever came next.

use std::sync::Arc;
use std::time::Duration;

use deadpool_redis::redis;
use hookrelay_shared::redis_client::Redis;

/// KEYS: lock. ARGV: tick ms, token, lease ms. 1 = taken; 0 = running or tick done.
const ACQUIRE: &str = r"
local current = redis.call('GET', KEYS[1])
if current then
  local tick, state = string.match(current, '^(%d+):(.*)$')
  if not tick or state ~= 'done' or tonumber(tick) >= tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. ARGV[2], 'PX', ARGV[3])
return 1
";

/// KEYS: lock. ARGV: tick ms, token, memory ms. Marks the tick done if we still hold it.
const FINISH: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] .. ':' .. ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[1] .. ':done', 'PX', ARGV[3])
  return 1
end
return 0
";

/// One job's lock (one key).
#[derive(Clone)]
pub struct TickLock {
    key: String,
    /// How long a run holds the lock if its worker never finishes it.
    lease: Duration,
    /// How long a finished tick is remembered: far longer than workers can disagree on it.
    memory: Duration,
    acquire: Arc<redis::Script>,
    finish: Arc<redis::Script>,
}

/// Proof that this worker runs `tick`; hand it back to [`TickLock::finish`].
#[derive(Debug)]
pub struct Held {
    tick_ms: i64,
    token: String,
}

impl TickLock {
    pub fn new(key: String, lease: Duration, memory: Duration) -> Self {
        Self {
            key,
            lease,
            memory,
            acquire: Arc::new(redis::Script::new(ACQUIRE)),
            finish: Arc::new(redis::Script::new(FINISH)),
        }
    }

    /// Takes the lock for the tick at `tick_ms` (Unix ms); `None` when another worker
    /// runs (or ran) this tick or a later one.
    pub async fn acquire(
        &self,
        redis: &mut Redis,
        tick_ms: i64,
    ) -> redis::RedisResult<Option<Held>> {
        let token = uuid::Uuid::new_v4().simple().to_string();
        let taken: i64 = self
            .acquire
            .key(&self.key)
            .arg(tick_ms)
            .arg(&token)
            .arg(self.lease.as_millis() as u64)
            .invoke_async(redis)
            .await?;
        Ok((taken == 1).then_some(Held { tick_ms, token }))
    }

    /// Marks the tick done; `false` when the lease had run out and someone else has the
    /// lock now.
    pub async fn finish(&self, redis: &mut Redis, held: Held) -> redis::RedisResult<bool> {
        let finished: i64 = self
            .finish
            .key(&self.key)
            .arg(held.tick_ms)
            .arg(&held.token)
            .arg(self.memory.as_millis() as u64)
            .invoke_async(redis)
            .await?;
        Ok(finished == 1)
    }
}
