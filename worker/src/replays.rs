//! The replay runner: each worker runs at most one bulk replay (`POST /replays`) at a
//! time, in batches, and makes the replayed attempts itself.
//!
//! - **Claim.** Every [`IDLE`] the runner looks for `running` replays, oldest first, and
//!   takes the first whose session-level advisory lock it gets, on its own Postgres
//!   connection. The lock is held while the replay runs and is released by Postgres the
//!   moment that connection ends, so when a worker dies another one takes its replay
//!   over at its next look, from the stored cursor.
//! - **Batch.** One transaction of the domain's (`hookrelay_domain::replays::runs::next_batch`,
//!   with the row locked, the cursor and the counts): the finished deliveries it matched
//!   start a new run, or the missing ones are created.
//! - **Attempts.** After the commit the runner makes each queued delivery's next attempt
//!   as a retry entry would (`redeliver`: the payload and the delivery's state from
//!   Postgres, then the subscription as it is now, its rate limit, the SSRF rule,
//!   signing, the log writer, the retry schedule), with at
//!   most [`share`] of them in flight: a quarter of `WORKER_CONCURRENCY`, so live
//!   webhooks keep at least three quarters of the permits. The next batch is read once
//!   every attempt of this one has started.
//! - **Crashes.** A batch is committed before any of its attempts, so a worker that dies
//!   leaves its queued deliveries `pending` and due, which the reconciler queues again
//!   (`reconcile`) — only the attempts in flight at the crash can be sent twice. While the
//!   runner lives it keeps them out of the reconciler's way: every reconcile interval it
//!   sets `updated_at` of those not yet attempted to now (the reconciler's own mark for
//!   "just queued"), so they are never overdue while it still owns them. At
//!   shutdown the runner stops starting attempts and puts the rest in the retry schedule,
//!   due now, for any worker to make.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use diesel_async::AsyncPgConnection;
use hookrelay_domain::replays::runs::{self, Batch};
use hookrelay_domain::replays::selection::Rerun;
use hookrelay_shared::db::connect_one;
use hookrelay_shared::queue::NextAttempt;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::metrics;
use crate::pipeline::Context;
use crate::reconcile::Timing;
use crate::redeliver;

/// Time between looks for a replay to run.
const IDLE: Duration = Duration::from_secs(1);
/// How often the replays-by-status gauge is refreshed.
const GAUGE_INTERVAL: Duration = Duration::from_secs(5);

/// Attempts a replay may have in flight in one worker: a quarter of its concurrency.
pub fn share(worker_concurrency: usize) -> usize {
    (worker_concurrency / 4).max(1)
}

/// Runs replays in the background until `shutdown`; the attempts it starts are tracked
/// by `tracker`, so the worker's drain waits for them.
pub fn spawn(
    ctx: Arc<Context>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let runner = Runner {
            share: share(ctx.config.delivery.worker_concurrency),
            ctx,
            tracker,
            conn: None,
            gauges_at: None,
        };
        runner.run(shutdown).await;
    })
}

struct Runner {
    ctx: Arc<Context>,
    tracker: TaskTracker,
    share: usize,
    /// The runner's own connection (the advisory locks live in its session).
    conn: Option<AsyncPgConnection>,
    gauges_at: Option<Instant>,
}

impl Runner {
    async fn run(mut self, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(IDLE) => {}
            }
            if let Err(e) = self.look(&shutdown).await {
                // The connection may be broken: the next look opens a new one.
                self.conn = None;
                tracing::warn!(
                    error = format!("{e:#}"),
                    "replay runner failed; it looks again in a second"
                );
            }
        }
    }

    /// Refreshes the gauge, then runs the first running replay no other worker has.
    async fn look(&mut self, shutdown: &CancellationToken) -> anyhow::Result<()> {
        if self.conn.is_none() {
            self.conn = Some(
                connect_one(&self.ctx.config.database.url)
                    .await
                    .context("Failed to connect to Postgres")?,
            );
        }
        let conn = self.conn.as_mut().expect("just connected");
        if self
            .gauges_at
            .is_none_or(|at| at.elapsed() >= GAUGE_INTERVAL)
        {
            self.gauges_at = Some(Instant::now());
            for (status, n) in runs::count_by_status(conn).await? {
                metrics::replays(status, n);
            }
        }
        let running = runs::running(conn).await?;
        for id in running {
            if shutdown.is_cancelled() {
                return Ok(());
            }
            if runs::lock(conn, id, true).await? {
                let result = self.run_replay(id, shutdown).await;
                let conn = self.conn.as_mut().expect("still connected");
                runs::lock(conn, id, false).await?;
                return result;
            }
        }
        Ok(())
    }

    /// Runs one replay (its lock held) until it is over or the worker shuts down.
    async fn run_replay(&mut self, id: Uuid, shutdown: &CancellationToken) -> anyhow::Result<()> {
        tracing::info!(replay_id = %id, "running replay");
        let permits = Arc::new(Semaphore::new(self.share));
        let mut touch =
            tokio::time::interval(Timing::new(self.ctx.config.delivery.reconcile_after).interval);
        touch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The previous batch's deliveries: the last of them may still be in flight.
        let mut previous: Vec<(Uuid, Uuid)> = Vec::new();
        loop {
            if shutdown.is_cancelled() {
                return Ok(());
            }
            let conn = self.conn.as_mut().expect("connected");
            let reruns = match runs::next_batch(conn, id).await? {
                Batch::Over => {
                    tracing::info!(replay_id = %id, "replay over");
                    return Ok(());
                }
                Batch::Queued(reruns) => reruns,
            };
            metrics::replay_queued(reruns.len());
            let current: Vec<(Uuid, Uuid)> = reruns
                .iter()
                .map(|r| (r.webhook_id, r.subscription_id))
                .collect();
            let watched: Vec<(Uuid, Uuid)> = previous.iter().chain(&current).copied().collect();
            let mut reruns = reruns.into_iter();
            while let Some(rerun) = reruns.next() {
                let permit = loop {
                    tokio::select! {
                        biased;
                        () = shutdown.cancelled() => break None,
                        _ = touch.tick() => runs::touch_unattempted(conn, &watched).await?,
                        permit = Arc::clone(&permits).acquire_owned() => break permit.ok(),
                    }
                };
                let Some(permit) = permit else {
                    // Whoever comes next makes them; the reconciler if Redis fails too.
                    let rest: Vec<NextAttempt> = std::iter::once(rerun)
                        .chain(reruns)
                        .map(|r| next_attempt(&r))
                        .collect();
                    hand_over(&self.ctx, &rest).await;
                    return Ok(());
                };
                let ctx = Arc::clone(&self.ctx);
                self.tracker.spawn(async move {
                    attempt(&ctx, rerun).await;
                    drop(permit);
                });
            }
            previous = current;
        }
    }
}

fn next_attempt(rerun: &Rerun) -> NextAttempt {
    NextAttempt {
        webhook_id: rerun.webhook_id,
        subscription_id: rerun.subscription_id,
        attempt: u32::try_from(rerun.attempts).unwrap_or(0) + 1,
    }
}

/// Makes one replayed attempt as a retry entry would (`redeliver`: the payload from
/// Postgres, nothing sent if the attempt was made meanwhile, e.g. after the reconciler
/// queued it too); one that could not be made goes to the retry schedule.
async fn attempt(ctx: &Arc<Context>, rerun: Rerun) {
    let next = next_attempt(&rerun);
    if let Err(e) = redeliver::handle(ctx, next).await {
        tracing::info!(member = next.member(), error = %e, "replayed attempt not made here; scheduling it");
        hand_over(ctx, std::slice::from_ref(&next)).await;
    }
}

/// Puts attempts this worker will not make into the retry schedule, due now.
async fn hand_over(ctx: &Context, attempts: &[NextAttempt]) {
    let now = chrono::Utc::now();
    let mut redis = ctx.redis.clone();
    for next in attempts {
        if let Err(e) = ctx.retries.schedule(&mut redis, next, now).await {
            // Postgres has it as pending and due: the reconciler queues it again.
            tracing::warn!(member = next.member(), error = %e, "replayed attempt not scheduled; the reconciler will queue it");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replay_takes_a_quarter_of_the_concurrency() {
        assert_eq!(share(64), 16);
        assert_eq!(share(3), 1);
        assert_eq!(share(0), 1);
    }
}
