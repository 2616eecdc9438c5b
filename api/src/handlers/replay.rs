//! `POST /webhooks/{webhook_id}/replay`: extract, call `crate::replay::replay`, answer.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use uuid::Uuid;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::{OptionalJsonObject, WebhookId};
use crate::replay::{self, Refusal};
use crate::state::AppState;

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
    request_body(content = Option<crate::openapi::ReplayBody>, content_type = "application/json"),
    params(("webhook_id" = uuid::Uuid, Path)),
    responses((status = 202, body = Replayed), (status = 401), (status = 403), (status = 404),
        (status = 409, description = "A chosen delivery is in flight, a named subscription is inactive, the webhook is still queued, or nothing failed"),
        (status = 422), (status = 503)))]
pub async fn replay(
    principal: Principal,
    state: web::Data<AppState>,
    WebhookId(id): WebhookId,
    OptionalJsonObject(body): OptionalJsonObject,
) -> Result<HttpResponse, ApiError> {
    let choice = replay::parse(&body).map_err(ApiError::Validation)?;
    let replayed = replay::replay(
        &state.db,
        &state.redis,
        &state.keys,
        principal.space(),
        id,
        choice,
    )
    .await?
    .map_err(refused)?;
    tracing::info!(webhook_id = %id, deliveries = replayed.len(), "webhook replayed");
    Ok(HttpResponse::Accepted().json(Replayed {
        webhook_id: id,
        deliveries: replayed,
    }))
}

/// A refused replay as the API answers it (the console shows the same).
pub(crate) fn refused(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::UnknownWebhook | Refusal::UnknownSubscription => {
            ApiError::NotFound(refusal.detail())
        }
        Refusal::Queued | Refusal::Inactive | Refusal::InFlight | Refusal::Nothing => {
            ApiError::Conflict(refusal.detail())
        }
    }
}
