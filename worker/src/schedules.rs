//! The schedule runner: fires the runs of due schedules (`hookrelay_domain::schedules::runs`
//! says what a run is, claims due schedules and records each run exactly once).
//!
//! Every worker runs one. Each round claims due schedules in batches with `FOR UPDATE SKIP
//! LOCKED` (`runs::fire_due`), so any number of workers share them and each tick fires
//! once: per schedule, in one transaction, the ticks up to now are planned from the
//! intended due time, the run is recorded with its webhook in the outbox, and
//! `next_run_at` moves to the next tick. After the commit the runner drains the outbox
//! itself so the webhook is queued at once. Between rounds it sleeps until the earliest `next_run_at`, but never longer than
//! [`LOOK_AGAIN`], so a schedule created or changed through the api is seen within that.

use std::time::Duration;

use hookrelay_domain::outbox;
use hookrelay_domain::schedules::runs;
use hookrelay_shared::db::DbPool;
use hookrelay_shared::queue::IngestQueue;
use hookrelay_shared::redis_client::Redis;
use hookrelay_shared::time;
use tokio_util::sync::CancellationToken;

/// The longest sleep between looks at the schedules: an api change (a new schedule due
/// sooner than the runner's wake-up) waits at most this.
pub const LOOK_AGAIN: Duration = Duration::from_millis(500);
/// Schedules claimed per transaction.
const BATCH: i64 = 200;

/// Runs until `shutdown`; errors are logged and retried on the next round.
pub fn spawn(db: DbPool, redis: Redis, queue: IngestQueue, shutdown: CancellationToken) {
    tokio::spawn(async move {
        loop {
            let wake = match round(&db, &redis, &queue).await {
                Ok(wake) => wake,
                Err(e) => {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        "schedule runner round failed; retrying"
                    );
                    LOOK_AGAIN
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(wake) => {}
            }
        }
    });
}

/// Fires everything due, then answers how long to sleep.
async fn round(db: &DbPool, redis: &Redis, queue: &IngestQueue) -> anyhow::Result<Duration> {
    loop {
        let fired = runs::fire_due(db, queue.keys(), BATCH).await?;
        for (policy, missed) in &fired.missed {
            crate::metrics::schedule_missed(*policy, *missed);
        }
        if !fired.ticks.is_empty() {
            // Queue the runs' webhooks now rather than at the next drain; a crash here
            // leaves them to any worker's drainer.
            while outbox::drain(db, redis, queue).await? == outbox::DRAIN_BATCH {}
            let queued_at = time::now();
            for tick in fired.ticks {
                crate::metrics::schedule_run(queued_at - tick);
            }
        }
        if fired.claimed < BATCH as usize {
            break;
        }
    }
    let until_next = runs::next_due(db).await?.map_or(LOOK_AGAIN, |at| {
        (at - time::now()).to_std().unwrap_or(Duration::ZERO)
    });
    Ok(until_next.min(LOOK_AGAIN))
}
