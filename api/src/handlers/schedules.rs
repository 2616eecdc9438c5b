//! `/schedules`: extract, call one function of `crate::schedules`, answer.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::{JsonObject, ScheduleId, paging, query_int};
use crate::schedules::{self, Refusal, Run, Schedule};
use crate::state::AppState;

/// A triggered run's webhook.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Triggered {
    pub webhook_id: uuid::Uuid,
}

pub(crate) fn refused(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::UnknownSchedule | Refusal::UnknownSubscription | Refusal::UnknownTenant => {
            ApiError::NotFound(refusal.detail())
        }
        Refusal::AlreadyPaused | Refusal::AlreadyActive | Refusal::RunAtPassed => {
            ApiError::Conflict(refusal.detail())
        }
    }
}

/// Creates a schedule: `once` at `run_at`, or `cron` on a 5-field expression in `timezone`.
#[utoipa::path(post, path = "/schedules", tag = "schedules",
    request_body(content = crate::openapi::NewScheduleBody, content_type = "application/json"),
    responses((status = 201, body = Schedule), (status = 401), (status = 403),
        (status = 404, description = "Unknown subscription or tenant"), (status = 422)))]
pub async fn create(
    principal: Principal,
    state: web::Data<AppState>,
    JsonObject(body): JsonObject,
) -> Result<HttpResponse, ApiError> {
    let now = hookrelay_shared::time::now();
    let input = schedules::parse(&body, state.max_payload_bytes, now, true)
        .map_err(ApiError::Validation)?;
    let schedule = schedules::create(&state.db, &principal, input)
        .await?
        .map_err(refused)?;
    tracing::info!(schedule_id = %schedule.id, kind = schedule.kind.as_str(), "schedule created");
    Ok(HttpResponse::Created().json(schedule))
}

#[utoipa::path(get, path = "/schedules", tag = "schedules",
    params(("skip" = Option<i64>, Query, minimum = 0), ("limit" = Option<i64>, Query, minimum = 0, maximum = 1000),
        ("tenant_id" = Option<String>, Query, pattern = "^(?:default|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}|[0-9A-Fa-f]{32})$", description = "Keys without a tenant: only this tenant (`default`: the default space); 404 for an unknown one. Ignored for tenant keys")),
    responses((status = 200, description = "Oldest first", body = Vec<Schedule>), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn list(
    principal: Principal,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (skip, limit) = paging(&req, 1000)?;
    let space = crate::handlers::tenants::list_space(&state, &principal, &req).await?;
    Ok(HttpResponse::Ok().json(schedules::list(&state.db, space, skip, limit).await?))
}

#[utoipa::path(get, path = "/schedules/{schedule_id}", tag = "schedules",
    params(("schedule_id" = uuid::Uuid, Path)),
    responses((status = 200, body = Schedule), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn get(
    principal: Principal,
    state: web::Data<AppState>,
    ScheduleId(id): ScheduleId,
) -> Result<HttpResponse, ApiError> {
    let schedule = schedules::get(&state.db, principal.space(), id)
        .await?
        .ok_or(refused(Refusal::UnknownSchedule))?;
    Ok(HttpResponse::Ok().json(schedule))
}

/// Changes a schedule; `next_run_at` is computed again from now. A run under way
/// finishes as it was.
#[utoipa::path(patch, path = "/schedules/{schedule_id}", tag = "schedules",
    params(("schedule_id" = uuid::Uuid, Path)),
    request_body(content = crate::openapi::ScheduleChangesBody, content_type = "application/json"),
    responses((status = 200, body = Schedule), (status = 401), (status = 403),
        (status = 404, description = "Unknown schedule or subscription"), (status = 422)))]
pub async fn update(
    principal: Principal,
    state: web::Data<AppState>,
    ScheduleId(id): ScheduleId,
    JsonObject(body): JsonObject,
) -> Result<HttpResponse, ApiError> {
    let schedule = schedules::patch(&state.db, &principal, id, &body, state.max_payload_bytes)
        .await?
        .map_err(refused)?
        .map_err(ApiError::Validation)?;
    tracing::info!(schedule_id = %id, "schedule changed");
    Ok(HttpResponse::Ok().json(schedule))
}

#[utoipa::path(delete, path = "/schedules/{schedule_id}", tag = "schedules",
    params(("schedule_id" = uuid::Uuid, Path)),
    responses((status = 204, description = "Deleted with its runs' records; webhooks already sent stay"),
        (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn delete(
    principal: Principal,
    state: web::Data<AppState>,
    ScheduleId(id): ScheduleId,
) -> Result<HttpResponse, ApiError> {
    if !schedules::delete(&state.db, principal.space(), id).await? {
        return Err(refused(Refusal::UnknownSchedule));
    }
    tracing::info!(schedule_id = %id, "schedule deleted");
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(post, path = "/schedules/{schedule_id}/pause", tag = "schedules",
    params(("schedule_id" = uuid::Uuid, Path)),
    responses((status = 200, body = Schedule), (status = 401), (status = 403), (status = 404),
        (status = 409, description = "Already paused"), (status = 422)))]
pub async fn pause(
    principal: Principal,
    state: web::Data<AppState>,
    ScheduleId(id): ScheduleId,
) -> Result<HttpResponse, ApiError> {
    let schedule = schedules::set_active(&state.db, principal.space(), id, false)
        .await?
        .map_err(refused)?;
    tracing::info!(schedule_id = %id, "schedule paused");
    Ok(HttpResponse::Ok().json(schedule))
}

/// Resumes a paused schedule from now (the ticks of the pause do not run).
#[utoipa::path(post, path = "/schedules/{schedule_id}/resume", tag = "schedules",
    params(("schedule_id" = uuid::Uuid, Path)),
    responses((status = 200, body = Schedule), (status = 401), (status = 403), (status = 404),
        (status = 409, description = "Already active, or a once schedule whose run_at has passed"), (status = 422)))]
pub async fn resume(
    principal: Principal,
    state: web::Data<AppState>,
    ScheduleId(id): ScheduleId,
) -> Result<HttpResponse, ApiError> {
    let schedule = schedules::set_active(&state.db, principal.space(), id, true)
        .await?
        .map_err(refused)?;
    tracing::info!(schedule_id = %id, "schedule resumed");
    Ok(HttpResponse::Ok().json(schedule))
}

/// Runs a schedule now, outside its timetable (paused or not).
#[utoipa::path(post, path = "/schedules/{schedule_id}/trigger", tag = "schedules",
    params(("schedule_id" = uuid::Uuid, Path)),
    responses((status = 202, body = Triggered), (status = 401), (status = 403), (status = 404), (status = 422), (status = 503)))]
pub async fn trigger(
    principal: Principal,
    state: web::Data<AppState>,
    ScheduleId(id): ScheduleId,
) -> Result<HttpResponse, ApiError> {
    let webhook_id =
        schedules::trigger(&state.db, &state.redis, &state.queue, principal.space(), id)
            .await?
            .map_err(refused)?;
    tracing::info!(schedule_id = %id, %webhook_id, "schedule triggered");
    Ok(HttpResponse::Accepted().json(Triggered { webhook_id }))
}

#[utoipa::path(get, path = "/schedules/{schedule_id}/runs", tag = "schedules",
    params(("schedule_id" = uuid::Uuid, Path), ("limit" = Option<i64>, Query, minimum = 0, maximum = 1000)),
    responses((status = 200, description = "Newest first", body = Vec<Run>), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn runs(
    principal: Principal,
    state: web::Data<AppState>,
    ScheduleId(id): ScheduleId,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let limit =
        query_int(&req, "limit", 20, 0..=1000).map_err(|e| ApiError::Validation(vec![e]))?;
    let runs = schedules::runs(&state.db, principal.space(), id, limit)
        .await?
        .ok_or(refused(Refusal::UnknownSchedule))?;
    Ok(HttpResponse::Ok().json(runs))
}
