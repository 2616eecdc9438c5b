//! `/dead-letters` (CONTRACT §14): the stream entries workers gave up on — list, put
//! back into the work stream (redrive), or delete. The logic is `shared::dead_letters`.

use actix_web::{HttpRequest, HttpResponse, web};
use hookrelay_shared::dead_letters::{self, DeadLetter};
use serde_json::json;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::paging;
use crate::state::AppState;

pub(crate) const NOT_FOUND: ApiError = ApiError::NotFound("Dead letter not found");

/// The `{dead_letter_id}` in the path: a stream id such as `1732288642551-0`.
pub(crate) fn dead_letter_id(req: &HttpRequest) -> Result<String, ApiError> {
    let id = req.match_info().get("dead_letter_id").unwrap_or_default();
    if dead_letters::is_stream_id(id) {
        Ok(id.to_owned())
    } else {
        Err(ApiError::field(
            &["path", "dead_letter_id"],
            "Input should be a valid dead letter id such as 1732288642551-0",
            "dead_letter_id_parsing",
        ))
    }
}

pub(crate) fn redis_down(e: impl Into<anyhow::Error>) -> ApiError {
    ApiError::unavailable("The queue is unavailable; try again", e)
}

#[utoipa::path(get, path = "/dead-letters", tag = "dead letters",
    params(("skip" = Option<i64>, Query, minimum = 0), ("limit" = Option<i64>, Query, minimum = 0, maximum = 1000)),
    responses((status = 200, body = Vec<DeadLetter>), (status = 401), (status = 403), (status = 422), (status = 503)))]
pub async fn list(
    _: Principal,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (skip, limit) = paging(&req, 1000)?;
    let found = dead_letters::list(
        &mut state.redis.clone(),
        &state.keys,
        usize::try_from(skip).unwrap_or(usize::MAX),
        usize::try_from(limit).unwrap_or(0),
    )
    .await
    .map_err(redis_down)?;
    Ok(HttpResponse::Ok().json(found))
}

/// Puts the entry back into the work stream as it was; answers its new entry id.
#[utoipa::path(post, path = "/dead-letters/{dead_letter_id}/redrive", tag = "dead letters",
    params(("dead_letter_id" = String, Path, pattern = "^[0-9]{1,20}-[0-9]{1,20}$")),
    responses((status = 202, body = crate::openapi::RedriveBody), (status = 401), (status = 403), (status = 404), (status = 422), (status = 503)))]
pub async fn redrive(
    _: Principal,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = dead_letter_id(&req)?;
    let entry_id = dead_letters::redrive(&mut state.redis.clone(), &state.keys, &id)
        .await
        .map_err(redis_down)?
        .ok_or(NOT_FOUND)?;
    tracing::info!(dead_letter_id = %id, entry_id, "dead letter redriven");
    Ok(HttpResponse::Accepted().json(json!({"id": id, "entry_id": entry_id})))
}

#[utoipa::path(delete, path = "/dead-letters/{dead_letter_id}", tag = "dead letters",
    params(("dead_letter_id" = String, Path, pattern = "^[0-9]{1,20}-[0-9]{1,20}$")),
    responses((status = 204), (status = 401), (status = 403), (status = 404), (status = 422), (status = 503)))]
pub async fn delete(
    _: Principal,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = dead_letter_id(&req)?;
    if !dead_letters::delete(&mut state.redis.clone(), &state.keys, &id)
        .await
        .map_err(redis_down)?
    {
        return Err(NOT_FOUND);
    }
    tracing::info!(dead_letter_id = %id, "dead letter deleted");
    Ok(HttpResponse::NoContent().finish())
}
