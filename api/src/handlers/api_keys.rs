//! `/api-keys`: stored bearer keys, each limited to a tenant (or not) and to permissions.

use actix_web::{HttpRequest, HttpResponse, web};
use hookrelay_shared::models::ApiKey;

use crate::api_keys::{self, CreatedApiKey, NOT_FOUND};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::{ApiKeyId, JsonObject, paging};
use crate::state::AppState;

/// Tells every api process that a key was created or deleted; a failure is logged (the
/// periodic full reload catches up).
pub(crate) async fn changed(state: &AppState, prefix: &String) {
    if let Err(e) = state.auth.stored.invalidate(prefix).await {
        tracing::error!(
            error = format!("{e:#}"),
            "API key changed but caches could not be told"
        );
    }
}

#[utoipa::path(post, path = "/api-keys", tag = "api keys", request_body = crate::openapi::NewApiKeyBody,
    responses((status = 201, body = CreatedApiKey), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn create(
    principal: Principal,
    state: web::Data<AppState>,
    JsonObject(body): JsonObject,
) -> Result<HttpResponse, ApiError> {
    let input = api_keys::parse_new(&body).map_err(ApiError::Validation)?;
    let input = api_keys::scoped(&principal, input)?;
    let created = api_keys::create(&state.db, input)
        .await?
        .ok_or(crate::tenants::NOT_FOUND)?;
    tracing::info!(api_key_id = %created.api_key.id, tenant_id = ?created.api_key.tenant_id, "API key created");
    changed(&state, &created.api_key.key_prefix).await;
    Ok(HttpResponse::Created().json(created))
}

#[utoipa::path(get, path = "/api-keys", tag = "api keys",
    params(("skip" = Option<i64>, Query, minimum = 0), ("limit" = Option<i64>, Query, minimum = 0, maximum = 1000),
        ("tenant_id" = Option<String>, Query, pattern = "^(?:default|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}|[0-9A-Fa-f]{32})$", description = "Keys without a tenant: only this tenant (`default`: the default space); 404 for an unknown one. Ignored for tenant keys")),
    responses((status = 200, body = Vec<ApiKey>), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn list(
    principal: Principal,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (skip, limit) = paging(&req, 1000)?;
    let space = crate::tenants::list_space(&state, &principal, &req).await?;
    Ok(HttpResponse::Ok().json(api_keys::list(&state.db, space, skip, limit).await?))
}

#[utoipa::path(get, path = "/api-keys/{api_key_id}", tag = "api keys",
    params(("api_key_id" = uuid::Uuid, Path)),
    responses((status = 200, body = ApiKey), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn get(
    principal: Principal,
    state: web::Data<AppState>,
    ApiKeyId(id): ApiKeyId,
) -> Result<HttpResponse, ApiError> {
    let key = api_keys::get(&state.db, principal.space(), id)
        .await?
        .ok_or(NOT_FOUND)?;
    Ok(HttpResponse::Ok().json(key))
}

#[utoipa::path(delete, path = "/api-keys/{api_key_id}", tag = "api keys",
    params(("api_key_id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn delete(
    principal: Principal,
    state: web::Data<AppState>,
    ApiKeyId(id): ApiKeyId,
) -> Result<HttpResponse, ApiError> {
    let prefix = api_keys::delete(&state.db, &principal, id)
        .await?
        .ok_or(NOT_FOUND)?;
    tracing::info!(api_key_id = %id, "API key deleted");
    changed(&state, &prefix).await;
    Ok(HttpResponse::NoContent().finish())
}
