//! `/schedules`: extract, call one function of `hookrelay_domain::schedules::store`, answer.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{JsonObject, ScheduleId, paging, query_int};
use crate::state::AppState;
use hookrelay_domain::schedules::ops;
use hookrelay_domain::schedules::row::{Run, Schedule};
use hookrelay_domain::schedules::store::{self as schedules, Blocked};

/// A triggered run's webhook.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Triggered {
    pub webhook_id: uuid::Uuid,
}

/// Creates a schedule: `once` at `run_at`, or `cron` on a 5-field expression in `timezone`.
#[utoipa::path(post, path = "/schedules", tag = "schedules",
    request_body(content = hookrelay_domain::schedules::body::NewScheduleBody, content_type = "application/json"),
    responses((status = 201, body = Schedule), (status = 401), (status = 403),
        (status = 404, description = "Unknown subscription or tenant"), (status = 422)))]
pub async fn create(
    Caller(principal): Caller,
    state: web::Data<AppState>,
    JsonObject(body): JsonObject,
) -> Result<HttpResponse, ApiError> {
    let schedule = ops::create(&state.services, &principal, &body).await?;
    Ok(HttpResponse::Created().json(schedule))
}

#[utoipa::path(get, path = "/schedules", tag = "schedules",
    params(("skip" = Option<i64>, Query, minimum = 0), ("limit" = Option<i64>, Query, minimum = 0, maximum = 1000),
        ("tenant_id" = Option<String>, Query, pattern = "^(?:default|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}|[0-9A-Fa-f]{32})$", description = "Keys without a tenant: only this tenant (`default`: the default space); 404 for an unknown one. Ignored for tenant keys")),
    responses((status = 200, description = "Oldest first", body = Vec<Schedule>), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn list(
    Caller(principal): Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (skip, limit) = paging(&req, 1000)?;
    let space = crate::extract::list_space(&state, &principal, &req).await?;
    Ok(HttpResponse::Ok().json(schedules::list(&state.services.db, space, skip, limit).await?))
}

#[utoipa::path(get, path = "/schedules/{schedule_id}", tag = "schedules",
    params(("schedule_id" = uuid::Uuid, Path)),
    responses((status = 200, body = Schedule), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn get(
    Caller(principal): Caller,
    state: web::Data<AppState>,
    ScheduleId(id): ScheduleId,
) -> Result<HttpResponse, ApiError> {
    let schedule = schedules::get(&state.services.db, principal.space(), id)
        .await?
        .ok_or(hookrelay_domain::Refusal::from(Blocked::UnknownSchedule))?;
    Ok(HttpResponse::Ok().json(schedule))
}

/// Changes a schedule; `next_run_at` is computed again from now. A run under way
/// finishes as it was.
#[utoipa::path(patch, path = "/schedules/{schedule_id}", tag = "schedules",
    params(("schedule_id" = uuid::Uuid, Path)),
    request_body(content = hookrelay_domain::schedules::body::ScheduleChangesBody, content_type = "application/json"),
    responses((status = 200, body = Schedule), (status = 401), (status = 403),
        (status = 404, description = "Unknown schedule or subscription"), (status = 422)))]
pub async fn update(
    Caller(principal): Caller,
    state: web::Data<AppState>,
    ScheduleId(id): ScheduleId,
    JsonObject(body): JsonObject,
) -> Result<HttpResponse, ApiError> {
    let schedule = ops::update(&state.services, &principal, id, &body).await?;
    Ok(HttpResponse::Ok().json(schedule))
}

#[utoipa::path(delete, path = "/schedules/{schedule_id}", tag = "schedules",
    params(("schedule_id" = uuid::Uuid, Path)),
    responses((status = 204, description = "Deleted with its runs' records; webhooks already sent stay"),
        (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn delete(
    Caller(principal): Caller,
    state: web::Data<AppState>,
    ScheduleId(id): ScheduleId,
) -> Result<HttpResponse, ApiError> {
    ops::delete(&state.services, &principal, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(post, path = "/schedules/{schedule_id}/pause", tag = "schedules",
    params(("schedule_id" = uuid::Uuid, Path)),
    responses((status = 200, body = Schedule), (status = 401), (status = 403), (status = 404),
        (status = 409, description = "Already paused"), (status = 422)))]
pub async fn pause(
    Caller(principal): Caller,
    state: web::Data<AppState>,
    ScheduleId(id): ScheduleId,
) -> Result<HttpResponse, ApiError> {
    let schedule = ops::set_active(&state.services, &principal, id, false).await?;
    Ok(HttpResponse::Ok().json(schedule))
}

/// Resumes a paused schedule from now (the ticks of the pause do not run).
#[utoipa::path(post, path = "/schedules/{schedule_id}/resume", tag = "schedules",
    params(("schedule_id" = uuid::Uuid, Path)),
    responses((status = 200, body = Schedule), (status = 401), (status = 403), (status = 404),
        (status = 409, description = "Already active, or a once schedule whose run_at has passed"), (status = 422)))]
pub async fn resume(
    Caller(principal): Caller,
    state: web::Data<AppState>,
    ScheduleId(id): ScheduleId,
) -> Result<HttpResponse, ApiError> {
    let schedule = ops::set_active(&state.services, &principal, id, true).await?;
    Ok(HttpResponse::Ok().json(schedule))
}

/// Runs a schedule now, outside its timetable (paused or not).
#[utoipa::path(post, path = "/schedules/{schedule_id}/trigger", tag = "schedules",
    params(("schedule_id" = uuid::Uuid, Path)),
    responses((status = 202, body = Triggered), (status = 401), (status = 403), (status = 404), (status = 422), (status = 503)))]
pub async fn trigger(
    Caller(principal): Caller,
    state: web::Data<AppState>,
    ScheduleId(id): ScheduleId,
) -> Result<HttpResponse, ApiError> {
    let webhook_id = ops::trigger(&state.services, &principal, id).await?;
    Ok(HttpResponse::Accepted().json(Triggered { webhook_id }))
}

#[utoipa::path(get, path = "/schedules/{schedule_id}/runs", tag = "schedules",
    params(("schedule_id" = uuid::Uuid, Path), ("limit" = Option<i64>, Query, minimum = 0, maximum = 1000)),
    responses((status = 200, description = "Newest first", body = Vec<Run>), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn runs(
    Caller(principal): Caller,
    state: web::Data<AppState>,
    ScheduleId(id): ScheduleId,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let limit =
        query_int(&req, "limit", 20, 0..=1000).map_err(|e| ApiError::Validation(vec![e]))?;
    let runs = schedules::runs(&state.services.db, principal.space(), id, limit)
        .await?
        .ok_or(hookrelay_domain::Refusal::from(Blocked::UnknownSchedule))?;
    Ok(HttpResponse::Ok().json(runs))
}
