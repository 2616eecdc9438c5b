//! `/replays`: extract, call one function of `hookrelay_domain::replays::store`, answer.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{JsonObject, ReplayId, paging};
use crate::state::AppState;
use hookrelay_domain::replays::ops;
use hookrelay_domain::replays::store::{self as replays, Blocked, Created, Replay};

/// A dry run's answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DryRun {
    /// What the replay would match now: deliveries, plus webhooks missing a delivery
    /// with `include_missing`.
    pub matched: i64,
}

/// Starts a bulk replay (or, with `dry_run`, counts what it would match). The workers run
/// it in batches; `matched` and `queued` grow as they go.
#[utoipa::path(post, path = "/replays", tag = "replays",
    request_body(content = hookrelay_domain::replays::body::NewReplayBody, content_type = "application/json"),
    responses((status = 202, description = "Stored; the workers run it", body = Replay),
        (status = 200, description = "`dry_run`: nothing stored", body = DryRun),
        (status = 401), (status = 403), (status = 404, description = "Unknown subscription"),
        (status = 409, description = "The subscription is inactive"), (status = 422), (status = 503)))]
pub async fn create(
    Caller(principal): Caller,
    state: web::Data<AppState>,
    JsonObject(body): JsonObject,
) -> Result<HttpResponse, ApiError> {
    match ops::create(&state.services, &principal, &body).await? {
        Created::Counted(matched) => Ok(HttpResponse::Ok().json(DryRun { matched })),
        Created::Stored(replay) => Ok(HttpResponse::Accepted().json(replay)),
    }
}

#[utoipa::path(get, path = "/replays", tag = "replays",
    params(("skip" = Option<i64>, Query, minimum = 0), ("limit" = Option<i64>, Query, minimum = 0, maximum = 1000),
        ("tenant_id" = Option<String>, Query, pattern = "^(?:default|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}|[0-9A-Fa-f]{32})$", description = "Keys without a tenant: only this tenant (`default`: the default space); 404 for an unknown one. Ignored for tenant keys")),
    responses((status = 200, description = "Newest first", body = Vec<Replay>), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn list(
    Caller(principal): Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (skip, limit) = paging(&req, 1000)?;
    let space = crate::extract::list_space(&state, &principal, &req).await?;
    Ok(HttpResponse::Ok().json(replays::list(&state.services.db, space, skip, limit).await?))
}

#[utoipa::path(get, path = "/replays/{replay_id}", tag = "replays",
    params(("replay_id" = uuid::Uuid, Path)),
    responses((status = 200, body = Replay), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn get(
    Caller(principal): Caller,
    state: web::Data<AppState>,
    ReplayId(id): ReplayId,
) -> Result<HttpResponse, ApiError> {
    let replay = replays::get(&state.services.db, principal.space(), id)
        .await?
        .ok_or(hookrelay_domain::Refusal::from(Blocked::UnknownReplay))?;
    Ok(HttpResponse::Ok().json(replay))
}

/// Cancels a running replay: no batch starts after this one; what was queued goes on.
#[utoipa::path(delete, path = "/replays/{replay_id}", tag = "replays",
    params(("replay_id" = uuid::Uuid, Path)),
    responses((status = 200, description = "Cancelled", body = Replay), (status = 401), (status = 403), (status = 404),
        (status = 409, description = "The replay has already finished"), (status = 422)))]
pub async fn cancel(
    Caller(principal): Caller,
    state: web::Data<AppState>,
    ReplayId(id): ReplayId,
) -> Result<HttpResponse, ApiError> {
    let replay = ops::cancel(&state.services, &principal, id).await?;
    Ok(HttpResponse::Ok().json(replay))
}
