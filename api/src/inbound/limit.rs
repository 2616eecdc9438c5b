//! A source's `rate_limit` (at most `requests` per `per_seconds`, all api processes
//! together), kept in Redis by one Lua script.
//!
//! The script is a GCRA: one key per source (`Keys::inbound_limit`) holds the theoretical
//! arrival time `tat`. Requests are spaced `interval = per_seconds / requests` apart, and a
//! burst of up to `requests` from idle is allowed (the tolerance is `per_seconds -
//! interval`), so no window of `per_seconds` ever accepts more than `requests`. A refused
//! request is told when the next one would pass: that is its `Retry-After`. The clock is
//! Redis's, so api processes' clocks never disagree about it.
//!
//! Why not the workers' limiter (`worker/src/throttle.rs`): that one hands waiting
//! attempts their turns, because they wait in the retry schedule; an inbound request
//! cannot wait, it is refused, and the provider retries.

use std::time::Duration;

use deadpool_redis::redis;
use hookrelay_shared::keys::Keys;
use uuid::Uuid;

use hookrelay_domain::sources::RateLimit;

/// KEYS: the limiter key. ARGV: interval, tolerance (µs). Returns 0 (accept) or the wait
/// in ms until a request would be accepted. Times are µs of Redis's clock.
const LIMIT_SCRIPT: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = math.max(tonumber(redis.call('GET', KEYS[1])) or now, now)
if tat - tolerance > now then
  return math.ceil((tat - tolerance - now) / 1000)
end
tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000) + 1)
return 0
";

/// The limiter's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    /// Over the limit: the next request would pass after this long.
    Refuse(Duration),
}

pub struct Limiter {
    keys: Keys,
    script: redis::Script,
}

impl Limiter {
    pub fn new(keys: Keys) -> Self {
        Self {
            keys,
            script: redis::Script::new(LIMIT_SCRIPT),
        }
    }

    /// Counts one request of `source` against `limit`.
    pub async fn check(
        &self,
        conn: &mut impl redis::aio::ConnectionLike,
        source: Uuid,
        limit: RateLimit,
    ) -> redis::RedisResult<Verdict> {
        let window = u64::from(limit.per_seconds) * 1_000_000;
        let interval = window / u64::from(limit.requests.max(1));
        let wait_ms: u64 = self
            .script
            .key(self.keys.inbound_limit(source))
            .arg(interval)
            .arg(window - interval)
            .invoke_async(conn)
            .await?;
        Ok(match wait_ms {
            0 => Verdict::Accept,
            ms => Verdict::Refuse(Duration::from_millis(ms)),
        })
    }
}

/// `Retry-After` in whole seconds, never 0 (a client told 0 would retry at once).
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_millis()
        .div_ceil(1000)
        .max(1)
        .try_into()
        .unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1000)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
