//! The write actions on tenants (admin keys only), one function each, called by the api's
//! handlers and the console alike: parse, commit, tell the caches, log.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::{NOT_FOUND, Removed, Tenant};
use crate::services::log_stale;
use crate::{Refusal, Services};

/// `POST /tenants`.
pub async fn create(services: &Services, body: &Map<String, Value>) -> Result<Tenant, Refusal> {
    let tenant = super::parse_new(body)?;
    let tenant = super::create(&services.db, tenant).await?;
    tracing::info!(tenant_id = %tenant.id, "tenant created");
    log_stale("a tenant", services.tenants.invalidate(&tenant.id).await);
    Ok(tenant)
}

/// `PATCH /tenants/{id}`.
pub async fn update(
    services: &Services,
    id: Uuid,
    body: &Map<String, Value>,
) -> Result<Tenant, Refusal> {
    let changes = super::parse_changes(body)?;
    let tenant = super::update(&services.db, id, changes)
        .await?
        .ok_or(Refusal::NotFound(NOT_FOUND))?;
    tracing::info!(tenant_id = %id, "tenant updated");
    log_stale("a tenant", services.tenants.invalidate(&id).await);
    Ok(tenant)
}

/// `DELETE /tenants/{id}`: the tenant with its subscriptions, keys and sources, in one
/// transaction; then every cache forgets them.
pub async fn delete(services: &Services, id: Uuid) -> Result<Removed, Refusal> {
    let removed = super::delete(&services.db, id)
        .await?
        .ok_or(Refusal::NotFound(NOT_FOUND))?;
    tracing::info!(
        tenant_id = %id,
        subscriptions = removed.subscriptions.len(),
        keys = removed.key_prefixes.len(),
        sources = removed.source_tokens.len(),
        "tenant deleted"
    );
    let (keys, subscriptions, sources, tenant) = futures::join!(
        services.credentials.invalidate_all(&removed.key_prefixes),
        services
            .subscriptions
            .invalidate_all(&removed.subscriptions),
        services.sources.invalidate_all(&removed.source_tokens),
        services.tenants.invalidate(&id),
    );
    log_stale("a tenant's keys", keys);
    log_stale("a tenant's subscriptions", subscriptions);
    log_stale("a tenant's sources", sources);
    log_stale("a tenant", tenant);
    Ok(removed)
}
