//! `/subscriptions` (CONTRACT §3).

use actix_web::{HttpRequest, HttpResponse, web};
use hookrelay_domain::subscriptions::Subscription;
use hookrelay_domain::webhooks::Attempt;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{
    JsonObject, OptionalJsonObject, SubscriptionId, list_space, paging, query_int,
};
use crate::state::AppState;
use hookrelay_domain::subscriptions::{NOT_FOUND, ops, store};

#[utoipa::path(post, path = "/subscriptions", tag = "subscriptions", request_body = hookrelay_domain::subscriptions::body::NewSubscriptionBody,
    responses((status = 201, body = Subscription), (status = 401), (status = 403), (status = 404), (status = 422, body = hookrelay_domain::FieldError)))]
pub async fn create(
    Caller(principal): Caller,
    state: web::Data<AppState>,
    JsonObject(body): JsonObject,
) -> Result<HttpResponse, ApiError> {
    let subscription = ops::create(&state.services, &principal, &body).await?;
    Ok(HttpResponse::Created().json(subscription))
}

#[utoipa::path(get, path = "/subscriptions", tag = "subscriptions",
    params(("skip" = Option<i64>, Query, minimum = 0), ("limit" = Option<i64>, Query, minimum = 0, maximum = 1000),
        ("tenant_id" = Option<String>, Query, pattern = "^(?:default|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}|[0-9A-Fa-f]{32})$", description = "Keys without a tenant: only this tenant (`default`: the default space); 404 for an unknown one. Ignored for tenant keys")),
    responses((status = 200, body = Vec<Subscription>), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn list(
    Caller(principal): Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (skip, limit) = paging(&req, 1000)?;
    let space = list_space(&state, &principal, &req).await?;
    Ok(HttpResponse::Ok().json(store::list(&state.services.db, space, skip, limit).await?))
}

#[utoipa::path(get, path = "/subscriptions/{subscription_id}", tag = "subscriptions",
    params(("subscription_id" = uuid::Uuid, Path)),
    responses((status = 200, body = Subscription), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn get(
    Caller(principal): Caller,
    state: web::Data<AppState>,
    SubscriptionId(id): SubscriptionId,
) -> Result<HttpResponse, ApiError> {
    let subscription = store::get(&state.services.db, principal.space(), id)
        .await?
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    Ok(HttpResponse::Ok().json(subscription))
}

#[utoipa::path(patch, path = "/subscriptions/{subscription_id}", tag = "subscriptions", request_body = hookrelay_domain::subscriptions::body::SubscriptionChangesBody,
    params(("subscription_id" = uuid::Uuid, Path)),
    responses((status = 200, body = Subscription), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn update(
    Caller(principal): Caller,
    state: web::Data<AppState>,
    SubscriptionId(id): SubscriptionId,
    JsonObject(body): JsonObject,
) -> Result<HttpResponse, ApiError> {
    let subscription = ops::update(&state.services, &principal, id, &body).await?;
    Ok(HttpResponse::Ok().json(subscription))
}

#[utoipa::path(delete, path = "/subscriptions/{subscription_id}", tag = "subscriptions",
    params(("subscription_id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn delete(
    Caller(principal): Caller,
    state: web::Data<AppState>,
    SubscriptionId(id): SubscriptionId,
) -> Result<HttpResponse, ApiError> {
    ops::delete(&state.services, &principal, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(get, path = "/subscriptions/{subscription_id}/attempts", tag = "subscriptions",
    params(("subscription_id" = uuid::Uuid, Path), ("limit" = Option<i64>, Query, minimum = 0, maximum = 100)),
    responses((status = 200, body = Vec<Attempt>), (status = 401), (status = 403), (status = 422)))]
pub async fn attempts(
    Caller(principal): Caller,
    state: web::Data<AppState>,
    SubscriptionId(id): SubscriptionId,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let limit = query_int(&req, "limit", 20, 0..=100).map_err(|e| ApiError::Validation(vec![e]))?;
    Ok(HttpResponse::Ok()
        .json(store::attempts(&state.services.db, principal.space(), id, limit).await?))
}

/// Rotates the signing secret; the old one keeps signing, next to the new, until the
/// grace period ends.
#[utoipa::path(post, path = "/subscriptions/{subscription_id}/secret/rotate", tag = "subscriptions",
    request_body(content = Option<hookrelay_domain::subscriptions::body::RotationBody>, content_type = "application/json"),
    params(("subscription_id" = uuid::Uuid, Path)),
    responses((status = 200, body = Subscription), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn rotate_secret(
    Caller(principal): Caller,
    state: web::Data<AppState>,
    SubscriptionId(id): SubscriptionId,
    OptionalJsonObject(body): OptionalJsonObject,
) -> Result<HttpResponse, ApiError> {
    let subscription = ops::rotate_secret(&state.services, &principal, id, &body).await?;
    Ok(HttpResponse::Ok().json(subscription))
}

/// Sends `{"type": "hookrelay.test", …}` to the subscription (event type
/// `hookrelay.test`), as a targeted webhook.
#[utoipa::path(post, path = "/subscriptions/{subscription_id}/test", tag = "subscriptions",
    params(("subscription_id" = uuid::Uuid, Path)),
    responses((status = 202, body = crate::ingest::IngestAccepted), (status = 401), (status = 403), (status = 404),
        (status = 409), (status = 422), (status = 503)))]
pub async fn test(
    Caller(principal): Caller,
    state: web::Data<AppState>,
    SubscriptionId(id): SubscriptionId,
) -> Result<HttpResponse, ApiError> {
    let webhook_id = ops::send_test(&state.services, &principal, id).await?;
    Ok(HttpResponse::Accepted().json(crate::ingest::IngestAccepted { webhook_id }))
}
