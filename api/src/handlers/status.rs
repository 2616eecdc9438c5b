//! `/status/{webhook_id}` (CONTRACT §6): extract, call `hookrelay_domain::webhooks::status::lookup`, answer.

use actix_web::{HttpResponse, web};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::WebhookId;
use crate::state::AppState;
use hookrelay_domain::webhooks::status::{self, WebhookStatus};

#[utoipa::path(get, path = "/status/{webhook_id}", tag = "status",
    params(("webhook_id" = uuid::Uuid, Path)),
    responses((status = 200, body = WebhookStatus), (status = 401), (status = 403), (status = 404), (status = 422), (status = 503)))]
pub async fn get(
    Caller(principal): Caller,
    state: web::Data<AppState>,
    WebhookId(id): WebhookId,
) -> Result<HttpResponse, ApiError> {
    // Another tenant's webhook is as unknown as one never ingested.
    let status = status::lookup(
        &state.services.db,
        &state.services.redis,
        &state.services.keys,
        id,
    )
    .await?
    .filter(|status| principal.space().contains(status.tenant_id))
    .ok_or(ApiError::NotFound("No delivery logs for given webhook_id"))?;
    Ok(HttpResponse::Ok().json(status))
}
