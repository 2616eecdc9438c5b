//! `POST /webhooks/{webhook_id}/replay`: extract, call `hookrelay_domain::webhooks::replay::replay`, answer.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{OptionalJsonObject, WebhookId};
use crate::state::AppState;
use hookrelay_domain::webhooks::replay;

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
