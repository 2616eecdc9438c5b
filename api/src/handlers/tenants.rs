//! `/tenants`: the customers of a deployment (admin keys only: every tenant, every permission).

use actix_web::{HttpRequest, HttpResponse, web};
use hookrelay_shared::models::Tenant;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::{JsonObject, TenantId, paging};
use crate::state::AppState;
use crate::tenants;

pub use crate::tenants::{NOT_FOUND, list_space};

/// Logs a cache invalidation that failed after a committed change; the change stands and
/// caches catch up on their periodic full reload.
pub(crate) fn log_stale(what: &str, result: anyhow::Result<()>) {
    if let Err(e) = result {
        tracing::error!(
            error = format!("{e:#}"),
            "{what} changed but caches could not be told"
        );
    }
}

#[utoipa::path(post, path = "/tenants", tag = "tenants", request_body = crate::openapi::NewTenantBody,
    responses((status = 201, body = Tenant), (status = 401), (status = 403), (status = 422)))]
pub async fn create(
    _: Principal,
    state: web::Data<AppState>,
    JsonObject(body): JsonObject,
) -> Result<HttpResponse, ApiError> {
    let tenant = tenants::parse_new(&body).map_err(ApiError::Validation)?;
    let tenant = tenants::create(&state.db, tenant).await?;
    tracing::info!(tenant_id = %tenant.id, "tenant created");
    log_stale("a tenant", state.tenants.invalidate(&tenant.id).await);
    Ok(HttpResponse::Created().json(tenant))
}

#[utoipa::path(get, path = "/tenants", tag = "tenants",
    params(("skip" = Option<i64>, Query, minimum = 0), ("limit" = Option<i64>, Query, minimum = 0, maximum = 1000)),
    responses((status = 200, body = Vec<Tenant>), (status = 401), (status = 403), (status = 422)))]
pub async fn list(
    _: Principal,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (skip, limit) = paging(&req, 1000)?;
    Ok(HttpResponse::Ok().json(tenants::list(&state.db, skip, limit).await?))
}

#[utoipa::path(get, path = "/tenants/{tenant_id}", tag = "tenants",
    params(("tenant_id" = uuid::Uuid, Path)),
    responses((status = 200, body = Tenant), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn get(
    _: Principal,
    state: web::Data<AppState>,
    TenantId(id): TenantId,
) -> Result<HttpResponse, ApiError> {
    let tenant = tenants::get(&state.db, id).await?.ok_or(NOT_FOUND)?;
    Ok(HttpResponse::Ok().json(tenant))
}

#[utoipa::path(patch, path = "/tenants/{tenant_id}", tag = "tenants", request_body = crate::openapi::TenantChangesBody,
    params(("tenant_id" = uuid::Uuid, Path)),
    responses((status = 200, body = Tenant), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn update(
    _: Principal,
    state: web::Data<AppState>,
    TenantId(id): TenantId,
    JsonObject(body): JsonObject,
) -> Result<HttpResponse, ApiError> {
    let changes = tenants::parse_changes(&body).map_err(ApiError::Validation)?;
    let tenant = tenants::update(&state.db, id, changes)
        .await?
        .ok_or(NOT_FOUND)?;
    tracing::info!(tenant_id = %id, "tenant updated");
    log_stale("a tenant", state.tenants.invalidate(&id).await);
    Ok(HttpResponse::Ok().json(tenant))
}

/// Removes the tenant with its subscriptions and keys; every cache forgets them.
#[utoipa::path(delete, path = "/tenants/{tenant_id}", tag = "tenants",
    params(("tenant_id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn delete(
    _: Principal,
    state: web::Data<AppState>,
    TenantId(id): TenantId,
) -> Result<HttpResponse, ApiError> {
    let removed = tenants::delete(&state.db, id).await?.ok_or(NOT_FOUND)?;
    tracing::info!(
        tenant_id = %id,
        subscriptions = removed.subscriptions.len(),
        keys = removed.key_prefixes.len(),
        "tenant deleted"
    );
    forget(&state, id, &removed).await;
    Ok(HttpResponse::NoContent().finish())
}

/// Tells every cache that a deleted tenant's keys, subscriptions and sources are gone.
pub(crate) async fn forget(state: &AppState, id: uuid::Uuid, removed: &crate::tenants::Removed) {
    let (keys, subscriptions, sources, tenant) = futures::join!(
        state.auth.stored.invalidate_all(&removed.key_prefixes),
        state.cache.invalidate_all(&removed.subscriptions),
        state.sources.invalidate_all(&removed.source_tokens),
        state.tenants.invalidate(&id),
    );
    log_stale("a tenant's keys", keys);
    log_stale("a tenant's subscriptions", subscriptions);
    log_stale("a tenant's sources", sources);
    log_stale("a tenant", tenant);
}
