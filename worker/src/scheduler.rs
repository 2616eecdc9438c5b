//! Scheduled jobs: the purge, on `PURGE_SCHEDULE` (cron with seconds, UTC), run by
//! tokio-cron-scheduler in every worker and done by exactly one of them per scheduled tick.
//!
//! Every worker fires at each tick (within the scheduler's half-second polling and the
//! machines' clock skew) and asks for `keys.purge_lock()`, a [`TickLock`]: it is taken
//! only when no purge is running and no purge has happened for this tick or a later one,
//! so a worker firing late for a tick already purged does nothing, and two purges never
//! overlap.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use hookrelay_shared::Config;
use hookrelay_shared::db::DbPool;
use hookrelay_shared::redis_client::Redis;
use tokio::sync::mpsc::UnboundedSender;
use tokio_cron_scheduler::{Job, JobScheduler};
use tokio_util::sync::CancellationToken;

use crate::purge::{Purge, PurgeReport};
use crate::tick_lock::TickLock;

/// How long a running purge holds the lock if its worker never finishes it.
pub const LEASE: Duration = Duration::from_secs(600);
/// How long a finished tick is remembered: far longer than workers can disagree on it.
const DONE_MEMORY: Duration = Duration::from_secs(24 * 3600);

/// What one worker did at one tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TickOutcome {
    Purged(PurgeReport),
    /// Another worker has (or had) this tick.
    Skipped,
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TickReport {
    pub tick: DateTime<Utc>,
    pub outcome: TickOutcome,
}

/// Everything one worker's purge schedule needs.
pub struct PurgeJob {
    pub schedule: String,
    pub purge: Purge,
    pub redis: Redis,
    pub lock: TickLock,
    /// Each tick's outcome is sent here too (tests watch it).
    pub reports: Option<UnboundedSender<TickReport>>,
}

impl PurgeJob {
    pub fn from_config(config: &Config, db: DbPool, redis: Redis) -> Self {
        Self {
            schedule: config.retention.purge_schedule.clone(),
            purge: Purge {
                db,
                retention: config.retention.log_retention,
                budget: LEASE / 2,
            },
            redis,
            lock: TickLock::new(config.redis.keys().purge_lock(), LEASE, DONE_MEMORY),
            reports: None,
        }
    }
}

/// Starts the worker's scheduled jobs in the background; they stop when `shutdown` fires.
pub fn spawn(config: &Config, db: DbPool, redis: Redis, shutdown: CancellationToken) {
    let job = PurgeJob::from_config(config, db, redis);
    tokio::spawn(async move {
        if let Err(e) = run(job, shutdown).await {
            tracing::error!(error = format!("{e:#}"), "the purge scheduler stopped");
        }
    });
}

/// Runs the purge on its schedule until `shutdown`.
pub async fn run(job: PurgeJob, shutdown: CancellationToken) -> anyhow::Result<()> {
    // Every series exists from start-up, so alerts on them work before the first purge
    // (`metrics::register` describes them).
    for table in ["attempts", "webhooks"] {
        metrics::counter!(crate::metrics::PURGED_ROWS.name, "table" => table).increment(0);
    }
    for result in ["purged", "skipped", "failed"] {
        metrics::counter!(crate::metrics::PURGE_RUNS.name, "result" => result).increment(0);
    }
    let cron = croner::Cron::new(&job.schedule)
        .with_seconds_required()
        .with_dom_and_dow()
        .parse()
        .context("PURGE_SCHEDULE is not a cron expression")?;
    let schedule = job.schedule.clone();
    let ticker = Arc::new(Ticker {
        job,
        cron,
        last: Mutex::new(Utc::now()),
        stop: shutdown.clone(),
    });
    let mut scheduler = JobScheduler::new()
        .await
        .context("Failed to create the job scheduler")?;
    scheduler
        .add(Job::new_async(schedule.as_str(), move |_, _| {
            let ticker = Arc::clone(&ticker);
            Box::pin(async move { ticker.fire().await })
        })?)
        .await
        .context("Failed to schedule the purge")?;
    scheduler
        .start()
        .await
        .context("Failed to start the job scheduler")?;
    tracing::info!(schedule = %schedule, "purge scheduled");
    shutdown.cancelled().await;
    scheduler
        .shutdown()
        .await
        .context("Failed to stop the job scheduler")?;
    Ok(())
}

struct Ticker {
    job: PurgeJob,
    cron: croner::Cron,
    /// The last tick this worker fired for (or when it started).
    last: Mutex<DateTime<Utc>>,
    stop: CancellationToken,
}

impl Ticker {
    async fn fire(&self) {
        let now = Utc::now();
        let tick = self.tick_at(now);
        let outcome = match self.purge_once(tick, now).await {
            Ok(Some(report)) => {
                tracing::info!(
                    tick = %tick, attempts = report.attempts, webhooks = report.webhooks, rejections = report.rejections,
                    complete = report.complete, "purge finished"
                );
                TickOutcome::Purged(report)
            }
            Ok(None) => TickOutcome::Skipped,
            Err(e) => {
                tracing::error!(tick = %tick, error = format!("{e:#}"), "purge failed");
                TickOutcome::Failed(format!("{e:#}"))
            }
        };
        let result = match outcome {
            TickOutcome::Purged(_) => "purged",
            TickOutcome::Skipped => "skipped",
            TickOutcome::Failed(_) => "failed",
        };
        metrics::counter!(crate::metrics::PURGE_RUNS.name, "result" => result).increment(1);
        if let Some(reports) = &self.job.reports {
            let _ = reports.send(TickReport { tick, outcome });
        }
    }

    /// The scheduled time this firing belongs to (see [`latest_occurrence`]).
    fn tick_at(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Fired before any occurrence we can see (clock stepped back): name it by the second.
        let tick = latest_occurrence(&self.cron, *last, now)
            .unwrap_or_else(|| DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now));
        *last = tick;
        tick
    }

    /// Purges for `tick` if this worker gets the lock; `None` when another has it.
    async fn purge_once(
        &self,
        tick: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<PurgeReport>> {
        let mut redis = self.job.redis.clone();
        let Some(held) = self
            .job
            .lock
            .acquire(&mut redis, tick.timestamp_millis())
            .await
            .context("Failed to take the purge lock")?
        else {
            return Ok(None);
        };
        let report = self.job.purge.run(now, &self.stop).await;
        if let Err(e) = self.job.lock.finish(&mut redis, held).await {
            // The lease still expires; the next tick purges again.
            tracing::warn!(error = %e, "could not mark the purge done");
        }
        report.map(Some)
    }
}

/// The latest occurrence of `cron` after `after` and at or before `now`: the tick a firing
/// at `now` belongs to, since the scheduler fires a little after each occurrence. Every
/// worker with the same schedule names the same tick, whatever its firing delay.
fn latest_occurrence(
    cron: &croner::Cron,
    after: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let mut tick = None;
    let mut cursor = after;
    while let Ok(next) = cron.find_next_occurrence(&cursor, false) {
        if next > now {
            break;
        }
        tick = Some(next);
        cursor = next;
    }
    tick
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("a timestamp")
    }

    #[test]
    fn a_late_firing_belongs_to_the_tick_before_it() {
        let hourly = croner::Cron::new("0 0 * * * *")
            .with_seconds_required()
            .parse()
            .expect("a schedule");
        let started = at("2026-11-22T09:30:00Z");
        for fired in [
            "2026-11-22T10:00:00Z",
            "2026-11-22T10:00:00.499Z",
            "2026-11-22T10:59:59Z",
        ] {
            assert_eq!(
                latest_occurrence(&hourly, started, at(fired)),
                Some(at("2026-11-22T10:00:00Z")),
                "{fired}"
            );
        }
        // Missed ticks collapse into the latest; nothing before the first occurrence.
        assert_eq!(
            latest_occurrence(&hourly, started, at("2026-11-22T12:00:01Z")),
            Some(at("2026-11-22T12:00:00Z"))
        );
        assert_eq!(
            latest_occurrence(&hourly, started, at("2026-11-22T09:59:59Z")),
            None
        );
        // The tick just handled is not named again.
        let tick = at("2026-11-22T10:00:00Z");
        assert_eq!(
            latest_occurrence(&hourly, tick, at("2026-11-22T10:00:00.9Z")),
            None
        );
    }
}
