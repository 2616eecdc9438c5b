//! `/subscriptions` (CONTRACT §3).

use actix_web::{HttpRequest, HttpResponse, web};
use hookrelay_shared::models::{Attempt, Subscription};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::{JsonObject, OptionalJsonObject, SubscriptionId, paging, query_int};
use crate::state::AppState;
use crate::subscriptions::{input, store};

const NOT_FOUND: ApiError = ApiError::NotFound(crate::subscriptions::NOT_FOUND);

/// Tells every process's cache about a committed change. The change itself stands if this
/// fails; caches then catch up on their periodic full reload.
pub(crate) async fn changed(state: &AppState, id: uuid::Uuid) {
    if let Err(e) = state.cache.invalidate(&id).await {
        tracing::error!(
            error = format!("{e:#}"),
            "subscription changed but the cache could not be invalidated"
        );
    }
}

#[utoipa::path(post, path = "/subscriptions", tag = "subscriptions", request_body = crate::openapi::NewSubscriptionBody,
    responses((status = 201, body = Subscription), (status = 401), (status = 403), (status = 404), (status = 422, body = crate::error::FieldError)))]
pub async fn create(
    principal: Principal,
    state: web::Data<AppState>,
    JsonObject(body): JsonObject,
) -> Result<HttpResponse, ApiError> {
    let mut input =
        input::parse_new(&body, state.allow_private_targets).map_err(ApiError::Validation)?;
    input.tenant_id = principal.owner(input.tenant_id);
    let subscription = store::create(&state.db, input)
        .await?
        .ok_or(crate::handlers::tenants::NOT_FOUND)?;
    tracing::info!(subscription_id = %subscription.id, "subscription created");
    changed(&state, subscription.id).await;
    Ok(HttpResponse::Created().json(subscription))
}

#[utoipa::path(get, path = "/subscriptions", tag = "subscriptions",
    params(("skip" = Option<i64>, Query, minimum = 0), ("limit" = Option<i64>, Query, minimum = 0, maximum = 1000),
        ("tenant_id" = Option<String>, Query, pattern = "^(?:default|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}|[0-9A-Fa-f]{32})$", description = "Keys without a tenant: only this tenant (`default`: the default space); 404 for an unknown one. Ignored for tenant keys")),
    responses((status = 200, body = Vec<Subscription>), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn list(
    principal: Principal,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (skip, limit) = paging(&req, 1000)?;
    let space = crate::handlers::tenants::list_space(&state, &principal, &req).await?;
    Ok(HttpResponse::Ok().json(store::list(&state.db, space, skip, limit).await?))
}

#[utoipa::path(get, path = "/subscriptions/{subscription_id}", tag = "subscriptions",
    params(("subscription_id" = uuid::Uuid, Path)),
    responses((status = 200, body = Subscription), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn get(
    principal: Principal,
    state: web::Data<AppState>,
    SubscriptionId(id): SubscriptionId,
) -> Result<HttpResponse, ApiError> {
    let subscription = store::get(&state.db, principal.space(), id)
        .await?
        .ok_or(NOT_FOUND)?;
    Ok(HttpResponse::Ok().json(subscription))
}

#[utoipa::path(patch, path = "/subscriptions/{subscription_id}", tag = "subscriptions", request_body = crate::openapi::SubscriptionChangesBody,
    params(("subscription_id" = uuid::Uuid, Path)),
    responses((status = 200, body = Subscription), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn update(
    principal: Principal,
    state: web::Data<AppState>,
    SubscriptionId(id): SubscriptionId,
    JsonObject(body): JsonObject,
) -> Result<HttpResponse, ApiError> {
    let changes =
        input::parse_changes(&body, state.allow_private_targets).map_err(ApiError::Validation)?;
    let subscription = store::update(&state.db, principal.space(), id, changes)
        .await?
        .ok_or(NOT_FOUND)?;
    tracing::info!(subscription_id = %id, "subscription updated");
    changed(&state, id).await;
    Ok(HttpResponse::Ok().json(subscription))
}

#[utoipa::path(delete, path = "/subscriptions/{subscription_id}", tag = "subscriptions",
    params(("subscription_id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn delete(
    principal: Principal,
    state: web::Data<AppState>,
    SubscriptionId(id): SubscriptionId,
) -> Result<HttpResponse, ApiError> {
    if !store::delete(&state.db, principal.space(), id).await? {
        return Err(NOT_FOUND);
    }
    tracing::info!(subscription_id = %id, "subscription deleted");
    changed(&state, id).await;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(get, path = "/subscriptions/{subscription_id}/attempts", tag = "subscriptions",
    params(("subscription_id" = uuid::Uuid, Path), ("limit" = Option<i64>, Query, minimum = 0, maximum = 100)),
    responses((status = 200, body = Vec<Attempt>), (status = 401), (status = 403), (status = 422)))]
pub async fn attempts(
    principal: Principal,
    state: web::Data<AppState>,
    SubscriptionId(id): SubscriptionId,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let limit = query_int(&req, "limit", 20, 0..=100).map_err(|e| ApiError::Validation(vec![e]))?;
    Ok(HttpResponse::Ok().json(store::attempts(&state.db, principal.space(), id, limit).await?))
}

/// Rotates the signing secret; the old one keeps signing, next to the new, until the
/// grace period ends.
#[utoipa::path(post, path = "/subscriptions/{subscription_id}/secret/rotate", tag = "subscriptions",
    request_body(content = Option<crate::openapi::RotationBody>, content_type = "application/json"),
    params(("subscription_id" = uuid::Uuid, Path)),
    responses((status = 200, body = Subscription), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn rotate_secret(
    principal: Principal,
    state: web::Data<AppState>,
    SubscriptionId(id): SubscriptionId,
    OptionalJsonObject(body): OptionalJsonObject,
) -> Result<HttpResponse, ApiError> {
    let rotation = input::parse_rotation(&body).map_err(ApiError::Validation)?;
    let grace = rotation.grace_period;
    let subscription = store::rotate_secret(&state.db, principal.space(), id, rotation)
        .await?
        .ok_or(NOT_FOUND)?;
    tracing::info!(subscription_id = %id, grace_period = ?grace, "subscription secret rotated");
    changed(&state, id).await;
    Ok(HttpResponse::Ok().json(subscription))
}

/// Sends `{"type": "hookrelay.test", …}` to the subscription (event type
/// `hookrelay.test`), as a targeted webhook.
#[utoipa::path(post, path = "/subscriptions/{subscription_id}/test", tag = "subscriptions",
    params(("subscription_id" = uuid::Uuid, Path)),
    responses((status = 202, body = crate::ingest::IngestAccepted), (status = 401), (status = 403), (status = 404),
        (status = 409), (status = 422), (status = 503)))]
pub async fn test(
    principal: Principal,
    state: web::Data<AppState>,
    SubscriptionId(id): SubscriptionId,
) -> Result<HttpResponse, ApiError> {
    let webhook_id = send_test(&state, &principal, id).await?;
    Ok(HttpResponse::Accepted().json(crate::ingest::IngestAccepted { webhook_id }))
}

/// Queues the test webhook for subscription `id` (the console's "Send a test" too).
pub(crate) async fn send_test(
    state: &AppState,
    principal: &Principal,
    id: uuid::Uuid,
) -> Result<uuid::Uuid, ApiError> {
    let body = serde_json::to_vec(&serde_json::json!({
        "type": TEST_EVENT,
        "subscription_id": id,
        "occurred_at": hookrelay_shared::time::format(&hookrelay_shared::time::now()),
    }))
    .map_err(anyhow::Error::from)?;
    let headers = crate::ingest::IngestHeaders {
        event_type: Some(TEST_EVENT.to_owned()),
        ..Default::default()
    };
    let body = crate::ingest::Body {
        content_length: None,
        chunks: futures::stream::iter([Ok::<_, std::convert::Infallible>(bytes::Bytes::from(
            body,
        ))]),
    };
    let enqueued = crate::ingest::accept(
        state,
        principal,
        crate::ingest::Route::Targeted(id),
        headers,
        body,
    )
    .await?;
    Ok(enqueued.webhook_id())
}

/// The event type of `POST /subscriptions/{id}/test` deliveries.
pub const TEST_EVENT: &str = "hookrelay.test";
