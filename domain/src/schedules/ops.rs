//! The write actions on schedules, one function each, called by the api's handlers and
//! the console alike: parse, commit (a trigger also queues its run), log. Schedules are
//! not cached: the workers' runner reads them from Postgres.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::input;
use super::row::Schedule;
use super::store::{self, Blocked};
use crate::api_keys::Principal;
use crate::{Refusal, Services};

/// `POST /schedules`: `once` at `run_at`, or `cron` on a 5-field expression in `timezone`.
pub async fn create(
    services: &Services,
    principal: &Principal,
    body: &Map<String, Value>,
) -> Result<Schedule, Refusal> {
    let now = hookrelay_shared::time::now();
    let input = input::parse(body, services.max_payload_bytes, now, true)?;
    let schedule = store::create(&services.db, principal, input).await??;
    tracing::info!(schedule_id = %schedule.id, kind = schedule.kind.as_str(), "schedule created");
    Ok(schedule)
}

/// `PATCH /schedules/{id}`.
pub async fn update(
    services: &Services,
    principal: &Principal,
    id: Uuid,
    body: &Map<String, Value>,
) -> Result<Schedule, Refusal> {
    let schedule = store::patch(
        &services.db,
        principal,
        id,
        body,
        services.max_payload_bytes,
    )
    .await???;
    tracing::info!(schedule_id = %id, "schedule changed");
    Ok(schedule)
}

/// `DELETE /schedules/{id}`: with its runs' records; webhooks already sent stay.
pub async fn delete(services: &Services, principal: &Principal, id: Uuid) -> Result<(), Refusal> {
    if !store::delete(&services.db, principal.space(), id).await? {
        return Err(Blocked::UnknownSchedule.into());
    }
    tracing::info!(schedule_id = %id, "schedule deleted");
    Ok(())
}

/// `POST /schedules/{id}/pause` (`active: false`) and `/resume` (`active: true`).
pub async fn set_active(
    services: &Services,
    principal: &Principal,
    id: Uuid,
    active: bool,
) -> Result<Schedule, Refusal> {
    let schedule = store::set_active(&services.db, principal.space(), id, active).await??;
    if active {
        tracing::info!(schedule_id = %id, "schedule resumed");
    } else {
        tracing::info!(schedule_id = %id, "schedule paused");
    }
    Ok(schedule)
}

/// `POST /schedules/{id}/trigger`: fires one run now, queued before this returns;
/// answers the run's webhook id.
pub async fn trigger(
    services: &Services,
    principal: &Principal,
    id: Uuid,
) -> Result<Uuid, Refusal> {
    let webhook_id = store::trigger(
        &services.db,
        &services.redis,
        &services.queue,
        principal.space(),
        id,
    )
    .await??;
    tracing::info!(schedule_id = %id, %webhook_id, "schedule triggered");
    Ok(webhook_id)
}
