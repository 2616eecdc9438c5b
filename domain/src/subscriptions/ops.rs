//! The write actions on subscriptions, one function each, called by the api's handlers
//! and the console alike: parse the body, commit, tell every process's cache, log.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::{NOT_FOUND, Subscription, input, store};
use crate::api_keys::Principal;
use crate::services::log_stale;
use crate::webhooks::event_types::OwnEvent;
use crate::webhooks::ingest::{self, IngestHeaders, Route};
use crate::{Refusal, Services, tenants};

/// Tells every process's cache that subscription `id` changed.
async fn changed(services: &Services, id: Uuid) {
    log_stale(
        "a subscription",
        services.subscriptions.invalidate(&id).await,
    );
}

/// `POST /subscriptions`: a tenant key's subscription is its tenant's, whatever the body
/// says.
pub async fn create(
    services: &Services,
    principal: &Principal,
    body: &Map<String, Value>,
) -> Result<Subscription, Refusal> {
    let mut input = input::parse_new(body, services.destination_rules())?;
    input.tenant_id = principal.owner(input.tenant_id);
    let subscription = store::create(&services.db, input)
        .await?
        .ok_or(Refusal::NotFound(tenants::NOT_FOUND))?;
    tracing::info!(subscription_id = %subscription.id, "subscription created");
    changed(services, subscription.id).await;
    Ok(subscription)
}

/// `PATCH /subscriptions/{id}` (the console's edit form and enable/disable too).
pub async fn update(
    services: &Services,
    principal: &Principal,
    id: Uuid,
    body: &Map<String, Value>,
) -> Result<Subscription, Refusal> {
    // Read first: a destination's `***` keeps its stored secret, and whether a
    // `target_url` may be sent depends on the destination it has.
    let stored = store::get(&services.db, principal.space(), id)
        .await?
        .ok_or(Refusal::NotFound(NOT_FOUND))?;
    let changes = input::parse_changes(body, &stored, services.destination_rules())?;
    let subscription = store::update(&services.db, principal.space(), id, changes)
        .await?
        .ok_or(Refusal::NotFound(NOT_FOUND))?;
    tracing::info!(subscription_id = %id, active = subscription.is_active, "subscription updated");
    changed(services, id).await;
    Ok(subscription)
}

/// `DELETE /subscriptions/{id}`.
pub async fn delete(services: &Services, principal: &Principal, id: Uuid) -> Result<(), Refusal> {
    if !store::delete(&services.db, principal.space(), id).await? {
        return Err(Refusal::NotFound(NOT_FOUND));
    }
    tracing::info!(subscription_id = %id, "subscription deleted");
    changed(services, id).await;
    Ok(())
}

/// `POST /subscriptions/{id}/secret/rotate`: the old secret keeps signing, next to the
/// new, until the grace period ends.
pub async fn rotate_secret(
    services: &Services,
    principal: &Principal,
    id: Uuid,
    body: &Map<String, Value>,
) -> Result<Subscription, Refusal> {
    let rotation = input::parse_rotation(body)?;
    let grace = rotation.grace_period;
    let subscription = store::rotate_secret(&services.db, principal.space(), id, rotation)
        .await?
        .ok_or(Refusal::NotFound(NOT_FOUND))?;
    tracing::info!(subscription_id = %id, grace_period = ?grace, "subscription secret rotated");
    changed(services, id).await;
    Ok(subscription)
}

/// `POST /subscriptions/{id}/test`: queues `{"type": "hookrelay.test", …}` for the
/// subscription as a targeted webhook, through ingest's own two steps; answers its id.
pub async fn send_test(
    services: &Services,
    principal: &Principal,
    id: Uuid,
) -> Result<Uuid, Refusal> {
    let event_type = OwnEvent::Test.as_str();
    let headers = IngestHeaders {
        event_type: Some(event_type.to_owned()),
        ..Default::default()
    };
    let route = Route::Targeted(id);
    let tenant_id = ingest::admit(services, principal, route, &headers).await?;
    let body = serde_json::to_vec(&serde_json::json!({
        "type": event_type,
        "subscription_id": id,
        "occurred_at": hookrelay_shared::time::format(&hookrelay_shared::time::now()),
    }))
    .map_err(anyhow::Error::from)?;
    let webhook = ingest::new_webhook(
        &services.keys,
        None,
        route.subscription_id(),
        headers.event_type,
        tenant_id,
        body.into(),
    );
    let enqueued = ingest::queue(services, &webhook, None, None).await?;
    tracing::info!(subscription_id = %id, webhook_id = %enqueued.webhook_id(), "test webhook sent");
    Ok(enqueued.webhook_id())
}
