//! `/webhooks`: finding webhooks (`GET /webhooks`, `hookrelay_domain::webhooks::search`)
//! and replaying one (`POST /webhooks/{webhook_id}/replay`,
//! `hookrelay_domain::webhooks::replay`). Bulk replays are `replays`.

use actix_web::{HttpRequest, HttpResponse, web};
use hookrelay_domain::webhooks::replay;
use serde::Serialize;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{OptionalJsonObject, WebhookId, paging};
use crate::state::AppState;
use hookrelay_domain::webhooks::search::{self as webhooks, WebhookSummary};

#[utoipa::path(get, path = "/webhooks", tag = "webhooks",
    params(
        ("event_type" = Option<String>, Query, description = "Only this event type (exact match)"),
        ("status" = Option<String>, Query, pattern = "^(?:scheduled|queued|delivering|delivered|failed|no_subscribers)$", description = "Only webhooks whose status (as `/status/{webhook_id}` reports it) is this"),
        ("subscription_id" = Option<String>, Query, pattern = "^(?:[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}|[0-9A-Fa-f]{32})$", description = "Only webhooks with a delivery to this subscription"),
        ("since" = Option<String>, Query, format = DateTime, description = "Received at or after (RFC 3339)"),
        ("until" = Option<String>, Query, format = DateTime, description = "Received before (RFC 3339); not before `since`"),
        ("skip" = Option<i64>, Query, minimum = 0), ("limit" = Option<i64>, Query, minimum = 0, maximum = 1000),
        ("tenant_id" = Option<String>, Query, pattern = "^(?:default|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}|[0-9A-Fa-f]{32})$", description = "Keys without a tenant: only this tenant (`default`: the default space); 404 for an unknown one. Ignored for tenant keys")),
    responses((status = 200, description = "Newest first", body = Vec<WebhookSummary>), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn list(
    Caller(principal): Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (skip, limit) = paging(&req, 1000)?;
    let filter = webhooks::parse_filter(req.query_string()).map_err(ApiError::Validation)?;
    let space = crate::extract::list_space(&state, &principal, &req).await?;
    Ok(HttpResponse::Ok()
        .json(webhooks::search(&state.services.db, space, &filter, skip, limit).await?))
}

/// What a replay queued.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Replayed {
    pub webhook_id: Uuid,
    /// The subscriptions whose deliveries start a new run of their retry schedule.
    pub deliveries: Vec<Uuid>,
}

/// Re-sends the webhook's failed deliveries (or the named ones, whatever they ended as) as
/// a new run of each one's retry schedule; attempt numbers continue.
#[utoipa::path(post, path = "/webhooks/{webhook_id}/replay", tag = "webhooks",
    request_body(content = Option<hookrelay_domain::webhooks::body::ReplayBody>, content_type = "application/json"),
    params(("webhook_id" = uuid::Uuid, Path)),
    responses((status = 202, body = Replayed), (status = 401), (status = 403), (status = 404),
        (status = 409, description = "A chosen delivery is in flight, a named subscription is inactive, the webhook is still queued, or nothing failed"),
        (status = 422), (status = 503)))]
pub async fn replay(
    Caller(principal): Caller,
    state: web::Data<AppState>,
    WebhookId(id): WebhookId,
    OptionalJsonObject(body): OptionalJsonObject,
) -> Result<HttpResponse, ApiError> {
    let replayed = replay::run(&state.services, &principal, id, &body).await?;
    Ok(HttpResponse::Accepted().json(Replayed {
        webhook_id: id,
        deliveries: replayed,
    }))
}
