//! The reconciler (CONTRACT §14): deliveries that Postgres records as unfinished but that
//! Redis no longer holds — Redis restarted without persistence, a failover lost its last
//! writes, someone ran FLUSHALL — are queued again, so they are attempted and end like any
//! other instead of staying `pending`/`retrying` (and unpurgeable) for ever.
//!
//! A pass runs every [`Timing::interval`] (`RECONCILE_AFTER / 4`, between 100 ms and
//! 1 min), by one worker in all: each tick goes to whoever takes `keys.reconcile_lock()`
//! (a [`TickLock`], as the purge's). It walks, 500 at a time in keyset order, the
//! unfinished deliveries due more than `RECONCILE_AFTER − interval` ago, so that with a pass
//! every interval a lost delivery is queued again within `RECONCILE_AFTER` of its due
//! time. A delivery's due time is `GREATEST(next_retry_at, updated_at)`: when its retry is
//! due, when it was stored (`pending`), or when a pass last queued it again.
//!
//! What Redis holds of a delivery, and how a pass tells (`pass`), in every partition that
//! may hold work (`queue::served_partitions`; a delivery's work goes to its webhook's home
//! partition, but a change of `QUEUE_PARTITIONS` leaves older work where it was):
//! - the retry set member for attempt `attempts + 1`: looked up with ZMSCORE, before the
//!   streams are (a member moved in between is then in a stream); the ZADD NX that
//!   queues it again could not overwrite it either;
//! - a stream entry: the webhook entry of a `pending` delivery (added before the delivery
//!   was stored), the entry whose attempt scheduled the retry (older still), the retry the
//!   mover moved in when it came due, or a retry queued by an earlier pass (added at its
//!   due time, which the pass set). Each was added no later than the due time (plus
//!   `slack` for clock skew and the mover's delay), so a delivery due before the streams'
//!   oldest entry has none left. One that is not is `deferred` to a later pass: a
//!   backlog may still hold it, in flight or waiting, and queuing it again would only send
//!   it twice.
//!
//! The exception is a retry moved late, because no mover ran when it came due (every
//! worker, or Redis, down for longer than `RECONCILE_AFTER`): its entry is young and may
//! be in flight when a pass queues the delivery again. `redeliver`'s attempt-number check
//! makes the second copy a no-op unless both run at once; at worst the receiver sees that
//! attempt twice, which at-least-once delivery allows (CONTRACT §5).
//!
//! A delivery Redis lost is queued as a retry of attempt `attempts + 1`, due now — for a
//! `pending` delivery that is its first attempt, made by `redeliver` with the payload from
//! Postgres. Its `updated_at` is set to the pass's time first (only if no attempt was
//! recorded since the pass read it), so later passes leave it alone for another
//! `RECONCILE_AFTER`; then the member is added.

mod pass;

use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use hookrelay_shared::Config;
use hookrelay_shared::db::DbPool;
use hookrelay_shared::keys::Keys;
use hookrelay_shared::redis_client::Redis;
use tokio_util::sync::CancellationToken;

use crate::tick_lock::TickLock;

pub use pass::{BATCH_SIZE, PassReport};

/// No batch starts after a pass has run this long; the next pass goes on.
const PASS_BUDGET: Duration = Duration::from_secs(30);
/// A pass that has not ended by then (a call that hangs) is abandoned.
const PASS_DEADLINE: Duration = Duration::from_secs(60);
/// How long a pass holds the lock if its worker never finishes it: beyond the deadline.
const LEASE: Duration = Duration::from_secs(120);
/// How long a finished tick is remembered.
const DONE_MEMORY: Duration = Duration::from_secs(3600);

/// The timings derived from `RECONCILE_AFTER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Time between passes: `RECONCILE_AFTER / 4`, at least 100 ms and at most 1 min.
    pub interval: Duration,
    /// How long past its due time a delivery must be before a pass looks at it:
    /// `RECONCILE_AFTER − interval`, so the pass after that is within `RECONCILE_AFTER`.
    pub overdue: Duration,
    /// Allowance for clock skew between hosts and the retry mover's delay when comparing
    /// due times with stream entry ids.
    pub slack: Duration,
}

impl Timing {
    pub fn new(reconcile_after: Duration) -> Self {
        let interval =
            (reconcile_after / 4).clamp(Duration::from_millis(100), Duration::from_secs(60));
        Self {
            interval,
            overdue: reconcile_after.saturating_sub(interval).max(interval),
            slack: interval,
        }
    }
}

/// Everything one worker's reconciler needs.
pub struct Reconciler {
    pub db: DbPool,
    pub redis: Redis,
    pub keys: Keys,
    pub timing: Timing,
    lock: TickLock,
}

/// Starts the reconciler in the background; it stops when `shutdown` fires.
pub fn spawn(config: &Config, db: DbPool, redis: Redis, shutdown: CancellationToken) {
    let keys = config.redis.keys();
    let reconciler = Reconciler {
        db,
        redis,
        lock: TickLock::new(keys.reconcile_lock(), LEASE, DONE_MEMORY),
        keys,
        timing: Timing::new(config.delivery.reconcile_after),
    };
    tokio::spawn(reconciler.run(shutdown));
}

impl Reconciler {
    /// Fires at every multiple of the interval (the same instants in every worker) until
    /// `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::info!(
            interval_ms = self.timing.interval.as_millis() as u64,
            overdue_ms = self.timing.overdue.as_millis() as u64,
            "reconciler started"
        );
        let every = i64::try_from(self.timing.interval.as_millis()).unwrap_or(60_000);
        loop {
            let now = Utc::now().timestamp_millis();
            let tick = (now.div_euclid(every) + 1) * every;
            let wait = Duration::from_millis(u64::try_from(tick - now).unwrap_or(0));
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            self.fire(tick, &shutdown).await;
        }
    }

    /// One tick: a pass if this worker gets the lock, logged and counted.
    async fn fire(&self, tick_ms: i64, stop: &CancellationToken) {
        let result = match self.locked_pass(tick_ms, stop).await {
            Ok(Some(report)) => {
                log_pass(&report);
                metrics::counter!(crate::metrics::RECONCILED.name).increment(report.requeued);
                "reconciled"
            }
            Ok(None) => "skipped",
            Err(e) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "reconciliation pass failed; the next tick tries again"
                );
                "failed"
            }
        };
        metrics::counter!(crate::metrics::RECONCILE_RUNS.name, "result" => result).increment(1);
    }

    /// Runs a pass under the lock; `None` when another worker has this tick.
    async fn locked_pass(
        &self,
        tick_ms: i64,
        stop: &CancellationToken,
    ) -> anyhow::Result<Option<PassReport>> {
        let mut redis = self.redis.clone();
        let Some(held) = self
            .lock
            .acquire(&mut redis, tick_ms)
            .await
            .context("Failed to take the reconcile lock")?
        else {
            return Ok(None);
        };
        let now: DateTime<Utc> = hookrelay_shared::time::now();
        let report = tokio::time::timeout(PASS_DEADLINE, self.pass(now, PASS_BUDGET, stop))
            .await
            .unwrap_or_else(|_| anyhow::bail!("the pass took longer than {PASS_DEADLINE:?}"));
        if let Err(e) = self.lock.finish(&mut redis, held).await {
            // The lease still expires; a later tick runs again.
            tracing::warn!(error = %e, "could not mark the reconciliation pass done");
        }
        report.map(Some)
    }
}

fn log_pass(report: &PassReport) {
    let PassReport {
        examined,
        requeued,
        deferred,
        complete,
    } = *report;
    if requeued > 0 {
        tracing::warn!(
            examined,
            requeued,
            deferred,
            complete,
            "reconciliation queued again deliveries that Redis no longer held"
        );
    } else if deferred > 0 {
        tracing::info!(
            examined,
            deferred,
            complete,
            "reconciliation deferred overdue deliveries that the work stream may still hold"
        );
    } else {
        tracing::debug!(examined, complete, "reconciliation found nothing lost");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_follows_reconcile_after() {
        let secs = Duration::from_secs;
        let ms = Duration::from_millis;
        assert_eq!(
            Timing::new(secs(15 * 60)),
            Timing {
                interval: secs(60),
                overdue: secs(14 * 60),
                slack: secs(60)
            }
        );
        assert_eq!(
            Timing::new(secs(1)),
            Timing {
                interval: ms(250),
                overdue: ms(750),
                slack: ms(250)
            }
        );
        // A tiny RECONCILE_AFTER still leaves an interval between a pass and the next
        // look at what it queued.
        assert_eq!(Timing::new(ms(100)).overdue, ms(100));
    }
}
