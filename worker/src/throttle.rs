//! Per-subscription rate limits (`rate_limit`: at most that many attempts started per
//! second, all workers together), kept in Redis by one Lua script.
//!
//! The script is a GCRA (generic cell rate algorithm): one key per subscription
//! (`Keys::throttle`) holds the theoretical arrival time `tat`, when the next attempt is
//! due if attempts are evenly paced. An attempt may start when `tat - tolerance <= now`,
//! and moves `tat` one emission interval on; otherwise it is told how long to wait. The
//! clock is Redis's (`TIME`), so workers' clocks never decide whether an attempt starts.
//!
//! **The parameters** ([`Pace`]). A throttled attempt waits in the retry schedule, so it
//! comes back up to one mover interval after its turn (`mover::MOVE_INTERVAL`, plus a
//! read): that is the `tolerance`, and without it a returning attempt would lose its turn
//! to that lateness about half the time. A tolerance lets attempts start closer together
//! than the interval, so the interval is stretched to make up for it: with
//! `interval = (1 s + tolerance) / rate`, no window of one second ever holds more than
//! `rate` starts. The price is the long-run pace, `rate / 1.1` per second; a burst from
//! idle is `1 + tolerance / interval` starts (1 for limits up to 10, about a tenth of the
//! limit above).
//!
//! **Turns for the waiting** (`wake`, the key's second field). The GCRA alone would tell
//! every attempt refused at one moment the same wait, and they would all come back
//! together, one of them start and the rest be parked again: with a backlog of *n*
//! attempts, *n* round trips (each a stream entry and a Postgres read) per interval. So a
//! refused attempt is handed the next free turn instead — `wake`, the turn after the last
//! one handed out, or the GCRA's earliest moment if that is later — and `wake` moves one
//! interval on. Waiting attempts therefore come back one interval apart, each at about
//! its turn, and start then. A turn is not a reservation: the attempt is checked again
//! when it comes back (nothing marks it as the turn's holder), and one that comes back
//! to find its turn taken (a new attempt took it first, or it came back early because
//! workers' clocks differ) gets a new turn after the others.
//!
//! The key expires when neither field constrains anything any more (`max(tat, wake)`), so
//! an idle subscription leaves nothing behind.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use deadpool_redis::redis;
use hookrelay_shared::keys::Keys;
use hookrelay_shared::redis_client::Redis;
use uuid::Uuid;

use crate::mover::MOVE_INTERVAL;

/// How late a parked attempt may come back and still have its turn: the mover's interval.
pub const TOLERANCE: Duration = MOVE_INTERVAL;

/// One GCRA step for one subscription. KEYS: the throttle key. ARGV: emission interval,
/// tolerance (both µs). Returns 0 (start now) or the wait in ms until the turn handed out.
/// Times are µs of Redis's clock (below 2^53, so Lua's doubles hold them exactly).
const THROTTLE_SCRIPT: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tat', 'wake')
local tat = tonumber(state[1]) or now
local wake = tonumber(state[2]) or 0
local wait = 0
if tat - tolerance <= now then
  tat = math.max(tat, now) + interval
  redis.call('HSET', KEYS[1], 'tat', string.format('%d', tat))
else
  local turn = math.max(tat - tolerance, wake)
  wake = turn + interval
  redis.call('HSET', KEYS[1], 'wake', string.format('%d', wake))
  wait = turn - now
end
redis.call('PEXPIRE', KEYS[1], math.ceil((math.max(tat, wake) - now) / 1000) + 1)
return math.ceil(wait / 1000)
";

/// The limiter's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The attempt may start now.
    Go,
    /// Not its turn: come back after this long.
    Wait(Duration),
}

impl Verdict {
    /// The script's answer: 0, or the wait in milliseconds.
    fn from_wait_ms(ms: i64) -> Self {
        match u64::try_from(ms) {
            Ok(ms) if ms > 0 => Self::Wait(Duration::from_millis(ms)),
            _ => Self::Go,
        }
    }
}

/// The GCRA parameters for one limit (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// Between two starts in the long run (the emission interval), µs.
    pub interval_us: u64,
    /// How much before its even-paced moment an attempt may start, µs.
    pub tolerance_us: u64,
}

impl Pace {
    /// At most `rate` starts in any one second.
    pub fn per_second(rate: NonZeroU32) -> Self {
        let tolerance_us = u64::try_from(TOLERANCE.as_micros()).unwrap_or(u64::MAX);
        Self {
            // Rounded up to whole µs: a longer interval only ever means fewer starts (the
            // rounding costs under 1% of the pace up to 10,000/s, up to 8% near 100,000/s).
            interval_us: (1_000_000 + tolerance_us).div_ceil(u64::from(rate.get())),
            tolerance_us,
        }
    }

    /// The most starts the GCRA lets through within `window` (start to last start less
    /// than `window` apart): starts *k* apart are at least `k × interval − tolerance`
    /// apart.
    pub fn most_within(self, window: Duration) -> u64 {
        let window_us = u64::try_from(window.as_micros()).unwrap_or(u64::MAX);
        // (m − 1) × interval − tolerance < window.
        1 + (window_us + self.tolerance_us).saturating_sub(1) / self.interval_us
    }
}

/// A subscription's limit from its `rate_limit`, if it has one. The column's CHECK keeps
/// it positive; a value that is not is no limit anyone can meet, and is treated as none.
pub fn limit(rate_limit: Option<i32>) -> Option<NonZeroU32> {
    rate_limit
        .and_then(|rate| u32::try_from(rate).ok())
        .and_then(NonZeroU32::new)
}

/// The limiter: the script, loaded once, and where its keys live.
#[derive(Clone)]
pub struct Throttle {
    keys: Keys,
    script: Arc<redis::Script>,
}

impl Throttle {
    pub fn new(keys: Keys) -> Self {
        Self {
            keys,
            script: Arc::new(redis::Script::new(THROTTLE_SCRIPT)),
        }
    }

    /// Asks whether an attempt for `subscription_id`, limited to `rate` per second, may
    /// start now. A `Go` uses up the turn: call this only right before the attempt
    /// waits for its permit.
    pub async fn check(
        &self,
        conn: &mut Redis,
        subscription_id: Uuid,
        rate: NonZeroU32,
    ) -> redis::RedisResult<Verdict> {
        let pace = Pace::per_second(rate);
        let wait_ms: i64 = self
            .script
            .key(self.keys.throttle(subscription_id))
            .arg(pace.interval_us)
            .arg(pace.tolerance_us)
            .invoke_async(conn)
            .await?;
        Ok(Verdict::from_wait_ms(wait_ms))
    }
}

#[cfg(test)]
mod tests {
    use deadpool_redis::redis::AsyncCommands as _;
    use hookrelay_shared::redis_client;

    use super::*;

    fn rate(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).expect("a positive rate")
    }

    #[test]
    fn no_second_ever_holds_more_starts_than_the_limit() {
        for n in [1, 2, 3, 7, 10, 11, 99, 100, 1_000, 12_345, 100_000] {
            let pace = Pace::per_second(rate(n));
            assert!(
                pace.most_within(Duration::from_secs(1)) <= u64::from(n),
                "{n}/s: {pace:?} lets {} start within a second",
                pace.most_within(Duration::from_secs(1))
            );
            // And no stricter than it has to be: the long-run pace is rate / 1.1, less
            // the rounding to whole µs (under 1% up to 10,000/s).
            let long_run = 1e6 / pace.interval_us as f64;
            if n <= 10_000 {
                assert!(
                    long_run >= f64::from(n) / 1.1 * 0.99,
                    "{n}/s: long run {long_run}/s"
                );
            }
        }
    }

    #[test]
    fn bursts_are_one_start_up_to_ten_a_second_and_a_tenth_of_the_limit_above() {
        let burst = |n| Pace::per_second(rate(n)).most_within(Duration::from_micros(1));
        assert_eq!(burst(1), 1);
        assert_eq!(burst(10), 1);
        assert_eq!(burst(11), 2);
        assert_eq!(burst(100), 10);
        assert_eq!(burst(100_000), 9_091);
    }

    #[test]
    fn one_a_second_spaces_starts_at_least_a_second_apart() {
        let pace = Pace::per_second(rate(1));
        assert_eq!(pace.interval_us, 1_100_000);
        assert_eq!(pace.interval_us - pace.tolerance_us, 1_000_000);
        assert_eq!(pace.most_within(Duration::from_secs(1)), 1);
        assert_eq!(pace.most_within(Duration::from_micros(1_000_001)), 2);
    }

    #[test]
    fn the_scripts_answer_is_go_or_a_wait() {
        assert_eq!(Verdict::from_wait_ms(0), Verdict::Go);
        assert_eq!(Verdict::from_wait_ms(-3), Verdict::Go);
        assert_eq!(
            Verdict::from_wait_ms(1_000),
            Verdict::Wait(Duration::from_secs(1))
        );
    }

    #[test]
    fn only_a_positive_limit_is_a_limit() {
        assert_eq!(limit(None), None);
        assert_eq!(limit(Some(0)), None);
        assert_eq!(limit(Some(-1)), None);
        assert_eq!(limit(Some(5)), Some(rate(5)));
    }

    async fn redis() -> Redis {
        let url =
            std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        redis_client::connect_url(&url, Duration::from_secs(5))
            .await
            .expect("Redis is reachable")
    }

    fn keys() -> Keys {
        Keys::new(&format!("test-{}", Uuid::new_v4().simple()))
    }

    /// Waits in ms, `None` for a go.
    async fn ask(throttle: &Throttle, conn: &mut Redis, id: Uuid, n: u32) -> Option<u128> {
        match throttle
            .check(conn, id, rate(n))
            .await
            .expect("the script runs")
        {
            Verdict::Go => None,
            Verdict::Wait(wait) => Some(wait.as_millis()),
        }
    }

    #[tokio::test]
    async fn refused_attempts_get_turns_one_interval_apart() {
        let mut conn = redis().await;
        let keys = keys();
        let throttle = Throttle::new(keys.clone());
        let id = Uuid::new_v4();
        assert_eq!(ask(&throttle, &mut conn, id, 1).await, None, "first goes");
        // 1/s: the next may start 1.0 s after the first, then every 1.1 s.
        let mut waits = Vec::new();
        for _ in 0..3 {
            waits.push(ask(&throttle, &mut conn, id, 1).await.expect("a wait"));
        }
        for (wait, expected) in waits.iter().zip([1_000, 2_100, 3_200]) {
            assert!(
                wait.abs_diff(expected) <= 50,
                "waits {waits:?}, expected about 1000, 2100, 3200"
            );
        }
        // The key lives until the last turn handed out, and no longer.
        let key = keys.throttle(id);
        let ttl: i64 = conn.pttl(&key).await.expect("PTTL");
        assert!((4_000..=4_301).contains(&ttl), "PTTL {ttl}");
        let _: () = conn.del(&key).await.expect("DEL");
    }

    #[tokio::test]
    async fn an_idle_key_expires_once_it_no_longer_constrains_anything() {
        let mut conn = redis().await;
        let keys = keys();
        let throttle = Throttle::new(keys.clone());
        let id = Uuid::new_v4();
        // 1,000/s: a start constrains the next one for 1.1 ms.
        assert_eq!(ask(&throttle, &mut conn, id, 1_000).await, None);
        let ttl: i64 = conn.pttl(keys.throttle(id)).await.expect("PTTL");
        // -2: already gone, on a machine slow enough for 3 ms to pass; 0: in its last
        // millisecond (Redis rounds the remaining time down); -1 (no expiry) would be the
        // bug.
        assert!(ttl == -2 || (0..=3).contains(&ttl), "PTTL {ttl}");
    }

    #[tokio::test]
    async fn subscriptions_are_limited_separately() {
        let mut conn = redis().await;
        let keys = keys();
        let throttle = Throttle::new(keys.clone());
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(ask(&throttle, &mut conn, a, 1).await, None);
        assert_eq!(ask(&throttle, &mut conn, b, 1).await, None);
        assert!(ask(&throttle, &mut conn, a, 1).await.is_some());
        let _: () = conn
            .del(&[keys.throttle(a), keys.throttle(b)])
            .await
            .expect("DEL");
    }
}
