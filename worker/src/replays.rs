//! The replay runner: each worker runs at most one bulk replay (`POST /replays`) at a
//! time, in batches, and makes the replayed attempts itself.
//!
//! - **Claim.** Every [`IDLE`] the runner looks for `running` replays, oldest first, and
//!   takes the first whose session-level advisory lock it gets, on its own Postgres
//!   connection. The lock is held while the replay runs and is released by Postgres the
//!   moment that connection ends, so when a worker dies another one takes its replay
//!   over at its next look, from the stored cursor.
//! - **Batch.** One transaction, with the replay's row locked (a cancel waits for it, and
//!   a batch sees a cancel that came first): read up to [`BATCH`] matching rows after the
//!   cursor ([`Selection`], the query the dry run counts with), start a new run of the
//!   finished ones (`start_new_runs`: `pending`, due now — one in flight is left alone,
//!   so overlapping replays queue a delivery once), or create the missing ones (stage 2),
//!   then move the cursor and add to `matched` and `queued`. When a stage has no more
//!   rows, the next starts or the replay is `done`: everything it matched is queued.
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
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use hookrelay_domain::replays::selection::{
    Matched, MissingFor, Position, ReplayStatus, Rerun, Selection, create_missing, start_new_runs,
};
use hookrelay_domain::subscriptions::Subscription;
use hookrelay_domain::tenants::space::Space;
use hookrelay_domain::webhooks::DeliveryStatus;
use hookrelay_shared::db::{bounded, connect_one};
use hookrelay_shared::queue::NextAttempt;
use hookrelay_shared::schema::{replays, subscriptions};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::metrics;
use crate::pipeline::Context;
use crate::reconcile::Timing;
use crate::redeliver;

/// Rows read per batch (and so per transaction) at most.
pub const BATCH: i64 = 500;
/// Time between looks for a replay to run.
const IDLE: Duration = Duration::from_secs(1);
/// How often the replays-by-status gauge is refreshed.
const GAUGE_INTERVAL: Duration = Duration::from_secs(5);

/// Attempts a replay may have in flight in one worker: a quarter of its concurrency.
pub fn share(worker_concurrency: usize) -> usize {
    (worker_concurrency / 4).max(1)
}

/// The columns a batch needs.
#[derive(Queryable, Selectable)]
#[diesel(table_name = replays, check_for_backend(diesel::pg::Pg))]
struct Stored {
    tenant_id: Option<Uuid>,
    every_tenant: bool,
    subscription_id: Option<Uuid>,
    event_types: Option<Vec<String>>,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    statuses: Vec<String>,
    include_missing: bool,
    missing_stage: bool,
    cursor_received_at: Option<DateTime<Utc>>,
    cursor_webhook_id: Option<Uuid>,
    cursor_subscription_id: Option<Uuid>,
}

impl Stored {
    fn selection(&self) -> Selection {
        Selection {
            space: if self.every_tenant {
                Space::Any
            } else {
                Space::of(self.tenant_id)
            },
            subscription_id: self.subscription_id,
            event_types: self.event_types.clone(),
            since: self.since,
            until: self.until,
            statuses: self
                .statuses
                .iter()
                .filter_map(|s| DeliveryStatus::parse(s))
                .collect(),
        }
    }

    fn cursor(&self) -> Option<Position> {
        Some(Position {
            received_at: self.cursor_received_at?,
            webhook_id: self.cursor_webhook_id?,
            subscription_id: self.cursor_subscription_id,
        })
    }
}

/// What a committed batch left to do.
enum Batch {
    /// Make these attempts, then read the next batch.
    Queued(Vec<Rerun>),
    /// The replay is no longer running (done, cancelled, or gone with its tenant).
    Over,
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
            let counts: Vec<(String, i64)> = bounded(
                "Failed to count replays",
                replays::table
                    .group_by(replays::status)
                    .select((replays::status, diesel::dsl::count_star()))
                    .load(conn),
            )
            .await?;
            for status in ReplayStatus::ALL {
                let n = counts
                    .iter()
                    .find(|(s, _)| s == status.as_str())
                    .map_or(0, |(_, n)| *n);
                metrics::replays(status, n);
            }
        }
        let running: Vec<Uuid> = bounded(
            "Failed to look for running replays",
            replays::table
                .filter(replays::status.eq(ReplayStatus::Running.as_str()))
                .order(replays::created_at)
                .select(replays::id)
                .limit(100)
                .load(conn),
        )
        .await?;
        for id in running {
            if shutdown.is_cancelled() {
                return Ok(());
            }
            if lock(conn, id, true).await? {
                let result = self.run_replay(id, shutdown).await;
                let conn = self.conn.as_mut().expect("still connected");
                lock(conn, id, false).await?;
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
            let reruns = match batch(conn, id).await? {
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
                        _ = touch.tick() => touch_unattempted(conn, &watched).await?,
                        permit = Arc::clone(&permits).acquire_owned() => break permit.ok(),
                    }
                };
                let Some(permit) = permit else {
                    // Whoever comes next makes them; the reconciler if Redis fails too.
                    let rest: Vec<NextAttempt> = std::iter::once(rerun)
                        .chain(reruns)
                        .map(|r| retry_job(&r))
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

/// Marks the deliveries of `watched` that this runner queued and has not yet attempted as
/// just queued (`updated_at` now), so the reconciler, which queues again unfinished
/// deliveries that are overdue and not in Redis, leaves them to the runner. Once the
/// runner stops (a crash), they become overdue and the reconciler takes them.
async fn touch_unattempted(
    conn: &mut AsyncPgConnection,
    watched: &[(Uuid, Uuid)],
) -> anyhow::Result<()> {
    let (webhooks, subscriptions): (Vec<Uuid>, Vec<Uuid>) = watched.iter().copied().unzip();
    let sql = format!(
        "UPDATE deliveries SET updated_at = now() \
         WHERE (webhook_id, subscription_id) IN (SELECT * FROM unnest($1::uuid[], $2::uuid[])) \
           AND status = '{}' AND attempts = run_from",
        DeliveryStatus::Pending.as_str()
    );
    bounded(
        "Failed to mark queued replay deliveries",
        diesel::sql_query(sql)
            .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(webhooks)
            .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(subscriptions)
            .execute(conn),
    )
    .await?;
    Ok(())
}

/// Takes (`true`) or releases the session's advisory lock on replay `id`; whether it is
/// held.
async fn lock(conn: &mut AsyncPgConnection, id: Uuid, take: bool) -> anyhow::Result<bool> {
    #[derive(QueryableByName)]
    struct Held {
        #[diesel(sql_type = Bool)]
        held: bool,
    }
    let sql = if take {
        "SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS held"
    } else {
        "SELECT pg_advisory_unlock(hashtextextended($1, 0)) AS held"
    };
    let held: Held = bounded(
        "Failed to take or release a replay's lock",
        diesel::sql_query(sql)
            .bind::<Text, _>(id.to_string())
            .get_result(conn),
    )
    .await?;
    Ok(held.held)
}

/// One batch, committed: see the module docs.
async fn batch(conn: &mut AsyncPgConnection, id: Uuid) -> anyhow::Result<Batch> {
    let batching = conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
        let stored: Option<Stored> = replays::table
            .find(id)
            .filter(replays::status.eq(ReplayStatus::Running.as_str()))
            .select(Stored::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()?;
        let Some(stored) = stored else {
            return Ok(Batch::Over);
        };
        let selection = stored.selection();
        let after = stored.cursor();
        let now = hookrelay_shared::time::now();
        let (matched, reruns) = if stored.missing_stage {
            let subscription = match stored.subscription_id {
                Some(sub) => subscriptions::table
                    .find(sub)
                    .filter(subscriptions::is_active.eq(true))
                    .select(Subscription::as_select())
                    .first(conn)
                    .await
                    .optional()?,
                None => None,
            };
            match subscription {
                Some(subscription) => {
                    let to = MissingFor::of(&subscription);
                    let matched = selection
                        .missing_batch(conn, &to, after.as_ref(), BATCH)
                        .await?;
                    let webhooks: Vec<Uuid> = matched.iter().map(|m| m.webhook_id).collect();
                    let created = create_missing(
                        conn,
                        &webhooks,
                        subscription.id,
                        &subscription.target_url,
                        now,
                    )
                    .await?;
                    (matched, created)
                }
                // Deleted or inactive since: nothing more to send it.
                None => (Vec::new(), Vec::new()),
            }
        } else {
            let matched = selection
                .deliveries_batch(conn, after.as_ref(), BATCH)
                .await?;
            let keys: Vec<(Uuid, Uuid)> = matched
                .iter()
                .filter(|m| {
                    m.status
                        .as_deref()
                        .and_then(DeliveryStatus::parse)
                        .is_some_and(DeliveryStatus::is_finished)
                })
                .map(|m| (m.webhook_id, m.subscription_id))
                .collect();
            (matched, start_new_runs(conn, &keys, now).await?)
        };
        advance(conn, id, &stored, &matched, reruns.len(), now).await?;
        Ok(Batch::Queued(reruns))
    });
    bounded("Failed to run a replay batch", batching).await
}

/// Moves the cursor past `matched` and counts the batch; at the end of a stage, starts the
/// next one or ends the replay `done`.
async fn advance(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    stored: &Stored,
    matched: &[Matched],
    queued: usize,
    now: DateTime<Utc>,
) -> diesel::QueryResult<()> {
    let counted = (
        replays::matched.eq(replays::matched + matched.len() as i64),
        replays::queued.eq(replays::queued + queued as i64),
    );
    let target = replays::table.find(id);
    if let Some(last) = matched.last().filter(|_| matched.len() as i64 == BATCH) {
        let at = last.position();
        diesel::update(target)
            .set((
                counted,
                replays::cursor_received_at.eq(Some(at.received_at)),
                replays::cursor_webhook_id.eq(Some(at.webhook_id)),
                replays::cursor_subscription_id.eq(at.subscription_id),
            ))
            .execute(conn)
            .await?;
    } else if stored.include_missing && !stored.missing_stage {
        diesel::update(target)
            .set((
                counted,
                replays::missing_stage.eq(true),
                replays::cursor_received_at.eq(None::<DateTime<Utc>>),
                replays::cursor_webhook_id.eq(None::<Uuid>),
                replays::cursor_subscription_id.eq(None::<Uuid>),
            ))
            .execute(conn)
            .await?;
    } else {
        diesel::update(target)
            .set((
                counted,
                replays::status.eq(ReplayStatus::Done.as_str()),
                replays::finished_at.eq(Some(now)),
            ))
            .execute(conn)
            .await?;
    }
    Ok(())
}

fn retry_job(rerun: &Rerun) -> NextAttempt {
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
    let next = retry_job(&rerun);
    if let Err(e) = redeliver::handle(ctx, next).await {
        tracing::info!(member = next.member(), error = %e, "replayed attempt not made here; scheduling it");
        hand_over(ctx, std::slice::from_ref(&next)).await;
    }
}

/// Puts attempts this worker will not make into the retry schedule, due now.
async fn hand_over(ctx: &Context, jobs: &[NextAttempt]) {
    let now = Utc::now();
    let mut redis = ctx.redis.clone();
    for job in jobs {
        if let Err(e) = ctx.retries.schedule(&mut redis, job, now).await {
            // Postgres has it as pending and due: the reconciler queues it again.
            tracing::warn!(member = job.member(), error = %e, "replayed attempt not scheduled; the reconciler will queue it");
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
