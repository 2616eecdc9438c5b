//! `/api-keys`: stored bearer keys, each limited to a tenant (or not) and to permissions.

use actix_web::{HttpRequest, HttpResponse, web};
use hookrelay_domain::api_keys::ApiKey;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{ApiKeyId, JsonObject, paging};
use crate::state::AppState;
use hookrelay_domain::api_keys::{self, CreatedApiKey, NOT_FOUND, ops};

#[utoipa::path(post, path = "/api-keys", tag = "api keys", request_body = hookrelay_domain::api_keys::body::NewApiKeyBody,
    responses((status = 201, body = CreatedApiKey), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn create(
    Caller(principal): Caller,
    state: web::Data<AppState>,
    JsonObject(body): JsonObject,
) -> Result<HttpResponse, ApiError> {
    let created = ops::create(&state.services, &principal, &body).await?;
    Ok(HttpResponse::Created().json(created))
}

#[utoipa::path(get, path = "/api-keys", tag = "api keys",
    params(("skip" = Option<i64>, Query, minimum = 0), ("limit" = Option<i64>, Query, minimum = 0, maximum = 1000),
        ("tenant_id" = Option<String>, Query, pattern = "^(?:default|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}|[0-9A-Fa-f]{32})$", description = "Keys without a tenant: only this tenant (`default`: the default space); 404 for an unknown one. Ignored for tenant keys")),
    responses((status = 200, body = Vec<ApiKey>), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn list(
    Caller(principal): Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (skip, limit) = paging(&req, 1000)?;
    let space = crate::extract::list_space(&state, &principal, &req).await?;
    Ok(HttpResponse::Ok().json(api_keys::list(&state.services.db, space, skip, limit).await?))
}

#[utoipa::path(get, path = "/api-keys/{api_key_id}", tag = "api keys",
    params(("api_key_id" = uuid::Uuid, Path)),
    responses((status = 200, body = ApiKey), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn get(
    Caller(principal): Caller,
    state: web::Data<AppState>,
    ApiKeyId(id): ApiKeyId,
) -> Result<HttpResponse, ApiError> {
    let key = api_keys::get(&state.services.db, principal.space(), id)
        .await?
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    Ok(HttpResponse::Ok().json(key))
}

#[utoipa::path(delete, path = "/api-keys/{api_key_id}", tag = "api keys",
    params(("api_key_id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn delete(
    Caller(principal): Caller,
    state: web::Data<AppState>,
    ApiKeyId(id): ApiKeyId,
) -> Result<HttpResponse, ApiError> {
    ops::delete(&state.services, &principal, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
