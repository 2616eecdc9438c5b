//! `/schedules` in Postgres: storing, changing, pausing, resuming and triggering
//! schedules, and listing their runs. What a schedule is, read from a body, is
//! [`super::input`]; its rows are [`super::row`].
//!
//! The api stores what a schedule is and when it is next due (`next_run_at`, from
//! `crate::schedules::runs::When`); the workers' runner (`worker/src/schedules.rs`)
//! fires it. A trigger fires one run here, the same way ([`record_runs`]), and drains the
//! outbox so the webhook is queued before the 202.

use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, RunQueryDsl};
use hookrelay_shared::db::{DbPool, bounded, checkout};
use hookrelay_shared::queue::IngestQueue;
use hookrelay_shared::redis_client::Redis;
use hookrelay_shared::schema::{schedule_runs, schedules};
use hookrelay_shared::time;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::input::{Input, as_body, parse};
use super::row::{Run, Schedule};
use crate::FieldError;
use crate::api_keys::caller::Principal;
use crate::outbox;
use crate::schedules::runs::{Runnable, When, record_runs};
use crate::tenants::space::Space;

/// Why a schedule was not stored, changed, paused, resumed or triggered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocked {
    UnknownSchedule,
    UnknownSubscription,
    UnknownTenant,
    AlreadyPaused,
    AlreadyActive,
    RunAtPassed,
}

impl Blocked {
    pub const fn detail(self) -> &'static str {
        match self {
            Self::UnknownSchedule => "Schedule not found",
            Self::UnknownSubscription => crate::subscriptions::NOT_FOUND,
            Self::UnknownTenant => crate::tenants::row::NOT_FOUND,
            Self::AlreadyPaused => "Schedule is already paused",
            Self::AlreadyActive => "Schedule is already active",
            Self::RunAtPassed => "Schedule's run_at has passed",
        }
    }
}

/// What each block is as a domain refusal: a resource out of reach is 404, a state that
/// does not allow the change 409.
impl From<Blocked> for crate::Refusal {
    fn from(blocked: Blocked) -> Self {
        match blocked {
            Blocked::UnknownSchedule | Blocked::UnknownSubscription | Blocked::UnknownTenant => {
                Self::NotFound(blocked.detail())
            }
            Blocked::AlreadyPaused | Blocked::AlreadyActive | Blocked::RunAtPassed => {
                Self::Conflict(blocked.detail())
            }
        }
    }
}

/// Stores a new schedule in the caller's reach.
pub async fn create(
    db: &DbPool,
    principal: &Principal,
    input: Input,
) -> anyhow::Result<Result<Schedule, Blocked>> {
    let owner = crate::subscriptions::store::owner_through(
        db,
        principal,
        input.tenant_id,
        input.subscription_id,
    )
    .await?;
    let Some(tenant_id) = owner else {
        return Ok(Err(Blocked::UnknownSubscription));
    };
    let now = time::now();
    let mut conn = checkout(db).await?;
    let storing = diesel::insert_into(schedules::table)
        .values((
            schedules::id.eq(Uuid::now_v7()),
            schedules::tenant_id.eq(tenant_id),
            input.columns(),
            schedules::is_active.eq(true),
            schedules::created_at.eq(now),
            schedules::updated_at.eq(now),
        ))
        .returning(Schedule::as_returning())
        .get_result(&mut conn);
    let stored = bounded("Failed to store a schedule", async {
        crate::subscriptions::store::unless_no_tenant(storing.await)
    })
    .await?;
    Ok(stored.ok_or(Blocked::UnknownTenant))
}

/// The schedules in `space`, oldest first.
pub async fn list(
    db: &DbPool,
    space: Space,
    skip: i64,
    limit: i64,
) -> anyhow::Result<Vec<Schedule>> {
    let mut conn = checkout(db).await?;
    let listing = schedules::table
        .filter(space.condition(schedules::tenant_id))
        .order((schedules::created_at.asc(), schedules::id.asc()))
        .offset(skip)
        .limit(limit)
        .select(Schedule::as_select())
        .load(&mut conn);
    bounded("Failed to list schedules", listing).await
}

/// One schedule in `space`.
pub async fn get(db: &DbPool, space: Space, id: Uuid) -> anyhow::Result<Option<Schedule>> {
    let mut conn = checkout(db).await?;
    let reading = async {
        schedules::table
            .find(id)
            .filter(space.condition(schedules::tenant_id))
            .select(Schedule::as_select())
            .first(&mut conn)
            .await
            .optional()
    };
    bounded("Failed to read a schedule", reading).await
}

/// Applies a PATCH: the stored schedule with `changes` over it, read as a whole, and
/// `next_run_at` computed again from now.
///
/// The OpenAPI document shows what this reads as [`super::body::ScheduleChangesBody`];
/// keep the two in step.
pub async fn patch(
    db: &DbPool,
    principal: &Principal,
    id: Uuid,
    changes: &Map<String, Value>,
    max_payload_bytes: usize,
) -> anyhow::Result<Result<Result<Schedule, Vec<FieldError>>, Blocked>> {
    let Some(current) = get(db, principal.space(), id).await? else {
        return Ok(Err(Blocked::UnknownSchedule));
    };
    let mut body = as_body(&current);
    for (key, value) in changes {
        if key != "tenant_id" {
            body.insert(key.clone(), value.clone());
        }
    }
    let now = time::now();
    let input = match parse(
        &body,
        max_payload_bytes,
        now,
        changes.contains_key("run_at"),
    ) {
        Ok(input) => input,
        Err(errors) => return Ok(Ok(Err(errors))),
    };
    if input.subscription_id.is_some() && input.subscription_id != current.subscription_id {
        let space = Space::of(current.tenant_id);
        if crate::subscriptions::store::get(db, space, input.subscription_id.unwrap_or_default())
            .await?
            .is_none()
        {
            return Ok(Err(Blocked::UnknownSubscription));
        }
    }
    let mut conn = checkout(db).await?;
    let changing = async {
        diesel::update(schedules::table.find(id))
            .set((input.columns(), schedules::updated_at.eq(now)))
            .returning(Schedule::as_returning())
            .get_result(&mut conn)
            .await
            .optional()
    };
    let changed = bounded("Failed to change a schedule", changing).await?;
    Ok(changed.map(Ok).ok_or(Blocked::UnknownSchedule))
}

/// Deletes a schedule and its runs' records (webhooks already sent stay); `false` when
/// there was none in `space`.
pub async fn delete(db: &DbPool, space: Space, id: Uuid) -> anyhow::Result<bool> {
    let mut conn = checkout(db).await?;
    let deleting = diesel::delete(
        schedules::table
            .find(id)
            .filter(space.condition(schedules::tenant_id)),
    )
    .execute(&mut conn);
    Ok(bounded("Failed to delete a schedule", deleting).await? == 1)
}

/// Pauses (`active: false`) or resumes a schedule. Resuming counts from now: the ticks
/// of the pause are not run.
pub async fn set_active(
    db: &DbPool,
    space: Space,
    id: Uuid,
    active: bool,
) -> anyhow::Result<Result<Schedule, Blocked>> {
    let Some(current) = get(db, space, id).await? else {
        return Ok(Err(Blocked::UnknownSchedule));
    };
    if current.is_active == active {
        return Ok(Err(if active {
            Blocked::AlreadyActive
        } else {
            Blocked::AlreadyPaused
        }));
    }
    let now = time::now();
    let next_run_at = if active {
        let when = When::of(
            current.kind,
            current.run_at,
            current.cron.as_deref(),
            &current.timezone,
            now,
        )?;
        match when.next_after(now) {
            Some(next) => Some(next),
            None => return Ok(Err(Blocked::RunAtPassed)),
        }
    } else {
        current.next_run_at
    };
    let mut conn = checkout(db).await?;
    let changing = async {
        diesel::update(
            schedules::table
                .find(id)
                .filter(schedules::is_active.eq(!active)),
        )
        .set((
            schedules::is_active.eq(active),
            schedules::next_run_at.eq(next_run_at),
            schedules::updated_at.eq(now),
        ))
        .returning(Schedule::as_returning())
        .get_result(&mut conn)
        .await
        .optional()
    };
    let changed = bounded("Failed to pause or resume a schedule", changing).await?;
    // Changed meanwhile by another request: it is in the state asked for.
    Ok(changed.ok_or(if active {
        Blocked::AlreadyActive
    } else {
        Blocked::AlreadyPaused
    }))
}

/// Runs a schedule now, outside its timetable: records the run and queues its webhook.
pub async fn trigger(
    db: &DbPool,
    redis: &Redis,
    queue: &IngestQueue,
    space: Space,
    id: Uuid,
) -> anyhow::Result<Result<Uuid, Blocked>> {
    let mut conn = checkout(db).await?;
    let now = time::now();
    let firing = conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        let schedule: Option<Runnable> = schedules::table
            .find(id)
            .filter(space.condition(schedules::tenant_id))
            .for_update()
            .select(Runnable::as_select())
            .first(conn)
            .await
            .optional()?;
        match schedule {
            None => Ok(None),
            Some(schedule) => {
                let recorded = record_runs(conn, queue.keys(), &[(&schedule, now)], now).await?;
                Ok(recorded.into_iter().next().map(|(_, webhook)| webhook))
            }
        }
    });
    let Some(webhook_id) = bounded("Failed to trigger a schedule", firing).await? else {
        return Ok(Err(Blocked::UnknownSchedule));
    };
    // Recorded: the workers' drainers queue it if this does not.
    if let Err(e) = outbox::drain(db, redis, queue).await {
        tracing::warn!(error = format!("{e:#}"), %webhook_id, "triggered run recorded; a worker will queue it");
    }
    Ok(Ok(webhook_id))
}

/// A schedule's runs, newest first.
pub async fn runs(
    db: &DbPool,
    space: Space,
    id: Uuid,
    limit: i64,
) -> anyhow::Result<Option<Vec<Run>>> {
    if get(db, space, id).await?.is_none() {
        return Ok(None);
    }
    let mut conn = checkout(db).await?;
    let listing = schedule_runs::table
        .filter(schedule_runs::schedule_id.eq(id))
        .order(schedule_runs::scheduled_for.desc())
        .limit(limit)
        .select(Run::as_select())
        .load(&mut conn);
    Ok(Some(
        bounded("Failed to list a schedule's runs", listing).await?,
    ))
}
