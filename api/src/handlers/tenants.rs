//! `/tenants`: the customers of a deployment (admin keys only: every tenant, every permission).

use actix_web::{HttpRequest, HttpResponse, web};
use hookrelay_domain::tenants::Tenant;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{JsonObject, TenantId, paging};
use crate::state::AppState;
use hookrelay_domain::tenants::{self, NOT_FOUND, ops};

#[utoipa::path(post, path = "/tenants", tag = "tenants", request_body = hookrelay_domain::tenants::body::NewTenantBody,
    responses((status = 201, body = Tenant), (status = 401), (status = 403), (status = 422)))]
pub async fn create(
    _: Caller,
    state: web::Data<AppState>,
    JsonObject(body): JsonObject,
) -> Result<HttpResponse, ApiError> {
    let tenant = ops::create(&state.services, &body).await?;
    Ok(HttpResponse::Created().json(tenant))
}

#[utoipa::path(get, path = "/tenants", tag = "tenants",
    params(("skip" = Option<i64>, Query, minimum = 0), ("limit" = Option<i64>, Query, minimum = 0, maximum = 1000)),
    responses((status = 200, body = Vec<Tenant>), (status = 401), (status = 403), (status = 422)))]
pub async fn list(
    _: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (skip, limit) = paging(&req, 1000)?;
    Ok(HttpResponse::Ok().json(tenants::list(&state.services.db, skip, limit).await?))
}

#[utoipa::path(get, path = "/tenants/{tenant_id}", tag = "tenants",
    params(("tenant_id" = uuid::Uuid, Path)),
    responses((status = 200, body = Tenant), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn get(
    _: Caller,
    state: web::Data<AppState>,
    TenantId(id): TenantId,
) -> Result<HttpResponse, ApiError> {
    let tenant = tenants::get(&state.services.db, id)
        .await?
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    Ok(HttpResponse::Ok().json(tenant))
}

#[utoipa::path(patch, path = "/tenants/{tenant_id}", tag = "tenants", request_body = hookrelay_domain::tenants::body::TenantChangesBody,
    params(("tenant_id" = uuid::Uuid, Path)),
    responses((status = 200, body = Tenant), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn update(
    _: Caller,
    state: web::Data<AppState>,
    TenantId(id): TenantId,
    JsonObject(body): JsonObject,
) -> Result<HttpResponse, ApiError> {
    let tenant = ops::update(&state.services, id, &body).await?;
    Ok(HttpResponse::Ok().json(tenant))
}

/// Removes the tenant with its subscriptions and keys; every cache forgets them.
#[utoipa::path(delete, path = "/tenants/{tenant_id}", tag = "tenants",
    params(("tenant_id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn delete(
    _: Caller,
    state: web::Data<AppState>,
    TenantId(id): TenantId,
) -> Result<HttpResponse, ApiError> {
    ops::delete(&state.services, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
