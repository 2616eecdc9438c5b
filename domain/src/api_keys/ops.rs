//! The write actions on stored API keys, one function each, called by the api's handlers
//! and the console alike: parse, check the caller may, commit, tell the key cache, log.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::{CreatedApiKey, NOT_FOUND, Principal};
use crate::services::log_stale;
use crate::{Refusal, Services, tenants};

/// `POST /api-keys`: the answer holds the key itself, this once.
pub async fn create(
    services: &Services,
    principal: &Principal,
    body: &Map<String, Value>,
) -> Result<CreatedApiKey, Refusal> {
    let input = super::scoped(principal, super::parse_new(body)?)?;
    let created = super::create(&services.db, input)
        .await?
        .ok_or(Refusal::NotFound(tenants::NOT_FOUND))?;
    let key = &created.api_key;
    tracing::info!(api_key_id = %key.id, tenant_id = ?key.tenant_id, "API key created");
    log_stale(
        "an API key",
        services.credentials.invalidate(&key.key_prefix).await,
    );
    Ok(created)
}

/// `DELETE /api-keys/{id}`: never a key wider than the caller's own.
pub async fn delete(services: &Services, principal: &Principal, id: Uuid) -> Result<(), Refusal> {
    let prefix = super::delete(&services.db, principal, id)
        .await?
        .ok_or(Refusal::NotFound(NOT_FOUND))?;
    tracing::info!(api_key_id = %id, "API key deleted");
    log_stale("an API key", services.credentials.invalidate(&prefix).await);
    Ok(())
}
