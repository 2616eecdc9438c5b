//! `/dead-letters` (CONTRACT §14): the stream entries workers gave up on — list, put
//! back into the work stream (redrive), or delete. The logic is
//! `hookrelay_domain::dead_letters`.

use actix_web::{HttpRequest, HttpResponse, web};
use hookrelay_domain::dead_letters::{DeadLetter, ops};
use serde_json::json;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{dead_letter_id, paging};
use crate::state::AppState;

#[utoipa::path(get, path = "/dead-letters", tag = "dead letters",
    params(("skip" = Option<i64>, Query, minimum = 0), ("limit" = Option<i64>, Query, minimum = 0, maximum = 1000)),
    responses((status = 200, body = Vec<DeadLetter>), (status = 401), (status = 403), (status = 422), (status = 503)))]
pub async fn list(
    _: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (skip, limit) = paging(&req, 1000)?;
    let found = ops::list(
        &state.services,
        usize::try_from(skip).unwrap_or(usize::MAX),
        usize::try_from(limit).unwrap_or(0),
    )
    .await?;
    Ok(HttpResponse::Ok().json(found))
}

/// `POST /dead-letters/{id}/redrive`: the dead letter's id and the entry id it has again
/// in the work stream.
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "documentation only: the body is built in the handler"
)]
pub struct RedriveBody {
    id: String,
    entry_id: String,
}

/// Puts the entry back into the work stream as it was; answers its new entry id.
#[utoipa::path(post, path = "/dead-letters/{dead_letter_id}/redrive", tag = "dead letters",
    params(("dead_letter_id" = String, Path, pattern = "^([0-9]{1,4}-)?[0-9]{1,20}-[0-9]{1,20}$")),
    responses((status = 202, body = RedriveBody), (status = 401), (status = 403), (status = 404), (status = 422), (status = 503)))]
pub async fn redrive(
    _: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = dead_letter_id(&req)?;
    let entry_id = ops::redrive(&state.services, &id).await?;
    Ok(HttpResponse::Accepted().json(json!({"id": id, "entry_id": entry_id})))
}

#[utoipa::path(delete, path = "/dead-letters/{dead_letter_id}", tag = "dead letters",
    params(("dead_letter_id" = String, Path, pattern = "^([0-9]{1,4}-)?[0-9]{1,20}-[0-9]{1,20}$")),
    responses((status = 204), (status = 401), (status = 403), (status = 404), (status = 422), (status = 503)))]
pub async fn delete(
    _: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = dead_letter_id(&req)?;
    ops::delete(&state.services, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
