//! The schedule runner: fires the runs of due schedules (`shared/src/schedules.rs` says
//! what a run is and how it is recorded exactly once).
//!
//! Every worker runs one. It claims due schedules in batches with `FOR UPDATE SKIP
//! LOCKED`, so any number of workers share them and each tick fires once: per schedule,
//! in one transaction, it plans the ticks up to now from the intended due time
//! ([`plan`]), records the run with its webhook in the outbox, and moves `next_run_at` to
//! the next tick. After the commit it drains the outbox itself so the webhook is queued at
//! once. Between rounds it sleeps until the earliest `next_run_at`, but never longer than
//! [`LOOK_AGAIN`], so a schedule created or changed through the api is seen within that.

use std::time::Duration;

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use hookrelay_domain::outbox;
use hookrelay_domain::schedules::runs::{
    Kind, MissedRuns, Runnable, When, advance, plan, record_runs,
};
use hookrelay_shared::db::{DbPool, bounded, checkout};
use hookrelay_shared::keys::Keys;
use hookrelay_shared::queue::IngestQueue;
use hookrelay_shared::redis_client::Redis;
use hookrelay_shared::schema::schedules;
use hookrelay_shared::time;
use tokio_util::sync::CancellationToken;

/// The longest sleep between looks at the schedules: an api change (a new schedule due
/// sooner than the runner's wake-up) waits at most this.
pub const LOOK_AGAIN: Duration = Duration::from_millis(500);
/// Schedules claimed per transaction.
const BATCH: i64 = 200;

/// A due schedule as claimed.
#[derive(Queryable, Selectable)]
#[diesel(table_name = schedules, check_for_backend(diesel::pg::Pg))]
struct Due {
    #[diesel(embed)]
    runnable: Runnable,
    #[diesel(deserialize_as = String)]
    kind: Kind,
    run_at: Option<chrono::DateTime<chrono::Utc>>,
    cron: Option<String>,
    timezone: String,
    #[diesel(deserialize_as = String)]
    missed_runs: MissedRuns,
    next_run_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Runs until `shutdown`; errors are logged and retried on the next round.
pub fn spawn(db: DbPool, redis: Redis, keys: Keys, shutdown: CancellationToken) {
    tokio::spawn(async move {
        let queue = IngestQueue::new(keys);
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
        let (claimed, fired) = fire_due(db).await?;
        if !fired.is_empty() {
            // Queue the runs' webhooks now rather than at the next drain; a crash here
            // leaves them to any worker's drainer.
            while outbox::drain(db, redis, queue).await? == outbox::DRAIN_BATCH {}
            let queued_at = time::now();
            for tick in fired {
                crate::metrics::schedule_run(queued_at - tick);
            }
        }
        if claimed < BATCH as usize {
            break;
        }
    }
    let mut conn = checkout(db).await?;
    let next: Option<chrono::DateTime<chrono::Utc>> = bounded(
        "Failed to read the next due schedule",
        schedules::table
            .filter(schedules::is_active)
            .select(diesel::dsl::min(schedules::next_run_at))
            .first(&mut conn),
    )
    .await?;
    let until_next = next.map_or(LOOK_AGAIN, |at| {
        (at - time::now()).to_std().unwrap_or(Duration::ZERO)
    });
    Ok(until_next.min(LOOK_AGAIN))
}

/// One batch: claims due schedules and fires their runs in one transaction. Returns how
/// many it claimed and the ticks it fired.
async fn fire_due(db: &DbPool) -> anyhow::Result<(usize, Vec<chrono::DateTime<chrono::Utc>>)> {
    let mut conn = checkout(db).await?;
    let now = time::now();
    let firing = conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        let due: Vec<Due> = schedules::table
            .filter(schedules::is_active)
            .filter(schedules::next_run_at.le(now))
            .order(schedules::next_run_at.asc())
            .limit(BATCH)
            .for_update()
            .skip_locked()
            .select(Due::as_select())
            .load(conn)
            .await?;
        let mut runs = Vec::with_capacity(due.len());
        let mut next = Vec::with_capacity(due.len());
        for schedule in &due {
            let id = schedule.runnable.id;
            let Some(due_at) = schedule.next_run_at else {
                continue;
            };
            let when = match When::of(
                schedule.kind,
                schedule.run_at,
                schedule.cron.as_deref(),
                &schedule.timezone,
                now,
            ) {
                Ok(when) => when,
                Err(e) => {
                    // The api validates what it stores; a zone a newer build dropped is
                    // the one way here. The schedule stops rather than fire at random.
                    tracing::error!(schedule_id = %id, error = %e, "schedule's timetable no longer reads; pausing it");
                    diesel::update(schedules::table.find(id))
                        .set(schedules::is_active.eq(false))
                        .execute(conn)
                        .await?;
                    continue;
                }
            };
            let plan = plan(&when, due_at, schedule.missed_runs, now);
            if plan.missed > 0 {
                tracing::warn!(schedule_id = %id, missed = plan.missed, policy = schedule.missed_runs.as_str(), "schedule ticks missed while no worker ran");
                crate::metrics::schedule_missed(schedule.missed_runs, plan.missed);
            }
            if let Some(tick) = plan.fire {
                runs.push((&schedule.runnable, tick));
            }
            next.push((id, plan.next));
        }
        let mut fired = Vec::with_capacity(runs.len());
        for (schedule_id, webhook_id) in record_runs(conn, &runs, now).await? {
            if let Some((_, tick)) = runs.iter().find(|(s, _)| s.id == schedule_id) {
                tracing::info!(%schedule_id, %webhook_id, scheduled_for = %time::format(tick), "schedule run fired");
                fired.push(*tick);
            }
        }
        if !next.is_empty() {
            advance(conn, &next).await?;
        }
        Ok((due.len(), fired))
    });
    bounded("Failed to fire due schedules", firing).await
}
