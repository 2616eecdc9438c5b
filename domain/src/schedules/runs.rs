//! Schedules: what a stored schedule means, when its runs are due, and firing one run.
//!
//! A run is an ordinary webhook. Firing it is one transaction: the run's row in
//! `schedule_runs` (whose key `(schedule_id, scheduled_for)` makes each tick one run), the
//! webhook as an `outbox` row (its id is the webhook id, its idempotency key the run), and
//! the schedule's bookkeeping. After the commit the outbox is drained at once
//! ([`crate::outbox::drain`]); a crash before that leaves the row for any worker's drainer.
//! So a run is never lost once recorded, and never doubled.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use hookrelay_shared::db::{DbPool, bounded, checkout};
use hookrelay_shared::keys::Keys;
use hookrelay_shared::queue;
use uuid::Uuid;

use crate::schedules::timetable::{self, Cron, TimetableError};
use hookrelay_shared::schema::schedules;

/// How late a tick may start and still count as on time; one later than this was missed
/// (no worker was running) and follows the schedule's `missed_runs`.
pub const MISSED_AFTER: chrono::Duration = chrono::Duration::seconds(60);

hookrelay_shared::text_enum! {
    /// One run at `run_at`, or runs on a cron timetable.
    #[derive(utoipa::ToSchema)]
    pub enum Kind {
        Once = "once",
        Cron = "cron",
    }
    impl Serialize, TryFrom<String>;
}

hookrelay_shared::text_enum! {
    /// What happens to ticks missed while no worker ran.
    #[derive(utoipa::ToSchema)]
    pub enum MissedRuns {
        RunOnce = "run_once",
        Skip = "skip",
    }
    impl Serialize, TryFrom<String>;
}

/// When a schedule runs.
#[derive(Debug, Clone)]
pub enum When {
    Once(DateTime<Utc>),
    Cron(Box<Cron>),
}

impl When {
    /// The timetable of a stored schedule (`now`: for the cron's never-runs check).
    pub fn of(
        kind: Kind,
        run_at: Option<DateTime<Utc>>,
        cron: Option<&str>,
        zone: &str,
        now: DateTime<Utc>,
    ) -> Result<Self, TimetableError> {
        match (kind, run_at, cron) {
            (Kind::Once, Some(at), _) => Ok(Self::Once(at)),
            (Kind::Cron, _, Some(expression)) => Ok(Self::Cron(Box::new(Cron::parse(
                expression,
                timetable::zone(zone)?,
                now,
            )?))),
            // The table's CHECK rules these out.
            _ => Err(TimetableError::Invalid("kind without its time".into())),
        }
    }

    /// The first tick strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Self::Once(at) => (*at > after).then_some(*at),
            Self::Cron(cron) => cron.next_after(after),
        }
    }
}

/// What the runner does with a schedule that is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The tick to run now, if any.
    pub fire: Option<DateTime<Utc>>,
    /// Ticks missed (not run) for good.
    pub missed: u64,
    /// The schedule's next tick; `None`: it has no more (a `once` schedule).
    pub next: Option<DateTime<Utc>>,
}

/// The most ticks counted when catching up; a schedule down longer than this many ticks
/// jumps straight to now.
const CATCH_UP_TICKS: u64 = 100_000;

/// The plan for a schedule whose tick `due` has come (`due <= now`). Ticks up to `now` are
/// walked from `due`, the intended time (so nothing drifts): the newest runs, unless it is
/// more than [`MISSED_AFTER`] late under `skip`; the older ones were missed.
pub fn plan(when: &When, due: DateTime<Utc>, policy: MissedRuns, now: DateTime<Utc>) -> Plan {
    let mut newest = due;
    let mut older = 0;
    let mut next = when.next_after(due);
    while let Some(tick) = next.filter(|tick| *tick <= now) {
        newest = tick;
        older += 1;
        next = if older >= CATCH_UP_TICKS {
            when.next_after(now)
        } else {
            when.next_after(tick)
        };
    }
    let late = now - newest > MISSED_AFTER;
    if late && policy == MissedRuns::Skip {
        Plan {
            fire: None,
            missed: older + 1,
            next,
        }
    } else {
        Plan {
            fire: Some(newest),
            missed: older,
            next,
        }
    }
}

/// What a run needs of its schedule.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = schedules, check_for_backend(diesel::pg::Pg))]
pub struct Runnable {
    pub id: Uuid,
    pub tenant_id: Option<Uuid>,
    pub subscription_id: Option<Uuid>,
    pub event_type: Option<String>,
    pub payload: serde_json::Value,
}

/// The idempotency key of a run's webhook.
fn run_key(schedule: Uuid, scheduled_for: DateTime<Utc>) -> String {
    format!(
        "hookrelay.schedule:{schedule}:{}",
        scheduled_for.timestamp_micros()
    )
}

/// Records runs — each a schedule and the tick it runs for — with their webhooks in the
/// outbox, and counts them on their schedules: call inside the transaction that decided
/// them. One statement for a whole batch of the runner. Returns `(schedule id, webhook
/// id)` of each run recorded; a tick that had already run is left out.
pub async fn record_runs(
    conn: &mut AsyncPgConnection,
    keys: &Keys,
    runs: &[(&Runnable, DateTime<Utc>)],
    now: DateTime<Utc>,
) -> diesel::QueryResult<Vec<(Uuid, Uuid)>> {
    #[derive(QueryableByName)]
    struct Recorded {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        schedule_id: Uuid,
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        webhook_id: Uuid,
    }
    if runs.is_empty() {
        return Ok(Vec::new());
    }
    let mut columns = RunColumns::default();
    for (schedule, tick) in runs {
        columns.schedule_id.push(schedule.id);
        columns.scheduled_for.push(*tick);
        columns.webhook_id.push(queue::new_webhook_id(keys, None));
        columns.key.push(run_key(schedule.id, *tick));
        columns.tenant_id.push(schedule.tenant_id);
        columns.subscription_id.push(schedule.subscription_id);
        columns.event_type.push(schedule.event_type.clone());
        columns
            .payload
            .push(serde_json::to_vec(&schedule.payload).unwrap_or_default());
    }
    use diesel::sql_types::Uuid as SqlUuid;
    use diesel::sql_types::{Array, Binary, Nullable, Text, Timestamptz};
    let recorded: Vec<Recorded> = diesel::sql_query(
        "WITH input AS ( \
           SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::uuid[], $4::text[], \
                                $5::uuid[], $6::uuid[], $7::text[], $8::bytea[]) \
             AS i(schedule_id, scheduled_for, webhook_id, key, tenant_id, subscription_id, \
                  event_type, payload)), \
         run AS ( \
           INSERT INTO schedule_runs (schedule_id, scheduled_for, webhook_id, started_at) \
           SELECT schedule_id, scheduled_for, webhook_id, $9 FROM input \
           ON CONFLICT DO NOTHING RETURNING schedule_id, webhook_id), \
         queued AS ( \
           INSERT INTO outbox (id, idempotency_key, tenant_id, subscription_id, event_type, \
                               payload, created_at) \
           SELECT i.webhook_id, i.key, i.tenant_id, i.subscription_id, i.event_type, \
                  i.payload, $9 \
           FROM input i JOIN run r ON r.webhook_id = i.webhook_id), \
         counted AS ( \
           UPDATE schedules s SET last_run_at = $9, last_webhook_id = r.webhook_id, \
                                  run_count = s.run_count + 1 \
           FROM run r WHERE s.id = r.schedule_id) \
         SELECT schedule_id, webhook_id FROM run",
    )
    .bind::<Array<SqlUuid>, _>(columns.schedule_id)
    .bind::<Array<Timestamptz>, _>(columns.scheduled_for)
    .bind::<Array<SqlUuid>, _>(columns.webhook_id)
    .bind::<Array<Text>, _>(columns.key)
    .bind::<Array<Nullable<SqlUuid>>, _>(columns.tenant_id)
    .bind::<Array<Nullable<SqlUuid>>, _>(columns.subscription_id)
    .bind::<Array<Nullable<Text>>, _>(columns.event_type)
    .bind::<Array<Binary>, _>(columns.payload)
    .bind::<Timestamptz, _>(now)
    .load(conn)
    .await?;
    Ok(recorded
        .into_iter()
        .map(|r| (r.schedule_id, r.webhook_id))
        .collect())
}

/// [`record_runs`]'s input as columns.
#[derive(Default)]
struct RunColumns {
    schedule_id: Vec<Uuid>,
    scheduled_for: Vec<DateTime<Utc>>,
    webhook_id: Vec<Uuid>,
    key: Vec<String>,
    tenant_id: Vec<Option<Uuid>>,
    subscription_id: Vec<Option<Uuid>>,
    event_type: Vec<Option<String>>,
    payload: Vec<Vec<u8>>,
}

/// Moves each schedule to its next tick (`None`: it has none and becomes inactive), in
/// one statement for a runner's batch.
pub async fn advance(
    conn: &mut AsyncPgConnection,
    next: &[(Uuid, Option<DateTime<Utc>>)],
) -> diesel::QueryResult<usize> {
    let (ids, ticks): (Vec<Uuid>, Vec<Option<DateTime<Utc>>>) = next.iter().copied().unzip();
    diesel::sql_query(
        "UPDATE schedules s SET next_run_at = n.next_run_at, \
                                is_active = s.is_active AND n.next_run_at IS NOT NULL \
         FROM unnest($1::uuid[], $2::timestamptz[]) AS n(id, next_run_at) WHERE s.id = n.id",
    )
    .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(ids)
    .bind::<diesel::sql_types::Array<diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>>, _>(ticks)
    .execute(conn)
    .await
}

/// A due schedule as the runner claims it.
#[derive(Queryable, Selectable)]
#[diesel(table_name = schedules, check_for_backend(diesel::pg::Pg))]
struct Due {
    #[diesel(embed)]
    runnable: Runnable,
    #[diesel(deserialize_as = String)]
    kind: Kind,
    run_at: Option<DateTime<Utc>>,
    cron: Option<String>,
    timezone: String,
    #[diesel(deserialize_as = String)]
    missed_runs: MissedRuns,
    next_run_at: Option<DateTime<Utc>>,
}

/// What one [`fire_due`] did.
#[derive(Debug, Default)]
pub struct Fired {
    /// Schedules claimed (a full batch means more may be due).
    pub claimed: usize,
    /// The ticks fired, one per recorded run.
    pub ticks: Vec<DateTime<Utc>>,
    /// Ticks missed while no worker ran, by the schedule's policy.
    pub missed: Vec<(MissedRuns, u64)>,
}

/// Claims up to `batch` due schedules (`FOR UPDATE SKIP LOCKED`, so workers share them)
/// and, in one transaction, plans each one's ticks up to now, records the runs with their
/// webhooks in the outbox ([`record_runs`]) and moves each to its next tick
/// ([`advance`]). A schedule whose timetable no longer reads (a zone a newer build
/// dropped) is paused rather than fired at random.
pub async fn fire_due(db: &DbPool, keys: &Keys, batch: i64) -> anyhow::Result<Fired> {
    let mut conn = checkout(db).await?;
    let now = hookrelay_shared::time::now();
    let firing = conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        let due: Vec<Due> = schedules::table
            .filter(schedules::is_active)
            .filter(schedules::next_run_at.le(now))
            .order(schedules::next_run_at.asc())
            .limit(batch)
            .for_update()
            .skip_locked()
            .select(Due::as_select())
            .load(conn)
            .await?;
        let mut fired = Fired {
            claimed: due.len(),
            ..Fired::default()
        };
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
                fired.missed.push((schedule.missed_runs, plan.missed));
            }
            if let Some(tick) = plan.fire {
                runs.push((&schedule.runnable, tick));
            }
            next.push((id, plan.next));
        }
        for (schedule_id, webhook_id) in record_runs(conn, keys, &runs, now).await? {
            if let Some((_, tick)) = runs.iter().find(|(s, _)| s.id == schedule_id) {
                tracing::info!(%schedule_id, %webhook_id, scheduled_for = %hookrelay_shared::time::format(tick), "schedule run fired");
                fired.ticks.push(*tick);
            }
        }
        if !next.is_empty() {
            advance(conn, &next).await?;
        }
        Ok(fired)
    });
    bounded("Failed to fire due schedules", firing).await
}

/// When the next active schedule is due, if any.
pub async fn next_due(db: &DbPool) -> anyhow::Result<Option<DateTime<Utc>>> {
    let mut conn = checkout(db).await?;
    bounded(
        "Failed to read the next due schedule",
        schedules::table
            .filter(schedules::is_active)
            .select(diesel::dsl::min(schedules::next_run_at))
            .first(&mut conn),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        hookrelay_shared::time::parse(text).expect("a test time")
    }

    fn every_minute() -> When {
        When::of(
            Kind::Cron,
            None,
            Some("* * * * *"),
            "UTC",
            utc("2026-12-01T00:00:00Z"),
        )
        .expect("valid")
    }

    #[test]
    fn a_tick_on_time_runs_and_the_next_follows_the_intended_time() {
        let due = utc("2026-12-01T10:00:00Z");
        // Run 2.5 s late: the next tick is still 10:01, not 10:01:02.5.
        let plan = plan(
            &every_minute(),
            due,
            MissedRuns::Skip,
            utc("2026-12-01T10:00:02.5Z"),
        );
        assert_eq!(
            plan,
            Plan {
                fire: Some(due),
                missed: 0,
                next: Some(utc("2026-12-01T10:01:00Z"))
            }
        );
    }

    #[test]
    fn after_downtime_run_once_runs_the_newest_tick_and_skip_runs_none() {
        let due = utc("2026-12-01T10:00:00Z");
        let now = utc("2026-12-01T10:05:30Z");
        assert_eq!(
            plan(&every_minute(), due, MissedRuns::RunOnce, now),
            Plan {
                fire: Some(utc("2026-12-01T10:05:00Z")),
                missed: 5,
                next: Some(utc("2026-12-01T10:06:00Z"))
            }
        );
        assert_eq!(
            plan(&every_minute(), due, MissedRuns::Skip, now),
            Plan {
                fire: Some(utc("2026-12-01T10:05:00Z")),
                missed: 5,
                next: Some(utc("2026-12-01T10:06:00Z"))
            },
            "10:05 is 30 s late: on time, so it runs even under skip"
        );
        let now = utc("2026-12-01T10:06:59Z");
        assert_eq!(
            plan(&every_minute(), due, MissedRuns::Skip, now).fire,
            Some(utc("2026-12-01T10:06:00Z"))
        );
        let daily = When::of(Kind::Cron, None, Some("0 9 * * *"), "UTC", due).expect("valid");
        let due = utc("2026-12-01T09:00:00Z");
        assert_eq!(
            plan(&daily, due, MissedRuns::Skip, utc("2026-12-01T09:10:00Z")),
            Plan {
                fire: None,
                missed: 1,
                next: Some(utc("2026-12-02T09:00:00Z"))
            }
        );
    }

    #[test]
    fn a_once_schedule_has_no_next_tick() {
        let at = utc("2026-12-01T12:00:00Z");
        let once = When::Once(at);
        assert_eq!(
            plan(
                &once,
                at,
                MissedRuns::RunOnce,
                utc("2026-12-01T12:00:00.2Z")
            ),
            Plan {
                fire: Some(at),
                missed: 0,
                next: None
            }
        );
        assert_eq!(
            plan(&once, at, MissedRuns::Skip, utc("2026-12-01T13:00:00Z")).fire,
            None
        );
    }

    #[test]
    fn states_read_back_from_their_strings() {
        hookrelay_shared::assert_texts_round_trip!(Kind, MissedRuns);
        assert_eq!(MissedRuns::parse("run_once"), Some(MissedRuns::RunOnce));
        assert_eq!(
            MissedRuns::try_from("later".to_owned()),
            Err(r#"unknown MissedRuns "later""#.into())
        );
    }
}
