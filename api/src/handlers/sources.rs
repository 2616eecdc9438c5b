//! `/sources`: extract, call one function of `hookrelay_domain::sources` (its `ops` for
//! changes, its `store` for reads), answer.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{JsonObject, SourceId, paging, query_int};
use crate::state::AppState;
use hookrelay_domain::sources::store::{self, Rejection};
use hookrelay_domain::sources::{self, SourceView, ops};

const NOT_FOUND: ApiError = ApiError::NotFound(sources::NOT_FOUND);

/// Creates a source with a new, random `ingest_path`.
#[utoipa::path(post, path = "/sources", tag = "sources",
    request_body(content = hookrelay_domain::sources::body::NewSourceBody, content_type = "application/json"),
    responses((status = 201, body = SourceView), (status = 401), (status = 403),
        (status = 404, description = "Unknown subscription or tenant"), (status = 422)))]
pub async fn create(
    Caller(principal): Caller,
    state: web::Data<AppState>,
    JsonObject(body): JsonObject,
) -> Result<HttpResponse, ApiError> {
    let source = ops::create(&state.services, &principal, &body).await?;
    Ok(HttpResponse::Created().json(source.view()))
}

#[utoipa::path(get, path = "/sources", tag = "sources",
    params(("skip" = Option<i64>, Query, minimum = 0), ("limit" = Option<i64>, Query, minimum = 0, maximum = 1000),
        ("tenant_id" = Option<String>, Query, pattern = "^(?:default|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}|[0-9A-Fa-f]{32})$", description = "Keys without a tenant: only this tenant (`default`: the default space); 404 for an unknown one. Ignored for tenant keys")),
    responses((status = 200, description = "Oldest first", body = Vec<SourceView>), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn list(
    Caller(principal): Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (skip, limit) = paging(&req, 1000)?;
    let space = crate::extract::list_space(&state, &principal, &req).await?;
    let found = store::list(&state.services.db, space, skip, limit).await?;
    Ok(HttpResponse::Ok().json(found.iter().map(|s| s.view()).collect::<Vec<_>>()))
}

#[utoipa::path(get, path = "/sources/{source_id}", tag = "sources",
    params(("source_id" = uuid::Uuid, Path)),
    responses((status = 200, body = SourceView), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn get(
    Caller(principal): Caller,
    state: web::Data<AppState>,
    SourceId(id): SourceId,
) -> Result<HttpResponse, ApiError> {
    let source = store::get(&state.services.db, principal.space(), id)
        .await?
        .ok_or(NOT_FOUND)?;
    Ok(HttpResponse::Ok().json(source.view()))
}

/// Changes a source. A `verification` sent back with its secrets masked keeps them.
#[utoipa::path(patch, path = "/sources/{source_id}", tag = "sources",
    params(("source_id" = uuid::Uuid, Path)),
    request_body(content = hookrelay_domain::sources::body::SourceChangesBody, content_type = "application/json"),
    responses((status = 200, body = SourceView), (status = 401), (status = 403),
        (status = 404, description = "Unknown source or subscription"), (status = 422)))]
pub async fn update(
    Caller(principal): Caller,
    state: web::Data<AppState>,
    SourceId(id): SourceId,
    JsonObject(body): JsonObject,
) -> Result<HttpResponse, ApiError> {
    let source = ops::update(&state.services, &principal, id, &body).await?;
    Ok(HttpResponse::Ok().json(source.view()))
}

#[utoipa::path(delete, path = "/sources/{source_id}", tag = "sources",
    params(("source_id" = uuid::Uuid, Path)),
    responses((status = 204, description = "Deleted with its rejections; its path answers 404 from now on"),
        (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn delete(
    Caller(principal): Caller,
    state: web::Data<AppState>,
    SourceId(id): SourceId,
) -> Result<HttpResponse, ApiError> {
    ops::delete(&state.services, &principal, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Gives the source a new `ingest_path`; the old one answers 404 from now on.
#[utoipa::path(post, path = "/sources/{source_id}/rotate-path", tag = "sources",
    params(("source_id" = uuid::Uuid, Path)),
    responses((status = 200, body = SourceView), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn rotate_path(
    Caller(principal): Caller,
    state: web::Data<AppState>,
    SourceId(id): SourceId,
) -> Result<HttpResponse, ApiError> {
    let source = ops::rotate_path(&state.services, &principal, id).await?;
    Ok(HttpResponse::Ok().json(source.view()))
}

/// The source's refused requests, newest first (kept for `LOG_RETENTION`).
#[utoipa::path(get, path = "/sources/{source_id}/rejections", tag = "sources",
    params(("source_id" = uuid::Uuid, Path), ("limit" = Option<i64>, Query, minimum = 0, maximum = 1000)),
    responses((status = 200, description = "Newest first", body = Vec<Rejection>), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn rejections(
    Caller(principal): Caller,
    state: web::Data<AppState>,
    SourceId(id): SourceId,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let limit =
        query_int(&req, "limit", 50, 0..=1000).map_err(|e| ApiError::Validation(vec![e]))?;
    let found = store::rejections(&state.services.db, principal.space(), id, limit)
        .await?
        .ok_or(NOT_FOUND)?;
    Ok(HttpResponse::Ok().json(found))
}
