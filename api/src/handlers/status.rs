//! `/status/{webhook_id}` (CONTRACT §6): extract, call `crate::status::lookup`, answer.

use actix_web::{HttpResponse, web};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::WebhookId;
use crate::state::AppState;
use crate::status::{self, WebhookStatus};

#[utoipa::path(get, path = "/status/{webhook_id}", tag = "status",
    params(("webhook_id" = uuid::Uuid, Path)),
    responses((status = 200, body = WebhookStatus), (status = 401), (status = 403), (status = 404), (status = 422), (status = 503)))]
pub async fn get(
    principal: Principal,
    state: web::Data<AppState>,
    WebhookId(id): WebhookId,
) -> Result<HttpResponse, ApiError> {
    // Another tenant's webhook is as unknown as one never ingested.
    let status = status::lookup(&state.db, &state.redis, &state.keys, id)
        .await?
        .filter(|status| principal.space().contains(status.tenant_id))
        .ok_or(ApiError::NotFound("No delivery logs for given webhook_id"))?;
    Ok(HttpResponse::Ok().json(status))
}
